-- +goose Up
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
CREATE OR REPLACE FUNCTION replies_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION replies_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c text[]; m text[]; d bigint[];
    rc text[]; rl text[]; rs integer[]; rh integer[];
BEGIN
    SELECT array_agg(campaign_id), array_agg(metric), array_agg(n) INTO c, m, d FROM (
        SELECT campaign_id, 'replies:' || classification AS metric, count(*) AS n FROM new_rows
        WHERE campaign_id IS NOT NULL GROUP BY 1, 2) x;
    SELECT array_agg(campaign_id), array_agg(lead_id), array_agg(0), array_agg(n) INTO rc, rl, rs, rh FROM (
        SELECT campaign_id, lead_id, count(*)::integer AS n FROM new_rows
        WHERE campaign_id IS NOT NULL AND lead_id IS NOT NULL
          AND classification IN ('interested', 'not_interested', 'asks_payment', 'replied', 'unsubscribe')
        GROUP BY 1, 2) x;
    IF c IS NOT NULL THEN PERFORM stats_apply(c, m, d); END IF;
    IF rc IS NOT NULL THEN PERFORM reach_apply(rc, rl, rs, rh); END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
