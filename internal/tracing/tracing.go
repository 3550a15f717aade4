// Package tracing finds the close contacts of a case from check-ins, with
// the evidence for each (DESIGN.md section 6).
//
// # What a trace reads
//
// A trace starts from the case's code holder, named by the region that issued
// the code (issuer) and the code's pseudonym (subject), and from the case's
// infectious window [From, To): From is included, To is not. The window may
// be at most 14 days long. Only the case's own check-ins are bounded by the
// window; the people they met are looked for around each of those check-ins
// whenever they checked in, so someone who checked in 10 minutes before From
// next to a case check-in made at From is a contact.
//
// # Who is a close contact
//
// A code holder is identified by the pair (issuer, subject): pseudonyms are
// random per region, so the same pseudonym from two issuers is two different
// people, and the case's own other check-ins are never contacts.
//
// A first-degree contact is anyone else checked in at the same venue as one of
// the case's check-ins, at most the proximity apart in time, inclusive: with
// the default 30 minutes, check-ins exactly 30 minutes apart are a contact and
// 30 minutes and one second apart are not. Check-ins have no check-out time,
// so an overlapping stay is approximated by the proximity window around each
// check-in. Every check-in counts whatever the checkpoint decided: a person
// who was denied entry still stood at the entrance.
//
// The proximity is TraceOptions.Proximity (0 means
// healthcode.DefaultProximity, at most 24 hours), and
// TraceOptions.ProximityByType overrides it for the venues of a type (for
// example 10 minutes for transit). It applies to the venue where both
// check-ins were made.
//
// # Second degree
//
// With Depth 2, each first-degree contact is traced in turn, from their
// earliest exposure (the earliest of their check-ins that made them a
// contact) up to To, exactly as the case was. A second-degree contact is
// anyone so found who is neither the case nor a first-degree contact;
// someone who met several first-degree contacts is listed once with all the
// exposures. First-degree contacts from other regions are traced too: the
// people they met may live here.
//
// The second degree is bounded: first-degree contacts are traced one at a
// time, in issuer and subject order, and once more than
// TraceOptions.MaxSecondDegree (default healthcode.DefaultMaxSecondDegree)
// second-degree contacts are found the trace stops, keeps the first that many
// in issuer and subject order, and sets Result.Truncated. The first degree is
// always complete; a truncated second degree may miss contacts and, for the
// contacts it lists, exposures. Which it lists is decided by the data alone,
// so the same data and options give the same list; a tracer narrows the
// window or the proximity, or traces a first-degree contact on its own, to
// see the rest. At the density of a city with 5 check-ins a person a day,
// the second degree of a busy case over 14 days is most of the population
// (BENCHMARKS.md).
//
// # Evidence
//
// Each contact carries every exposure that makes them one: the venue, the
// source's check-in time (SourceAt), the contact's check-in time (ContactAt)
// and Source, the pseudonym of whoever they were exposed to (the case for the
// first degree, the first-degree contact for the second). Identical exposures
// (from check-ins repeated at the same instant) are listed once. Exposures
// are ordered by ContactAt, then VenueID, then SourceAt, then Source, and
// LastExposure is the latest time in any exposure, the later of SourceAt and
// ContactAt.
//
// # Result
//
// Contacts holding codes issued by the home region are in Result.Contacts,
// the others in Result.Foreign: they are reported to their home region, not
// acted upon here. Both lists are ordered by Degree, then Issuer, then
// Subject, so the same data and options always give the same result.
//
// # Cost
//
// A trace reads the case's check-ins with one call and looks each venue up
// once. At each venue it reads the check-ins in the windows around the
// source check-ins, merging the windows that overlap or touch so that each
// merged window is one ListCheckInsAtVenue call; at depth 2 the parts
// already read (for the first degree or an earlier contact) are not read
// again. Matching slides a
// window over check-ins sorted by time, in memory, so its cost grows with the
// check-ins read and the exposures found, not with their product. Depth 2
// reads the check-ins of each first-degree contact with one call each.
package tracing

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"healthcode"
)

// MaxWindow is the longest infectious window a trace accepts.
const MaxWindow = 14 * 24 * time.Hour

// MaxProximity is the largest proximity a trace accepts, by default or for a
// venue type.
const MaxProximity = 24 * time.Hour

// MaxSecondDegree is the largest bound on second-degree contacts a trace
// accepts.
const MaxSecondDegree = 1_000_000

