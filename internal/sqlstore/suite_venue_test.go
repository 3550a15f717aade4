package sqlstore

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode"
)

// The store suite's tests of venues, check-ins, paper codes and the bulk
// loaders (registered in runStoreSuite).

// newVenue returns a valid venue to create.
func newVenue(name string, owner int64) *healthcode.Venue {
	return &healthcode.Venue{Name: name, Type: healthcode.Restaurant, Region: "330106", Address: "Wensan Road 1",
		Policy: healthcode.Policy{Kind: healthcode.PolicyGreen}, OwnerID: owner}
}

func (e *env) createVenue(tb testing.TB, name string, owner int64) *healthcode.Venue {
	tb.Helper()
	v := newVenue(name, owner)
	if err := e.db.CreateVenue(e.ctx, v); err != nil {
		tb.Fatalf("create venue: %v", err)
	}
	return v
}

func (e *env) createToken(tb testing.TB, name string, role healthcode.Role) *healthcode.APIToken {
	tb.Helper()
	t := &healthcode.APIToken{Name: name, Role: role, Hash: []byte("hash of " + name)}
	if err := e.db.CreateAPIToken(e.ctx, t); err != nil {
		tb.Fatalf("create token: %v", err)
	}
	return t
}

func testVenues(t *testing.T, e *env) {
	owner := e.createToken(t, "venue-1", healthcode.RoleVenue)
	other := e.createToken(t, "venue-2", healthcode.RoleVenue)

	v := newVenue("West Lake Mall", owner.ID)
	v.Type, v.Policy = healthcode.Mall, healthcode.Policy{Kind: healthcode.PolicyGreenAndTest, Hours: 48}
	if err := e.db.CreateVenue(e.ctx, v); err != nil {
		t.Fatal(err)
	}
	if v.ID == 0 || !v.CreatedAt.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Errorf("ID %d, CreatedAt %v: want an id and now", v.ID, v.CreatedAt)
	}
	got := must[*healthcode.Venue](t)(e.db.FindVenue(e.ctx, v.ID))
	if diff := cmp.Diff(v, got); diff != "" {
		t.Errorf("FindVenue (-created +found):\n%s", diff)
	}
	_, err := e.db.FindVenue(e.ctx, 9999)
	wantCode(t, err, healthcode.ENOTFOUND)

	// Validation, and an owner that does not exist.
	for name, bad := range map[string]func(v *healthcode.Venue){
		"no name":       func(v *healthcode.Venue) { v.Name = "" },
		"bad type":      func(v *healthcode.Venue) { v.Type = "casino" },
		"bad region":    func(v *healthcode.Venue) { v.Region = "33" },
		"bad policy":    func(v *healthcode.Venue) { v.Policy = healthcode.Policy{Kind: healthcode.PolicyGreenAndTest} },
		"hours on kind": func(v *healthcode.Venue) { v.Policy.Hours = 24 },
	} {
		w := newVenue("x", 0)
		bad(w)
		if err := e.db.CreateVenue(e.ctx, w); healthcode.ErrorCode(err) != healthcode.EINVALID || w.ID != 0 {
			t.Errorf("%s: %v (id %d), want EINVALID", name, err, w.ID)
		}
	}
	wantCode(t, e.db.CreateVenue(e.ctx, newVenue("x", 9999)), healthcode.ENOTFOUND)

	// The policy changes; nothing else does.
	p := healthcode.Policy{Kind: healthcode.PolicyGreenVaccinated}
	updated := must[*healthcode.Venue](t)(e.db.UpdateVenuePolicy(e.ctx, v.ID, p))
	want := *v
	want.Policy = p
	if diff := cmp.Diff(&want, updated); diff != "" {
		t.Errorf("UpdateVenuePolicy (-want +got):\n%s", diff)
	}
	if got := must[*healthcode.Venue](t)(e.db.FindVenue(e.ctx, v.ID)); got.Policy != p {
		t.Errorf("policy after update %+v, want %+v", got.Policy, p)
	}
	_, err = e.db.UpdateVenuePolicy(e.ctx, v.ID, healthcode.Policy{Kind: "anyone"})
	wantCode(t, err, healthcode.EINVALID)
	_, err = e.db.UpdateVenuePolicy(e.ctx, 9999, p)
	wantCode(t, err, healthcode.ENOTFOUND)

	// Listing by owner, and all.
	v2 := e.createVenue(t, "Hubin Noodles", owner.ID)
	v3 := e.createVenue(t, "Metro Line 1 Longxiangqiao", other.ID)
	unowned := e.createVenue(t, "Toll gate 3", 0)
	ids := func(vs []*healthcode.Venue) []int64 {
		var out []int64
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	for _, tt := range []struct {
		owner int64
		want  []int64
	}{
		{owner.ID, []int64{v.ID, v2.ID}},
		{other.ID, []int64{v3.ID}},
		{0, []int64{v.ID, v2.ID, v3.ID, unowned.ID}},
	} {
		vs := must[[]*healthcode.Venue](t)(e.db.ListVenues(e.ctx, tt.owner))
		if !slices.Equal(ids(vs), tt.want) {
			t.Errorf("ListVenues(%d) = %v, want %v", tt.owner, ids(vs), tt.want)
		}
	}
	if vs := must[[]*healthcode.Venue](t)(e.db.ListVenues(e.ctx, 9999)); vs == nil || len(vs) != 0 {
		t.Errorf("ListVenues of an unknown owner: %v, want an empty list", vs)
	}
}

