-- healthcode schema (SQLite): the check-in idempotency key becomes (id, at),
-- as on PostgreSQL, whose day partitions need the partition key in every
-- unique constraint (migrations/postgres/0005_checkin_days.sql). A device
-- re-sends a check-in with its id and original time: that is a duplicate.
-- SQLite keeps one table; its secondary indexes may be dropped for a bulk
-- load into an empty table and built afterwards (sqlstore.BulkLoader).

CREATE TABLE checkins_new (
    venue_id    INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    issuer      INTEGER NOT NULL, -- 6-digit region code of the code's issuer
    decision    INTEGER NOT NULL CHECK (decision IN (0, 1)),
    color       INTEGER NOT NULL CHECK (color IN (0, 1, 2, 3)),
    mode        INTEGER NOT NULL CHECK (mode IN (0, 1)),
    id          TEXT    NOT NULL,
    subject     TEXT    NOT NULL, -- the code's pseudonym
    checkpoint  TEXT    NOT NULL,
    PRIMARY KEY (id, at)
) STRICT;
INSERT INTO checkins_new SELECT venue_id, at, received_at, issuer, decision, color, mode, id, subject, checkpoint FROM checkins;
DROP TABLE checkins;
ALTER TABLE checkins_new RENAME TO checkins;
CREATE INDEX checkins_subject_idx ON checkins (issuer, subject, at);
CREATE INDEX checkins_venue_idx ON checkins (venue_id, at);
