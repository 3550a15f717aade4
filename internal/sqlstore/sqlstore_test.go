package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/rules"
	"healthcode/internal/secure"
)

// The store suite runs once per engine: always on SQLite, and on PostgreSQL
// when one answers (HEALTHCODE_TEST_POSTGRES, or the default below).

func TestSQLite(t *testing.T) {
	runStoreSuite(t, func(tb testing.TB) string {
		return filepath.Join(tb.TempDir(), "healthcode.db")
	})
}

const defaultTestPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func TestPostgres(t *testing.T) {
	base, explicit := os.Getenv("HEALTHCODE_TEST_POSTGRES"), true
	if base == "" {
		base, explicit = defaultTestPostgres, false
	}
	admin, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if explicit {
			t.Fatalf("HEALTHCODE_TEST_POSTGRES is set but PostgreSQL does not answer: %v", err)
		}
		t.Skipf("skipping the PostgreSQL half of the store suite: no PostgreSQL at %s within 2 s "+
			"(set HEALTHCODE_TEST_POSTGRES to a postgres:// URL to run it): %v", defaultTestPostgres, err)
	}
	t.Cleanup(func() { admin.Close() })
	runStoreSuite(t, func(tb testing.TB) string { return newPostgresSchema(tb, admin, base) })
}

// newPostgresSchema creates an empty schema that lives as long as tb and
// returns base with search_path set to it.
func newPostgresSchema(tb testing.TB, admin *sql.DB, base string) string {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// testClock is a clock that tests move. It starts with nanoseconds, which
// the store must drop.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2022, 4, 1, 1, 30, 0, 123456789, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testEvaluator returns the evaluator the suite runs: the real rule engine
// with the default rule set.
func testEvaluator(tb testing.TB) healthcode.Evaluator {
	tb.Helper()
	return loadRuleSet(tb, healthcode.DefaultRuleSetSource)
}

func loadRuleSet(tb testing.TB, src []byte) healthcode.Evaluator {
	tb.Helper()
	e, err := rules.Load(src)
	if err != nil {
		tb.Fatalf("load rule set: %v", err)
	}
	return e
}

// countingEvaluator counts evaluations, to tell the cached path from the
// re-evaluating one.
type countingEvaluator struct {
	healthcode.Evaluator
	n atomic.Int64
}

func (e *countingEvaluator) Evaluate(f *healthcode.Facts, now time.Time) (healthcode.Status, error) {
	e.n.Add(1)
	return e.Evaluator.Evaluate(f, now)
}

func testCipher(tb testing.TB) *secure.Cipher {
	tb.Helper()
	key := make([]byte, secure.KeySize)
	for i := range key {
		key[i] = byte(i + 1)
	}
	c, err := secure.NewCipher(key, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// env is one test's store with its clock and evaluator.
type env struct {
	ctx   context.Context
	url   string
	clock *testClock
	eval  *countingEvaluator
	db    *DB
	seq   int // numbers the residents enroll makes
}

func newEnv(tb testing.TB, url string) *env {
	tb.Helper()
	e := &env{ctx: tb.Context(), url: url, clock: newTestClock(), eval: &countingEvaluator{Evaluator: testEvaluator(tb)}}
	e.db = e.open(tb, e.eval)
	return e
}

// open opens another store on the same database with ev.
func (e *env) open(tb testing.TB, ev healthcode.Evaluator) *DB {
	tb.Helper()
	db, err := Open(e.ctx, e.url, Options{Clock: e.clock, Evaluator: ev, Cipher: testCipher(tb)})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// idNumber returns a valid resident ID number (GB 11643).
func idNumber(birth time.Time, seq int, sex healthcode.Sex) string {
	seq = seq % 500 * 2
	if sex == healthcode.Male {
		seq++
	}
	first17 := fmt.Sprintf("330106%s%03d", birth.Format("20060102"), seq)
	return first17 + string(healthcode.ResidentIDCheckChar(first17))
}

// newResident returns a valid, distinct resident to enroll.
func (e *env) newResident() *healthcode.Resident {
	e.seq++
	birth := time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC)
	return &healthcode.Resident{
		Name:        fmt.Sprintf("王小%c", '明'+rune(e.seq)),
		Sex:         healthcode.Female,
		BirthDate:   birth,
		Nationality: "CHN",
		IDType:      healthcode.ResidentIDCard,
		IDNumber:    idNumber(birth, e.seq, healthcode.Female),
		Phone:       fmt.Sprintf("138%08d", e.seq),
		Region:      "330106",
		Address:     fmt.Sprintf("浙江省杭州市西湖区文三路%d号", e.seq),
	}
}

// enroll enrolls a new resident, changed by each mod first.
func (e *env) enroll(tb testing.TB, mods ...func(*healthcode.Resident)) *healthcode.Resident {
	tb.Helper()
	r := e.newResident()
	for _, mod := range mods {
		mod(r)
	}
	if err := e.db.CreateResident(e.ctx, r, "$argon2id$test"); err != nil {
		tb.Fatalf("enroll: %v", err)
	}
	return r
}

// day returns midnight UTC of the calendar day d days after now.
func (e *env) day(d int) time.Time {
	t := e.clock.Now().AddDate(0, 0, d)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := healthcode.ErrorCode(err); got != code {
		tb.Fatalf("error code %q (%v), want %q", got, err, code)
	}
}

func must[T any](tb testing.TB) func(T, error) T {
	return func(v T, err error) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	opts := Options{Clock: newTestClock(), Evaluator: testEvaluator(t), Cipher: testCipher(t)}
	dir := t.TempDir()
	for _, tt := range []struct {
		name, url string
		opts      Options
		want      string
	}{
		{"no clock", filepath.Join(dir, "a.db"), Options{Evaluator: opts.Evaluator, Cipher: opts.Cipher}, "Clock is required"},
		{"no evaluator", filepath.Join(dir, "a.db"), Options{Clock: opts.Clock, Cipher: opts.Cipher}, "Evaluator is required"},
		{"no cipher", filepath.Join(dir, "a.db"), Options{Clock: opts.Clock, Evaluator: opts.Evaluator}, "Cipher is required"},
		{"missing directory", filepath.Join(dir, "missing", "a.db"), opts, "does not exist"},
		{"memory", ":memory:", opts, "give the path of a database file"},
		{"uri", "file:" + filepath.Join(dir, "a.db"), opts, "give the path of a database file"},
		{"bad postgres url", "postgres://%zz", opts, "cannot parse the PostgreSQL URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(ctx, tt.url, tt.opts)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", tt.url)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%q): %v, want %q", tt.url, err, tt.want)
			}
		})
	}
}