func testTokenVenues(t *testing.T, e *env) {
	a, b, c := e.createVenue(t, "a", 0), e.createVenue(t, "b", 0), e.createVenue(t, "c", 0)
	cp := e.createToken(t, "door-1", healthcode.RoleCheckpoint)
	scope := func() []int64 { return must[[]int64](t)(e.db.TokenVenues(e.ctx, cp.ID)) }

	if got := scope(); got == nil || len(got) != 0 {
		t.Errorf("a new token's scope: %v, want an empty list", got)
	}
	if err := e.db.SetTokenVenues(e.ctx, cp.ID, []int64{c.ID, a.ID, c.ID}); err != nil {
		t.Fatal(err)
	}
	if got, want := scope(), []int64{a.ID, c.ID}; !slices.Equal(got, want) {
		t.Errorf("scope %v, want %v", got, want)
	}
	// Replaced, not added to.
	if err := e.db.SetTokenVenues(e.ctx, cp.ID, []int64{b.ID}); err != nil {
		t.Fatal(err)
	}
	if got, want := scope(), []int64{b.ID}; !slices.Equal(got, want) {
		t.Errorf("scope %v, want %v", got, want)
	}
	// An unknown venue changes nothing.
	wantCode(t, e.db.SetTokenVenues(e.ctx, cp.ID, []int64{a.ID, 9999}), healthcode.ENOTFOUND)
	if got, want := scope(), []int64{b.ID}; !slices.Equal(got, want) {
		t.Errorf("scope after a failed replacement %v, want %v", got, want)
	}
	wantCode(t, e.db.SetTokenVenues(e.ctx, 9999, []int64{a.ID}), healthcode.ENOTFOUND)
	_, err := e.db.TokenVenues(e.ctx, 9999)
	wantCode(t, err, healthcode.ENOTFOUND)

	// Only checkpoint tokens are scoped.
	for _, role := range []healthcode.Role{healthcode.RoleVenue, healthcode.RoleLab, healthcode.RoleAdmin} {
		tok := e.createToken(t, "not-a-checkpoint-"+string(role), role)
		err := e.db.SetTokenVenues(e.ctx, tok.ID, []int64{a.ID})
		wantCode(t, err, healthcode.EINVALID)
		if !strings.Contains(healthcode.ErrorMessage(err), "checkpoint") {
			t.Errorf("message %q does not say why", healthcode.ErrorMessage(err))
		}
	}

	if err := e.db.SetTokenVenues(e.ctx, cp.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got := scope(); len(got) != 0 {
		t.Errorf("scope after clearing %v, want none", got)
	}
}

// checkIn returns a valid check-in at venue, at minutes ago.
func (e *env) checkIn(id string, venue int64, ago time.Duration) healthcode.CheckIn {
	return healthcode.CheckIn{ID: id, Subject: "ABCDEFGH", Issuer: "330100", VenueID: venue, Checkpoint: "door-1",
		At: e.clock.Now().Add(-ago), Decision: healthcode.Admit, Color: healthcode.Green, Mode: healthcode.ModeCheckpoint}
}

// storedCheckIns counts the rows of each id.
func storedCheckIns(t *testing.T, e *env) map[string]int {
	t.Helper()
	n := map[string]int{}
	err := queryAll(e.ctx, e.db.read, func(rows *sql.Rows) error {
		var id string
		var k int
		err := rows.Scan(&id, &k)
		n[id] = k
		return err
	}, `SELECT id, COUNT(*) FROM checkins GROUP BY id`)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func results(pairs ...string) []healthcode.CheckInResult {
	var rs []healthcode.CheckInResult
	for i := 0; i < len(pairs); i += 2 {
		rs = append(rs, healthcode.CheckInResult{ID: pairs[i], Result: pairs[i+1]})
	}
	return rs
}

func testAddCheckIns(t *testing.T, e *env) {
	v := e.createVenue(t, "Wulin Plaza", 0)
	other := e.createVenue(t, "Hubin mall", 0)

	first := []healthcode.CheckIn{e.checkIn("checkin-0001", v.ID, time.Hour), e.checkIn("checkin-0002", v.ID, time.Hour)}
	got := must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, first))
	if diff := cmp.Diff(results("checkin-0001", "stored", "checkin-0002", "stored"), got); diff != "" {
		t.Errorf("first batch (-want +got):\n%s", diff)
	}
	firstAt := e.clock.Now().Truncate(time.Microsecond)
	if !first[0].ReceivedAt.Equal(firstAt) {
		t.Errorf("ReceivedAt %v, want now", first[0].ReceivedAt)
	}

	e.clock.Advance(time.Minute)
	future := e.checkIn("checkin-future", v.ID, -10*time.Minute)
	unknownVenue := e.checkIn("checkin-elsewhere", 9999, time.Minute)
	resent := first[0] // re-sent with its time, other content: the first write wins
	resent.VenueID, resent.Color = other.ID, healthcode.Red
	offline := e.checkIn("checkin-offline", v.ID, 3*24*time.Hour) // uploaded three days late
	batch := []healthcode.CheckIn{
		e.checkIn("checkin-0003", v.ID, 0),
		future,
		e.checkIn("checkin-0003", v.ID, 0), // repeated within the batch
		unknownVenue,
		resent,
		offline,
		{ID: "bad id!", Subject: "ABCDEFGH", Issuer: "330100", VenueID: v.ID}, // invalid in several ways
		e.checkIn("checkin-0004", other.ID, 0),
		e.checkIn("checkin-0004", v.ID, 0),               // repeated at the same time, other venue: the first write wins
		e.checkIn("checkin-0004", other.ID, time.Minute), // the same id at another time is another check-in
	}
	got = must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, batch))
	want := results("checkin-0003", "stored", "checkin-future", "rejected", "checkin-0003", "duplicate",
		"checkin-elsewhere", "rejected", "checkin-0001", "duplicate", "checkin-offline", "stored",
		"bad id!", "rejected", "checkin-0004", "stored", "checkin-0004", "duplicate", "checkin-0004", "stored")
	for i := range got {
		if want[i].Result == healthcode.Rejected {
			if got[i].Reason == "" {
				t.Errorf("item %d rejected without a reason", i)
			}
			want[i].Reason = got[i].Reason
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mixed batch (-want +got):\n%s", diff)
	}
	if r := got[1].Reason; !strings.Contains(r, "at: is in the future") {
		t.Errorf("reason for a future check-in: %q", r)
	}
	if r := got[3].Reason; r != "unknown venue 9999" {
		t.Errorf("reason for an unknown venue: %q", r)
	}
	if r := got[6].Reason; !strings.HasPrefix(r, "invalid check-in: id:") {
		t.Errorf("reason for an invalid check-in: %q", r)
	}

	// Exactly one row per stored id, and the first write of each.
	wantRows := map[string]int{"checkin-0001": 1, "checkin-0002": 1, "checkin-0003": 1, "checkin-offline": 1, "checkin-0004": 2}
	if diff := cmp.Diff(wantRows, storedCheckIns(t, e)); diff != "" {
		t.Errorf("rows per id (-want +got):\n%s", diff)
	}
	now := e.clock.Now()
	atV := must[[]healthcode.CheckIn](t)(e.db.ListCheckInsAtVenue(e.ctx, v.ID, now.Add(-30*24*time.Hour), now.Add(time.Hour)))
	var listed []string
	for _, c := range atV {
		listed = append(listed, c.ID)
	}
	if want := []string{"checkin-offline", "checkin-0001", "checkin-0002", "checkin-0003"}; !slices.Equal(listed, want) {
		t.Errorf("check-ins at the venue %v, want %v", listed, want)
	}
	wantFirst := first[0]
	wantFirst.At = wantFirst.At.Truncate(time.Microsecond).UTC()
	if diff := cmp.Diff(wantFirst, atV[1]); diff != "" {
		t.Errorf("the first write of checkin-0001 (-sent +stored):\n%s", diff)
	}
	// The offline check-in keeps the time it happened, and says when it came.
	if o := atV[0]; !o.At.Equal(offline.At.Truncate(time.Microsecond)) || !o.ReceivedAt.Equal(now.Truncate(time.Microsecond)) {
		t.Errorf("offline check-in at %v received %v, want at %v received now", o.At, o.ReceivedAt, offline.At)
	}

	// The same batch again: nothing new.
	e.clock.Advance(time.Minute)
	again := must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, batch))
	for i, r := range again {
		wantResult := healthcode.Duplicate
		if want[i].Result == healthcode.Rejected {
			wantResult = healthcode.Rejected
		}
		if r.ID != batch[i].ID || r.Result != wantResult {
			t.Errorf("re-sent item %d: %+v, want %s", i, r, wantResult)
		}
	}
	if diff := cmp.Diff(wantRows, storedCheckIns(t, e)); diff != "" {
		t.Errorf("rows per id after re-sending (-want +got):\n%s", diff)
	}
	if rs := must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, nil)); len(rs) != 0 {
		t.Errorf("empty batch: %v", rs)
	}
}

