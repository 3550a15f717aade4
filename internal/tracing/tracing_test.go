package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
)

const (
	home    = "330100"
	foreign = "310000"
	theCase = "p-case"
)

var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// at returns the time h:m on the day of t0, for readable tables.
func at(h, m int) time.Time {
	return t0.Add(time.Duration(h-8)*time.Hour + time.Duration(m)*time.Minute)
}

var testVenues = []healthcode.Venue{
	{ID: 1, Name: "Noodle House", Type: healthcode.Restaurant, Region: home},
	{ID: 2, Name: "Metro Line 1, Wulin Square", Type: healthcode.Transit, Region: home},
	{ID: 3, Name: "Intime Mall", Type: healthcode.Mall, Region: home},
}

// ci is a check-in of a home-region code; its ID is set by withIDs.
func ci(subject string, venue int64, t time.Time) healthcode.CheckIn {
	return healthcode.CheckIn{Issuer: home, Subject: subject, VenueID: venue, At: t, Decision: healthcode.Admit,
		Color: healthcode.Green, Mode: healthcode.ModeCheckpoint, Checkpoint: "gate"}
}

// fci is a check-in of a code issued by another region.
func fci(subject string, venue int64, t time.Time) healthcode.CheckIn {
	c := ci(subject, venue, t)
	c.Issuer = foreign
	return c
}

func withIDs(cs ...healthcode.CheckIn) []healthcode.CheckIn {
	for i := range cs {
		cs[i].ID = fmt.Sprintf("checkin-%04d", i)
	}
	return cs
}

// names lists contacts as "degree issuer/subject".
func names(cs []healthcode.Contact) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%d %s/%s", c.Degree, c.Issuer, c.Subject))
	}
	return out
}

func trace(tb testing.TB, checkIns []healthcode.CheckIn, opts healthcode.TraceOptions) *Result {
	tb.Helper()
	src := newMemSource(tb, testVenues, checkIns)
	r, err := Trace(context.Background(), src, home, home, theCase, opts)
	if err != nil {
		tb.Fatalf("Trace: %v", err)
	}
	src.checkReads(tb, r)
	return r
}

