package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"healthcode"
)

// Bulk loading, for the load generator and imports: not part of
// healthcode.Store. Each call is one transaction.

// bulkCheckInChunk is how many rows one prepared INSERT of
// BulkInsertCheckIns carries on SQLite (measured with
// BenchmarkBulkInsertCheckIns; 10 parameters a row).
const bulkCheckInChunk = 500

// BulkInsertCheckIns stores check-ins in one transaction, received now, with
// none of AddCheckIns' per-item validation: the check-ins must have an ID, a
// venue and a time, enumeration values the table can hold and a region code
// as issuer, and every venue must exist (one lookup per distinct venue, for
// the whole call), or nothing is stored. A check-in whose ID and time are
// already stored, or repeated in cs, is skipped: the first write wins, as in
// AddCheckIns.
//
// On SQLite the rows go in as multi-row prepared INSERTs; on PostgreSQL they
// are copied (COPY) into a temporary table and inserted from there.
func (db *DB) BulkInsertCheckIns(ctx context.Context, cs []healthcode.CheckIn) error {
	if len(cs) == 0 {
		return nil
	}
	if db.engine == postgresEngine {
		ats := make([]int64, len(cs))
		for i := range cs {
			ats[i] = cs[i].At.UnixMicro()
		}
		return db.writeCheckIns(ctx, ats, func() error { return db.copyCheckIns(ctx, cs) })
	}
	return db.update(ctx, "bulk insert check-ins", func(tx *sql.Tx, now time.Time) error {
		rows, venues, err := encodeBulkCheckIns(cs, now)
		if err != nil {
			return err
		}
		missing, err := db.missingVenues(ctx, tx, venues)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return healthcode.Errorf(healthcode.EINVALID, "unknown venue %d", missing[0])
		}
		// INSERT OR IGNORE rather than ON CONFLICT (id, at) DO NOTHING: the same
		// here (the rows cannot fail another constraint, they are encoded),
		// but a statement that may not abort needs no statement journal,
		// which cost a fifth of the time.
		insert := func(n int) string {
			return `INSERT OR IGNORE INTO checkins (` + checkInColumns + `) VALUES ` + db.engine.placeholders(n, checkInColumnCount)
		}
		args := make([]any, 0, bulkCheckInChunk*checkInColumnCount)
		var stmt *sql.Stmt
		for chunk := range slices.Chunk(rows, bulkCheckInChunk) {
			args = args[:0]
			for i := range chunk {
				args = chunk[i].appendArgs(args)
			}
			if len(chunk) < bulkCheckInChunk {
				if _, err := tx.ExecContext(ctx, insert(len(chunk)), args...); err != nil {
					return fmt.Errorf("insert check-ins: %w", err)
				}
				continue
			}
			if stmt == nil {
				if stmt, err = tx.PrepareContext(ctx, insert(bulkCheckInChunk)); err != nil {
					return err
				}
				defer stmt.Close()
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("insert check-ins: %w", err)
			}
		}
		return nil
	})
}

// encodeBulkCheckIns encodes check-ins received at now and returns their
// distinct venues in order.
func encodeBulkCheckIns(cs []healthcode.CheckIn, now time.Time) ([]checkInRow, []int64, error) {
	rows := make([]checkInRow, len(cs))
	venues := make([]int64, len(cs))
	for i := range cs {
		c := &cs[i]
		if c.ID == "" || c.VenueID <= 0 || c.At.IsZero() {
			return nil, nil, healthcode.Errorf(healthcode.EINVALID, "check-in %d (%q): needs an id, a venue and a time", i, c.ID)
		}
		var err error
		if rows[i], err = encodeCheckIn(c, now.UnixMicro()); err != nil {
			return nil, nil, healthcode.Errorf(healthcode.EINVALID, "%s", err.Error())
		}
		venues[i] = c.VenueID
	}
	slices.Sort(venues)
	return rows, slices.Compact(venues), nil
}