func testConcurrentCheckIns(t *testing.T, e *env) {
	v := e.createVenue(t, "Wulin Plaza", 0)
	const senders, size = 4, 300
	// Every sender sends the same ids, in a different order.
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := map[string]int{}
	for s := range senders {
		wg.Go(func() {
			batch := make([]healthcode.CheckIn, size)
			for i := range batch {
				batch[i] = e.checkIn(fmt.Sprintf("checkin-%04d", (i*(s+1))%size), v.ID, time.Minute)
			}
			rs, err := e.db.AddCheckIns(e.ctx, batch)
			if err != nil {
				t.Errorf("sender %d: %v", s, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rs {
				if r.Result == healthcode.Stored {
					stored[r.ID]++
				}
			}
		})
	}
	wg.Wait()
	rows := storedCheckIns(t, e)
	if len(rows) != size {
		t.Errorf("%d ids stored, want %d", len(rows), size)
	}
	for id, n := range rows {
		if n != 1 || stored[id] != 1 {
			t.Errorf("%s: %d rows, reported stored %d times; want 1 and 1", id, n, stored[id])
		}
	}
}

func testListCheckIns(t *testing.T, e *env) {
	v := e.createVenue(t, "Wulin Plaza", 0)
	w := e.createVenue(t, "Hubin mall", 0)
	t0 := e.clock.Now().Add(-5 * time.Hour).Truncate(time.Microsecond)
	mk := func(id string, venue int64, at time.Time, issuer, subject string) healthcode.CheckIn {
		c := e.checkIn(id, venue, 0)
		c.At, c.Issuer, c.Subject = at, issuer, subject
		return c
	}
	batch := []healthcode.CheckIn{
		mk("id-at-to", v.ID, t0.Add(2*time.Hour), "330100", "ABCDEFGH"), // exactly at to: excluded
		mk("id-b-same", v.ID, t0.Add(time.Hour), "330100", "ABCDEFGH"),
		mk("id-a-same", v.ID, t0.Add(time.Hour), "330100", "QRSTUVWX"), // same time: by id
		mk("id-at-from", v.ID, t0, "330100", "ABCDEFGH"),               // exactly at from: included
		mk("id-before", v.ID, t0.Add(-time.Microsecond), "330100", "ABCDEFGH"),
		mk("id-elsewhere", w.ID, t0.Add(time.Hour), "330100", "ABCDEFGH"),
		mk("id-other-issuer", w.ID, t0.Add(time.Hour), "110101", "ABCDEFGH"),
	}
	for _, r := range must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, batch)) {
		if r.Result != healthcode.Stored {
			t.Fatalf("%+v", r)
		}
	}
	ids := func(cs []healthcode.CheckIn) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	from, to := t0, t0.Add(2*time.Hour)
	if got, want := ids(must[[]healthcode.CheckIn](t)(e.db.ListCheckInsAtVenue(e.ctx, v.ID, from, to))),
		[]string{"id-at-from", "id-a-same", "id-b-same"}; !slices.Equal(got, want) {
		t.Errorf("ListCheckInsAtVenue [from, to) = %v, want %v", got, want)
	}
	if got, want := ids(must[[]healthcode.CheckIn](t)(e.db.ListCheckInsOfSubject(e.ctx, "330100", "ABCDEFGH", from, to))),
		[]string{"id-at-from", "id-b-same", "id-elsewhere"}; !slices.Equal(got, want) {
		t.Errorf("ListCheckInsOfSubject [from, to) = %v, want %v", got, want)
	}
	if got := must[[]healthcode.CheckIn](t)(e.db.ListCheckInsOfSubject(e.ctx, "110101", "ABCDEFGH", from, to)); len(got) != 1 ||
		got[0].ID != "id-other-issuer" || got[0].Issuer != "110101" {
		t.Errorf("check-ins of the other issuer's holder: %v", ids(got))
	}
	if got := must[[]healthcode.CheckIn](t)(e.db.ListCheckInsAtVenue(e.ctx, 9999, from, to)); got == nil || len(got) != 0 {
		t.Errorf("check-ins at an unknown venue: %v, want an empty list", got)
	}
	_, err := e.db.ListCheckInsOfSubject(e.ctx, "not a region", "ABCDEFGH", from, to)
	wantCode(t, err, healthcode.EINVALID)

	// Every field reads back as written.
	c := batch[2]
	c.Decision, c.Color, c.Mode, c.Checkpoint = healthcode.Deny, "", healthcode.ModePlaceCode, "place code"
	c.ID = "id-every-field"
	must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, []healthcode.CheckIn{c}))
	got := must[[]healthcode.CheckIn](t)(e.db.ListCheckInsOfSubject(e.ctx, "330100", "QRSTUVWX", from, to))
	c.ReceivedAt = e.clock.Now().Truncate(time.Microsecond).UTC()
	if len(got) != 2 || !cmp.Equal(c, got[1]) {
		t.Errorf("read back %+v, want %+v", got, c)
	}
}

