package tracing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
)

// reference computes a trace straight from the definition in the package
// documentation, comparing every pair of check-ins. It shares no code with
// Trace.
func reference(all []healthcode.CheckIn, venues map[int64]healthcode.Venue, homeRegion, issuer, subject string, opts healthcode.TraceOptions) *Result {
	proximity := opts.Proximity
	if proximity == 0 {
		proximity = healthcode.DefaultProximity
	}
	near := func(a, b healthcode.CheckIn) bool {
		if a.VenueID != b.VenueID {
			return false
		}
		w := proximity
		if d, ok := opts.ProximityByType[venues[a.VenueID].Type]; ok {
			w = d
		}
		d := a.At.Sub(b.At)
		return -w <= d && d <= w
	}
	type who struct{ issuer, subject string }
	contacts := map[who]*healthcode.Contact{}
	add := func(src, c healthcode.CheckIn, degree int) {
		k := who{c.Issuer, c.Subject}
		if contacts[k] == nil {
			contacts[k] = &healthcode.Contact{Issuer: c.Issuer, Subject: c.Subject, Degree: degree}
		}
		contacts[k].Exposures = append(contacts[k].Exposures, healthcode.Exposure{VenueID: c.VenueID,
			VenueName: venues[c.VenueID].Name, SourceAt: src.At, ContactAt: c.At, Source: src.Subject})
	}
	theCase := who{issuer, subject}
	for _, s := range all {
		if (who{s.Issuer, s.Subject}) != theCase || s.At.Before(opts.From) || !s.At.Before(opts.To) {
			continue
		}
		for _, c := range all {
			if (who{c.Issuer, c.Subject}) != theCase && near(s, c) {
				add(s, c, 1)
			}
		}
	}
	if opts.Depth == 2 {
		first := map[who]time.Time{} // earliest exposure
		for k, c := range contacts {
			earliest := c.Exposures[0].ContactAt
			for _, e := range c.Exposures {
				if e.ContactAt.Before(earliest) {
					earliest = e.ContactAt
				}
			}
			first[k] = earliest
		}
		for _, s := range all {
			earliest, ok := first[who{s.Issuer, s.Subject}]
			if !ok || s.At.Before(earliest) || !s.At.Before(opts.To) {
				continue
			}
			for _, c := range all {
				_, isFirst := first[who{c.Issuer, c.Subject}]
				if (who{c.Issuer, c.Subject}) != theCase && !isFirst && near(s, c) {
					add(s, c, 2)
				}
			}
		}
	}
	r := &Result{Issuer: issuer, Subject: subject, From: opts.From, To: opts.To}
	for _, c := range contacts {
		es := c.Exposures
		less := func(a, b healthcode.Exposure) bool {
			switch {
			case !a.ContactAt.Equal(b.ContactAt):
				return a.ContactAt.Before(b.ContactAt)
			case a.VenueID != b.VenueID:
				return a.VenueID < b.VenueID
			case !a.SourceAt.Equal(b.SourceAt):
				return a.SourceAt.Before(b.SourceAt)
			}
			return a.Source < b.Source
		}
		sort.Slice(es, func(i, j int) bool { return less(es[i], es[j]) })
		c.Exposures = nil
		for i, e := range es {
			if i == 0 || less(es[i-1], e) {
				c.Exposures = append(c.Exposures, e)
			}
			for _, t := range []time.Time{e.SourceAt, e.ContactAt} {
				if t.After(c.LastExposure) {
					c.LastExposure = t
				}
			}
		}
		if c.Issuer == homeRegion {
			r.Contacts = append(r.Contacts, *c)
		} else {
			r.Foreign = append(r.Foreign, *c)
		}
	}
	for _, cs := range [][]healthcode.Contact{r.Contacts, r.Foreign} {
		sort.Slice(cs, func(i, j int) bool {
			a, b := cs[i], cs[j]
			if a.Degree != b.Degree {
				return a.Degree < b.Degree
			}
			if a.Issuer != b.Issuer {
				return a.Issuer < b.Issuer
			}
			return a.Subject < b.Subject
		})
	}
	return r
}

// population is a random set of venues and check-ins.
type population struct {
	venues   []healthcode.Venue
	checkIns []healthcode.CheckIn
	people   [][2]string // issuer, subject
}

// randomPopulation makes subjects people over two regions (some sharing a
// pseudonym across regions) checking in at venues of random types over
// days. Times fall on 5-minute marks more often than not, so check-ins
// exactly a proximity apart are common, and some check-ins are repeated at
// the same instant under another id.
func randomPopulation(rng *rand.Rand, subjects, venues, days int) population {
	var p population
	for i := range venues {
		p.venues = append(p.venues, healthcode.Venue{ID: int64(i + 1), Name: fmt.Sprintf("venue %d", i+1),
			Type: healthcode.VenueTypes[rng.IntN(len(healthcode.VenueTypes))], Region: home})
	}
	seen := map[[2]string]bool{}
	for len(p.people) < subjects {
		who := [2]string{home, fmt.Sprintf("p-%02d", rng.IntN(subjects*3/4))}
		if rng.IntN(3) == 0 {
			who[0] = foreign
		}
		if !seen[who] {
			seen[who] = true
			p.people = append(p.people, who)
		}
	}
	start := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for _, who := range p.people {
		for range 3 + rng.IntN(12) {
			// Between 08:00 and 20:00 of one of the days.
			t := start.Add(time.Duration(rng.IntN(days))*24*time.Hour + time.Duration(rng.IntN(12*12))*5*time.Minute)
			switch rng.IntN(5) {
			case 0:
				t = t.Add(time.Duration(rng.IntN(300)) * time.Second)
			case 1:
				t = t.Add(time.Duration(rng.IntN(300_000_000)) * time.Microsecond)
			}
			c := healthcode.CheckIn{ID: fmt.Sprintf("ci-%05d", len(p.checkIns)), Issuer: who[0], Subject: who[1],
				VenueID: int64(1 + rng.IntN(venues)), At: t, Decision: healthcode.Admit, Mode: healthcode.ModeCheckpoint}
			if rng.IntN(4) == 0 {
				c.Decision = healthcode.Deny
			}
			p.checkIns = append(p.checkIns, c)
			if rng.IntN(20) == 0 {
				c.ID = fmt.Sprintf("ci-%05d", len(p.checkIns))
				p.checkIns = append(p.checkIns, c)
			}
		}
	}
	return p
}

