-- healthcode schema 4 (SQLite): accountability. The hash-chained audit log
-- and its head, withdrawals of facts (by upheld appeals and approved
-- overrides), appeals, overrides, reasons retained across a purge, and the
-- webhook outbox. Conventions as in 0001_init.sql; the column layout is the
-- same as migrations/postgres. (0005 is reserved for check-in partitioning.)

-- The audit log: append-only, each entry carrying the hash of the one before
-- (healthcode.AuditEntry.CanonicalBytes defines what is hashed). seq runs
-- 1, 2, 3, ... without gaps; it is given by the writer, which takes it from
-- audit_head in the same transaction. subject_id and actor_id are 0 for none,
-- and have no foreign key: the log outlives what it names.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_role TEXT    NOT NULL,
    actor_id   INTEGER NOT NULL,
    actor_name TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject_id INTEGER NOT NULL,
    purpose    TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_log_subject_idx ON audit_log (subject_id, seq);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_name, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- The chain head: the number and hash of the last entry. Writers lock this
-- one row, so the chain stays linear with several writers.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Facts that no longer count for the rules. The fact stays on record.
CREATE TABLE withdrawals (
    fact_kind    TEXT    NOT NULL CHECK (fact_kind IN ('declaration', 'test_result', 'vaccination', 'case', 'contact_designation', 'retained_reason')),
    fact_id      INTEGER NOT NULL,
    resident_id  INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    withdrawn_at INTEGER NOT NULL,
    source       TEXT    NOT NULL, -- 'override N' or 'appeal N'
    PRIMARY KEY (fact_kind, fact_id)
) STRICT;
CREATE INDEX withdrawals_resident_idx ON withdrawals (resident_id);

-- Appeals. fact_kind '' and fact_id 0 when the appeal names only a rule;
-- the decision columns are '' and 0 while open.
CREATE TABLE appeals (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id     INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    filed_by        INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    rule            TEXT    NOT NULL,
    fact_kind       TEXT    NOT NULL,
    fact_id         INTEGER NOT NULL,
    what            TEXT    NOT NULL,
    why             TEXT    NOT NULL,
    evidence        TEXT    NOT NULL,
    filed_at        INTEGER NOT NULL,
    deadline        INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('open', 'upheld', 'rejected')),
    decided_at      INTEGER,
    decided_by      TEXT    NOT NULL,
    decision_reason TEXT    NOT NULL,
    withdrawn_kind  TEXT    NOT NULL,
    withdrawn_id    INTEGER NOT NULL
) STRICT;
CREATE INDEX appeals_resident_idx ON appeals (resident_id, id);
CREATE INDEX appeals_queue_idx ON appeals (state, deadline);
CREATE INDEX appeals_decided_idx ON appeals (decided_at);

-- Overrides: proposed by one person, decided by another.
CREATE TABLE overrides (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id      INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    fact_kind        TEXT    NOT NULL,
    fact_id          INTEGER NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('ended_early', 'data_error')),
    reason           TEXT    NOT NULL,
    proposed_at      INTEGER NOT NULL,
    proposed_by_role TEXT    NOT NULL,
    proposed_by_id   INTEGER NOT NULL,
    proposed_by_name TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('proposed', 'approved', 'rejected')),
    decided_at       INTEGER,
    decided_by_role  TEXT    NOT NULL,
    decided_by_id    INTEGER NOT NULL,
    decided_by_name  TEXT    NOT NULL,
    decision_reason  TEXT    NOT NULL
) STRICT;
CREATE INDEX overrides_resident_idx ON overrides (resident_id, id);
CREATE INDEX overrides_queue_idx ON overrides (state, id);
-- At most one pending proposal per fact.
CREATE UNIQUE INDEX overrides_pending_key ON overrides (fact_kind, fact_id) WHERE state = 'proposed';

-- Reasons kept when the end-of-emergency purge deleted the facts they came
-- from while they still ran (healthcode.RetainedReason).
CREATE TABLE retained_reasons (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    rule        TEXT    NOT NULL,
    reason      TEXT    NOT NULL, -- JSON healthcode.Reason
    ends_at     INTEGER NOT NULL,
    retained_at INTEGER NOT NULL
) STRICT;
CREATE INDEX retained_reasons_resident_idx ON retained_reasons (resident_id, id);
CREATE INDEX retained_reasons_ends_idx ON retained_reasons (ends_at);

-- The webhook outbox: a row per notification, written in the same
-- transaction, while a webhook is configured. The delivery worker claims due
-- rows (moving next_attempt_at forward as a lease) and marks them delivered.
CREATE TABLE notification_outbox (
    notification_id INTEGER PRIMARY KEY REFERENCES notifications (id),
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    delivered_at    INTEGER
) STRICT;
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at) WHERE delivered_at IS NULL;
