-- +goose Up
-- Suppression values are stored lower-cased (every writer normalises them),
-- so a send checks them with value IN (...) on the (user_id, value) unique
-- index instead of lower(value), which read every entry of the user on every
-- send. Entries written before that rule are brought in line first: of
-- the entries of a user equal but for case, one is kept (the lower-case one
-- if there is one, else the first by id), the others are duplicates.
DELETE FROM suppressions WHERE EXISTS (
    SELECT 1 FROM suppressions s2
    WHERE s2.user_id = suppressions.user_id AND lower(s2.value) = lower(suppressions.value) AND s2.id <> suppressions.id
      AND ((s2.value = lower(s2.value) AND suppressions.value <> lower(suppressions.value))
        OR ((s2.value = lower(s2.value)) = (suppressions.value = lower(suppressions.value)) AND s2.id < suppressions.id)));
UPDATE suppressions SET value = lower(value) WHERE value <> lower(value);

-- Suppressing an address flags the user's leads with it, compared
-- case-insensitively: without this index every bounce, refusal and
-- unsubscribe read all of the user's leads.
CREATE INDEX leads_user_email_lower ON leads (user_id, lower(contact_email));

-- +goose Down
DROP INDEX leads_user_email_lower;