// Source is what tracing reads; *sqlstore.DB implements it.
type Source interface {
	// ListCheckInsOfSubject lists a code holder's check-ins in [from, to),
	// ordered by At then ID.
	ListCheckInsOfSubject(ctx context.Context, issuer, subject string, from, to time.Time) ([]healthcode.CheckIn, error)
	// ListCheckInsAtVenue lists the check-ins at a venue in [from, to),
	// ordered by At then ID.
	ListCheckInsAtVenue(ctx context.Context, venueID int64, from, to time.Time) ([]healthcode.CheckIn, error)
	FindVenue(ctx context.Context, id int64) (*healthcode.Venue, error)
}

// Result is what a trace found.
type Result struct {
	Issuer, Subject string               // the case's code holder
	From, To        time.Time            // the window traced: the case's check-ins in [From, To)
	Contacts        []healthcode.Contact // holders of codes issued by the home region
	Foreign         []healthcode.Contact // holders of codes issued by other regions, to report to their home region
	CheckInsScanned int                  // how many check-ins were read from the source
	// Truncated says the second degree stopped at MaxSecondDegree contacts.
	Truncated bool
}

// Trace finds the close contacts of the code holder (issuer, subject) in
// the window opts.From to opts.To, as the package documentation describes;
// homeRegion is the region whose contacts go in Result.Contacts. Invalid
// options give an EINVALID *healthcode.Error; errors of src are returned
// wrapped.
func Trace(ctx context.Context, src Source, homeRegion, issuer, subject string, opts healthcode.TraceOptions) (*Result, error) {
	opts, err := normalize(issuer, subject, opts)
	if err != nil {
		return nil, err
	}
	t := &tracer{src: src, opts: opts, venues: map[int64]*venueData{}}
	sources, err := t.checkInsOf(ctx, person{issuer, subject}, opts.From, opts.To)
	if err != nil {
		return nil, err
	}
	theCase := person{issuer, subject}
	first := map[person]*healthcode.Contact{}
	err = t.expose(ctx, sources, 1, first, func(p person) bool { return p == theCase })
	if err != nil {
		return nil, err
	}
	found := []map[person]*healthcode.Contact{first}
	if opts.Depth == 2 {
		// One first-degree contact at a time, in a fixed order, so that a
		// bounded trace stops reading as soon as it has more than enough.
		second := map[person]*healthcode.Contact{}
		excluded := func(p person) bool { return p == theCase || first[p] != nil }
		for _, p := range sortedPeople(first) {
			if len(second) > opts.MaxSecondDegree {
				break
			}
			from := earliestContact(first[p])
			if !from.Before(opts.To) {
				continue
			}
			cs, err := t.checkInsOf(ctx, p, from, opts.To)
			if err != nil {
				return nil, err
			}
			if err := t.expose(ctx, cs, 2, second, excluded); err != nil {
				return nil, err
			}
		}
		if len(second) > opts.MaxSecondDegree { // cut back to the bound
			for _, p := range sortedPeople(second)[opts.MaxSecondDegree:] {
				delete(second, p)
			}
			t.truncated = true
		}
		found = append(found, second)
	}
	r := &Result{Issuer: issuer, Subject: subject, From: opts.From, To: opts.To, CheckInsScanned: t.scanned, Truncated: t.truncated}
	for _, contacts := range found {
		for _, c := range contacts {
			finish(c)
			if c.Issuer == homeRegion {
				r.Contacts = append(r.Contacts, *c)
			} else {
				r.Foreign = append(r.Foreign, *c)
			}
		}
	}
	slices.SortFunc(r.Contacts, compareContacts)
	slices.SortFunc(r.Foreign, compareContacts)
	return r, nil
}

