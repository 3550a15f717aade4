package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/tracing"
)

// BenchmarkTraceLoaded traces random code holders in a population made by
// `healthcode loadgen`: set HEALTHCODE_BENCH_DATA to its data directory (or
// HEALTHCODE_BENCH_DB to a PostgreSQL URL, with the data directory for the
// keys). It reports the median and 99th percentile per depth. See
// BENCHMARKS.md for the commands.
func BenchmarkTraceLoaded(b *testing.B) {
	dir, url := os.Getenv("HEALTHCODE_BENCH_DATA"), os.Getenv("HEALTHCODE_BENCH_DB")
	if dir == "" {
		b.Skip("set HEALTHCODE_BENCH_DATA to a loadgen data directory (and HEALTHCODE_BENCH_DB for PostgreSQL)")
	}
	st := storageConfig{DataDir: dir, DB: url}
	ctx := context.Background()
	db, _, err := st.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// Cases to trace: whoever checked in at random venues; each is traced
	// over the 10 days before half a day after that check-in.
	now := time.Now()
	rng := rand.New(rand.NewPCG(42, 42))
	type pick struct {
		subject string
		to      time.Time
	}
	var picks []pick
	for tries := 0; len(picks) < 200 && tries < 20000; tries++ {
		cs, err := db.ListCheckInsAtVenue(ctx, int64(1+rng.IntN(1000)), now.Add(-15*24*time.Hour), now)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs) > 0 {
			c := cs[rng.IntN(len(cs))]
			picks = append(picks, pick{c.Subject, c.At.Add(12 * time.Hour)})
		}
	}
	if len(picks) == 0 {
		b.Fatal("no check-ins in the last 15 days at venues 1-1000")
	}
	for _, depth := range []int{1, 2} {
		b.Run(map[int]string{1: "depth1", 2: "depth2"}[depth], func(b *testing.B) {
			var took []time.Duration
			contacts, scanned, truncated := 0, 0, 0
			for i := 0; b.Loop(); i++ {
				p := picks[i%len(picks)]
				opts := healthcode.TraceOptions{From: p.to.Add(-10 * 24 * time.Hour), To: p.to, Depth: depth}
				start := time.Now()
				res, err := tracing.Trace(ctx, db, "330100", "330100", p.subject, opts)
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				contacts += len(res.Contacts)
				scanned += res.CheckInsScanned
				if res.Truncated {
					truncated++
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(contacts)/float64(len(took)), "contacts/trace")
			b.ReportMetric(float64(scanned)/float64(len(took)), "checkins-read/trace")
			b.ReportMetric(float64(truncated)/float64(len(took)), "truncated/trace")
		})
	}
}
