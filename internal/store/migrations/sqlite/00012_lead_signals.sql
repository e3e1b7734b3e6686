-- +goose Up
-- Signals owed to lead workflows that are not replies: a one-click
-- unsubscribe whose signal met a Temporal outage. A row lives until the
-- signal lands (or the workflow is found gone); the reply poll's schedule
-- retries what is left, as it does reply effects.
CREATE TABLE lead_signals (
    id          text PRIMARY KEY,
    campaign_id text NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    lead_id     text NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    tag         text NOT NULL,
    tries       integer NOT NULL DEFAULT 0,
    last_error  text NOT NULL DEFAULT '',
    created_at  datetime NOT NULL,
    updated_at  datetime NOT NULL
);
CREATE INDEX lead_signals_lead ON lead_signals (lead_id);
CREATE INDEX lead_signals_campaign ON lead_signals (campaign_id);

-- +goose Down
DROP TABLE lead_signals;
