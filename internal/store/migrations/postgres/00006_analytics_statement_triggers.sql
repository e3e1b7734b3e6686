-- +goose Up
-- Migration 00005 kept its counters with row-level triggers; they updated
-- the same counter row once per row of a statement, which grows that row's
-- version chain and makes a bulk insert quadratic (minutes for 200,000
-- attempts). The counters they kept are exact, so this migration only
-- swaps the mechanism: statement-level triggers with transition tables,
-- no backfill.
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

-- Statement-level triggers with transition tables apply one aggregated
-- change per statement: a row trigger updating the same counter row for
-- each of 200,000 rows in one transaction grows that row's version chain,
-- and each update walks it (quadratic; minutes for a bulk insert). Counters
-- of a campaign whose row is gone (being deleted in this transaction) are
-- left alone: they go with it, and the per-lead cascades of its deletion
-- must not update them once per lead.

-- stats_apply adds p_d[i] to metric p_m[i] of campaign p_c[i], summed per
-- counter. Increments upsert, in key order (two transactions lock shared
-- counters in the same order); decrements only update an existing row.
-- +goose StatementBegin
CREATE FUNCTION stats_apply(p_c text[], p_m text[], p_d bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT x.c, x.m, sum(x.d) FROM unnest(p_c, p_m, p_d) AS x(c, m, d)
    WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = x.c)
    GROUP BY x.c, x.m HAVING sum(x.d) > 0 ORDER BY 1, 2
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = campaign_stats.n + EXCLUDED.n;
    UPDATE campaign_stats s SET n = s.n + y.d
    FROM (SELECT x.c, x.m, sum(x.d) AS d FROM unnest(p_c, p_m, p_d) AS x(c, m, d)
          WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = x.c)
          GROUP BY x.c, x.m HAVING sum(x.d) < 0) y
    WHERE s.campaign_id = y.c AND s.metric = y.m;
END $$;
-- +goose StatementEnd