func testPaperCodes(t *testing.T, e *env) {
	r := e.enroll(t)
	_, err := e.db.FindPaperCode(e.ctx, r.ID)
	wantCode(t, err, healthcode.ENOTFOUND)
	_, err = e.db.IssuePaperCode(e.ctx, 9999, time.Hour, "x")
	wantCode(t, err, healthcode.ENOTFOUND)
	_, err = e.db.IssuePaperCode(e.ctx, r.ID, 0, "x")
	wantCode(t, err, healthcode.EINVALID)

	now := e.clock.Now().Truncate(time.Microsecond)
	pc := must[*healthcode.PaperCode](t)(e.db.IssuePaperCode(e.ctx, r.ID, healthcode.DefaultPaperCodeLifetime, "resident"))
	want := &healthcode.PaperCode{ID: pc.ID, ResidentID: r.ID, StatusIndex: 0, IssuedAt: now,
		ExpiresAt: now.Add(healthcode.DefaultPaperCodeLifetime), IssuedBy: "resident"}
	if diff := cmp.Diff(want, pc); diff != "" || pc.ID == 0 {
		t.Errorf("IssuePaperCode (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(pc, must[*healthcode.PaperCode](t)(e.db.FindPaperCode(e.ctx, r.ID))); diff != "" {
		t.Errorf("FindPaperCode (-issued +found):\n%s", diff)
	}

	// Reissued: the old one is revoked, the new one has the next index.
	e.clock.Advance(time.Hour)
	second := must[*healthcode.PaperCode](t)(e.db.IssuePaperCode(e.ctx, r.ID, healthcode.DefaultPaperCodeLifetime, "community official 7"))
	if second.StatusIndex != 1 || second.ID == pc.ID {
		t.Errorf("reissued with index %d (id %d), want index 1", second.StatusIndex, second.ID)
	}
	if diff := cmp.Diff(second, must[*healthcode.PaperCode](t)(e.db.FindPaperCode(e.ctx, r.ID))); diff != "" {
		t.Errorf("FindPaperCode after reissue (-issued +found):\n%s", diff)
	}
	var revokedAt int64
	if err := e.db.read.QueryRowContext(e.ctx, `SELECT revoked_at FROM paper_codes WHERE id = $1`, pc.ID).Scan(&revokedAt); err != nil {
		t.Fatal(err)
	}
	if want := e.clock.Now().Truncate(time.Microsecond); !time.UnixMicro(revokedAt).Equal(want) {
		t.Errorf("old code revoked at %v, want %v", time.UnixMicro(revokedAt).UTC(), want)
	}

	other := e.enroll(t)
	third := must[*healthcode.PaperCode](t)(e.db.IssuePaperCode(e.ctx, other.ID, healthcode.DefaultPaperCodeLifetime, "guardian"))
	if third.StatusIndex != 2 {
		t.Errorf("another resident's code has index %d, want 2", third.StatusIndex)
	}
	entries := must[[]healthcode.StatusListEntry](t)(e.db.StatusListEntries(e.ctx))
	wantEntries := []healthcode.StatusListEntry{{Index: 0, Revoked: true}, {Index: 1, Color: healthcode.Green}, {Index: 2, Color: healthcode.Green}}
	if diff := cmp.Diff(wantEntries, entries); diff != "" {
		t.Errorf("StatusListEntries (-want +got):\n%s", diff)
	}

	// The holder turns yellow: so does the entry.
	must[healthcode.Status](t)(e.db.AddDeclaration(e.ctx, &healthcode.Declaration{ResidentID: r.ID, Temperature: 38.5,
		Symptoms: []healthcode.Symptom{healthcode.Fever}}))
	wantEntries[1].Color = healthcode.Yellow
	if diff := cmp.Diff(wantEntries, must[[]healthcode.StatusListEntry](t)(e.db.StatusListEntries(e.ctx))); diff != "" {
		t.Errorf("after the holder turned yellow (-want +got):\n%s", diff)
	}

	// Fresh cached statuses are read, not evaluated; stale ones are
	// re-evaluated once, as CurrentStatus would.
	e.eval.n.Store(0)
	must[[]healthcode.StatusListEntry](t)(e.db.StatusListEntries(e.ctx))
	if n := e.eval.n.Load(); n != 0 {
		t.Errorf("fresh statuses evaluated %d times", n)
	}
	e.clock.Advance(15 * 24 * time.Hour) // past every ValidUntil; the fever is over
	entries = must[[]healthcode.StatusListEntry](t)(e.db.StatusListEntries(e.ctx))
	wantEntries[1].Color = healthcode.Green
	if diff := cmp.Diff(wantEntries, entries); diff != "" {
		t.Errorf("after the fever ended (-want +got):\n%s", diff)
	}
	if n := e.eval.n.Load(); n != 2 {
		t.Errorf("two stale statuses evaluated %d times", n)
	}
	must[[]healthcode.StatusListEntry](t)(e.db.StatusListEntries(e.ctx))
	if n := e.eval.n.Load(); n != 2 {
		t.Errorf("refreshed statuses evaluated again (%d evaluations)", n)
	}
	if st := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID)); st.Color != healthcode.Green {
		t.Errorf("CurrentStatus %s after the list refreshed it", st.Color)
	}
	hist := must[[]healthcode.StatusChange](t)(e.db.StatusHistory(e.ctx, r.ID))
	if last := hist[len(hist)-1]; last.Status.Color != healthcode.Green || !strings.HasPrefix(last.Cause, "time: ") {
		t.Errorf("last history entry %s %q, want green by time", last.Status.Color, last.Cause)
	}
}

