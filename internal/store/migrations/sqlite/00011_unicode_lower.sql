-- +goose Up
-- lower() is now Go's Unicode lower-casing (sqlitelower.go), no longer
-- SQLite's ASCII-only one: the indexes on lower() are rebuilt so rows
-- stored before (an address with a capital outside ASCII) are found under
-- their new key.
REINDEX attempts_recipient_lower;
REINDEX leads_user_email_lower;

-- +goose Down
REINDEX attempts_recipient_lower;
REINDEX leads_user_email_lower;
