-- +goose Up
-- Matching a reply by its sender compares addresses case-insensitively: a
-- lead stored as Jane.Doe@site.example must match a reply from
-- jane.doe@site.example. The recipient index becomes one on lower(recipient),
-- which the policy checks (lower(recipient) = lower(?)) use as well.
CREATE INDEX attempts_recipient_lower ON attempts (lower(recipient), created_at);
DROP INDEX attempts_recipient;

-- +goose Down
CREATE INDEX attempts_recipient ON attempts (recipient, created_at);
DROP INDEX attempts_recipient_lower;
