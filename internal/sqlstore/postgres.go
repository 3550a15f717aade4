package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

var postgresEngine = &engine{
	name: "postgres",
	// A read-only transaction sees one snapshot across its statements.
	readOnly: sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
	// NO KEY UPDATE: writers of one resident take turns, while rows that
	// merely reference the resident (a new session) can still be inserted.
	forUpdate:      " FOR NO KEY UPDATE",
	lockPaperCodes: "LOCK TABLE paper_codes IN EXCLUSIVE MODE",
	violation:      postgresViolation,
	transient:      postgresTransient,
	translate:      postgresTranslate,
}

// postgresMaxConns bounds the pool, so that a burst of requests queues in the
// server instead of exhausting the database's max_connections.
const postgresMaxConns = 32

// openPostgres opens a pool through pgx's database/sql driver. The URL may
// carry run-time parameters such as search_path.
func openPostgres(ctx context.Context, url string) (*sql.DB, error) {
	config, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's parse error quotes the URL, and redacts its password only
		// as far as it can tell where the password is.
		return nil, errors.New("cannot parse the PostgreSQL URL")
	}
	db := stdlib.OpenDB(*config)
	db.SetMaxOpenConns(postgresMaxConns)
	db.SetMaxIdleConns(postgresMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// PostgreSQL error codes (SQLSTATE, Appendix A of its manual).
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgCheckViolation       = "23514"
	pgNotNullViolation     = "23502"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgLockNotAvailable     = "55P03"
	pgTooManyConnections   = "53300"
	pgCannotConnectNow     = "57P03"
)

func postgresError(err error) (*pgconn.PgError, bool) {
	var e *pgconn.PgError
	ok := errors.As(err, &e)
	return e, ok
}

func postgresViolation(err error) (string, bool) {
	e, ok := postgresError(err)
	if !ok || e.Code != pgUniqueViolation {
		return "", false
	}
	return e.ConstraintName, true
}

func postgresTransient(err error) bool {
	e, ok := postgresError(err)
	return ok && (e.Code == pgSerializationFailure || e.Code == pgDeadlockDetected || e.Code == pgLockNotAvailable)
}

func postgresTranslate(err error) error {
	e, ok := postgresError(err)
	if !ok {
		return err
	}
	switch e.Code {
	case pgUniqueViolation:
		return conflictError(e.ConstraintName)
	case pgForeignKeyViolation:
		return fmt.Errorf("%w: %w", missingReferenceError(), err)
	case pgCheckViolation, pgNotNullViolation:
		return fmt.Errorf("%w: %w", rejectedValueError(), err)
	case pgSerializationFailure, pgDeadlockDetected, pgLockNotAvailable, pgTooManyConnections, pgCannotConnectNow:
		return fmt.Errorf("%w: %w", busyError(), err)
	}
	return err
}
