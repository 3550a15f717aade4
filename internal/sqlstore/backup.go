package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"

	"modernc.org/sqlite"

	"healthcode"
)

// Backup writes a consistent copy of a SQLite database to path, which must
// not exist, through SQLite's online backup API: the server keeps serving
// while it runs (it holds a read snapshot, so writers are not blocked in WAL
// mode). On PostgreSQL it refuses: use pg_dump or a base backup
// (docs/operations.md).
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.engine != sqliteEngine {
		return healthcode.Errorf(healthcode.EINVALID, "backup: the database is PostgreSQL; use pg_dump or pg_basebackup (docs/operations.md)")
	}
	if _, err := os.Stat(path); err == nil {
		return healthcode.Errorf(healthcode.ECONFLICT, "backup: %s already exists; give a new file", path)
	}
	conn, err := db.read.Conn(ctx)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		src, ok := dc.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		})
		if !ok {
			return fmt.Errorf("the SQLite driver connection (%T) has no online backup", dc)
		}
		b, err := src.NewBackup(path)
		if err != nil {
			return err
		}
		// All pages in one step: one read snapshot, so the copy is
		// consistent however busy the server is.
		if _, err := b.Step(-1); err != nil {
			return errors.Join(err, b.Finish())
		}
		return b.Finish()
	})
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("backup: %w", err)
	}
	return os.Chmod(path, 0o600)
}
