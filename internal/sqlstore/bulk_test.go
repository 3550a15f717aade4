package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"healthcode"
)

// insertVenues adds n venues straight to the table, faster than CreateVenue,
// and returns their ids.
func insertVenues(tb testing.TB, e *env, n int) []int64 {
	tb.Helper()
	ids := make([]int64, 0, n)
	err := e.db.update(e.ctx, "insert venues", func(tx *sql.Tx, now time.Time) error {
		for lo := 0; lo < n; lo += 500 {
			k := min(500, n-lo)
			args := make([]any, 0, k*8)
			for i := range k {
				args = append(args, fmt.Sprintf("venue %d", lo+i), "restaurant", "330106", "Wensan Road", "green", 0, nil,
					now.UnixMicro())
			}
			err := queryAll(e.ctx, tx, func(rows *sql.Rows) error {
				var id int64
				err := rows.Scan(&id)
				ids = append(ids, id)
				return err
			}, `INSERT INTO venues (name, type, region, address, policy_kind, policy_hours, owner_id, created_at) VALUES `+
				e.db.engine.placeholders(k, 8)+` RETURNING id`, args...)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

// checkInGen makes check-ins of a realistic shape: random client ids, a
// population of code holders, venues picked at random, times spread at
// random over the 14 days before now, mostly admitted greens, a quarter by
// place code.
type checkInGen struct {
	rng      *rand.Rand
	venues   []int64
	subjects []string
	now      time.Time
}

func newCheckInGen(venues []int64, holders int, now time.Time) *checkInGen {
	g := &checkInGen{rng: rand.New(rand.NewPCG(1, 2)), venues: venues, now: now}
	for range holders {
		g.subjects = append(g.subjects, pseudonymEncoding.EncodeToString(g.bytes(5)))
	}
	return g
}

func (g *checkInGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}

func (g *checkInGen) next() healthcode.CheckIn {
	venue := g.venues[g.rng.IntN(len(g.venues))]
	c := healthcode.CheckIn{
		ID:         hex.EncodeToString(g.bytes(16)),
		Subject:    g.subjects[g.rng.IntN(len(g.subjects))],
		Issuer:     "330100",
		VenueID:    venue,
		Checkpoint: fmt.Sprintf("checkpoint at venue %d", venue),
		At:         g.now.Add(-time.Duration(g.rng.Int64N(int64(14 * 24 * time.Hour)))),
		Decision:   healthcode.Admit,
		Color:      healthcode.Green,
		Mode:       healthcode.ModeCheckpoint,
	}
	switch n := g.rng.IntN(100); {
	case n < 3:
		c.Decision, c.Color = healthcode.Deny, healthcode.Yellow
	case n < 4:
		c.Decision, c.Color = healthcode.Deny, healthcode.Red
	case n < 30:
		c.Mode, c.Checkpoint = healthcode.ModePlaceCode, "place code"
	}
	return c
}

func (g *checkInGen) batch(n int) []healthcode.CheckIn {
	cs := make([]healthcode.CheckIn, n)
	for i := range cs {
		cs[i] = g.next()
	}
	return cs
}

// BenchmarkBulkInsertCheckIns loads b.N check-ins (20,000 venues, a million
// code holders, times over 14 days) into an empty table, in calls of 10,000
// or 100,000; one op is one check-in, so the table ends with b.N rows, and
// checkins/s is the load rate (the generation of the check-ins excluded).
//
//	go test -run '^$' -bench BulkInsertCheckIns -benchtime 1000000x ./internal/sqlstore/
func BenchmarkBulkInsertCheckIns(b *testing.B) {
	engines := []struct {
		name   string
		newURL func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "healthcode.db") }},
		{"postgres", func(b *testing.B) string {
			base := os.Getenv("HEALTHCODE_TEST_POSTGRES")
			if base == "" {
				base = defaultTestPostgres
			}
			admin, err := sql.Open("pgx", base)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err = admin.PingContext(ctx)
				cancel()
			}
			if err != nil {
				b.Skipf("no PostgreSQL at %s: %v", base, err)
			}
			b.Cleanup(func() { admin.Close() }) // after the schema is dropped
			return newPostgresSchema(b, admin, base)
		}},
	}
	for _, eng := range engines {
		for _, batch := range []int{10000, 100000} {
			b.Run(fmt.Sprintf("%s/batch=%d", eng.name, batch), func(b *testing.B) {
				e := newEnv(b, eng.newURL(b))
				g := newCheckInGen(insertVenues(b, e, 20000), 1_000_000, e.clock.Now())
				b.ResetTimer()
				for done := 0; done < b.N; {
					n := min(batch, b.N-done)
					b.StopTimer()
					cs := g.batch(n)
					b.StartTimer()
					if err := e.db.BulkInsertCheckIns(e.ctx, cs); err != nil {
						b.Fatal(err)
					}
					done += n
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkins/s")
			})
		}
	}
}
