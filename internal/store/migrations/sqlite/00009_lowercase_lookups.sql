-- +goose Up
-- Suppression values are stored lower-cased (every writer normalises them),
-- so a send checks them with value IN (...) on the (user_id, value) unique
-- index instead of lower(value), which read every entry of the user on every
-- send. Entries written before that rule are brought in line first (a
-- mixed-case entry whose lower-cased twin exists is a duplicate).
DELETE FROM suppressions WHERE value <> lower(value) AND EXISTS (
    SELECT 1 FROM suppressions s2 WHERE s2.user_id = suppressions.user_id AND s2.value = lower(suppressions.value));
UPDATE suppressions SET value = lower(value) WHERE value <> lower(value);

-- Suppressing an address flags the user's leads with it, compared
-- case-insensitively: without this index every bounce, refusal and
-- unsubscribe read all of the user's leads.
CREATE INDEX leads_user_email_lower ON leads (user_id, lower(contact_email));

-- +goose Down
DROP INDEX leads_user_email_lower;
