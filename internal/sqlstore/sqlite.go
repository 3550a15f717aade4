package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var sqliteEngine = &engine{
	name:       "sqlite",
	readOnly:   sql.TxOptions{ReadOnly: true},
	forUpdate:  "",
	violation:  sqliteViolation,
	transient:  sqliteTransient,
	translate:  sqliteTranslate,
	positional: true,
}

// sqliteBusyTimeout is how long a connection waits for another process's
// lock (a CLI command next to the server) before giving up.
const sqliteBusyTimeout = "10000" // milliseconds

// sqliteWriteCacheSize is the page cache of the write connection.
const sqliteWriteCacheSize = "-262144" // KiB: 256 MiB

// openSQLite opens two pools on the file at path: one connection for writes,
// whose transactions BEGIN IMMEDIATE, and several query-only connections for
// reads. WAL lets the readers work while a write is in progress.
func openSQLite(ctx context.Context, path string) (write, read *sql.DB, err error) {
	switch {
	case path == "":
		return nil, nil, errors.New("no database path given")
	case path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?'):
		return nil, nil, fmt.Errorf("%q: give the path of a database file (a plain path, no URI or query)", path)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("directory %s of the database file does not exist", dir)
	}
	// A new database file is made here with mode 0600: SQLite gives its WAL
	// and shared-memory files the database file's mode, and the file holds
	// personal data (encrypted, but still nobody else's to read).
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}

	// Pragmas applied by modernc.org/sqlite to each new connection (see the
	// Driver.Open documentation).
	params := url.Values{}
	params.Set("_busy_timeout", sqliteBusyTimeout)
	params.Set("_foreign_keys", "1")
	params.Set("_journal_mode", "WAL")
	params.Set("_synchronous", "NORMAL")
	params.Set("_txlock", "immediate")
	// Bulk check-in ingest dirties pages of three indexes at random: a
	// larger cache than the default 2 MiB (allocated as used) keeps them
	// between statements (BenchmarkBulkInsertCheckIns). Statement journals of
	// multi-row INSERTs stay in memory instead of a temporary file.
	params.Add("_pragma", "cache_size="+sqliteWriteCacheSize)
	params.Add("_pragma", "temp_store=MEMORY")
	write, err = sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		return nil, nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// The first connection switches the file to WAL before any reader opens.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, nil, err
	}

	params = url.Values{}
	params.Set("_busy_timeout", sqliteBusyTimeout)
	params.Set("_query_only", "1")
	read, err = sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		write.Close()
		return nil, nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	if err := read.PingContext(ctx); err != nil {
		write.Close()
		read.Close()
		return nil, nil, err
	}
	return write, read, nil
}

// sqliteUniqueColumns maps the column list SQLite names in a unique
// violation ("UNIQUE constraint failed: residents.phone_idx") to the index.
var sqliteUniqueColumns = map[string]string{
	"residents.id_type, residents.id_number_idx":   constraintDocument,
	"residents.phone_idx":                          constraintPhone,
	"residents.pseudonym":                          constraintPseudonym,
	"sessions.hash":                                "sessions_hash_key",
	"api_tokens.hash":                              "api_tokens_hash_key",
	"schema_migrations.version":                    "schema_migrations_pkey",
	"rule_sets.version":                            "rule_sets_pkey",
	"token_venues.token_id, token_venues.venue_id": "token_venues_pkey",
	"checkins.id":                                  "checkins_pkey",
	"paper_codes.status_index":                     constraintStatusIndex,
	"paper_codes.resident_id":                      "paper_codes_current_key",
	"recoveries.resident_id, recoveries.source, recoveries.certificate_id": constraintRecovery,
}

func sqliteCode(err error) (int, bool) {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

func sqliteViolation(err error) (string, bool) {
	code, ok := sqliteCode(err)
	if !ok || (code != sqlite3.SQLITE_CONSTRAINT_UNIQUE && code != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return "", false
	}
	msg := err.Error()
	const marker = "UNIQUE constraint failed: "
	i := strings.Index(msg, marker)
	if i < 0 {
		return "", true
	}
	cols := msg[i+len(marker):]
	if j := strings.Index(cols, " ("); j >= 0 {
		cols = cols[:j]
	}
	return sqliteUniqueColumns[strings.TrimSpace(cols)], true
}

func sqliteTransient(err error) bool {
	code, ok := sqliteCode(err)
	return ok && (code&0xff == sqlite3.SQLITE_BUSY || code&0xff == sqlite3.SQLITE_LOCKED)
}

func sqliteTranslate(err error) error {
	if constraint, ok := sqliteViolation(err); ok {
		return conflictError(constraint)
	}
	code, ok := sqliteCode(err)
	if !ok {
		return err
	}
	switch {
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %w", missingReferenceError(), err)
	case code == sqlite3.SQLITE_CONSTRAINT_CHECK, code == sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return fmt.Errorf("%w: %w", rejectedValueError(), err)
	case sqliteTransient(err):
		return fmt.Errorf("%w: %w", busyError(), err)
	}
	return err
}
