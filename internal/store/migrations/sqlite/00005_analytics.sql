-- +goose Up
-- Campaign analytics from counters kept exact by triggers; see the
-- PostgreSQL migration of the same number for the metrics. SQLite has one
-- writer at a time, so row triggers need no locking, and having no
-- procedures, each case is spelled out as its own trigger.
CREATE TABLE campaign_stats (
    campaign_id text NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    metric      text NOT NULL,
    n           integer NOT NULL,
    PRIMARY KEY (campaign_id, metric)
);

CREATE TABLE lead_reach (
    lead_id     text PRIMARY KEY,
    campaign_id text NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    sent_n      integer NOT NULL,
    human_n     integer NOT NULL
);

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

-- Ledger rows per state. Increments upsert; decrements only update (the
-- counters of a campaign being deleted may already be gone).
-- +goose StatementBegin
CREATE TRIGGER attempts_stats_insert AFTER INSERT ON attempts
BEGIN
    INSERT INTO campaign_stats (campaign_id, metric, n) VALUES (NEW.campaign_id, 'attempts:' || NEW.state, 1)
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER attempts_stats_delete AFTER DELETE ON attempts
BEGIN
    UPDATE campaign_stats SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND metric = 'attempts:' || OLD.state;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER attempts_stats_update AFTER UPDATE OF state, campaign_id ON attempts
WHEN OLD.state IS NOT NEW.state OR OLD.campaign_id IS NOT NEW.campaign_id
BEGIN
    UPDATE campaign_stats SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND metric = 'attempts:' || OLD.state;
    INSERT INTO campaign_stats (campaign_id, metric, n) VALUES (NEW.campaign_id, 'attempts:' || NEW.state, 1)
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- A lead gains a sent attempt: its tally goes up; at 1 it becomes sent,
-- and responded too if it already has a human reply.
-- +goose StatementBegin
CREATE TRIGGER attempts_reach_on_insert AFTER INSERT ON attempts WHEN NEW.state = 'sent'
BEGIN
    INSERT INTO lead_reach (lead_id, campaign_id, sent_n, human_n) VALUES (NEW.lead_id, NEW.campaign_id, 1, 0)
    ON CONFLICT (lead_id) DO UPDATE SET sent_n = sent_n + 1;
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT NEW.campaign_id, 'leads_sent', 1 FROM lead_reach WHERE lead_id = NEW.lead_id AND sent_n = 1
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT NEW.campaign_id, 'leads_responded', 1 FROM lead_reach WHERE lead_id = NEW.lead_id AND sent_n = 1 AND human_n > 0
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER attempts_reach_on_update AFTER UPDATE OF state ON attempts
WHEN NEW.state = 'sent' AND OLD.state IS NOT 'sent'
BEGIN
    INSERT INTO lead_reach (lead_id, campaign_id, sent_n, human_n) VALUES (NEW.lead_id, NEW.campaign_id, 1, 0)
    ON CONFLICT (lead_id) DO UPDATE SET sent_n = sent_n + 1;
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT NEW.campaign_id, 'leads_sent', 1 FROM lead_reach WHERE lead_id = NEW.lead_id AND sent_n = 1
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT NEW.campaign_id, 'leads_responded', 1 FROM lead_reach WHERE lead_id = NEW.lead_id AND sent_n = 1 AND human_n > 0
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- A lead loses a sent attempt (deleted, or moved out of sent): at 0 it is
-- no longer sent, nor responded.
-- +goose StatementBegin
CREATE TRIGGER attempts_reach_off_update AFTER UPDATE OF state ON attempts
WHEN OLD.state = 'sent' AND NEW.state IS NOT 'sent'
BEGIN
    UPDATE lead_reach SET sent_n = sent_n - 1 WHERE lead_id = OLD.lead_id;
    UPDATE campaign_stats SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND metric = 'leads_sent'
        AND EXISTS (SELECT 1 FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n = 0);
    UPDATE campaign_stats SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND metric = 'leads_responded'
        AND EXISTS (SELECT 1 FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n = 0 AND human_n > 0);
    DELETE FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n = 0 AND human_n = 0;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER attempts_reach_off_delete AFTER DELETE ON attempts WHEN OLD.state = 'sent'
BEGIN
    UPDATE lead_reach SET sent_n = sent_n - 1 WHERE lead_id = OLD.lead_id;
    UPDATE campaign_stats SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND metric = 'leads_sent'
        AND EXISTS (SELECT 1 FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n = 0);
    UPDATE campaign_stats SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND metric = 'leads_responded'
        AND EXISTS (SELECT 1 FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n = 0 AND human_n > 0);
    DELETE FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n = 0 AND human_n = 0;
END;
-- +goose StatementEnd

