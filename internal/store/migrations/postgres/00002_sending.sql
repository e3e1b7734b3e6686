-- +goose Up
-- The send ledger: one row per (lead, step), pending -> sending -> sent |
-- failed | unknown. A row found in sending after a crash becomes unknown and
-- is never sent again.
CREATE TABLE attempts (
    id               text PRIMARY KEY,
    user_id          text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    campaign_id      text NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    lead_id          text NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    step             integer NOT NULL,
    state            text NOT NULL,
    message_id       text NOT NULL,
    in_reply_to      text NOT NULL DEFAULT '',
    recipient        text NOT NULL,
    recipient_domain text NOT NULL,
    subject          text NOT NULL,
    body             text NOT NULL,
    legal_basis      text NOT NULL DEFAULT '',
    error            text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    sending_at       timestamptz,
    sent_at          timestamptz,
    -- slot_at is the min-gap slot reserved for this send (see campaigns.next_send_at);
    -- tries counts SMTP conversations started for the row.
    slot_at          timestamptz,
    tries            integer NOT NULL DEFAULT 0,
    CONSTRAINT attempts_lead_step UNIQUE (lead_id, step)
);
CREATE UNIQUE INDEX attempts_message_id ON attempts (message_id);
CREATE INDEX attempts_campaign ON attempts (campaign_id, state);
CREATE INDEX attempts_campaign_sent ON attempts (campaign_id, sent_at);
CREATE INDEX attempts_user_recipient ON attempts (user_id, recipient, created_at);

-- Daily send counters. scope is user, domain or campaign; scope_key is empty,
-- the recipient domain or the campaign id; day is YYYY-MM-DD (UTC for user and
-- domain, the campaign's timezone for campaign). A slot is reserved before the
-- SMTP conversation and released if the message never reached the server, so
-- concurrent sends can never push a counter past its cap.
CREATE TABLE send_counters (
    user_id   text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope     text NOT NULL,
    scope_key text NOT NULL,
    day       text NOT NULL,
    count     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, scope, scope_key, day)
);

CREATE TABLE audit_entries (
    id          text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    campaign_id text NOT NULL DEFAULT '',
    lead_id     text NOT NULL DEFAULT '',
    step        integer,
    recipient   text NOT NULL DEFAULT '',
    result      text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    legal_basis text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);
CREATE INDEX audit_entries_user ON audit_entries (user_id, created_at, id);
CREATE INDEX audit_entries_campaign ON audit_entries (campaign_id, created_at, id);

CREATE TABLE suppressions (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    value      text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    source     text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT suppressions_user_value UNIQUE (user_id, value)
);

-- next_send_at is the earliest moment the campaign's next send may start:
-- each approved send moves it on by the minimum gap plus a random jitter, so
-- sends of one campaign are spaced even across workers.
ALTER TABLE campaigns ADD COLUMN next_send_at timestamptz;

-- parked_at marks a lead whose send found its campaign paused; resuming the
-- campaign wakes exactly these leads. blocked_reason is set when the policy
-- refused a lead for good (suppressed, duplicate, ...): it is no longer
-- counted as a first touch in flight.
ALTER TABLE leads ADD COLUMN parked_at timestamptz;
ALTER TABLE leads ADD COLUMN blocked_reason text NOT NULL DEFAULT '';

-- The campaign workflow's selections: leads without a workflow, leads ready
-- for their first touch, first touches in flight per user, parked leads.
CREATE INDEX leads_unstarted ON leads (campaign_id, id) WHERE workflow_started = false;
CREATE INDEX leads_ready ON leads (campaign_id, id) WHERE dispatched_at IS NULL AND status = 'discovered';
CREATE INDEX leads_inflight ON leads (user_id, campaign_id) WHERE dispatched_at IS NOT NULL AND status = 'discovered';
CREATE INDEX leads_parked ON leads (campaign_id, id) WHERE parked_at IS NOT NULL;

-- +goose Down
DROP INDEX leads_parked;
DROP INDEX leads_inflight;
DROP INDEX leads_ready;
DROP INDEX leads_unstarted;
ALTER TABLE leads DROP COLUMN blocked_reason;
ALTER TABLE leads DROP COLUMN parked_at;
ALTER TABLE campaigns DROP COLUMN next_send_at;
DROP TABLE suppressions;
DROP TABLE audit_entries;
DROP TABLE send_counters;
DROP TABLE attempts;
