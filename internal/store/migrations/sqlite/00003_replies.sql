-- +goose Up
-- Inbound mail. Matched replies carry the user, campaign, lead and attempt;
-- unmatched mail is kept with those empty. dedupe_key is the Message-ID, or a
-- content hash when the message has none, so a message seen twice (or in two
-- folders) is stored once.
CREATE TABLE replies (
    id             text PRIMARY KEY,
    user_id        text REFERENCES users(id) ON DELETE CASCADE,
    campaign_id    text REFERENCES campaigns(id) ON DELETE CASCADE,
    lead_id        text REFERENCES leads(id) ON DELETE CASCADE,
    attempt_id     text REFERENCES attempts(id) ON DELETE SET NULL,
    dedupe_key     text NOT NULL UNIQUE,
    message_id     text NOT NULL DEFAULT '',
    in_reply_to    text NOT NULL DEFAULT '',
    from_address   text NOT NULL DEFAULT '',
    to_address     text NOT NULL DEFAULT '',
    subject        text NOT NULL DEFAULT '',
    body_text      text NOT NULL DEFAULT '',
    classification text NOT NULL DEFAULT '',
    bounce_kind    text NOT NULL DEFAULT '',
    bounce_code    text NOT NULL DEFAULT '',
    ooo_until      datetime,
    parsed         integer NOT NULL DEFAULT 1,
    parse_error    text NOT NULL DEFAULT '',
    source         text NOT NULL,
    mailbox        text NOT NULL DEFAULT '',
    received_at    datetime NOT NULL,
    created_at     datetime NOT NULL,
    updated_at     datetime NOT NULL
);
CREATE INDEX replies_campaign ON replies (campaign_id, received_at);
CREATE INDEX replies_user ON replies (user_id, classification);
CREATE INDEX replies_lead ON replies (lead_id, received_at);

-- A reply's effect on its lead workflow (the reply signal), delivered after
-- the reply is stored and retried until it lands. state: pending,
-- delivered, or no_workflow (the lead's workflow had already finished; the
-- reply still counts). A reclassification sets it back to pending.
CREATE TABLE reply_effects (
    reply_id     text PRIMARY KEY REFERENCES replies(id) ON DELETE CASCADE,
    state        text NOT NULL,
    reclassified integer NOT NULL DEFAULT 0,
    tries        integer NOT NULL DEFAULT 0,
    last_error   text NOT NULL DEFAULT '',
    created_at   datetime NOT NULL,
    updated_at   datetime NOT NULL
);
CREATE INDEX reply_effects_state ON reply_effects (state, updated_at);

-- Matching a reply by its sender looks up the latest attempt to that address
-- across users (the IMAP mailbox is shared).
CREATE INDEX attempts_recipient ON attempts (recipient, created_at);

-- Where each polled mailbox stopped: the next poll fetches UIDs above last_uid
-- while uid_validity is unchanged, and starts over (dedupe keeps it safe) when
-- it changes.
CREATE TABLE imap_checkpoints (
    mailbox      text PRIMARY KEY,
    uid_validity integer NOT NULL,
    last_uid     integer NOT NULL,
    updated_at   datetime NOT NULL
);

-- +goose Down
DROP INDEX attempts_recipient;
DROP TABLE imap_checkpoints;
DROP TABLE reply_effects;
DROP TABLE replies;
