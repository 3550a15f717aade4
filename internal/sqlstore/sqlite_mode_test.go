package sqlstore

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSQLiteFileMode: a new database and its WAL are readable by their
// owner only.
func TestSQLiteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthcode.db")
	e := newEnv(t, path)
	e.enroll(t)
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