// copyCheckIns is BulkInsertCheckIns on PostgreSQL: COPY, pgx's bulk API
// reached through database/sql's Conn.Raw, cannot skip conflicts, so the
// rows are copied into a temporary table (kept per connection, emptied at
// every commit) and inserted from there with ON CONFLICT (id, at) DO
// NOTHING.
func (db *DB) copyCheckIns(ctx context.Context, cs []healthcode.CheckIn) error {
	const op = "bulk insert check-ins"
	for attempt := 1; ; attempt++ {
		err := db.copyCheckInsOnce(ctx, cs)
		if err == nil {
			return nil
		}
		if attempt < maxAttempts && db.engine.transient(err) {
			db.log.Debug("retrying transaction", "op", op, "attempt", attempt, "error", err)
			select {
			case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
				continue
			case <-ctx.Done():
			}
		}
		return db.wrap(op, err)
	}
}

// checkInCopyColumns are the columns of checkins_load: checkInColumns and n.
var checkInCopyColumns = []string{"venue_id", "at", "received_at", "issuer", "decision", "color", "mode", "id", "subject", "checkpoint", "n"}

func (db *DB) copyCheckInsOnce(ctx context.Context, cs []healthcode.CheckIn) error {
	rows, venues, err := encodeBulkCheckIns(cs, db.now())
	if err != nil {
		return err
	}
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		sc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("PostgreSQL driver connection is a %T, not a pgx connection", driverConn)
		}
		pc := sc.Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback(ctx) // after Commit, a no-op
		if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS checkins_load (
    venue_id    BIGINT   NOT NULL,
    at          BIGINT   NOT NULL,
    received_at BIGINT   NOT NULL,
    issuer      INTEGER  NOT NULL,
    decision    SMALLINT NOT NULL,
    color       SMALLINT NOT NULL,
    mode        SMALLINT NOT NULL,
    id          TEXT     COLLATE "C" NOT NULL,
    subject     TEXT     COLLATE "C" NOT NULL,
    checkpoint  TEXT     NOT NULL,
    n           INTEGER  NOT NULL -- the position in cs: the first of an id wins
) ON COMMIT DELETE ROWS`); err != nil {
			return fmt.Errorf("create the load table: %w", err)
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "checkins_load"}, checkInCopyColumns,
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				r := &rows[i]
				return []any{r.venueID, r.at, r.receivedAt, r.issuer, r.decision, r.color, r.mode, r.id, r.subject, r.checkpoint, int32(i)}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy check-ins: %w", err)
		}
		var found int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM venues WHERE id = ANY($1)`, venues).Scan(&found); err != nil {
			return fmt.Errorf("look up venues: %w", err)
		}
		if found != len(venues) {
			var unknown int64
			err := tx.QueryRow(ctx, `SELECT v.id FROM unnest($1::bigint[]) v (id)
WHERE NOT EXISTS (SELECT 1 FROM venues WHERE venues.id = v.id) ORDER BY v.id LIMIT 1`, venues).Scan(&unknown)
			if err != nil {
				return fmt.Errorf("look up venues: %w", err)
			}
			return healthcode.Errorf(healthcode.EINVALID, "unknown venue %d", unknown)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO checkins (`+checkInColumns+`)
SELECT `+checkInColumns+` FROM pg_temp.checkins_load ORDER BY id, at, n
ON CONFLICT (id, at) DO NOTHING`); noPartitionError(err) {
			return errNoPartition
		} else if err != nil {
			return fmt.Errorf("insert check-ins: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// bulkResidentChunk is how many rows one INSERT of BulkCreateResidents
// carries (15 parameters a row).
const bulkResidentChunk = 500

// BulkCreateResidents enrolls residents in one transaction, as
// CreateResident would without a password: personal data encrypted, blind
// indexes computed, ID, Pseudonym and CreatedAt filled in, and the initial
// status (the rules applied to the new resident's empty facts) stored and
// added to the history as "enrolled". The residents must be valid and
// normalized; a duplicate document or phone number fails the whole call with
// an ECONFLICT, and guardians must already exist.
func (db *DB) BulkCreateResidents(ctx context.Context, rs []*healthcode.Resident) error {
	if len(rs) == 0 {
		return nil
	}
	type sealed struct {
		name, idNumber, idIndex, phone, phoneIndex, address []byte
		birth                                               string
		guardian                                            sql.NullInt64
	}
	enc := make([]sealed, len(rs))
	for i, r := range rs {
		enc[i] = sealed{
			name:     db.cipher.Seal(r.Name, sealName),
			idNumber: db.cipher.Seal(r.IDNumber, sealIDNumber),
			idIndex:  db.documentIndex(r.IDType, r.IDNumber),
			address:  db.cipher.Seal(r.Address, sealAddress),
			birth:    dateText(r.BirthDate),
			guardian: sql.NullInt64{Int64: r.GuardianID, Valid: r.GuardianID != 0},
		}
		if r.Phone != "" {
			enc[i].phone, enc[i].phoneIndex = db.cipher.Seal(r.Phone, sealPhone), db.phoneIndex(r.Phone)
		}
	}
	ids := make([]int64, len(rs))
	pseudonyms := make([]string, len(rs))
	births := make([]time.Time, len(rs))
	for i := range rs {
		var err error
		if births[i], err = parseDate(enc[i].birth); err != nil {
			return fmt.Errorf("bulk create residents: %w", err)
		}
	}
	var createdAt time.Time
	err := db.update(ctx, "bulk create residents", func(tx *sql.Tx, now time.Time) error {
		createdAt = now
		clear(ids)
		pending := make([]int, len(rs))
		for i := range pending {
			pending[i] = i
		}
		// A pseudonym that is taken (a chance of n/2^40 each with n
		// enrolled: dozens over ten million residents) leaves its resident
		// pending for another draw.
		for attempt := 1; len(pending) > 0; attempt++ {
			if attempt > pseudonymAttempts {
				return fmt.Errorf("%d residents found no free pseudonym in %d draws", len(pending), pseudonymAttempts)
			}
			byPseudonym := make(map[string]int, len(pending))
			var round []int
			for _, i := range pending {
				p := db.newPseudonym()
				if _, drawn := byPseudonym[p]; drawn {
					continue // drawn twice in this round: in the next one
				}
				pseudonyms[i], byPseudonym[p] = p, i
				round = append(round, i)
			}
			for chunk := range slices.Chunk(round, bulkResidentChunk) {
				args := make([]any, 0, len(chunk)*15)
				for _, i := range chunk {
					r, e := rs[i], &enc[i]
					args = append(args, e.name, string(r.Sex), e.birth, r.Nationality, string(r.IDType),
						e.idNumber, e.idIndex, e.phone, e.phoneIndex, r.Region, e.address, e.guardian, pseudonyms[i],
						nil, now.UnixMicro())
				}
				err := queryAll(ctx, tx, func(rows *sql.Rows) error {
					var id int64
					var p string
					if err := rows.Scan(&id, &p); err != nil {
						return err
					}
					if i, ok := byPseudonym[p]; ok {
						ids[i] = id
					}
					return nil
				}, `INSERT INTO residents (name_enc, sex, birth_date, nationality, id_type, id_number_enc, id_number_idx,
    phone_enc, phone_idx, region, address_enc, guardian_id, pseudonym, password_hash, created_at)
VALUES `+db.engine.placeholders(len(chunk), 15)+`
ON CONFLICT (pseudonym) DO NOTHING RETURNING id, pseudonym`, args...)
				if err != nil {
					return fmt.Errorf("insert residents: %w", err)
				}
			}
			pending = slices.DeleteFunc(pending, func(i int) bool { return ids[i] != 0 })
		}

		// The initial statuses, from the facts a new resident has: none but
		// the resident.
		for lo := 0; lo < len(rs); lo += bulkResidentChunk {
			chunk := ids[lo:min(lo+bulkResidentChunk, len(rs))]
			statusArgs := make([]any, 0, len(chunk)*7)
			historyArgs := make([]any, 0, len(chunk)*8)
			for j := range chunk {
				i := lo + j
				res := *rs[i]
				res.ID, res.Pseudonym, res.CreatedAt, res.BirthDate = ids[i], pseudonyms[i], now, births[i]
				st, reasons, err := db.evaluate(&healthcode.Facts{Resident: res}, now)
				if err != nil {
					return err
				}
				statusArgs = append(statusArgs, ids[i], string(st.Color), st.Vaccinated, string(reasons), now.UnixMicro(),
					micros(st.ValidUntil), st.RuleSetVersion)
				historyArgs = append(historyArgs, ids[i], now.UnixMicro(), string(st.Color), st.Vaccinated, string(reasons),
					micros(st.ValidUntil), st.RuleSetVersion, "enrolled")
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO statuses (resident_id, color, vaccinated, reasons, computed_at,
    valid_until, rule_set_version)
VALUES `+db.engine.placeholders(len(chunk), 7), statusArgs...); err != nil {
				return fmt.Errorf("store statuses: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO status_history (resident_id, at, color, vaccinated, reasons,
    valid_until, rule_set_version, cause)
VALUES `+db.engine.placeholders(len(chunk), 8), historyArgs...); err != nil {
				return fmt.Errorf("append status history: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, r := range rs {
		r.ID, r.Pseudonym, r.CreatedAt, r.BirthDate = ids[i], pseudonyms[i], createdAt, births[i]
	}
	return nil
}

// checkInIndexes are the secondary indexes of checkins as the migrations
// make them.
var checkInIndexes = []struct{ name, create string }{
	{"checkins_subject_idx", `CREATE INDEX IF NOT EXISTS checkins_subject_idx ON checkins (issuer, subject, at)`},
	{"checkins_venue_idx", `CREATE INDEX IF NOT EXISTS checkins_venue_idx ON checkins (venue_id, at)`},
}

// ensureCheckInIndexes builds the secondary check-in indexes that a bulk load
// dropped and did not get to build again (it was interrupted). When they are
// there, as they nearly always are, it costs two catalogue lookups.
func (db *DB) ensureCheckInIndexes(ctx context.Context) error {
	if db.engine != sqliteEngine {
		return nil
	}
	for _, ix := range checkInIndexes {
		var n int
		if err := db.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND name = $1`, ix.name).Scan(&n); err != nil {
			return fmt.Errorf("look for index %s: %w", ix.name, err)
		}
		if n > 0 {
			continue
		}
		db.log.Info("building check-in index", "index", ix.name)
		if _, err := db.write.ExecContext(ctx, ix.create); err != nil {
			return fmt.Errorf("build index %s: %w", ix.name, err)
		}
	}
	return nil
}

