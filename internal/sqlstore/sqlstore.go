// Package sqlstore is the system of record: healthcode.Store on SQLite (the
// embedded default) and on PostgreSQL, with one set of queries for both
// engines and one schema per engine, migrated on Open.
//
// Personal data (name, ID number, phone, address) is encrypted at rest with
// a secure.Cipher and found through keyed blind indexes. Instants are stored
// as unix microseconds, so every time the store hands back is in UTC and
// truncated to the microsecond.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"healthcode"
	"healthcode/internal/secure"
)

var _ healthcode.Store = (*DB)(nil)

// Options configures a store.
type Options struct {
	Clock healthcode.Clock // required
	// Evaluator runs the rules until the database names a rule set in force
	// (required). Without LoadRules it is the only one the store uses.
	Evaluator healthcode.Evaluator
	// LoadRules compiles a stored rule set. With it, the store evaluates with
	// the rule set the database has in force, and follows each publication,
	// by any process, at run time (rulesets.go).
	LoadRules healthcode.RuleLoader
	Cipher    *secure.Cipher // required: personal data encryption + blind index
	Logger    *slog.Logger   // optional; nothing is logged without one
	// Outbox makes every notification also wait in the webhook outbox, in
	// the transaction that writes it; set it when a webhook is configured.
	Outbox bool
}

// DB is a healthcode.Store on a SQLite file or a PostgreSQL database. It is
// safe for concurrent use.
type DB struct {
	engine *engine
	// write runs every transaction that writes. On SQLite it holds a single
	// connection whose transactions begin IMMEDIATE, so writers queue in Go
	// instead of failing with SQLITE_BUSY.
	write *sql.DB
	// read runs read-only transactions and the status fast path. On SQLite it
	// is a pool of query-only connections (WAL lets them read while a write is
	// in progress); on PostgreSQL it is the same pool as write.
	read *sql.DB

	clock  healthcode.Clock
	cipher *secure.Cipher
	log    *slog.Logger

	// newPseudonym makes a resident's pseudonym; tests replace it to force
	// collisions.
	newPseudonym func() string

	// outbox: notifications also go to the webhook outbox.
	outbox bool
	// pending holds each open transaction's audit entries (*sql.Tx to
	// *auditBuffer) until it commits.
	pending sync.Map

	// checkInDays are the days (checkInDay) whose check-in partition is known
	// to exist, on PostgreSQL (checkindays.go).
	checkInDays sync.Map

	// prepared are the statements of the hot reads (readRow), by query.
	prepared sync.Map

	// The rule set in force (rulesets.go).
	rules     atomic.Pointer[rulesInForce]
	loadRules healthcode.RuleLoader
	rulesMu   sync.Mutex                      // serializes syncRules
	compiled  map[string]healthcode.Evaluator // by version, for rollbacks

	url     string     // the database's URL, for the change feed's own connection
	changes changeFeed // changes.go
}

// Open connects to the database at url and brings its schema up to date. A
// url starting with postgres:// or postgresql:// selects PostgreSQL; anything
// else is the path of a SQLite file, created if missing (its directory must
// exist). Open refuses a database whose schema is newer than this binary.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	switch {
	case opts.Clock == nil:
		return nil, errors.New("sqlstore: open: Options.Clock is required")
	case opts.Evaluator == nil:
		return nil, errors.New("sqlstore: open: Options.Evaluator is required")
	case opts.Cipher == nil:
		return nil, errors.New("sqlstore: open: Options.Cipher is required")
	}
	db := &DB{
		url:          url,
		clock:        opts.Clock,
		loadRules:    opts.LoadRules,
		compiled:     map[string]healthcode.Evaluator{},
		cipher:       opts.Cipher,
		log:          opts.Logger,
		newPseudonym: randomPseudonym,
		outbox:       opts.Outbox,
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	db.rules.Store(&rulesInForce{eval: opts.Evaluator})

	var err error
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		db.engine = postgresEngine
		db.write, err = openPostgres(ctx, url)
		db.read = db.write
	} else {
		db.engine = sqliteEngine
		db.write, db.read, err = openSQLite(ctx, url)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", db.engine.name, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", db.engine.name, err)
	}
	if err := db.setChangeChannel(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", db.engine.name, err)
	}
	if err := db.ensureCheckInIndexes(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", db.engine.name, err)
	}
	if err := db.syncRules(ctx, db.read); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", db.engine.name, err)
	}
	if db.loadRules != nil {
		// Follow the publications of other processes (rulesets.go).
		db.changes.mu.Lock()
		db.startWatching()
		db.changes.mu.Unlock()
	}
	db.log.Info("database ready", "engine", db.engine.name)
	return db, nil
}

