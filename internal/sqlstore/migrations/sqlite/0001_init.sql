-- healthcode schema 1 (SQLite).
--
-- Conventions shared with migrations/postgres (the queries are the same for
-- both engines):
--   instants            INTEGER unix microseconds (UTC); NULL for "none"
--   birth dates         TEXT 'YYYY-MM-DD'
--   booleans            INTEGER 0/1 (BOOLEAN on PostgreSQL)
--   personal data       *_enc BLOB: AES-GCM from secure.Cipher.Seal
--   lookups of it       *_idx BLOB: HMAC blind index from secure.Cipher.BlindIndex
--   region codes        TEXT on residents; INTEGER on declaration_visits and as
--                       [region_lo, region_hi) ranges on area_risks, so that a
--                       prefix match is an index range scan on every engine
-- Unique indexes carry the names that the error translation recognises.

CREATE TABLE residents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name_enc      BLOB    NOT NULL,
    sex           TEXT    NOT NULL CHECK (sex IN ('male', 'female')),
    birth_date    TEXT    NOT NULL,
    nationality   TEXT    NOT NULL,
    id_type       TEXT    NOT NULL CHECK (id_type IN ('resident_id', 'passport', 'hk_macao_permit', 'taiwan_permit')),
    id_number_enc BLOB    NOT NULL,
    id_number_idx BLOB    NOT NULL,
    phone_enc     BLOB,
    phone_idx     BLOB,
    region        TEXT    NOT NULL,
    address_enc   BLOB    NOT NULL,
    guardian_id   INTEGER REFERENCES residents (id) ON DELETE SET NULL,
    pseudonym     TEXT    NOT NULL,
    password_hash TEXT,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX residents_document_key ON residents (id_type, id_number_idx);
CREATE UNIQUE INDEX residents_phone_key ON residents (phone_idx);
CREATE UNIQUE INDEX residents_pseudonym_key ON residents (pseudonym);
CREATE INDEX residents_guardian_idx ON residents (guardian_id);

CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    hash        BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX sessions_hash_key ON sessions (hash);
CREATE INDEX sessions_resident_idx ON sessions (resident_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'tracer', 'lab', 'checkpoint', 'venue', 'reviewer', 'auditor')),
    hash       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE UNIQUE INDEX api_tokens_hash_key ON api_tokens (hash);

CREATE TABLE declarations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id       INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    temperature       REAL    NOT NULL,
    symptoms          TEXT    NOT NULL, -- JSON array of symptom names
    contact_with_case INTEGER NOT NULL CHECK (contact_with_case IN (0, 1)),
    declared_at       INTEGER NOT NULL,
    declared_by       INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE
) STRICT;
CREATE INDEX declarations_resident_idx ON declarations (resident_id, id);
CREATE INDEX declarations_declared_by_idx ON declarations (declared_by);
CREATE INDEX declarations_declared_at_idx ON declarations (declared_at);

CREATE TABLE declaration_visits (
    declaration_id INTEGER NOT NULL REFERENCES declarations (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    resident_id    INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    region         INTEGER NOT NULL,
    visit_date     INTEGER NOT NULL,
    PRIMARY KEY (declaration_id, position)
) STRICT;
CREATE INDEX declaration_visits_resident_idx ON declaration_visits (resident_id, region);
CREATE INDEX declaration_visits_region_idx ON declaration_visits (region, visit_date);

CREATE TABLE test_results (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    type        TEXT    NOT NULL CHECK (type IN ('pcr', 'antigen', 'antibody')),
    result      TEXT    NOT NULL CHECK (result IN ('positive', 'negative')),
    sampled_at  INTEGER NOT NULL,
    resulted_at INTEGER NOT NULL,
    institution TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL,
    recorded_by TEXT    NOT NULL
) STRICT;
CREATE INDEX test_results_resident_idx ON test_results (resident_id, id);

CREATE TABLE vaccinations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id  INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    product      TEXT    NOT NULL,
    dose         INTEGER NOT NULL,
    series_doses INTEGER NOT NULL,
    given_on     INTEGER NOT NULL,
    institution  TEXT    NOT NULL,
    recorded_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX vaccinations_resident_idx ON vaccinations (resident_id, id);

CREATE TABLE cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id   INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    confirmed_at  INTEGER NOT NULL,
    onset_date    INTEGER,
    sample_date   INTEGER,
    discharged_at INTEGER,
    note          TEXT    NOT NULL,
    recorded_by   TEXT    NOT NULL
) STRICT;
CREATE INDEX cases_resident_idx ON cases (resident_id, id);

CREATE TABLE area_risks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    prefix      TEXT    NOT NULL,
    region_lo   INTEGER NOT NULL, -- first 6-digit region the prefix covers
    region_hi   INTEGER NOT NULL, -- first 6-digit region after it
    level       TEXT    NOT NULL CHECK (level IN ('low', 'medium', 'high')),
    from_at     INTEGER NOT NULL,
    to_at       INTEGER,
    recorded_at INTEGER NOT NULL,
    recorded_by TEXT    NOT NULL
) STRICT;
CREATE INDEX area_risks_region_idx ON area_risks (region_lo, region_hi);

CREATE TABLE contact_designations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id   INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    case_id       INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    venue         TEXT    NOT NULL,
    last_exposure INTEGER NOT NULL,
    designated_at INTEGER NOT NULL,
    designated_by TEXT    NOT NULL
) STRICT;
CREATE INDEX contact_designations_resident_idx ON contact_designations (resident_id, id);
CREATE INDEX contact_designations_case_idx ON contact_designations (case_id);

-- The cached current status: one row per resident, written with the resident.
CREATE TABLE statuses (
    resident_id      INTEGER PRIMARY KEY REFERENCES residents (id) ON DELETE CASCADE,
    color            TEXT    NOT NULL CHECK (color IN ('green', 'yellow', 'red')),
    vaccinated       INTEGER NOT NULL CHECK (vaccinated IN (0, 1)),
    reasons          TEXT    NOT NULL, -- JSON array of healthcode.Reason
    computed_at      INTEGER NOT NULL,
    valid_until      INTEGER,
    rule_set_version TEXT    NOT NULL
) STRICT;

CREATE TABLE status_history (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id      INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    at               INTEGER NOT NULL,
    color            TEXT    NOT NULL CHECK (color IN ('green', 'yellow', 'red')),
    vaccinated       INTEGER NOT NULL CHECK (vaccinated IN (0, 1)),
    reasons          TEXT    NOT NULL,
    valid_until      INTEGER,
    rule_set_version TEXT    NOT NULL,
    cause            TEXT    NOT NULL
) STRICT;
CREATE INDEX status_history_resident_idx ON status_history (resident_id, id);

CREATE TABLE rule_sets (
    version      TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    published_at INTEGER NOT NULL
) STRICT;