func TestSQLitePragmas(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "healthcode.db"))
	for _, tt := range []struct {
		pool   *sql.DB
		pragma string
		want   string
	}{
		{e.db.write, "journal_mode", "wal"},
		{e.db.write, "foreign_keys", "1"},
		{e.db.write, "synchronous", "1"}, // NORMAL
		{e.db.write, "busy_timeout", sqliteBusyTimeout},
		{e.db.write, "cache_size", sqliteWriteCacheSize},
		{e.db.write, "temp_store", "2"}, // MEMORY
		{e.db.read, "journal_mode", "wal"},
		{e.db.read, "query_only", "1"},
		{e.db.read, "busy_timeout", sqliteBusyTimeout},
	} {
		var got string
		if err := tt.pool.QueryRowContext(e.ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
}

// BenchmarkCurrentStatus measures the hot path: a fresh cached status.
func BenchmarkCurrentStatus(b *testing.B) {
	e := newEnv(b, filepath.Join(b.TempDir(), "healthcode.db"))
	r := e.enroll(b)
	if _, err := e.db.CurrentStatus(e.ctx, r.ID); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.db.CurrentStatus(e.ctx, r.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestSQLitePlaceholders pins what the shared queries rely on: modernc.org/sqlite
// binds $N to the N-th argument, like PostgreSQL, in any order and repeated.
func TestSQLitePlaceholders(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "healthcode.db"))
	var got string
	if err := e.db.read.QueryRowContext(e.ctx, `SELECT $2 || $1 || $2 || $3`, "a", "b", "c").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "babc" {
		t.Errorf("$2 || $1 || $2 || $3 = %q, want babc", got)
	}
}

// TestReadRowPrepared checks the hot reads' prepared statements: one per
// query, shared by concurrent readers, giving what the query gives; and a
// query that cannot be prepared still reports its own error.
func TestReadRowPrepared(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "healthcode.db"))
	r := e.enroll(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := e.db.FindResidentByID(e.ctx, r.ID)
			if err != nil || got.Pseudonym != r.Pseudonym {
				t.Errorf("FindResidentByID: %v, %v", got, err)
			}
		})
	}
	wg.Wait()
	n := 0
	e.db.prepared.Range(func(_, _ any) bool { n++; return true })
	if n != 1 {
		t.Errorf("%d statements prepared for one query, want 1", n)
	}
	if _, err := e.db.FindResidentByID(e.ctx, r.ID+1000); healthcode.ErrorCode(err) != healthcode.ENOTFOUND {
		t.Errorf("an unknown resident: %v, want %s", err, healthcode.ENOTFOUND)
	}
	var x int
	if err := e.db.readRow(e.ctx, `SELECT x FROM nowhere`).Scan(&x); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("a query that cannot be prepared: %v, want its error", err)
	}
}
