package tracing

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"healthcode"
)

// memSource is an in-memory Source for tests: a slice of check-ins and a
// map of venues, answering half-open ranges ordered by At then ID, as the
// store promises. The store itself (SQLite and PostgreSQL) is exercised by
// the sqlstore suite and by the end-to-end test of cmd/healthcode.
//
// It records the calls made to it so that tests can check how a trace reads.
type memSource struct {
	byVenue   map[int64][]healthcode.CheckIn  // by At then ID
	bySubject map[person][]healthcode.CheckIn // by At then ID
	venues    map[int64]*healthcode.Venue

	record       bool             // whether to record venueReads (benchmarks do not)
	venueReads   map[int64][]span // the ranges read at each venue, in order
	venueFinds   map[int64]int    // FindVenue calls per venue
	subjectReads int
	rowsRead     int // check-ins returned by all calls
}

func newMemSource(tb testing.TB, venues []healthcode.Venue, checkIns []healthcode.CheckIn) *memSource {
	tb.Helper()
	s := &memSource{
		byVenue:    map[int64][]healthcode.CheckIn{},
		bySubject:  map[person][]healthcode.CheckIn{},
		venues:     map[int64]*healthcode.Venue{},
		record:     true,
		venueReads: map[int64][]span{},
		venueFinds: map[int64]int{},
	}
	for i := range venues {
		s.venues[venues[i].ID] = &venues[i]
	}
	ids := map[string]bool{}
	for _, c := range checkIns {
		if ids[c.ID] {
			tb.Fatalf("check-in id %s used twice", c.ID)
		}
		ids[c.ID] = true
		if s.venues[c.VenueID] == nil {
			tb.Fatalf("check-in %s at unknown venue %d", c.ID, c.VenueID)
		}
		s.byVenue[c.VenueID] = append(s.byVenue[c.VenueID], c)
		s.bySubject[personOf(&c)] = append(s.bySubject[personOf(&c)], c)
	}
	for _, cs := range s.byVenue {
		slices.SortFunc(cs, compareCheckIns)
	}
	for _, cs := range s.bySubject {
		slices.SortFunc(cs, compareCheckIns)
	}
	return s
}

// between returns a copy of the check-ins of cs (sorted by At) in [from, to).
func between(cs []healthcode.CheckIn, from, to time.Time) []healthcode.CheckIn {
	at := func(c healthcode.CheckIn, t time.Time) int { return c.At.Compare(t) }
	lo, _ := slices.BinarySearchFunc(cs, from, at)
	hi, _ := slices.BinarySearchFunc(cs, to, at)
	if hi <= lo {
		return nil
	}
	return slices.Clone(cs[lo:hi])
}

func (s *memSource) ListCheckInsOfSubject(ctx context.Context, issuer, subject string, from, to time.Time) ([]healthcode.CheckIn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.subjectReads++
	cs := between(s.bySubject[person{issuer, subject}], from, to)
	s.rowsRead += len(cs)
	return cs, nil
}

func (s *memSource) ListCheckInsAtVenue(ctx context.Context, venueID int64, from, to time.Time) ([]healthcode.CheckIn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.record {
		s.venueReads[venueID] = append(s.venueReads[venueID], span{from, to})
	}
	cs := between(s.byVenue[venueID], from, to)
	s.rowsRead += len(cs)
	return cs, nil
}

func (s *memSource) FindVenue(ctx context.Context, id int64) (*healthcode.Venue, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.venueFinds[id]++
	v := s.venues[id]
	if v == nil {
		return nil, healthcode.Errorf(healthcode.ENOTFOUND, "venue %d not found", id)
	}
	c := *v
	return &c, nil
}

// checkReads fails tb unless the trace looked each venue up at most once,
// never read the same time twice at a venue, and counted every check-in it
// read.
func (s *memSource) checkReads(tb testing.TB, r *Result) {
	tb.Helper()
	for id, n := range s.venueFinds {
		if n > 1 {
			tb.Errorf("venue %d looked up %d times", id, n)
		}
	}
	for id, reads := range s.venueReads {
		sorted := slices.SortedFunc(slices.Values(reads), func(a, b span) int { return cmp.Compare(a.from.UnixNano(), b.from.UnixNano()) })
		for i := 1; i < len(sorted); i++ {
			if sorted[i].from.Before(sorted[i-1].to) {
				tb.Errorf("venue %d: read [%s, %s) overlaps [%s, %s)", id, sorted[i-1].from, sorted[i-1].to, sorted[i].from, sorted[i].to)
			}
		}
	}
	if r != nil && r.CheckInsScanned != s.rowsRead {
		tb.Errorf("CheckInsScanned = %d, the source returned %d check-ins", r.CheckInsScanned, s.rowsRead)
	}
}
