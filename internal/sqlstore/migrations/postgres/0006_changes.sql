-- healthcode schema (PostgreSQL): nothing to create for the change feed
-- (healthcode.ChangeFeed). On PostgreSQL each transaction that makes a
-- change sends it with pg_notify on the channel healthcode_changes_SCHEMA, which
-- is delivered when, and only if, the transaction commits; SQLite keeps a
-- changes table instead (migrations/sqlite/0006_changes.sql).
SELECT 1;
