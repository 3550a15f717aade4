-- healthcode schema (sqlite): cross-region contact notices (issue 8).
--
-- contact_notice_outbox: notices this region sends to the home regions of
-- foreign contacts, written in the transaction that records the tracer's
-- decision, delivered by a worker (claim by moving next_attempt_at forward,
-- as notification_outbox does). The payload is the unsigned notice JSON: it
-- is signed afresh at each attempt.
CREATE TABLE contact_notice_outbox (
    notice_id       TEXT    PRIMARY KEY,
    to_region       TEXT    NOT NULL,
    case_id         INTEGER REFERENCES cases (id) ON DELETE SET NULL,
    payload         TEXT    NOT NULL,
    queued_at       INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    delivered_at    INTEGER,
    refused_at      INTEGER
) STRICT;
CREATE INDEX contact_notice_outbox_due_idx ON contact_notice_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND refused_at IS NULL;

-- contact_proposals: each contact of a notice received from another region
-- whose subject is a resident here, waiting for this region's tracer. The
-- notice id (with the subject) makes a redelivery change nothing.
CREATE TABLE contact_proposals (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    notice_id        TEXT    NOT NULL,
    from_region      TEXT    NOT NULL,
    from_name        TEXT    NOT NULL,
    resident_id      INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    subject          TEXT    NOT NULL,
    degree           INTEGER NOT NULL,
    venue            TEXT    NOT NULL,
    venue_type       TEXT    NOT NULL,
    last_exposure    INTEGER NOT NULL,
    case_confirmed   INTEGER NOT NULL,
    quarantine_until INTEGER NOT NULL,
    exposures        TEXT    NOT NULL,
    received_at      INTEGER NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('proposed', 'confirmed', 'dismissed')),
    decided_at       INTEGER,
    decided_by       TEXT    NOT NULL,
    decision_reason  TEXT    NOT NULL,
    designation_id   INTEGER
) STRICT;
CREATE UNIQUE INDEX contact_proposals_notice_subject_key ON contact_proposals (notice_id, subject);
CREATE INDEX contact_proposals_state_idx ON contact_proposals (state, id);
CREATE INDEX contact_proposals_resident_idx ON contact_proposals (resident_id, id);

-- Contact designations may now rest on another region's case: case_id is
-- NULL and case_region names the region (a confirmed proposal, proposal_id).
-- SQLite cannot drop a NOT NULL, so the table is rebuilt with its ids and
-- its AUTOINCREMENT counter (ids are named by overrides and appeals).
CREATE TABLE contact_designations_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id   INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    case_id       INTEGER REFERENCES cases (id) ON DELETE CASCADE,
    case_region   TEXT    NOT NULL DEFAULT '',
    proposal_id   INTEGER,
    venue         TEXT    NOT NULL,
    last_exposure INTEGER NOT NULL,
    designated_at INTEGER NOT NULL,
    designated_by TEXT    NOT NULL,
    CHECK ((case_id IS NOT NULL AND case_region = '') OR (case_id IS NULL AND case_region <> ''))
) STRICT;
INSERT INTO contact_designations_new (id, resident_id, case_id, case_region, proposal_id, venue, last_exposure,
    designated_at, designated_by)
SELECT id, resident_id, case_id, '', NULL, venue, last_exposure, designated_at, designated_by FROM contact_designations;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'contact_designations_new', seq FROM sqlite_sequence WHERE name = 'contact_designations'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'contact_designations_new');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'contact_designations')
WHERE name = 'contact_designations_new' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'contact_designations');
DROP TABLE contact_designations;
ALTER TABLE contact_designations_new RENAME TO contact_designations;
CREATE INDEX contact_designations_resident_idx ON contact_designations (resident_id, id);
CREATE INDEX contact_designations_case_idx ON contact_designations (case_id);