func testPaperCodeExpiry(t *testing.T, e *env) {
	short, long := e.enroll(t), e.enroll(t)
	must[*healthcode.PaperCode](t)(e.db.IssuePaperCode(e.ctx, short.ID, 48*time.Hour, "x"))
	must[*healthcode.PaperCode](t)(e.db.IssuePaperCode(e.ctx, long.ID, 30*24*time.Hour, "x"))
	// Revoked by a reissue that itself expires soon.
	must[*healthcode.PaperCode](t)(e.db.IssuePaperCode(e.ctx, short.ID, 24*time.Hour, "x"))

	indexes := func() []int {
		var out []int
		for _, en := range must[[]healthcode.StatusListEntry](t)(e.db.StatusListEntries(e.ctx)) {
			out = append(out, en.Index)
		}
		return out
	}
	if got, want := indexes(), []int{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	e.clock.Advance(24*time.Hour - time.Microsecond)
	if got, want := indexes(), []int{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("just before the first expiry: %v, want %v", got, want)
	}
	e.clock.Advance(time.Microsecond)
	if got, want := indexes(), []int{0, 1}; !slices.Equal(got, want) {
		t.Errorf("at the reissued code's expiry: %v, want %v", got, want)
	}
	e.clock.Advance(24 * time.Hour)
	if got, want := indexes(), []int{1}; !slices.Equal(got, want) {
		t.Errorf("at the revoked code's expiry: %v, want %v", got, want)
	}
	e.clock.Advance(30 * 24 * time.Hour)
	if got := must[[]healthcode.StatusListEntry](t)(e.db.StatusListEntries(e.ctx)); got == nil || len(got) != 0 {
		t.Errorf("after every expiry: %v, want an empty list", got)
	}
	// An expired code is still the resident's current one; a new one gets
	// a new index.
	if pc := must[*healthcode.PaperCode](t)(e.db.FindPaperCode(e.ctx, long.ID)); pc.StatusIndex != 1 {
		t.Errorf("FindPaperCode of an expired code: index %d, want 1", pc.StatusIndex)
	}
	if pc := must[*healthcode.PaperCode](t)(e.db.IssuePaperCode(e.ctx, long.ID, time.Hour, "x")); pc.StatusIndex != 3 {
		t.Errorf("new code after expiry: index %d, want 3", pc.StatusIndex)
	}
}

func testConcurrentPaperCodes(t *testing.T, e *env) {
	const n = 8
	var rs []*healthcode.Resident
	for range n {
		rs = append(rs, e.enroll(t))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]bool{}
	for i := range 2 * n { // two codes each: one is revoked
		wg.Go(func() {
			pc, err := e.db.IssuePaperCode(e.ctx, rs[i%n].ID, time.Hour, "x")
			if err != nil {
				t.Errorf("issue %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[pc.StatusIndex] {
				t.Errorf("index %d issued twice", pc.StatusIndex)
			}
			seen[pc.StatusIndex] = true
		})
	}
	wg.Wait()
	entries := must[[]healthcode.StatusListEntry](t)(e.db.StatusListEntries(e.ctx))
	revoked := 0
	for i, en := range entries {
		if en.Index != i {
			t.Errorf("entry %d has index %d", i, en.Index)
		}
		if en.Revoked {
			revoked++
		}
	}
	if len(entries) != 2*n || revoked != n {
		t.Errorf("%d entries, %d revoked; want %d and %d", len(entries), revoked, 2*n, n)
	}
}

func testFindResidentByPseudonym(t *testing.T, e *env) {
	r := e.enroll(t)
	e.enroll(t)
	got := must[*healthcode.Resident](t)(e.db.FindResidentByPseudonym(e.ctx, r.Pseudonym))
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("FindResidentByPseudonym (-enrolled +found):\n%s", diff)
	}
	_, err := e.db.FindResidentByPseudonym(e.ctx, "AAAAAAAA")
	wantCode(t, err, healthcode.ENOTFOUND)
}

func testBulkCreateResidents(t *testing.T, e *env) {
	guardian := e.enroll(t)
	var rs []*healthcode.Resident
	for i := range 1203 { // more than one INSERT's worth
		r := e.newResident()
		r.IDNumber = idNumber(r.BirthDate.AddDate(1, 0, i/500), i, r.Sex) // unlike enroll's
		if i%100 == 0 {
			r.Phone, r.GuardianID = "", guardian.ID
		}
		rs = append(rs, r)
	}
	// Collide with an enrolled resident's pseudonym now and then.
	var calls int
	e.db.newPseudonym = func() string {
		calls++
		if calls%400 == 0 {
			return guardian.Pseudonym
		}
		return randomPseudonym()
	}
	e.eval.n.Store(0)
	if err := e.db.BulkCreateResidents(e.ctx, rs); err != nil {
		t.Fatal(err)
	}
	if calls <= len(rs) {
		t.Errorf("%d pseudonyms drawn for %d residents: no collision retried", calls, len(rs))
	}
	now := e.clock.Now().Truncate(time.Microsecond)
	ids, pseudonyms := map[int64]bool{}, map[string]bool{guardian.Pseudonym: true}
	for _, r := range rs {
		if r.ID == 0 || ids[r.ID] || pseudonyms[r.Pseudonym] || !r.CreatedAt.Equal(now) {
			t.Fatalf("resident %+v: want a new id, a new pseudonym and CreatedAt now", r)
		}
		ids[r.ID], pseudonyms[r.Pseudonym] = true, true
	}
	for _, r := range []*healthcode.Resident{rs[0], rs[1], rs[len(rs)-1]} {
		got := must[*healthcode.Resident](t)(e.db.FindResidentByID(e.ctx, r.ID))
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("FindResidentByID (-bulk +found):\n%s", diff)
		}
	}
	if got := must[*healthcode.Resident](t)(e.db.FindResidentByPseudonym(e.ctx, rs[7].Pseudonym)); got.ID != rs[7].ID {
		t.Errorf("FindResidentByPseudonym found %d, want %d", got.ID, rs[7].ID)
	}
	if _, hash, err := e.db.FindLogin(e.ctx, rs[1].Phone); err != nil || hash != "" {
		t.Errorf("FindLogin: hash %q, %v; want no password", hash, err)
	}
	if deps := must[[]*healthcode.Resident](t)(e.db.ListDependents(e.ctx, guardian.ID)); len(deps) != 13 {
		t.Errorf("%d dependents, want 13", len(deps))
	}

	// The stored status is what CurrentStatus would have computed, and is
	// read without evaluating again.
	evaluated := e.eval.n.Load()
	for _, r := range []*healthcode.Resident{rs[0], rs[len(rs)-1]} {
		st := must[healthcode.Status](t)(e.db.CurrentStatus(e.ctx, r.ID))
		want := must[healthcode.Status](t)(e.eval.Evaluate(must[*healthcode.Facts](t)(e.db.LoadFacts(e.ctx, r.ID)), now))
		want.ComputedAt = now
		if st.Color != healthcode.Green || !st.Equivalent(want) || !st.ValidUntil.Equal(want.ValidUntil.Truncate(time.Microsecond)) {
			t.Errorf("status %+v, want %+v", st, want)
		}
		hist := must[[]healthcode.StatusChange](t)(e.db.StatusHistory(e.ctx, r.ID))
		if len(hist) != 1 || hist[0].Cause != "enrolled" || !cmp.Equal(hist[0].Status, st) {
			t.Errorf("history %+v, want one entry for the enrollment", hist)
		}
	}
	if n := e.eval.n.Load() - evaluated; n != 2 { // the two Evaluate calls of this test
		t.Errorf("CurrentStatus evaluated %d times after a bulk enrollment, want 0", n-2)
	}

	// A duplicate document fails the whole call.
	e.db.newPseudonym = randomPseudonym
	a, b := e.newResident(), e.newResident()
	b.IDNumber = rs[5].IDNumber
	err := e.db.BulkCreateResidents(e.ctx, []*healthcode.Resident{a, b})
	wantCode(t, err, healthcode.ECONFLICT)
	if a.ID != 0 {
		t.Errorf("a failed call filled in ID %d", a.ID)
	}
	_, err = e.db.FindResidentByDocument(e.ctx, a.IDType, a.IDNumber)
	wantCode(t, err, healthcode.ENOTFOUND)
}

