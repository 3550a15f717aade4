-- healthcode schema (sqlite): which rule set is in force. Each time a rule
-- set is put in force (its first publication, or an earlier version again:
-- a rollback) is a row; the latest row is the rule set in force. The
-- versions published before this table existed are its first rows, in the
-- order they were published, so the latest of them stays in force.
CREATE TABLE rule_set_publications (
    id           INTEGER PRIMARY KEY,
    version      TEXT    NOT NULL REFERENCES rule_sets (version),
    published_at INTEGER NOT NULL,
    rollback     INTEGER NOT NULL CHECK (rollback IN (0, 1))
) STRICT;

INSERT INTO rule_set_publications (version, published_at, rollback)
SELECT version, published_at, 0 FROM rule_sets ORDER BY published_at, version;
