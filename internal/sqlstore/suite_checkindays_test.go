package sqlstore

import (
	"database/sql"
	"slices"
	"testing"
	"time"

	"healthcode"
)

func TestCheckInDay(t *testing.T) {
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		at   time.Time
		want string
	}{
		{day, "checkins_20261123"},
		{day.Add(-time.Microsecond), "checkins_20261122"},
		{day.Add(24*time.Hour - time.Microsecond), "checkins_20261123"},
		{time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), "checkins_19691231"},
		{time.Unix(0, 0), "checkins_19700101"},
	}
	for _, tt := range tests {
		d := checkInDay(tt.at.UnixMicro())
		if got := checkInPartition(d); got != tt.want {
			t.Errorf("partition of %v = %s, want %s", tt.at, got, tt.want)
		}
		if back, ok := partitionDay(tt.want); !ok || back != d {
			t.Errorf("partitionDay(%s) = %d, %v; want %d", tt.want, back, ok, d)
		}
	}
	for _, bad := range []string{"checkins", "checkins_2026112", "checkins_20261332", "checkins_unpartitioned"} {
		if _, ok := partitionDay(bad); ok {
			t.Errorf("partitionDay(%q) accepted", bad)
		}
	}
}

// checkInPartitions lists the day partitions of checkins (PostgreSQL).
func checkInPartitions(t *testing.T, e *env) []string {
	t.Helper()
	var names []string
	err := queryAll(e.ctx, e.db.read, func(rows *sql.Rows) error {
		var n string
		err := rows.Scan(&n)
		names = append(names, n)
		return err
	}, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'checkins'::regclass ORDER BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func testPurgeCheckIns(t *testing.T, e *env) {
	v := e.createVenue(t, "Wulin Plaza", 0)
	now := e.clock.Now()
	today := now.UTC().Truncate(24 * time.Hour)
	d10, d3 := today.Add(-10*24*time.Hour), today.Add(-3*24*time.Hour)
	at := func(id string, t time.Time) healthcode.CheckIn {
		c := e.checkIn(id, v.ID, 0)
		c.At = t
		return c
	}
	cs := []healthcode.CheckIn{
		at("day10-early", d10.Add(time.Hour)),
		at("day3-early", d3.Add(time.Hour)),
		at("day3-late", d3.Add(20*time.Hour)),
		at("today-now", now.Add(-time.Minute)),
	}
	for _, r := range must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, cs)) {
		if r.Result != healthcode.Stored {
			t.Fatalf("%s: %s %s", r.ID, r.Result, r.Reason)
		}
	}
	pg := e.db.Engine() == "postgres"
	if pg {
		want := []string{checkInPartition(checkInDay(d10.UnixMicro())), checkInPartition(checkInDay(d3.UnixMicro())), checkInPartition(checkInDay(now.UnixMicro()))}
		slices.Sort(want)
		if got := checkInPartitions(t, e); !slices.Equal(got, want) {
			t.Errorf("partitions %v, want %v", got, want)
		}
	}

	// Day 10 goes whole; day 3 is cut in the middle.
	n, err := e.db.PurgeCheckIns(e.ctx, d3.Add(10*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("purged %d, want 2", n)
	}
	left := storedCheckIns(t, e)
	if want := map[string]int{"day3-late": 1, "today-now": 1}; !mapsEqual(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if pg {
		want := []string{checkInPartition(checkInDay(d3.UnixMicro())), checkInPartition(checkInDay(now.UnixMicro()))}
		slices.Sort(want)
		if got := checkInPartitions(t, e); !slices.Equal(got, want) {
			t.Errorf("after the purge, partitions %v, want %v", got, want)
		}
	}

	// Another server that cached the dropped day still stores a late
	// check-in for it: the partition is made again.
	other := e.open(t, e.eval)
	must[[]healthcode.CheckInResult](t)(other.AddCheckIns(e.ctx, []healthcode.CheckIn{at("day2-first", today.Add(-2*24*time.Hour))}))
	must[[]healthcode.CheckInResult](t)(other.AddCheckIns(e.ctx, []healthcode.CheckIn{at("day3-warm", d3.Add(21*time.Hour))}))
	if _, err := e.db.PurgeCheckIns(e.ctx, today.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	late := []healthcode.CheckIn{at("day2-late", today.Add(-2*24*time.Hour+time.Hour)), at("day3-late-again", d3.Add(22*time.Hour))}
	for _, r := range must[[]healthcode.CheckInResult](t)(other.AddCheckIns(e.ctx, late)) {
		if r.Result != healthcode.Stored {
			t.Errorf("%s after its day was dropped: %s %s", r.ID, r.Result, r.Reason)
		}
	}
	if err := other.BulkInsertCheckIns(e.ctx, []healthcode.CheckIn{at("day2-bulk", today.Add(-2*24*time.Hour+2*time.Hour))}); err != nil {
		t.Errorf("bulk insert after the day was dropped: %v", err)
	}
	left = storedCheckIns(t, e)
	if want := map[string]int{"today-now": 1, "day2-late": 1, "day3-late-again": 1, "day2-bulk": 1}; !mapsEqual(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// sqliteIndexes lists the indexes of checkins (SQLite).
func sqliteIndexes(t *testing.T, e *env, db *DB) []string {
	t.Helper()
	var names []string
	err := queryAll(e.ctx, db.read, func(rows *sql.Rows) error {
		var n string
		err := rows.Scan(&n)
		names = append(names, n)
		return err
	}, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'checkins' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func testCheckInLoad(t *testing.T, e *env) {
	venues := []int64{e.createVenue(t, "a", 0).ID, e.createVenue(t, "b", 0).ID}
	g := newCheckInGen(venues, 20, e.clock.Now())
	sqlite := e.db.Engine() == "sqlite"
	all := []string{"checkins_subject_idx", "checkins_venue_idx"}

	load := must[*CheckInLoad](t)(e.db.BeginCheckInLoad(e.ctx))
	if sqlite {
		if got := sqliteIndexes(t, e, e.db); len(got) != 0 {
			t.Errorf("loading into an empty table kept indexes %v", got)
		}
	}
	first := g.batch(300)
	if err := load.Add(e.ctx, first); err != nil {
		t.Fatal(err)
	}
	// Duplicates are still skipped while the indexes are gone.
	if err := load.Add(e.ctx, append(g.batch(200), first[:50]...)); err != nil {
		t.Fatal(err)
	}
	if err := load.Finish(e.ctx); err != nil {
		t.Fatal(err)
	}
	if sqlite {
		if got := sqliteIndexes(t, e, e.db); !slices.Equal(got, all) {
			t.Errorf("after Finish, indexes %v, want %v", got, all)
		}
	}
	rows := storedCheckIns(t, e)
	if len(rows) != 500 {
		t.Errorf("%d check-ins stored, want 500", len(rows))
	}
	// The same reads as before the load: one subject's, one venue's.
	c := first[7]
	got := must[[]healthcode.CheckIn](t)(e.db.ListCheckInsOfSubject(e.ctx, c.Issuer, c.Subject, c.At, c.At.Add(time.Microsecond)))
	if !slices.ContainsFunc(got, func(x healthcode.CheckIn) bool { return x.ID == c.ID }) {
		t.Errorf("check-in %s not found by subject after the load", c.ID)
	}

	// A load into a table with rows keeps the indexes.
	load = must[*CheckInLoad](t)(e.db.BeginCheckInLoad(e.ctx))
	if sqlite {
		if got := sqliteIndexes(t, e, e.db); !slices.Equal(got, all) {
			t.Errorf("loading into a table with rows: indexes %v, want %v", got, all)
		}
	}
	if err := load.Finish(e.ctx); err != nil {
		t.Fatal(err)
	}

	if !sqlite {
		return
	}
	// An interrupted load leaves the indexes to the next Open.
	if _, err := e.db.PurgeCheckIns(e.ctx, e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	load = must[*CheckInLoad](t)(e.db.BeginCheckInLoad(e.ctx))
	if err := load.Add(e.ctx, g.batch(10)); err != nil {
		t.Fatal(err)
	}
	e.db.Close()
	db := e.open(t, e.eval)
	if got := sqliteIndexes(t, e, db); !slices.Equal(got, all) {
		t.Errorf("after reopening an interrupted load, indexes %v, want %v", got, all)
	}
}
