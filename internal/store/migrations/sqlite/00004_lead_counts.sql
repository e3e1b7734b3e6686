-- +goose Up
-- Per-(campaign, status) lead counts kept exact by triggers, so the campaign
-- list shows counts without a GROUP BY over every lead on each request.
-- SQLite has no statement-level triggers; row triggers do the same work.
CREATE TABLE lead_counts (
    campaign_id text NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    status      text NOT NULL,
    n           integer NOT NULL,
    PRIMARY KEY (campaign_id, status)
);

INSERT INTO lead_counts (campaign_id, status, n)
SELECT campaign_id, status, count(*) FROM leads GROUP BY campaign_id, status;

-- +goose StatementBegin
CREATE TRIGGER leads_count_insert AFTER INSERT ON leads
BEGIN
    INSERT INTO lead_counts (campaign_id, status, n) VALUES (NEW.campaign_id, NEW.status, 1)
    ON CONFLICT (campaign_id, status) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER leads_count_update AFTER UPDATE OF status, campaign_id ON leads
WHEN OLD.status IS NOT NEW.status OR OLD.campaign_id IS NOT NEW.campaign_id
BEGIN
    UPDATE lead_counts SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND status = OLD.status;
    INSERT INTO lead_counts (campaign_id, status, n) VALUES (NEW.campaign_id, NEW.status, 1)
    ON CONFLICT (campaign_id, status) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- Deletes only decrement existing rows: when a campaign is deleted its
-- counters go with it (cascade), and nothing may be re-inserted for it.
-- +goose StatementBegin
CREATE TRIGGER leads_count_delete AFTER DELETE ON leads
BEGIN
    UPDATE lead_counts SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND status = OLD.status;
END;
-- +goose StatementEnd

-- Keyset pagination of leads by quality: a lead without a score sorts as -1,
-- below every real score, so the sort key is never NULL.
CREATE INDEX leads_campaign_quality ON leads (campaign_id, COALESCE(quality_score, -1), id);

-- +goose Down
DROP INDEX leads_campaign_quality;
DROP TRIGGER leads_count_delete;
DROP TRIGGER leads_count_update;
DROP TRIGGER leads_count_insert;
DROP TABLE lead_counts;