// normalize validates opts and fills in the defaults.
func normalize(issuer, subject string, opts healthcode.TraceOptions) (healthcode.TraceOptions, error) {
	var p healthcode.Problems
	if issuer == "" {
		p.Add("issuer", "is required")
	}
	if subject == "" {
		p.Add("subject", "is required")
	}
	switch {
	case opts.From.IsZero():
		p.Add("from", "is required")
	case opts.To.IsZero():
		p.Add("to", "is required")
	case !opts.From.Before(opts.To):
		p.Add("to", "must be after from")
	case opts.To.Sub(opts.From) > MaxWindow:
		p.Add("to", "the window from %s to %s is longer than 14 days", opts.From.Format(time.RFC3339), opts.To.Format(time.RFC3339))
	}
	switch opts.Depth {
	case 0:
		opts.Depth = 1
	case 1, 2:
	default:
		p.Add("depth", "must be 1 or 2")
	}
	switch {
	case opts.MaxSecondDegree == 0:
		opts.MaxSecondDegree = healthcode.DefaultMaxSecondDegree
	case opts.MaxSecondDegree < 0 || opts.MaxSecondDegree > MaxSecondDegree:
		p.Add("max_second_degree", "must be between 0 (the default, %d) and %d", healthcode.DefaultMaxSecondDegree, MaxSecondDegree)
	}
	switch {
	case opts.Proximity == 0:
		opts.Proximity = healthcode.DefaultProximity
	case opts.Proximity < 0 || opts.Proximity > MaxProximity:
		p.Add("proximity", "must be between 0 (the default, 30 minutes) and 24 hours")
	}
	types := make([]healthcode.VenueType, 0, len(opts.ProximityByType))
	for vt := range opts.ProximityByType {
		types = append(types, vt)
	}
	slices.Sort(types)
	for _, vt := range types {
		d := opts.ProximityByType[vt]
		if !(&healthcode.Venue{Type: vt}).ValidType() {
			p.Add("proximity_by_type", "%q is not a venue type", vt)
		} else if d <= 0 || d > MaxProximity {
			p.Add("proximity_by_type", "%s: must be more than 0 and at most 24 hours", vt)
		}
	}
	return opts, p.Err("invalid trace options")
}

// person is a code holder: a pseudonym is only unique within its issuer.
type person struct{ issuer, subject string }

func personOf(c *healthcode.CheckIn) person { return person{c.Issuer, c.Subject} }

// span is a half-open interval of time [from, to).
type span struct{ from, to time.Time }

// venueData is what a trace knows of one venue: the venue, its proximity,
// and every check-in at it in the covered spans.
type venueData struct {
	venue     *healthcode.Venue
	proximity time.Duration
	covered   []span               // sorted and disjoint
	checkIns  []healthcode.CheckIn // by At then ID
}

// tracer holds the state of one Trace call.
type tracer struct {
	src     Source
	opts    healthcode.TraceOptions
	venues  map[int64]*venueData
	scanned int
	// truncated says Trace cut the second degree back to its bound.
	truncated bool
}

func (t *tracer) checkInsOf(ctx context.Context, p person, from, to time.Time) ([]healthcode.CheckIn, error) {
	cs, err := t.src.ListCheckInsOfSubject(ctx, p.issuer, p.subject, from, to)
	if err != nil {
		return nil, fmt.Errorf("tracing: list check-ins of %s/%s: %w", p.issuer, p.subject, err)
	}
	t.scanned += len(cs)
	return cs, nil
}

// venue returns what is known of the venue, looking it up the first time.
func (t *tracer) venue(ctx context.Context, id int64) (*venueData, error) {
	if vd := t.venues[id]; vd != nil {
		return vd, nil
	}
	v, err := t.src.FindVenue(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("tracing: find venue %d: %w", id, err)
	}
	w := t.opts.Proximity
	if d, ok := t.opts.ProximityByType[v.Type]; ok {
		w = d
	}
	vd := &venueData{venue: v, proximity: w}
	t.venues[id] = vd
	return vd, nil
}

// readSpans makes sure every check-in at the venue in the spans (sorted and
// disjoint) is in vd.checkIns, reading from the source only what is not
// covered yet.
func (t *tracer) readSpans(ctx context.Context, vd *venueData, spans []span) error {
	var read bool
	for _, need := range spans {
		for _, g := range gaps(vd.covered, need) {
			cs, err := t.src.ListCheckInsAtVenue(ctx, vd.venue.ID, g.from, g.to)
			if err != nil {
				return fmt.Errorf("tracing: list check-ins at venue %d: %w", vd.venue.ID, err)
			}
			t.scanned += len(cs)
			vd.checkIns = append(vd.checkIns, cs...)
			read = true
		}
	}
	if !read {
		return nil
	}
	slices.SortFunc(vd.checkIns, compareCheckIns)
	// A check-in on the edge of two reads is kept once.
	vd.checkIns = slices.CompactFunc(vd.checkIns, func(a, b healthcode.CheckIn) bool { return a.ID == b.ID && a.At.Equal(b.At) })
	vd.covered = mergeSpans(append(vd.covered, spans...))
	return nil
}

// gaps returns the parts of need that covered (sorted and disjoint) misses.
func gaps(covered []span, need span) []span {
	var out []span
	cur := need.from
	for _, c := range covered {
		if !c.to.After(cur) {
			continue
		}
		if !c.from.Before(need.to) {
			break
		}
		if c.from.After(cur) {
			out = append(out, span{cur, c.from})
		}
		cur = c.to
		if !cur.Before(need.to) {
			return out
		}
	}
	return append(out, span{cur, need.to})
}

