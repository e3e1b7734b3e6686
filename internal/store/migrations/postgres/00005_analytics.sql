-- +goose Up
-- Campaign analytics from counters kept exact by triggers, so a report on a
-- campaign of 100,000 leads and 200,000 e-mails reads a few dozen rows
-- instead of scanning the send ledger (lead statuses are already counted in
-- lead_counts, migration 00004).
--
-- campaign_stats metrics:
--   attempts:<state>        send ledger rows per state
--   replies:<classification> reply records matched to the campaign
--   leads_sent              leads with at least one attempt in state sent
--   leads_responded         of those, leads with at least one human reply
--                           (interested, not_interested, asks_payment,
--                           replied, unsubscribe: store.HumanReplyTags)
CREATE TABLE campaign_stats (
    campaign_id text NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    metric      text NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (campaign_id, metric)
);

-- Per lead: how many sent attempts and human replies it has. The distinct
-- lead counters above move only when a lead's tally crosses zero; the
-- tally's upsert locks the lead's row, so two transactions touching the
-- same lead see each other's result and cannot both count it. A row whose
-- tallies fall back to zero is removed. No foreign key to leads: deleting a
-- lead deletes its attempts and replies, whose triggers must still find the
-- tally to bring the campaign's counters down.
CREATE TABLE lead_reach (
    lead_id     text PRIMARY KEY,
    campaign_id text NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    sent_n      integer NOT NULL,
    human_n     integer NOT NULL
);

-- Backfill from the rows already stored.
INSERT INTO lead_reach (lead_id, campaign_id, sent_n, human_n)
SELECT lead_id, min(campaign_id), sum(s), sum(h) FROM (
    SELECT lead_id, campaign_id, count(*) AS s, 0 AS h FROM attempts WHERE state = 'sent' GROUP BY lead_id, campaign_id
    UNION ALL
    SELECT lead_id, campaign_id, 0, count(*) FROM replies
    WHERE lead_id IS NOT NULL AND campaign_id IS NOT NULL
      AND classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
    GROUP BY lead_id, campaign_id
) x GROUP BY lead_id;

INSERT INTO campaign_stats (campaign_id, metric, n)
SELECT campaign_id, 'attempts:' || state, count(*) FROM attempts GROUP BY campaign_id, state
UNION ALL
SELECT campaign_id, 'replies:' || classification, count(*) FROM replies WHERE campaign_id IS NOT NULL GROUP BY campaign_id, classification
UNION ALL
SELECT campaign_id, 'leads_sent', count(*) FROM lead_reach WHERE sent_n > 0 GROUP BY campaign_id
UNION ALL
SELECT campaign_id, 'leads_responded', count(*) FROM lead_reach WHERE sent_n > 0 AND human_n > 0 GROUP BY campaign_id;

