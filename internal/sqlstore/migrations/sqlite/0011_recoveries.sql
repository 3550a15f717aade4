-- healthcode schema (sqlite): recoveries attested by imported certificates
-- (healthcode.Recovery), e.g. EU DCC recovery certificates. Dates are
-- civil dates: midnight in the region's time zone, unix microseconds. A
-- certificate is recorded once per resident.
CREATE TABLE recoveries (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id    INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    first_positive INTEGER NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_until    INTEGER NOT NULL,
    country        TEXT    NOT NULL,
    issuer         TEXT    NOT NULL,
    certificate_id TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    recorded_at    INTEGER NOT NULL,
    recorded_by    TEXT    NOT NULL,
    UNIQUE (resident_id, source, certificate_id)
) STRICT;
CREATE INDEX recoveries_valid_until_idx ON recoveries (valid_until);

-- A recovery can be withdrawn like any fact: SQLite cannot change a CHECK
-- constraint in place, so withdrawals is rebuilt with 'recovery' allowed
-- (nothing refers to it).
CREATE TABLE withdrawals_0011 (
    fact_kind    TEXT    NOT NULL CHECK (fact_kind IN ('declaration', 'test_result', 'vaccination', 'recovery', 'case', 'contact_designation', 'retained_reason')),
    fact_id      INTEGER NOT NULL,
    resident_id  INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    withdrawn_at INTEGER NOT NULL,
    source       TEXT    NOT NULL, -- 'override N' or 'appeal N'
    PRIMARY KEY (fact_kind, fact_id)
) STRICT;
INSERT INTO withdrawals_0011 (fact_kind, fact_id, resident_id, withdrawn_at, source)
    SELECT fact_kind, fact_id, resident_id, withdrawn_at, source FROM withdrawals;
DROP TABLE withdrawals;
ALTER TABLE withdrawals_0011 RENAME TO withdrawals;
CREATE INDEX withdrawals_resident_idx ON withdrawals (resident_id);