func TestTraceWho(t *testing.T) {
	day := healthcode.TraceOptions{From: at(0, 0), To: at(24, 0)}
	denied := ci("p-denied", 1, at(12, 5))
	denied.Decision = healthcode.Deny
	denied.Color = healthcode.Red
	tests := []struct {
		name          string
		checkIns      []healthcode.CheckIn
		opts          healthcode.TraceOptions
		contacts, fgn []string
	}{
		{
			name: "30 minutes apart is in, 31 minutes or 30m1s is out",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 1, at(12, 0)),
				ci("p-after30", 1, at(12, 30)), ci("p-before30", 1, at(11, 30)), ci("p-same", 1, at(12, 0)),
				ci("p-after31", 1, at(12, 31)), ci("p-before31", 1, at(11, 29)),
				ci("p-after30s", 1, at(12, 30).Add(time.Second)), ci("p-before30s", 1, at(11, 30).Add(-time.Second)),
				ci("p-after30us", 1, at(12, 30).Add(time.Microsecond)),
			},
			opts:     day,
			contacts: []string{"1 330100/p-after30", "1 330100/p-before30", "1 330100/p-same"},
		},
		{
			name: "another venue at the same time is not a contact",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 1, at(12, 0)), ci("p-elsewhere", 3, at(12, 0)), ci("p-here", 1, at(12, 1)),
			},
			opts:     day,
			contacts: []string{"1 330100/p-here"},
		},
		{
			name: "a case check-in at From is traced, one at To is not",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 1, at(9, 0)), ci(theCase, 3, at(17, 0)),
				ci("p-at-from", 1, at(9, 5)), ci("p-at-to", 3, at(17, 5)),
			},
			opts:     healthcode.TraceOptions{From: at(9, 0), To: at(17, 0)},
			contacts: []string{"1 330100/p-at-from"},
		},
		{
			name: "the window bounds the case's check-ins, not the contacts'",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 1, at(9, 0)), ci(theCase, 3, at(16, 50)),
				ci("p-before-from", 1, at(8, 40)), ci("p-after-to", 3, at(17, 15)),
			},
			opts:     healthcode.TraceOptions{From: at(9, 0), To: at(17, 0)},
			contacts: []string{"1 330100/p-after-to", "1 330100/p-before-from"},
		},
		{
			name: "case check-ins outside the window are not traced",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 1, at(8, 59)), ci("p-early", 1, at(9, 0)),
				ci(theCase, 1, at(17, 0)), ci("p-late", 1, at(17, 0)),
			},
			opts: healthcode.TraceOptions{From: at(9, 0), To: at(17, 0)},
		},
		{
			name: "transit overridden to 10 minutes, restaurant keeps the default",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 2, at(9, 0)), ci(theCase, 1, at(12, 0)),
				ci("p-train10", 2, at(9, 10)), ci("p-train11", 2, at(8, 49)),
				ci("p-lunch25", 1, at(12, 25)), ci("p-lunch31", 1, at(12, 31)),
			},
			opts:     healthcode.TraceOptions{From: at(0, 0), To: at(24, 0), ProximityByType: map[healthcode.VenueType]time.Duration{healthcode.Transit: 10 * time.Minute}},
			contacts: []string{"1 330100/p-lunch25", "1 330100/p-train10"},
		},
		{
			name: "a default proximity of 15 minutes",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 3, at(15, 0)), ci("p-15", 3, at(15, 15)), ci("p-16", 3, at(14, 44)),
			},
			opts:     healthcode.TraceOptions{From: at(0, 0), To: at(24, 0), Proximity: 15 * time.Minute},
			contacts: []string{"1 330100/p-15"},
		},
		{
			name: "the case's own other check-ins are not contacts",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 1, at(12, 0)), ci(theCase, 1, at(12, 10)), ci(theCase, 1, at(12, 10)),
			},
			opts: day,
		},
		{
			name: "a denied check-in counts",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 1, at(12, 0)), denied,
			},
			opts:     day,
			contacts: []string{"1 330100/p-denied"},
		},
		{
			name: "a foreign holder is listed apart; one pseudonym in two regions is two people",
			checkIns: []healthcode.CheckIn{
				ci(theCase, 1, at(12, 0)),
				ci("p-twin", 1, at(12, 10)), fci("p-twin", 1, at(12, 20)),
				fci("p-visitor", 1, at(11, 45)),
				fci(theCase, 1, at(12, 5)), // not the case: the same pseudonym from another issuer
			},
			opts:     day,
			contacts: []string{"1 330100/p-twin"},
			fgn:      []string{"1 310000/p-case", "1 310000/p-twin", "1 310000/p-visitor"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := trace(t, withIDs(tt.checkIns...), tt.opts)
			if diff := cmp.Diff(tt.contacts, names(r.Contacts)); diff != "" {
				t.Errorf("contacts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.fgn, names(r.Foreign)); diff != "" {
				t.Errorf("foreign contacts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTraceEvidence checks a whole second-degree result, evidence included.
func TestTraceEvidence(t *testing.T) {
	checkIns := withIDs(
		ci(theCase, 1, at(8, 0)),
		ci(theCase, 2, at(9, 6)),
		ci(theCase, 3, at(12, 0)),
		ci("p-a", 3, at(7, 0)), // before A's first exposure: not traced
		ci("p-f", 3, at(7, 5)), // so F is not found
		ci("p-a", 1, at(8, 10)),
		ci("p-a", 2, at(9, 0)),
		ci("p-b", 1, at(8, 40)), // 40 minutes after the case, 30 after A
		ci("p-b", 2, at(8, 52)), // transit: 14 minutes before the case, 8 before A
		ci("p-e", 2, at(9, 17)), // transit: 11 minutes after the case, 17 after A
		fci("p-c", 3, at(12, 20)),
		fci("p-c", 3, at(12, 25)),
		ci("p-d", 3, at(12, 50)), // 50 minutes after the case, 30 and 25 after C
		ci("p-g", 1, at(8, 35)),  // met A
		ci("p-g", 3, at(12, 45)), // and C
	)
	opts := healthcode.TraceOptions{From: at(7, 0), To: at(24, 0), Depth: 2,
		ProximityByType: map[healthcode.VenueType]time.Duration{healthcode.Transit: 10 * time.Minute}}
	got := trace(t, checkIns, opts)
	ex := func(venue int64, sourceAt, contactAt time.Time, source string) healthcode.Exposure {
		return healthcode.Exposure{VenueID: venue, VenueName: testVenues[venue-1].Name, SourceAt: sourceAt, ContactAt: contactAt, Source: source}
	}
	want := &Result{
		Issuer: home, Subject: theCase, From: opts.From, To: opts.To,
		Contacts: []healthcode.Contact{
			{Subject: "p-a", Issuer: home, Degree: 1, LastExposure: at(9, 6), Exposures: []healthcode.Exposure{
				ex(1, at(8, 0), at(8, 10), theCase),
				ex(2, at(9, 6), at(9, 0), theCase),
			}},
			{Subject: "p-b", Issuer: home, Degree: 2, LastExposure: at(9, 0), Exposures: []healthcode.Exposure{
				ex(1, at(8, 10), at(8, 40), "p-a"),
				ex(2, at(9, 0), at(8, 52), "p-a"),
			}},
			{Subject: "p-d", Issuer: home, Degree: 2, LastExposure: at(12, 50), Exposures: []healthcode.Exposure{
				ex(3, at(12, 20), at(12, 50), "p-c"),
				ex(3, at(12, 25), at(12, 50), "p-c"),
			}},
			{Subject: "p-g", Issuer: home, Degree: 2, LastExposure: at(12, 45), Exposures: []healthcode.Exposure{
				ex(1, at(8, 10), at(8, 35), "p-a"),
				ex(3, at(12, 20), at(12, 45), "p-c"),
				ex(3, at(12, 25), at(12, 45), "p-c"),
			}},
		},
		Foreign: []healthcode.Contact{
			{Subject: "p-c", Issuer: foreign, Degree: 1, LastExposure: at(12, 25), Exposures: []healthcode.Exposure{
				ex(3, at(12, 0), at(12, 20), theCase),
				ex(3, at(12, 0), at(12, 25), theCase),
			}},
		},
		CheckInsScanned: got.CheckInsScanned, // checked against the source by trace
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Trace (-want +got):\n%s", diff)
	}

	// Depth 1 gives the first-degree contacts alone, with the same evidence.
	opts.Depth = 1
	got = trace(t, checkIns, opts)
	want.Contacts = want.Contacts[:1]
	want.CheckInsScanned = got.CheckInsScanned
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Trace at depth 1 (-want +got):\n%s", diff)
	}
}

// TestTraceRepeatedCheckIns checks that a check-in repeated at the same
// instant (a device that uploaded it twice under two ids) gives one exposure.
func TestTraceRepeatedCheckIns(t *testing.T) {
	r := trace(t, withIDs(ci(theCase, 1, at(12, 0)), ci(theCase, 1, at(12, 0)), ci("p-a", 1, at(12, 5)), ci("p-a", 1, at(12, 5))),
		healthcode.TraceOptions{From: at(0, 0), To: at(24, 0)})
	want := []healthcode.Contact{{Subject: "p-a", Issuer: home, Degree: 1, LastExposure: at(12, 5), Exposures: []healthcode.Exposure{
		{VenueID: 1, VenueName: "Noodle House", SourceAt: at(12, 0), ContactAt: at(12, 5), Source: theCase},
	}}}
	if diff := cmp.Diff(want, r.Contacts); diff != "" {
		t.Errorf("contacts (-want +got):\n%s", diff)
	}
}

// TestTraceReads checks that overlapping windows at a venue are read once,
// and that the second degree does not read again what the first did.
func TestTraceReads(t *testing.T) {
	us := time.Microsecond
	checkIns := withIDs(
		ci(theCase, 1, at(8, 0)), ci(theCase, 1, at(8, 20)), ci(theCase, 1, at(8, 40)), ci(theCase, 1, at(13, 0)),
		ci(theCase, 3, at(10, 0)),
		ci("p-a", 1, at(9, 5)),
	)
	tests := []struct {
		depth int
		want  map[int64][]span
	}{
		{1, map[int64][]span{
			1: {{at(7, 30), at(9, 10).Add(us)}, {at(12, 30), at(13, 30).Add(us)}},
			3: {{at(9, 30), at(10, 30).Add(us)}},
		}},
		{2, map[int64][]span{
			1: {{at(7, 30), at(9, 10).Add(us)}, {at(12, 30), at(13, 30).Add(us)}, {at(9, 10).Add(us), at(9, 35).Add(us)}},
			3: {{at(9, 30), at(10, 30).Add(us)}},
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("depth %d", tt.depth), func(t *testing.T) {
			src := newMemSource(t, testVenues, checkIns)
			r, err := Trace(context.Background(), src, home, home, theCase, healthcode.TraceOptions{From: at(0, 0), To: at(24, 0), Depth: tt.depth})
			if err != nil {
				t.Fatal(err)
			}
			src.checkReads(t, r)
			if diff := cmp.Diff(tt.want, src.venueReads, cmp.AllowUnexported(span{})); diff != "" {
				t.Errorf("venue reads (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[int64]int{1: 1, 3: 1}, src.venueFinds); diff != "" {
				t.Errorf("venue look-ups (-want +got):\n%s", diff)
			}
			if src.subjectReads != tt.depth {
				t.Errorf("%d reads of a subject's check-ins, want %d", src.subjectReads, tt.depth)
			}
		})
	}
}

func TestTraceInvalidOptions(t *testing.T) {
	valid := healthcode.TraceOptions{From: at(0, 0), To: at(0, 0).Add(MaxWindow)}
	tests := []struct {
		name   string
		change func(o *healthcode.TraceOptions)
		field  string
	}{
		{"no from", func(o *healthcode.TraceOptions) { o.From = time.Time{} }, "from"},
		{"no to", func(o *healthcode.TraceOptions) { o.To = time.Time{} }, "to"},
		{"empty window", func(o *healthcode.TraceOptions) { o.To = o.From }, "to: must be after from"},
		{"to before from", func(o *healthcode.TraceOptions) { o.To = o.From.Add(-time.Hour) }, "to: must be after from"},
		{"longer than 14 days", func(o *healthcode.TraceOptions) { o.To = o.To.Add(time.Second) }, "longer than 14 days"},
		{"depth 3", func(o *healthcode.TraceOptions) { o.Depth = 3 }, "depth: must be 1 or 2"},
		{"depth -1", func(o *healthcode.TraceOptions) { o.Depth = -1 }, "depth: must be 1 or 2"},
		{"negative bound", func(o *healthcode.TraceOptions) { o.MaxSecondDegree = -1 }, "max_second_degree"},
		{"bound too large", func(o *healthcode.TraceOptions) { o.MaxSecondDegree = MaxSecondDegree + 1 }, "max_second_degree"},
		{"negative proximity", func(o *healthcode.TraceOptions) { o.Proximity = -time.Minute }, "proximity"},
		{"proximity over a day", func(o *healthcode.TraceOptions) { o.Proximity = 25 * time.Hour }, "proximity"},
		{"zero override", func(o *healthcode.TraceOptions) {
			o.ProximityByType = map[healthcode.VenueType]time.Duration{healthcode.Transit: 0}
		}, "proximity_by_type: transit"},
		{"unknown venue type", func(o *healthcode.TraceOptions) {
			o.ProximityByType = map[healthcode.VenueType]time.Duration{"spaceport": time.Minute}
		}, `proximity_by_type: "spaceport" is not a venue type`},
	}
	src := newMemSource(t, testVenues, nil)
	if _, err := Trace(context.Background(), src, home, home, theCase, valid); err != nil {
		t.Fatalf("a 14-day window: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := valid
			tt.change(&opts)
			r, err := Trace(context.Background(), src, home, home, theCase, opts)
			var e *healthcode.Error
			if !errors.As(err, &e) || e.Code != healthcode.EINVALID {
				t.Fatalf("Trace = %v, %v; want an EINVALID *healthcode.Error", r, err)
			}
			if !strings.HasPrefix(e.Message, "invalid trace options: ") || !strings.Contains(e.Message, tt.field) {
				t.Errorf("message %q does not say %q", e.Message, tt.field)
			}
		})
	}
	if _, err := Trace(context.Background(), src, home, home, "", valid); healthcode.ErrorCode(err) != healthcode.EINVALID {
		t.Errorf("Trace without a subject = %v, want EINVALID", err)
	}
}

func TestTraceSourceErrors(t *testing.T) {
	opts := healthcode.TraceOptions{From: at(0, 0), To: at(24, 0)}
	src := newMemSource(t, testVenues, withIDs(ci(theCase, 2, at(9, 0))))
	delete(src.venues, 2)
	_, err := Trace(context.Background(), src, home, home, theCase, opts)
	if healthcode.ErrorCode(err) != healthcode.ENOTFOUND || !strings.Contains(err.Error(), "find venue 2") {
		t.Errorf("Trace with a missing venue = %v, want a wrapped ENOTFOUND", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Trace(ctx, src, home, home, theCase, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("Trace with a cancelled context = %v, want context.Canceled", err)
	}
}
