-- +goose Up
-- SQLite's lower() became Unicode-aware in 00011 (sqlitelower.go);
-- PostgreSQL's lower() already folds every letter under a UTF-8 locale.
-- This keeps the two schemas' versions in step.
SELECT 1;

-- +goose Down
SELECT 1;