-- reach_apply moves lead p_l[i]'s tallies by p_ds[i] sent attempts and p_dh[i]
-- human replies (summed per lead), then the campaign's leads_sent and
-- leads_responded by the number of leads whose state crossed zero. The
-- upsert returns each tally after every committed change (it locks the
-- row), so a crossing is counted exactly once however transactions
-- interleave. Tallies back at zero are removed.
-- +goose StatementBegin
CREATE FUNCTION reach_apply(p_c text[], p_l text[], p_ds integer[], p_dh integer[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    sc text[];
    sm text[];
    sd bigint[];
BEGIN
    WITH d AS (
        SELECT x.l AS lead_id, min(x.c) AS campaign_id, sum(x.ds)::integer AS ds, sum(x.dh)::integer AS dh
        FROM unnest(p_c, p_l, p_ds, p_dh) AS x(c, l, ds, dh)
        WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = x.c)
        GROUP BY x.l HAVING sum(x.ds) <> 0 OR sum(x.dh) <> 0
    ), up AS (
        INSERT INTO lead_reach AS r (lead_id, campaign_id, sent_n, human_n)
        SELECT lead_id, campaign_id, ds, dh FROM d ORDER BY lead_id
        ON CONFLICT (lead_id) DO UPDATE SET sent_n = r.sent_n + EXCLUDED.sent_n, human_n = r.human_n + EXCLUDED.human_n
        RETURNING r.lead_id, r.sent_n, r.human_n
    ), moved AS (
        SELECT d.campaign_id,
            CASE WHEN (u.sent_n > 0) = (u.sent_n - d.ds > 0) THEN 0
                 WHEN u.sent_n > 0 THEN 1 ELSE -1 END AS s,
            CASE WHEN (u.sent_n > 0 AND u.human_n > 0) = (u.sent_n - d.ds > 0 AND u.human_n - d.dh > 0) THEN 0
                 WHEN u.sent_n > 0 AND u.human_n > 0 THEN 1 ELSE -1 END AS r
        FROM up u JOIN d ON d.lead_id = u.lead_id
    )
    SELECT array_agg(campaign_id), array_agg(metric), array_agg(n) INTO sc, sm, sd FROM (
        SELECT campaign_id, 'leads_sent' AS metric, sum(s) AS n FROM moved GROUP BY campaign_id HAVING sum(s) <> 0
        UNION ALL
        SELECT campaign_id, 'leads_responded', sum(r) FROM moved GROUP BY campaign_id HAVING sum(r) <> 0
    ) t;
    DELETE FROM lead_reach WHERE lead_id = ANY (p_l) AND sent_n = 0 AND human_n = 0;
    IF sc IS NOT NULL THEN
        PERFORM stats_apply(sc, sm, sd);
    END IF;
END $$;
-- +goose StatementEnd

-- The ledger: a row counts +1 for its state, and +1 sent for its lead when
-- in state sent; an update is its old row out and its new row in.
-- +goose StatementBegin
CREATE FUNCTION attempts_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c text[]; m text[]; d bigint[];
    rc text[]; rl text[]; rs integer[]; rh integer[];
BEGIN
    SELECT array_agg(campaign_id), array_agg(metric), array_agg(n) INTO c, m, d FROM (
        SELECT campaign_id, 'attempts:' || state AS metric, count(*) AS n FROM new_rows GROUP BY 1, 2) x;
    SELECT array_agg(campaign_id), array_agg(lead_id), array_agg(n), array_agg(0) INTO rc, rl, rs, rh FROM (
        SELECT campaign_id, lead_id, count(*)::integer AS n FROM new_rows WHERE state = 'sent' GROUP BY 1, 2) x;
    IF c IS NOT NULL THEN PERFORM stats_apply(c, m, d); END IF;
    IF rc IS NOT NULL THEN PERFORM reach_apply(rc, rl, rs, rh); END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION attempts_stats_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c text[]; m text[]; d bigint[];
    rc text[]; rl text[]; rs integer[]; rh integer[];
BEGIN
    SELECT array_agg(campaign_id), array_agg(metric), array_agg(n) INTO c, m, d FROM (
        SELECT campaign_id, 'attempts:' || state AS metric, sum(k) AS n FROM (
            SELECT campaign_id, state, -1 AS k FROM old_rows UNION ALL SELECT campaign_id, state, 1 FROM new_rows
        ) x GROUP BY 1, 2 HAVING sum(k) <> 0) y;
    SELECT array_agg(campaign_id), array_agg(lead_id), array_agg(n), array_agg(0) INTO rc, rl, rs, rh FROM (
        SELECT campaign_id, lead_id, sum(k)::integer AS n FROM (
            SELECT campaign_id, lead_id, -1 AS k FROM old_rows WHERE state = 'sent'
            UNION ALL SELECT campaign_id, lead_id, 1 FROM new_rows WHERE state = 'sent'
        ) x GROUP BY 1, 2 HAVING sum(k) <> 0) y;
    IF c IS NOT NULL THEN PERFORM stats_apply(c, m, d); END IF;
    IF rc IS NOT NULL THEN PERFORM reach_apply(rc, rl, rs, rh); END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION attempts_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c text[]; m text[]; d bigint[];
    rc text[]; rl text[]; rs integer[]; rh integer[];
BEGIN
    SELECT array_agg(campaign_id), array_agg(metric), array_agg(n) INTO c, m, d FROM (
        SELECT campaign_id, 'attempts:' || state AS metric, -count(*) AS n FROM old_rows
        WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = old_rows.campaign_id) GROUP BY 1, 2) x;
    IF c IS NULL THEN
        RETURN NULL; -- nothing, or only rows of campaigns being deleted
    END IF;
    SELECT array_agg(campaign_id), array_agg(lead_id), array_agg(n), array_agg(0) INTO rc, rl, rs, rh FROM (
        SELECT campaign_id, lead_id, -count(*)::integer AS n FROM old_rows WHERE state = 'sent' GROUP BY 1, 2) x;
    PERFORM stats_apply(c, m, d);
    IF rc IS NOT NULL THEN PERFORM reach_apply(rc, rl, rs, rh); END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- Replies: a matched row counts +1 for its classification, and +1 human
-- for its lead when its classification is a human answer. The reply poller
-- inserts a page of replies per statement, so this trigger is on its path:
-- written as two plain statements rather than through stats_apply and
-- reach_apply, whose nested calls, arrays and per-call plans cost three to
-- four times as much. An insert only adds, so no tally falls to zero and
-- nothing needs the decrement paths; the rows' foreign keys guarantee their
-- campaign. Locks are taken in the same order as the general path: the
-- replies:<class> counters, the leads' tallies (the aggregate below reads
-- every upserted tally before it writes), then leads_responded.
-- +goose StatementBegin
CREATE FUNCTION replies_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT campaign_id, 'replies:' || classification, count(*) FROM new_rows
    WHERE campaign_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = campaign_stats.n + EXCLUDED.n;
    -- A lead becomes responded when its tally reaches exactly the human
    -- replies just added (none before) while it has a sent attempt.
    WITH h AS (
        SELECT lead_id, min(campaign_id) AS campaign_id, count(*)::integer AS n FROM new_rows
        WHERE campaign_id IS NOT NULL AND lead_id IS NOT NULL
          AND classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
        GROUP BY lead_id
    ), up AS (
        INSERT INTO lead_reach AS r (lead_id, campaign_id, sent_n, human_n)
        SELECT lead_id, campaign_id, 0, n FROM h ORDER BY lead_id
        ON CONFLICT (lead_id) DO UPDATE SET human_n = r.human_n + EXCLUDED.human_n
        RETURNING r.lead_id, r.sent_n, r.human_n
    )
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT h.campaign_id, 'leads_responded', count(*) FROM up JOIN h ON h.lead_id = up.lead_id
    WHERE up.sent_n > 0 AND up.human_n = h.n GROUP BY 1 ORDER BY 1
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = campaign_stats.n + EXCLUDED.n;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION replies_stats_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c text[]; m text[]; d bigint[];
    rc text[]; rl text[]; rs integer[]; rh integer[];
