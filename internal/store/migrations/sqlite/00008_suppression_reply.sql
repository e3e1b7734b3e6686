-- +goose Up
-- The reply whose tag wrote an entry (an unsubscribe, a refusal, a hard
-- bounce read from a delivery report). Reclassifying that reply lifts the
-- entry it wrote, and only that one: entries added by hand, by one-click
-- unsubscribe or by an SMTP 5xx have none, and an entry that was already
-- there when the reply came keeps its own origin. No foreign key: the entry
-- outlives the reply (a deleted campaign's replies go, its refusals stay).
ALTER TABLE suppressions ADD COLUMN reply_id text;

-- +goose Down
ALTER TABLE suppressions DROP COLUMN reply_id;
