-- healthcode schema (SQLite): the change feed (healthcode.ChangeFeed).
-- Servers keep sessions, tokens and statuses in memory and forget what the
-- rows here name. A row is written in the transaction that makes the change;
-- SQLite has one writer, so ids are committed in order and other processes
-- poll for ids above the last they saw. Rows are kept for an hour.
-- (PostgreSQL uses NOTIFY instead: migrations/postgres/0006_changes.sql.)
CREATE TABLE changes (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT    NOT NULL CHECK (kind IN ('status', 'session', 'token', 'rules')),
    key  INTEGER NOT NULL,
    at   INTEGER NOT NULL
) STRICT;
CREATE INDEX changes_at_idx ON changes (at);