func testBulkInsertCheckIns(t *testing.T, e *env) {
	venues := []int64{e.createVenue(t, "a", 0).ID, e.createVenue(t, "b", 0).ID, e.createVenue(t, "c", 0).ID}
	g := newCheckInGen(venues, 50, e.clock.Now())
	earlier := g.batch(3)
	must[[]healthcode.CheckInResult](t)(e.db.AddCheckIns(e.ctx, earlier))

	cs := g.batch(1234) // more than one INSERT's worth
	cs = append(cs, cs[10], earlier[1])
	cs[11].ID, cs[11].At = cs[12].ID, cs[12].At // the same id and time: the first wins
	e.clock.Advance(time.Minute)
	if err := e.db.BulkInsertCheckIns(e.ctx, cs); err != nil {
		t.Fatal(err)
	}
	rows := storedCheckIns(t, e)
	if len(rows) != 3+1233 {
		t.Errorf("%d ids stored, want %d", len(rows), 3+1233)
	}
	for id, n := range rows {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}

	// Everything reads back, received now, with the first write of each id.
	now := e.clock.Now().Truncate(time.Microsecond).UTC()
	want := map[string]healthcode.CheckIn{}
	for _, c := range earlier {
		c.At, c.ReceivedAt = c.At.Truncate(time.Microsecond).UTC(), now.Add(-time.Minute)
		want[c.ID] = c
	}
	for _, c := range cs {
		if _, ok := want[c.ID]; !ok {
			c.At, c.ReceivedAt = c.At.Truncate(time.Microsecond).UTC(), now
			want[c.ID] = c
		}
	}
	got := map[string]healthcode.CheckIn{}
	for _, v := range venues {
		for _, c := range must[[]healthcode.CheckIn](t)(e.db.ListCheckInsAtVenue(e.ctx, v, now.Add(-15*24*time.Hour), now.Add(time.Hour))) {
			got[c.ID] = c
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}

	// An unknown venue, or a value the table cannot hold, stores nothing.
	for name, bad := range map[string]func(c *healthcode.CheckIn){
		"unknown venue":  func(c *healthcode.CheckIn) { c.VenueID = 9999 },
		"no id":          func(c *healthcode.CheckIn) { c.ID = "" },
		"unknown colour": func(c *healthcode.CheckIn) { c.Color = "blue" },
		"bad issuer":     func(c *healthcode.CheckIn) { c.Issuer = "HK" },
	} {
		batch := g.batch(3)
		bad(&batch[2])
		if err := e.db.BulkInsertCheckIns(e.ctx, batch); healthcode.ErrorCode(err) != healthcode.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
		if n := len(storedCheckIns(t, e)); n != 3+1233 {
			t.Errorf("%s: %d ids stored, want still %d", name, n, 3+1233)
		}
	}
	if err := e.db.BulkInsertCheckIns(e.ctx, nil); err != nil {
		t.Errorf("empty call: %v", err)
	}
}
