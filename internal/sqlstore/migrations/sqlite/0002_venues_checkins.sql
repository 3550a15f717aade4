-- healthcode schema 2 (SQLite): venues, checkpoint scopes, check-ins and
-- paper codes. Conventions as in 0001_init.sql; the column layout is the same
-- as migrations/postgres.

CREATE TABLE venues (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    type         TEXT    NOT NULL CHECK (type IN ('mall', 'restaurant', 'transit', 'hospital', 'school', 'office', 'toll_gate', 'other')),
    region       TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    policy_kind  TEXT    NOT NULL CHECK (policy_kind IN ('green', 'green_and_test_within_hours', 'green_and_vaccinated')),
    policy_hours INTEGER NOT NULL,
    owner_id     INTEGER REFERENCES api_tokens (id), -- the managing token; NULL for none
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX venues_owner_idx ON venues (owner_id);

-- The venues a checkpoint token may record check-ins for.
CREATE TABLE token_venues (
    token_id INTEGER NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    venue_id INTEGER NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, venue_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX token_venues_venue_idx ON token_venues (venue_id);

-- The big table (tens of millions of rows), kept narrow: the enumerations are
-- small integers, the issuer a number. The client's id is the idempotency
-- key: writers insert with ON CONFLICT (id) DO NOTHING, and the first write
-- of an id wins. venue_id has no foreign key, which would cost a lookup per
-- row on ingest: the writers check a batch's distinct venues once.
--   decision  0 admit, 1 deny
--   color     0 unknown, 1 green, 2 yellow, 3 red
--   mode      0 checkpoint, 1 place_code
CREATE TABLE checkins (
    venue_id    INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    issuer      INTEGER NOT NULL, -- 6-digit region code of the code's issuer
    decision    INTEGER NOT NULL CHECK (decision IN (0, 1)),
    color       INTEGER NOT NULL CHECK (color IN (0, 1, 2, 3)),
    mode        INTEGER NOT NULL CHECK (mode IN (0, 1)),
    id          TEXT    NOT NULL PRIMARY KEY,
    subject     TEXT    NOT NULL, -- the code's pseudonym
    checkpoint  TEXT    NOT NULL
) STRICT;
CREATE INDEX checkins_subject_idx ON checkins (issuer, subject, at);
CREATE INDEX checkins_venue_idx ON checkins (venue_id, at);

-- Paper codes. A status index is never reused: the next one is the highest
-- so far plus one, and rows are never deleted (no ON DELETE CASCADE: deleting
-- a resident with paper codes fails instead of freeing their indexes).
CREATE TABLE paper_codes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id  INTEGER NOT NULL REFERENCES residents (id),
    status_index INTEGER NOT NULL,
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    issued_by    TEXT    NOT NULL
) STRICT;
CREATE UNIQUE INDEX paper_codes_status_index_key ON paper_codes (status_index);
CREATE INDEX paper_codes_resident_idx ON paper_codes (resident_id);
-- At most one unrevoked code per resident.
CREATE UNIQUE INDEX paper_codes_current_key ON paper_codes (resident_id) WHERE revoked_at IS NULL;