BEGIN
    SELECT array_agg(campaign_id), array_agg(metric), array_agg(n) INTO c, m, d FROM (
        SELECT campaign_id, 'replies:' || classification AS metric, sum(k) AS n FROM (
            SELECT campaign_id, classification, -1 AS k FROM old_rows WHERE campaign_id IS NOT NULL
            UNION ALL SELECT campaign_id, classification, 1 FROM new_rows WHERE campaign_id IS NOT NULL
        ) x GROUP BY 1, 2 HAVING sum(k) <> 0) y;
    SELECT array_agg(campaign_id), array_agg(lead_id), array_agg(0), array_agg(n) INTO rc, rl, rs, rh FROM (
        SELECT campaign_id, lead_id, sum(k)::integer AS n FROM (
            SELECT campaign_id, lead_id, -1 AS k FROM old_rows
            WHERE campaign_id IS NOT NULL AND lead_id IS NOT NULL
              AND classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
            UNION ALL SELECT campaign_id, lead_id, 1 FROM new_rows
            WHERE campaign_id IS NOT NULL AND lead_id IS NOT NULL
              AND classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
        ) x GROUP BY 1, 2 HAVING sum(k) <> 0) y;
    IF c IS NOT NULL THEN PERFORM stats_apply(c, m, d); END IF;
    IF rc IS NOT NULL THEN PERFORM reach_apply(rc, rl, rs, rh); END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION replies_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c text[]; m text[]; d bigint[];
    rc text[]; rl text[]; rs integer[]; rh integer[];
BEGIN
    SELECT array_agg(campaign_id), array_agg(metric), array_agg(n) INTO c, m, d FROM (
        SELECT campaign_id, 'replies:' || classification AS metric, -count(*) AS n FROM old_rows
        WHERE campaign_id IS NOT NULL AND EXISTS (SELECT 1 FROM campaigns WHERE id = old_rows.campaign_id)
        GROUP BY 1, 2) x;
    IF c IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(campaign_id), array_agg(lead_id), array_agg(0), array_agg(n) INTO rc, rl, rs, rh FROM (
        SELECT campaign_id, lead_id, -count(*)::integer AS n FROM old_rows
        WHERE campaign_id IS NOT NULL AND lead_id IS NOT NULL
          AND classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
        GROUP BY 1, 2) x;
    PERFORM stats_apply(c, m, d);
    IF rc IS NOT NULL THEN PERFORM reach_apply(rc, rl, rs, rh); END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER attempts_stats_insert AFTER INSERT ON attempts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attempts_stats_insert();
CREATE TRIGGER attempts_stats_update AFTER UPDATE ON attempts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attempts_stats_update();
CREATE TRIGGER attempts_stats_delete AFTER DELETE ON attempts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION attempts_stats_delete();
CREATE TRIGGER replies_stats_insert AFTER INSERT ON replies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION replies_stats_insert();
CREATE TRIGGER replies_stats_update AFTER UPDATE ON replies
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION replies_stats_update();
CREATE TRIGGER replies_stats_delete AFTER DELETE ON replies
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION replies_stats_delete();

-- Deleting an attempt sets replies.attempt_id to NULL (ON DELETE SET NULL);
-- without an index each deleted attempt scanned every reply: deleting a
-- campaign of 100,000 leads and 200,000 attempts took 4 minutes on
-- PostgreSQL, 5 seconds with it.
CREATE INDEX replies_attempt ON replies (attempt_id);


-- +goose Down
DROP INDEX replies_attempt;
DROP TRIGGER replies_stats_delete ON replies;
DROP TRIGGER replies_stats_update ON replies;
DROP TRIGGER replies_stats_insert ON replies;
DROP TRIGGER attempts_stats_delete ON attempts;
DROP TRIGGER attempts_stats_update ON attempts;
DROP TRIGGER attempts_stats_insert ON attempts;
DROP FUNCTION replies_stats_delete();
DROP FUNCTION replies_stats_update();
DROP FUNCTION replies_stats_insert();
DROP FUNCTION attempts_stats_delete();
DROP FUNCTION attempts_stats_update();
DROP FUNCTION attempts_stats_insert();
DROP FUNCTION reach_apply(text[], text[], integer[], integer[]);
DROP FUNCTION stats_apply(text[], text[], bigint[]);

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