// Close closes the database connections.
func (db *DB) Close() error {
	db.stopWatching()
	db.prepared.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping reports whether the database answers, for readiness checks.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
	}
	return nil
}

// Engine returns "sqlite" or "postgres".
func (db *DB) Engine() string { return db.engine.name }

// maxAttempts bounds how often a transaction is retried after a transient
// failure (PostgreSQL serialization failure or deadlock, SQLite busy).
const maxAttempts = 4

// update runs fn in a read-write transaction with one "now", retrying on
// transient failures, and commits when fn returns nil. op names the
// operation in errors.
func (db *DB) update(ctx context.Context, op string, fn func(tx *sql.Tx, now time.Time) error) error {
	for attempt := 1; ; attempt++ {
		err := db.runTx(ctx, db.write, nil, fn)
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

// view runs fn in a read-only transaction with one "now": a consistent
// snapshot on both engines.
func (db *DB) view(ctx context.Context, op string, fn func(tx *sql.Tx, now time.Time) error) error {
	if err := db.runTx(ctx, db.read, &db.engine.readOnly, fn); err != nil {
		return db.wrap(op, err)
	}
	return nil
}

func (db *DB) runTx(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx, now time.Time) error) (err error) {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		db.pending.Delete(tx)
		if err != nil {
			tx.Rollback()
		}
	}()
	defer db.takeChanges(tx) // forget what a failed transaction recorded
	now := db.now()
	if err := fn(tx, now); err != nil {
		return err
	}
	changes := db.takeChanges(tx)
	if err := db.writeChanges(ctx, tx, changes); err != nil {
		return err
	}
	// The audit entries go last, just before the commit (audit.go).
	if opts != nil && opts.ReadOnly {
		if _, ok := db.pending.Load(tx); ok {
			return errAuditInReadOnly
		}
	} else if err := db.flushAudit(ctx, tx, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.publish(changes)
	return nil
}

// wrap prefixes err with op, first turning a driver's constraint violation
// or busy error into a *healthcode.Error.
func (db *DB) wrap(op string, err error) error {
	var e *healthcode.Error
	if !errors.As(err, &e) {
		err = db.engine.translate(err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// now returns the clock's time in UTC at the precision the database keeps.
func (db *DB) now() time.Time {
	return db.clock.Now().Truncate(time.Microsecond).UTC()
}

// micros encodes an instant for the database; the zero time is NULL.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// instant decodes an instant from the database, in UTC; NULL is the zero
// time.
func instant(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// truncate drops what the database does not keep, so that the structs the
// store fills in equal what it later reads back.
func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond)
}

const civilDate = "2006-01-02"

// dateText encodes a civil date as YYYY-MM-DD, from the calendar fields of t
// in its own location.
func dateText(t time.Time) string { return t.Format(civilDate) }

// parseDate decodes a civil date to midnight UTC.
func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(civilDate, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad date %q in database: %w", s, err)
	}
	return t, nil
}

var pseudonymEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomPseudonym returns 5 random bytes as 8 characters of RFC 4648 base32.
func randomPseudonym() string {
	var b [5]byte
	rand.Read(b[:]) // never fails (crypto/rand.Read documentation)
	return pseudonymEncoding.EncodeToString(b[:])
}

// queryer is what both *sql.Tx and *sql.DB offer.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// scanner is what both *sql.Row and *sql.Rows offer.
type scanner interface {
	Scan(dest ...any) error
}

// queryAll runs query and calls scan for each row.
func queryAll(ctx context.Context, q queryer, scan func(rows *sql.Rows) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// readRow is db.read.QueryRowContext through a statement prepared once, for
// the reads that refill the display cache (issue 7): SQLite spent half of
// each such read compiling its query again. database/sql prepares the
// statement on each connection that runs it. If preparing fails, the query
// runs unprepared and reports the error itself.
func (db *DB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := db.prepared.Load(query); ok {
		return st.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	st, err := db.read.PrepareContext(ctx, query)
	if err != nil {
		return db.read.QueryRowContext(ctx, query, args...)
	}
	if prev, loaded := db.prepared.LoadOrStore(query, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st.QueryRowContext(ctx, args...)
}
