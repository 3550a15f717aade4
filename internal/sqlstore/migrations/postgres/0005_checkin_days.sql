-- healthcode schema (PostgreSQL): check-ins partitioned by day.
--
-- The checkins table becomes a range-partitioned table on at (unix
-- microseconds), one partition per UTC day named checkins_YYYYMMDD, created
-- by the store before it writes the first check-in of a day
-- (sqlstore.ensureCheckInDays). There is no default partition: a row with
-- no partition fails loudly instead of landing in a table retention never
-- drops. Retention drops whole partitions (sqlstore.PurgeCheckIns).
--
-- A unique constraint of a partitioned table must hold the partition key, so
-- the idempotency key is now (id, at): a device re-sends a check-in with its
-- id and its original time, and that is a duplicate. SQLite has the same key
-- (migrations/sqlite), so both engines agree.

ALTER TABLE checkins RENAME TO checkins_unpartitioned;
ALTER TABLE checkins_unpartitioned RENAME CONSTRAINT checkins_pkey TO checkins_unpartitioned_pkey;
ALTER INDEX checkins_subject_idx RENAME TO checkins_unpartitioned_subject_idx;
ALTER INDEX checkins_venue_idx RENAME TO checkins_unpartitioned_venue_idx;

CREATE TABLE checkins (
    venue_id    BIGINT   NOT NULL,
    at          BIGINT   NOT NULL,
    received_at BIGINT   NOT NULL,
    issuer      INTEGER  NOT NULL, -- 6-digit region code of the code's issuer
    decision    SMALLINT NOT NULL CHECK (decision IN (0, 1)),
    color       SMALLINT NOT NULL CHECK (color IN (0, 1, 2, 3)),
    mode        SMALLINT NOT NULL CHECK (mode IN (0, 1)),
    id          TEXT     COLLATE "C" NOT NULL, -- byte order, as on SQLite
    subject     TEXT     COLLATE "C" NOT NULL, -- the code's pseudonym
    checkpoint  TEXT     NOT NULL,
    CONSTRAINT checkins_pkey PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX checkins_subject_idx ON checkins (issuer, subject, at);
CREATE INDEX checkins_venue_idx ON checkins (venue_id, at);

-- One partition for each day that already has check-ins.
DO $$
DECLARE
    d BIGINT;
BEGIN
    FOR d IN SELECT DISTINCT floor(at / 86400000000.0)::BIGINT FROM checkins_unpartitioned LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF checkins FOR VALUES FROM (%s) TO (%s)',
            'checkins_' || to_char(to_timestamp(d * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD'),
            d * 86400000000, (d + 1) * 86400000000);
    END LOOP;
END
$$;

INSERT INTO checkins SELECT venue_id, at, received_at, issuer, decision, color, mode, id, subject, checkpoint FROM checkins_unpartitioned;
DROP TABLE checkins_unpartitioned;
