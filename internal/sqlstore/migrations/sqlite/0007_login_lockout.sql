-- healthcode schema (SQLite): failed sign-ins per phone number, for the
-- lockout that backs off (sqlstore.LoginFailed). Keyed by the phone's blind
-- index, as residents are, so the table holds no phone number; a row exists
-- for unknown numbers too, so that a lockout does not tell whether a number
-- is registered.
CREATE TABLE login_failures (
    phone_idx    BLOB    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL, -- unix micros; 0 when not locked
    updated_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
