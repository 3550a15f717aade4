package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema of each engine as numbered files,
// migrations/<engine>/NNNN_name.sql, with the same numbers for every engine.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string // the file name
	sql     string
}

// loadMigrations lists the engine's migrations in order. The numbers must run
// 1, 2, 3, ... without gaps.
func loadMigrations(engineName string) ([]migration, error) {
	dir := path.Join("migrations", engineName)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_name.sql", dir, e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s/%s: expected number %d", dir, m.name, i+1)
		}
	}
	return ms, nil
}

// schemaVersion returns the highest migration applied to the database.
func schemaVersion(ctx context.Context, q queryer) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction recorded in schema_migrations, and refuses a database whose
// schema is newer than the migrations this binary carries. Servers starting
// together against one PostgreSQL database may race; the loser sees the
// winner's record and carries on.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(db.engine.name)
	if err != nil {
		return err
	}
	latest := len(ms)
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at BIGINT  NOT NULL
)`); err != nil {
		// Another server may have created it at the same moment.
		if _, verr := schemaVersion(ctx, db.write); verr != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
	}
	current, err := schemaVersion(ctx, db.write)
	if err != nil {
		return err
	}
	if current > latest {
		return fmt.Errorf("the database schema is at version %d, newer than this binary knows (%d): run a newer healthcode", current, latest)
	}
	for _, m := range ms[current:] {
		err := db.runTx(ctx, db.write, nil, func(tx *sql.Tx, now time.Time) error {
			var applied int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&applied); err != nil {
				return err
			}
			if applied > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, now.UnixMicro())
			return err
		})
		if err != nil {
			// Another server may have applied it at the same time.
			if v, verr := schemaVersion(ctx, db.write); verr == nil && v >= m.version {
				continue
			}
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		db.log.Info("applied migration", "engine", db.engine.name, "migration", m.name)
	}
	return nil
}