-- Replies per classification, for matched replies.
-- +goose StatementBegin
CREATE TRIGGER replies_stats_insert AFTER INSERT ON replies WHEN NEW.campaign_id IS NOT NULL
BEGIN
    INSERT INTO campaign_stats (campaign_id, metric, n) VALUES (NEW.campaign_id, 'replies:' || NEW.classification, 1)
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER replies_stats_delete AFTER DELETE ON replies WHEN OLD.campaign_id IS NOT NULL
BEGIN
    UPDATE campaign_stats SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND metric = 'replies:' || OLD.classification;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER replies_stats_update AFTER UPDATE OF classification, campaign_id ON replies
WHEN OLD.classification IS NOT NEW.classification OR OLD.campaign_id IS NOT NEW.campaign_id
BEGIN
    UPDATE campaign_stats SET n = n - 1 WHERE OLD.campaign_id IS NOT NULL
        AND campaign_id = OLD.campaign_id AND metric = 'replies:' || OLD.classification;
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT NEW.campaign_id, 'replies:' || NEW.classification, 1 WHERE NEW.campaign_id IS NOT NULL
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- A lead gains a human reply: at 1 it becomes responded if it was sent.
-- The old row's reply is removed before the new one is added, so a
-- reclassification between two human tags changes nothing.
-- +goose StatementBegin
CREATE TRIGGER replies_reach_off AFTER UPDATE OF classification, campaign_id, lead_id ON replies
WHEN OLD.lead_id IS NOT NULL AND OLD.campaign_id IS NOT NULL
    AND OLD.classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
    AND (NEW.lead_id IS NOT OLD.lead_id OR NEW.campaign_id IS NOT OLD.campaign_id
        OR NEW.classification NOT IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe'))
BEGIN
    UPDATE lead_reach SET human_n = human_n - 1 WHERE lead_id = OLD.lead_id;
    UPDATE campaign_stats SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND metric = 'leads_responded'
        AND EXISTS (SELECT 1 FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n > 0 AND human_n = 0);
    DELETE FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n = 0 AND human_n = 0;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER replies_reach_on AFTER UPDATE OF classification, campaign_id, lead_id ON replies
WHEN NEW.lead_id IS NOT NULL AND NEW.campaign_id IS NOT NULL
    AND NEW.classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
    AND (NEW.lead_id IS NOT OLD.lead_id OR NEW.campaign_id IS NOT OLD.campaign_id OR OLD.lead_id IS NULL OR OLD.campaign_id IS NULL
        OR OLD.classification NOT IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe'))
BEGIN
    INSERT INTO lead_reach (lead_id, campaign_id, sent_n, human_n) VALUES (NEW.lead_id, NEW.campaign_id, 0, 1)
    ON CONFLICT (lead_id) DO UPDATE SET human_n = human_n + 1;
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT NEW.campaign_id, 'leads_responded', 1 FROM lead_reach WHERE lead_id = NEW.lead_id AND sent_n > 0 AND human_n = 1
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER replies_reach_insert AFTER INSERT ON replies
WHEN NEW.lead_id IS NOT NULL AND NEW.campaign_id IS NOT NULL
    AND NEW.classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
BEGIN
    INSERT INTO lead_reach (lead_id, campaign_id, sent_n, human_n) VALUES (NEW.lead_id, NEW.campaign_id, 0, 1)
    ON CONFLICT (lead_id) DO UPDATE SET human_n = human_n + 1;
    INSERT INTO campaign_stats (campaign_id, metric, n)
    SELECT NEW.campaign_id, 'leads_responded', 1 FROM lead_reach WHERE lead_id = NEW.lead_id AND sent_n > 0 AND human_n = 1
    ON CONFLICT (campaign_id, metric) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER replies_reach_delete AFTER DELETE ON replies
WHEN OLD.lead_id IS NOT NULL AND OLD.campaign_id IS NOT NULL
    AND OLD.classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
BEGIN
    UPDATE lead_reach SET human_n = human_n - 1 WHERE lead_id = OLD.lead_id;
    UPDATE campaign_stats SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND metric = 'leads_responded'
        AND EXISTS (SELECT 1 FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n > 0 AND human_n = 0);
    DELETE FROM lead_reach WHERE lead_id = OLD.lead_id AND sent_n = 0 AND human_n = 0;
END;
-- +goose StatementEnd

CREATE INDEX attempts_campaign_id ON attempts (campaign_id, id);

-- +goose Down
DROP INDEX attempts_campaign_id;
DROP TRIGGER replies_reach_delete;
DROP TRIGGER replies_reach_insert;
DROP TRIGGER replies_reach_on;
DROP TRIGGER replies_reach_off;
DROP TRIGGER replies_stats_update;
DROP TRIGGER replies_stats_delete;
DROP TRIGGER replies_stats_insert;
DROP TRIGGER attempts_reach_off_delete;
DROP TRIGGER attempts_reach_off_update;
DROP TRIGGER attempts_reach_on_update;
DROP TRIGGER attempts_reach_on_insert;
DROP TRIGGER attempts_stats_update;
DROP TRIGGER attempts_stats_delete;
DROP TRIGGER attempts_stats_insert;
DROP TABLE lead_reach;
DROP TABLE campaign_stats;
