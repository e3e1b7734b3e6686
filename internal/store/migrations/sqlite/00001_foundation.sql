-- +goose Up
CREATE TABLE users (
    id         text PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    created_at datetime NOT NULL
);

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    prefix       text NOT NULL UNIQUE,
    hash         text NOT NULL UNIQUE,
    created_at   datetime NOT NULL,
    revoked_at   datetime,
    last_used_at datetime
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE campaigns (
    id                   text PRIMARY KEY,
    user_id              text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name                 text NOT NULL,
    description          text NOT NULL DEFAULT '',
    keywords             text NOT NULL DEFAULT '[]',
    settings             text NOT NULL DEFAULT '{}',
    state                text NOT NULL,
    state_before_archive text NOT NULL DEFAULT '',
    created_at           datetime NOT NULL,
    updated_at           datetime NOT NULL,
    launched_at          datetime,
    archived_at          datetime
);
CREATE INDEX campaigns_user_created ON campaigns (user_id, created_at DESC, id DESC);

CREATE TABLE leads (
    id                    text PRIMARY KEY,
    campaign_id           text NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    user_id               text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    website_url           text NOT NULL,
    normalized_url        text NOT NULL,
    website_title         text NOT NULL DEFAULT '',
    contact_email         text NOT NULL DEFAULT '',
    contact_name          text NOT NULL DEFAULT '',
    quality_score         real,
    relevance_score       real,
    guest_post_likelihood real,
    source                text NOT NULL,
    status                text NOT NULL,
    suppressed            integer NOT NULL DEFAULT 0,
    workflow_started      integer NOT NULL DEFAULT 0,
    dispatched_at         datetime,
    created_at            datetime NOT NULL,
    updated_at            datetime NOT NULL,
    status_changed_at     datetime NOT NULL,
    CONSTRAINT leads_campaign_url UNIQUE (campaign_id, normalized_url)
);
CREATE INDEX leads_campaign_id ON leads (campaign_id, id);
CREATE INDEX leads_campaign_status ON leads (campaign_id, status, id);
CREATE INDEX leads_contact_email ON leads (user_id, contact_email);

CREATE TABLE lead_events (
    id          text PRIMARY KEY,
    lead_id     text NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    campaign_id text NOT NULL,
    at          datetime NOT NULL,
    kind        text NOT NULL,
    from_status text NOT NULL DEFAULT '',
    to_status   text NOT NULL DEFAULT '',
    step        integer,
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX lead_events_lead ON lead_events (lead_id, at, id);

CREATE TABLE templates (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       text NOT NULL,
    category   text NOT NULL DEFAULT '',
    subject    text NOT NULL,
    body       text NOT NULL,
    html_body  text NOT NULL DEFAULT '',
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL
);
CREATE INDEX templates_user ON templates (user_id, id);

-- +goose Down
DROP TABLE templates;
DROP TABLE lead_events;
DROP TABLE leads;
DROP TABLE campaigns;
DROP TABLE api_keys;
DROP TABLE users;