// CheckInLoad is a bulk load of check-ins: BeginCheckInLoad, Add as often as
// needed, then Finish. Each Add is BulkInsertCheckIns, committed when it
// returns.
//
// On SQLite, a load into an empty checkins table (a new deployment's first
// import, or the load generator's population) drops the two secondary
// indexes at the start and builds them in Finish: building an index sorts
// once, several times faster than inserting every row into two B-trees at
// random places (BENCHMARKS.md). Until Finish, traces still work but scan.
// The primary key stays, so duplicates are still skipped. If the load is
// interrupted, the next Open builds the missing indexes. A load into a table
// that has rows keeps the indexes, as does every load on PostgreSQL, whose
// day partitions keep each index small.
type CheckInLoad struct {
	db       *DB
	deferred bool
}

// BeginCheckInLoad starts a bulk load.
func (db *DB) BeginCheckInLoad(ctx context.Context) (*CheckInLoad, error) {
	l := &CheckInLoad{db: db}
	if db.engine != sqliteEngine {
		return l, nil
	}
	err := db.update(ctx, "begin check-in load", func(tx *sql.Tx, _ time.Time) error {
		var some bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM checkins)`).Scan(&some); err != nil {
			return err
		}
		if some {
			return nil
		}
		for _, ix := range checkInIndexes {
			if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS `+ix.name); err != nil {
				return err
			}
		}
		l.deferred = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// DefersIndexes says whether Finish builds the indexes the load dropped.
func (l *CheckInLoad) DefersIndexes() bool { return l.deferred }

// Add stores check-ins as BulkInsertCheckIns does. Several goroutines may
// call it at once (on SQLite they take turns).
func (l *CheckInLoad) Add(ctx context.Context, cs []healthcode.CheckIn) error {
	return l.db.BulkInsertCheckIns(ctx, cs)
}

// Finish builds the indexes a load into an empty table dropped. It may take
// minutes for tens of millions of rows.
func (l *CheckInLoad) Finish(ctx context.Context) error {
	if !l.deferred {
		return nil
	}
	if err := l.db.ensureCheckInIndexes(ctx); err != nil {
		return l.db.wrap("finish check-in load", err)
	}
	l.deferred = false
	return nil
}
