-- +goose Up
-- Per-(campaign, status) lead counts kept exact by triggers, so the campaign
-- list shows counts for hundreds of campaigns without a GROUP BY over every
-- lead on each request. Statement-level triggers with transition tables add
-- one upsert per statement, not per row, which keeps bulk inserts fast.
CREATE TABLE lead_counts (
    campaign_id text NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    status      text NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (campaign_id, status)
);

INSERT INTO lead_counts (campaign_id, status, n)
SELECT campaign_id, status, count(*) FROM leads GROUP BY campaign_id, status;

-- Rows are upserted in key order so two transactions touching the same
-- counters lock them in the same order and cannot deadlock each other.
-- +goose StatementBegin
CREATE FUNCTION lead_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lead_counts (campaign_id, status, n)
    SELECT campaign_id, status, count(*) FROM new_rows
    GROUP BY campaign_id, status ORDER BY campaign_id, status
    ON CONFLICT (campaign_id, status) DO UPDATE SET n = lead_counts.n + EXCLUDED.n;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- An update moves a lead out of its old (campaign, status) and into the new
-- one. Summing -1 per old row and +1 per new row, without joining the two
-- transition tables, stays linear whatever plan PL/pgSQL cached: a join
-- planned when the tables held one row became a quadratic nested loop on
-- thousands. Unchanged statuses sum to zero and are skipped.
-- +goose StatementBegin
CREATE FUNCTION lead_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lead_counts (campaign_id, status, n)
    SELECT campaign_id, status, sum(d) FROM (
        SELECT campaign_id, status, -1 AS d FROM old_rows
        UNION ALL
        SELECT campaign_id, status, 1 AS d FROM new_rows
    ) moved
    GROUP BY campaign_id, status HAVING sum(d) <> 0 ORDER BY campaign_id, status
    ON CONFLICT (campaign_id, status) DO UPDATE SET n = lead_counts.n + EXCLUDED.n;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- Deletes only decrement existing rows: when a campaign is deleted its
-- counters go with it (cascade), and nothing may be re-inserted for it.
-- +goose StatementBegin
CREATE FUNCTION lead_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lead_counts c SET n = c.n - d.n
    FROM (SELECT campaign_id, status, count(*) AS n FROM old_rows GROUP BY campaign_id, status) d
    WHERE c.campaign_id = d.campaign_id AND c.status = d.status;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER leads_count_insert AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_counts_insert();
CREATE TRIGGER leads_count_update AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_counts_update();
CREATE TRIGGER leads_count_delete AFTER DELETE ON leads
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lead_counts_delete();

-- Keyset pagination of leads by quality: a lead without a score sorts as -1,
-- below every real score, so the sort key is never NULL.
CREATE INDEX leads_campaign_quality ON leads (campaign_id, (COALESCE(quality_score, -1)), id);

-- +goose Down
DROP INDEX leads_campaign_quality;
DROP TRIGGER leads_count_delete ON leads;
DROP TRIGGER leads_count_update ON leads;
DROP TRIGGER leads_count_insert ON leads;
DROP FUNCTION lead_counts_delete();
DROP FUNCTION lead_counts_update();
DROP FUNCTION lead_counts_insert();
DROP TABLE lead_counts;