-- stats_add moves one counter. An increment upserts; a decrement only
-- updates an existing row: during a campaign's deletion its counters may
-- already be gone, and inserting one for a campaign being deleted would
-- fail its foreign key.
-- +goose StatementBegin
CREATE FUNCTION stats_add(c text, m text, d bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF d > 0 THEN
        INSERT INTO campaign_stats (campaign_id, metric, n) VALUES (c, m, d)
        ON CONFLICT (campaign_id, metric) DO UPDATE SET n = campaign_stats.n + EXCLUDED.n;
    ELSIF d < 0 THEN
        UPDATE campaign_stats SET n = n + d WHERE campaign_id = c AND metric = m;
    END IF;
END $$;
-- +goose StatementEnd

-- reach_add moves a lead's tallies by ds sent attempts and dh human
-- replies, and the campaign's distinct lead counters when the lead starts
-- or stops being "sent" or "responded". The upsert (or update) returns the
-- tallies after every committed change, so the crossing is seen exactly
-- once.
-- +goose StatementBegin
CREATE FUNCTION reach_add(l text, c text, ds integer, dh integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    s integer;
    h integer;
BEGIN
    IF ds > 0 OR dh > 0 THEN
        INSERT INTO lead_reach (lead_id, campaign_id, sent_n, human_n) VALUES (l, c, ds, dh)
        ON CONFLICT (lead_id) DO UPDATE SET sent_n = lead_reach.sent_n + EXCLUDED.sent_n, human_n = lead_reach.human_n + EXCLUDED.human_n
        RETURNING sent_n, human_n INTO s, h;
    ELSE
        UPDATE lead_reach SET sent_n = sent_n + ds, human_n = human_n + dh WHERE lead_id = l
        RETURNING sent_n, human_n INTO s, h;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        IF s = 0 AND h = 0 THEN
            DELETE FROM lead_reach WHERE lead_id = l;
        END IF;
    END IF;
    IF (s > 0) <> (s - ds > 0) THEN
        PERFORM stats_add(c, 'leads_sent', CASE WHEN s > 0 THEN 1 ELSE -1 END);
    END IF;
    IF (s > 0 AND h > 0) <> (s - ds > 0 AND h - dh > 0) THEN
        PERFORM stats_add(c, 'leads_responded', CASE WHEN s > 0 AND h > 0 THEN 1 ELSE -1 END);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION attempt_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM stats_add(OLD.campaign_id, 'attempts:' || OLD.state, -1);
        IF OLD.state = 'sent' THEN
            PERFORM reach_add(OLD.lead_id, OLD.campaign_id, -1, 0);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM stats_add(NEW.campaign_id, 'attempts:' || NEW.state, 1);
        IF NEW.state = 'sent' THEN
            PERFORM reach_add(NEW.lead_id, NEW.campaign_id, 1, 0);
        END IF;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION reply_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.campaign_id IS NOT NULL THEN
        PERFORM stats_add(OLD.campaign_id, 'replies:' || OLD.classification, -1);
        IF OLD.lead_id IS NOT NULL AND OLD.classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe') THEN
            PERFORM reach_add(OLD.lead_id, OLD.campaign_id, 0, -1);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.campaign_id IS NOT NULL THEN
        PERFORM stats_add(NEW.campaign_id, 'replies:' || NEW.classification, 1);
        IF NEW.lead_id IS NOT NULL AND NEW.classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe') THEN
            PERFORM reach_add(NEW.lead_id, NEW.campaign_id, 0, 1);
        END IF;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER attempts_stats_insert AFTER INSERT ON attempts FOR EACH ROW EXECUTE FUNCTION attempt_stats();
CREATE TRIGGER attempts_stats_delete AFTER DELETE ON attempts FOR EACH ROW EXECUTE FUNCTION attempt_stats();
CREATE TRIGGER attempts_stats_update AFTER UPDATE OF state, campaign_id, lead_id ON attempts FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id OR OLD.lead_id IS DISTINCT FROM NEW.lead_id)
    EXECUTE FUNCTION attempt_stats();
CREATE TRIGGER replies_stats_insert AFTER INSERT ON replies FOR EACH ROW EXECUTE FUNCTION reply_stats();
CREATE TRIGGER replies_stats_delete AFTER DELETE ON replies FOR EACH ROW EXECUTE FUNCTION reply_stats();
CREATE TRIGGER replies_stats_update AFTER UPDATE OF classification, campaign_id, lead_id ON replies FOR EACH ROW
    WHEN (OLD.classification IS DISTINCT FROM NEW.classification OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id OR OLD.lead_id IS DISTINCT FROM NEW.lead_id)
    EXECUTE FUNCTION reply_stats();

-- The attempts export pages the ledger in id order.
CREATE INDEX attempts_campaign_id ON attempts (campaign_id, id);

-- +goose Down
DROP INDEX attempts_campaign_id;
DROP TRIGGER replies_stats_update ON replies;
DROP TRIGGER replies_stats_delete ON replies;
DROP TRIGGER replies_stats_insert ON replies;
DROP TRIGGER attempts_stats_update ON attempts;
DROP TRIGGER attempts_stats_delete ON attempts;
DROP TRIGGER attempts_stats_insert ON attempts;
DROP FUNCTION reply_stats();
DROP FUNCTION attempt_stats();
DROP FUNCTION reach_add(text, text, integer, integer);
DROP FUNCTION stats_add(text, text, bigint);
DROP TABLE lead_reach;
DROP TABLE campaign_stats;