// TestTraceMatchesReference compares Trace with the pairwise reference on
// random small populations.
func TestTraceMatchesReference(t *testing.T) {
	const trials = 200
	var withContacts, depth2, withSecond, withForeign int
	for trial := range trials {
		rng := rand.New(rand.NewPCG(20261102, uint64(trial)))
		pop := randomPopulation(rng, 30, 8, 3)
		venues := map[int64]healthcode.Venue{}
		for _, v := range pop.venues {
			venues[v.ID] = v
		}
		who := pop.people[rng.IntN(len(pop.people))]
		from := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(48)) * time.Hour)
		opts := healthcode.TraceOptions{
			From:  from,
			To:    from.Add(time.Duration(6+rng.IntN(66)) * time.Hour),
			Depth: rng.IntN(3),
		}
		proximities := []time.Duration{5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, 45 * time.Minute, time.Hour}
		if rng.IntN(2) == 0 {
			opts.Proximity = proximities[rng.IntN(len(proximities))]
		}
		if rng.IntN(2) == 0 {
			opts.ProximityByType = map[healthcode.VenueType]time.Duration{}
			for _, vt := range healthcode.VenueTypes {
				if rng.IntN(3) == 0 {
					opts.ProximityByType[vt] = proximities[rng.IntN(len(proximities))]
				}
			}
		}
		if opts.Depth == 2 {
			depth2++
		}
		t.Run(fmt.Sprintf("trial %d", trial), func(t *testing.T) {
			src := newMemSource(t, pop.venues, pop.checkIns)
			got, err := Trace(context.Background(), src, home, who[0], who[1], opts)
			if err != nil {
				t.Fatal(err)
			}
			src.checkReads(t, got)
			want := reference(pop.checkIns, venues, home, who[0], who[1], opts)
			want.CheckInsScanned = got.CheckInsScanned
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("case %s/%s, options %+v: Trace differs from the reference (-want +got):\n%s", who[0], who[1], opts, diff)
			}
			if opts.Depth == 2 {
				checkTruncated(t, src, who, opts, want, 1+rng.IntN(4))
			}
			if len(got.Contacts)+len(got.Foreign) > 0 {
				withContacts++
			}
			if len(got.Foreign) > 0 {
				withForeign++
			}
			for _, c := range append(got.Contacts, got.Foreign...) {
				if c.Degree == 2 {
					withSecond++
					break
				}
			}
		})
	}
	t.Logf("%d trials: %d with contacts, %d with foreign contacts; %d at depth 2, %d with second-degree contacts",
		trials, withContacts, withForeign, depth2, withSecond)
	if withContacts < trials/2 || withForeign < trials/4 || withSecond < depth2/3 {
		t.Errorf("the random populations are too sparse to test much")
	}
}

// checkTruncated traces again with the second degree bounded to limit and
// compares with the complete result want: the first degree is the same, the
// second a subset no longer than limit, and Truncated says whether the
// complete second degree was longer.
func checkTruncated(t *testing.T, src Source, who [2]string, opts healthcode.TraceOptions, want *Result, limit int) {
	t.Helper()
	opts.MaxSecondDegree = limit
	got, err := Trace(context.Background(), src, home, who[0], who[1], opts)
	if err != nil {
		t.Fatal(err)
	}
	split := func(r *Result) (first []healthcode.Contact, second map[[2]string]bool) {
		second = map[[2]string]bool{}
		for _, c := range append(slices.Clone(r.Contacts), r.Foreign...) {
			if c.Degree == 1 {
				first = append(first, c)
			} else {
				second[[2]string{c.Issuer, c.Subject}] = true
			}
		}
		return first, second
	}
	wantFirst, wantSecond := split(want)
	gotFirst, gotSecond := split(got)
	if diff := cmp.Diff(wantFirst, gotFirst); diff != "" {
		t.Errorf("bounded to %d, the first degree differs (-want +got):\n%s", limit, diff)
	}
	if len(gotSecond) > limit {
		t.Errorf("bounded to %d, %d second-degree contacts", limit, len(gotSecond))
	}
	for p := range gotSecond {
		if !wantSecond[p] {
			t.Errorf("bounded to %d, %v is not a second-degree contact", limit, p)
		}
	}
	if truncated := len(wantSecond) > limit; got.Truncated != truncated || len(gotSecond) != min(limit, len(wantSecond)) {
		t.Errorf("bounded to %d with %d second-degree contacts: Truncated %v with %d listed", limit, len(wantSecond), got.Truncated, len(gotSecond))
	}
}
