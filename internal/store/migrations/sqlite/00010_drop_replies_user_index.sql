-- +goose Up
-- replies_user (user_id, classification) served one query: the search for
-- another refusal from an address when a reply's suppression is lifted,
-- which the recipient index on attempts (attempts_recipient_lower) and
-- replies_attempt answer as well. Every stored reply paid for it: about a
-- sixth of the work of inserting a page of replies (four secondary indexes
-- were a quarter of it). Users are never deleted, so the user_id foreign key
-- needs no index for cascading.
DROP INDEX replies_user;

-- +goose Down
CREATE INDEX replies_user ON replies (user_id, classification);
