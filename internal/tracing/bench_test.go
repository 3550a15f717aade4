package tracing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"healthcode"
)

// BenchmarkTrace traces cases over 14 days in a synthetic city of 100,000
// check-ins (20,000 code holders, a tenth of them from another region, at
// 1,000 venues of which a few are busy, between 07:00 and 22:00) held by the
// in-memory source, so it measures tracing itself; the store-backed figure
// comes from the sqlstore benchmarks.
func BenchmarkTrace(b *testing.B) {
	const (
		checkIns = 100_000
		subjects = 20_000
		venues   = 1_000
		days     = 14
	)
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC)
	var vs []healthcode.Venue
	for i := range venues {
		vs = append(vs, healthcode.Venue{ID: int64(i + 1), Name: fmt.Sprintf("venue %d", i+1),
			Type: healthcode.VenueTypes[i%len(healthcode.VenueTypes)], Region: home})
	}
	cs := make([]healthcode.CheckIn, checkIns)
	count := map[int]int{}
	for i := range cs {
		who := rng.IntN(subjects)
		count[who]++
		issuer := home
		if who%10 == 0 {
			issuer = foreign
		}
		u := rng.Float64()
		cs[i] = healthcode.CheckIn{ID: fmt.Sprintf("ci-%06d", i), Issuer: issuer, Subject: fmt.Sprintf("p-%05d", who),
			VenueID:  int64(1 + int(float64(venues)*u*u)), // busy venues first
			At:       start.Add(time.Duration(rng.IntN(days))*24*time.Hour + time.Duration(rng.IntN(15*3600))*time.Second),
			Decision: healthcode.Admit, Mode: healthcode.ModeCheckpoint}
	}
	var cases []string
	for who := 1; len(cases) < 64; who++ {
		if who%10 != 0 && count[who] >= 5 {
			cases = append(cases, fmt.Sprintf("p-%05d", who))
		}
	}
	src := newMemSource(b, vs, cs)
	src.record = false
	opts := healthcode.TraceOptions{From: start.Add(-7 * time.Hour), To: start.Add(days*24*time.Hour - 7*time.Hour),
		ProximityByType: map[healthcode.VenueType]time.Duration{healthcode.Transit: 10 * time.Minute}}
	for _, depth := range []int{1, 2} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			opts.Depth = depth
			var n, contacts, scanned int
			for b.Loop() {
				r, err := Trace(context.Background(), src, home, home, cases[n%len(cases)], opts)
				if err != nil {
					b.Fatal(err)
				}
				n++
				contacts += len(r.Contacts) + len(r.Foreign)
				scanned += r.CheckInsScanned
			}
			b.ReportMetric(float64(contacts)/float64(n), "contacts/trace")
			b.ReportMetric(float64(scanned)/float64(n), "checkins/trace")
		})
	}
}