// mergeSpans sorts spans and merges those that overlap or touch.
func mergeSpans(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && !s.from.After(out[n-1].to) {
			if s.to.After(out[n-1].to) {
				out[n-1].to = s.to
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// expose finds everyone checked in within the proximity of a source
// check-in at the same venue, except those excluded, and adds an exposure
// to their contact in found.
func (t *tracer) expose(ctx context.Context, sources []healthcode.CheckIn, degree int, found map[person]*healthcode.Contact, excluded func(person) bool) error {
	byVenue := map[int64][]healthcode.CheckIn{}
	for _, c := range sources {
		byVenue[c.VenueID] = append(byVenue[c.VenueID], c)
	}
	ids := make([]int64, 0, len(byVenue))
	for id := range byVenue {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		vd, err := t.venue(ctx, id)
		if err != nil {
			return err
		}
		srcs := byVenue[id]
		slices.SortFunc(srcs, compareCheckIns)
		w := vd.proximity
		// The source is half-open and times are stored to the microsecond:
		// reading up to end + 1µs includes a check-in exactly at end.
		spans := make([]span, 0, len(srcs))
		for _, s := range srcs {
			spans = append(spans, span{s.At.Add(-w), s.At.Add(w + time.Microsecond)})
		}
		if err := t.readSpans(ctx, vd, mergeSpans(spans)); err != nil {
			return err
		}
		cs := vd.checkIns
		lo, _ := slices.BinarySearchFunc(cs, srcs[0].At.Add(-w), func(c healthcode.CheckIn, at time.Time) int { return c.At.Compare(at) })
		hi := lo
		for _, s := range srcs {
			first, last := s.At.Add(-w), s.At.Add(w)
			for lo < len(cs) && cs[lo].At.Before(first) {
				lo++
			}
			hi = max(hi, lo)
			for hi < len(cs) && !cs[hi].At.After(last) {
				hi++
			}
			for i := lo; i < hi; i++ {
				p := personOf(&cs[i])
				if excluded(p) {
					continue
				}
				c := found[p]
				if c == nil {
					c = &healthcode.Contact{Issuer: p.issuer, Subject: p.subject, Degree: degree}
					found[p] = c
				}
				c.Exposures = append(c.Exposures, healthcode.Exposure{VenueID: id, VenueName: vd.venue.Name,
					SourceAt: s.At, ContactAt: cs[i].At, Source: s.Subject})
			}
		}
	}
	return nil
}

// finish orders a contact's exposures, drops repeated ones, and sets
// LastExposure.
func finish(c *healthcode.Contact) {
	slices.SortFunc(c.Exposures, compareExposures)
	c.Exposures = slices.CompactFunc(c.Exposures, func(a, b healthcode.Exposure) bool { return compareExposures(a, b) == 0 })
	c.LastExposure = time.Time{}
	for _, e := range c.Exposures {
		for _, at := range []time.Time{e.SourceAt, e.ContactAt} {
			if at.After(c.LastExposure) {
				c.LastExposure = at
			}
		}
	}
}

// earliestContact returns the earliest ContactAt of a contact's exposures.
func earliestContact(c *healthcode.Contact) time.Time {
	earliest := c.Exposures[0].ContactAt
	for _, e := range c.Exposures[1:] {
		if e.ContactAt.Before(earliest) {
			earliest = e.ContactAt
		}
	}
	return earliest
}

func sortedPeople(m map[person]*healthcode.Contact) []person {
	ps := make([]person, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b person) int {
		return cmp.Or(cmp.Compare(a.issuer, b.issuer), cmp.Compare(a.subject, b.subject))
	})
	return ps
}

func compareCheckIns(a, b healthcode.CheckIn) int {
	return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID))
}

func compareExposures(a, b healthcode.Exposure) int {
	return cmp.Or(a.ContactAt.Compare(b.ContactAt), cmp.Compare(a.VenueID, b.VenueID), a.SourceAt.Compare(b.SourceAt),
		cmp.Compare(a.Source, b.Source), cmp.Compare(a.VenueName, b.VenueName))
}

func compareContacts(a, b healthcode.Contact) int {
	return cmp.Or(cmp.Compare(a.Degree, b.Degree), cmp.Compare(a.Issuer, b.Issuer), cmp.Compare(a.Subject, b.Subject))
}
