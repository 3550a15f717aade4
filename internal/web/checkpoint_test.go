package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/statuslist"
)

type venueBody struct {
	ID        int64             `json:"id"`
	Name      string            `json:"name"`
	Policy    healthcode.Policy `json:"policy"`
	PlaceCode string            `json:"place_code"`
}

func (h *harness) venue(t testing.TB, name, typ string, policy map[string]any) venueBody {
	t.Helper()
	r := h.do(t, "POST", "/api/v1/venues", h.tokens[healthcode.RoleVenue], map[string]any{"name": name, "type": typ,
		"region": "330106", "address": "延安路 98 号", "policy": policy})
	if r.status != 201 {
		t.Fatalf("create venue: %d %s", r.status, r.body)
	}
	var v venueBody
	r.json(t, &v)
	return v
}

// checkpointToken issues a checkpoint token for the venue, as its manager would.
func (h *harness) checkpointToken(t testing.TB, venueID int64) string {
	t.Helper()
	r := h.do(t, "POST", fmt.Sprintf("/api/v1/venues/%d/checkpoint-tokens", venueID), h.tokens[healthcode.RoleVenue], nil)
	if r.status != 201 {
		t.Fatalf("checkpoint token: %d %s", r.status, r.body)
	}
	var tok struct{ Token string }
	r.json(t, &tok)
	return tok.Token
}

// subject returns the pseudonym in a resident's current code.
func (h *harness) subjectOf(t testing.TB, token string) string {
	t.Helper()
	var c struct{ Payload string }
	h.do(t, "GET", "/api/v1/me/code", token, nil).json(t, &c)
	v := code.Check(c.Payload, h.trust, h.clock.Now())
	if !v.Valid {
		t.Fatalf("own code invalid: %+v", v)
	}
	return v.Subject
}

func TestVenuesAndPlaceCodes(t *testing.T) {
	h := newHarness(t)
	if r := h.do(t, "POST", "/api/v1/venues", h.tokens[healthcode.RoleVenue], map[string]any{"name": "", "type": "bar", "region": "33",
		"policy": map[string]any{"kind": "green_and_test_within_hours"}}); r.status != 400 ||
		!strings.Contains(string(r.body), "policy.hours") || !strings.Contains(string(r.body), `"type"`) {
		t.Errorf("bad venue: %d %s", r.status, r.body)
	}
	v := h.venue(t, "银泰百货", "mall", map[string]any{"kind": "green"})
	if !strings.HasPrefix(v.PlaceCode, strings.ToUpper(h.URL)+"/P/") {
		t.Errorf("place code URL %q", v.PlaceCode)
	}
	// The printed place code decodes to that URL.
	png := h.do(t, "GET", fmt.Sprintf("/api/v1/venues/%d/place-code.png", v.ID), h.tokens[healthcode.RoleVenue], nil)
	if text, err := code.ReadQR(png.body); err != nil || text != v.PlaceCode {
		t.Fatalf("place code image: %q, %v", text, err)
	}
	// Another venue manager may not touch it.
	otherVenueTok := h.tokens[healthcode.RoleAdmin] // an admin token is not a venue manager either
	if r := h.do(t, "PUT", fmt.Sprintf("/api/v1/venues/%d/policy", v.ID), otherVenueTok, map[string]any{"kind": "green"}); r.status != 403 {
		t.Errorf("admin sets policy: %d", r.status)
	}

	_, tok := h.resident(t)
	var res placeCheckInResponse
	r := h.do(t, "POST", "/api/v1/me/checkins", tok, map[string]string{"place_code": v.PlaceCode})
	if r.status != 201 {
		t.Fatalf("place check-in: %d %s", r.status, r.body)
	}
	r.json(t, &res)
	if res.Decision != "admit" || res.VenueName != "银泰百货" || res.Color != healthcode.Green || res.MaskedName != "张*三" {
		t.Errorf("place check-in: %+v", res)
	}
	forged := v.PlaceCode[:len(v.PlaceCode)-2] + "AA"
	if r := h.do(t, "POST", "/api/v1/me/checkins", tok, map[string]string{"place_code": forged}); r.status != 400 || !strings.Contains(string(r.body), "not genuine") {
		t.Errorf("forged place code: %d %s", r.status, r.body)
	}

	// Each policy decides by what the resident's status shows.
	if r := h.do(t, "PUT", fmt.Sprintf("/api/v1/venues/%d/policy", v.ID), h.tokens[healthcode.RoleVenue], map[string]any{"kind": "green_and_vaccinated"}); r.status != 200 {
		t.Fatalf("set policy: %d %s", r.status, r.body)
	}
	h.do(t, "POST", "/api/v1/me/checkins", tok, map[string]string{"place_code": v.PlaceCode}).json(t, &res)
	if res.Decision != "deny" || !strings.Contains(res.Reason, "vaccinated") {
		t.Errorf("unvaccinated at a vaccinated-only venue: %+v", res)
	}
	h.do(t, "PUT", fmt.Sprintf("/api/v1/venues/%d/policy", v.ID), h.tokens[healthcode.RoleVenue], map[string]any{"kind": "green_and_test_within_hours", "hours": 48})
	h.do(t, "POST", "/api/v1/me/checkins", tok, map[string]string{"place_code": v.PlaceCode}).json(t, &res)
	if res.Decision != "deny" || !strings.Contains(res.Reason, "48 h") {
		t.Errorf("no test at a 48 h venue: %+v", res)
	}

	// The page a phone camera opens: GET shows, POST records.
	path := v.PlaceCode[len(strings.ToUpper(h.URL)):]
	page := h.do(t, "GET", strings.ToLower(path[:3])+path[3:], tok, nil)
	if page.status != 200 || !strings.Contains(string(page.body), "银泰百货") || !strings.Contains(string(page.body), "<form method=\"post\">") {
		t.Errorf("place page: %d %s", page.status, page.body)
	}
	req, _ := http.NewRequest("POST", h.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("place page POST: %d", resp.StatusCode)
	}
	got, err := h.store.ListCheckInsAtVenue(t.Context(), v.ID, h.clock.Now().Add(-time.Hour), h.clock.Now().Add(time.Hour))
	if err != nil || len(got) != 4 {
		t.Errorf("stored place check-ins: %d, %v", len(got), err)
	}
}

func TestCheckInBatch(t *testing.T) {
	h := newHarness(t)
	v := h.venue(t, "Wulin Square station", "transit", map[string]any{"kind": "green"})
	other := h.venue(t, "Other mall", "mall", map[string]any{"kind": "green"})
	cp := h.checkpointToken(t, v.ID)
	now := h.clock.Now()
	item := func(id string, venue int64, at time.Time) map[string]any {
		return map[string]any{"id": id, "subject": "ABCDEFGH", "issuer": "330100", "venue_id": venue,
			"at": at.Format(time.RFC3339), "decision": "admit", "color": "green", "mode": "checkpoint"}
	}
	batch := []any{
		item("ok-0000001", v.ID, now.Add(-3*time.Hour)), // made offline hours ago: keeps its time
		item("ok-0000002", v.ID, now),
		item("ok-0000002", v.ID, now),                     // repeated in the batch
		item("future-0001", v.ID, now.Add(time.Hour)),     // device clock wrong
		item("other-00001", other.ID, now),                // venue outside this token's scope
		item("unknown-001", 999999, now),                  // no such venue
		item("bad id!", v.ID, now),                        // malformed id
		item("old-0000001", v.ID, now.AddDate(0, 0, -30)), // past retention
	}
	r := h.do(t, "POST", "/api/v1/checkins", cp, map[string]any{"checkins": batch})
	if r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var out struct {
		Results                      []healthcode.CheckInResult
		Stored, Duplicates, Rejected int
	}
	r.json(t, &out)
	want := []string{"stored", "stored", "duplicate", "rejected", "rejected", "rejected", "rejected", "rejected"}
	for i, res := range out.Results {
		if res.Result != want[i] {
			t.Errorf("item %d (%s): %s %q, want %s", i, res.ID, res.Result, res.Reason, want[i])
		}
	}
	for i, wantReason := range map[int]string{3: "future", 4: "may not record", 6: "id", 7: "28 days"} {
		if !strings.Contains(out.Results[i].Reason, wantReason) {
			t.Errorf("item %d reason %q lacks %q", i, out.Results[i].Reason, wantReason)
		}
	}
	if out.Stored != 2 || out.Duplicates != 1 || out.Rejected != 5 {
		t.Errorf("counts %+v", out)
	}
	// Re-sent: all duplicates, nothing stored twice.
	h.do(t, "POST", "/api/v1/checkins", cp, map[string]any{"checkins": batch[:3]}).json(t, &out)
	if out.Stored != 0 || out.Duplicates != 3 {
		t.Errorf("re-sent batch: %+v", out)
	}
	got, _ := h.store.ListCheckInsAtVenue(t.Context(), v.ID, now.Add(-24*time.Hour), now.Add(time.Hour))
	if len(got) != 2 || !got[0].At.Equal(now.Add(-3*time.Hour).Truncate(time.Second)) {
		t.Errorf("stored %+v", got)
	}
	// Malformed batches get a clear error.
	for body, want := range map[string]string{
		`[1,2]`:                        "must be a JSON object",
		`{}`:                           "checkins is required",
		`{"checkins": [{"id": 5}]}`:    "must be a string",
		`{"checkins": [], "extra": 1}`: "unknown field",
	} {
		r := h.do(t, "POST", "/api/v1/checkins", cp, body)
		if r.status != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, r.status, r.body, want)
		}
	}
}

func TestTraceAndDesignate(t *testing.T) {
	h := newHarness(t)
	mall := h.venue(t, "银泰百货", "mall", map[string]any{"kind": "green"})
	far := h.venue(t, "西溪湿地", "other", map[string]any{"kind": "green"})
	cp := h.checkpointToken(t, mall.ID)
	cpFar := h.checkpointToken(t, far.ID)
	caseTok, inTok, outTok := "", "", ""
	var caseDoc string
	{
		e := enrollment()
		h.do(t, "POST", "/api/v1/residents", "", e)
		var login struct{ Token string }
		h.do(t, "POST", "/api/v1/login", "", map[string]any{"phone": e["phone"], "password": e["password"]}).json(t, &login)
		caseTok, caseDoc = login.Token, e["id_number"].(string)
	}
	_, inTok = h.resident(t)
	_, outTok = h.resident(t)
	_, elsewhereTok := h.resident(t)
	now := h.clock.Now()
	at := now.Add(-5 * time.Hour)
	upFrom := func(tok, id, issuer, subject string, venue int64, t0 time.Time) {
		r := h.do(t, "POST", "/api/v1/checkins", tok, map[string]any{"checkins": []any{map[string]any{"id": id, "subject": subject,
			"issuer": issuer, "venue_id": venue, "at": t0.Format(time.RFC3339), "decision": "admit", "color": "green"}}})
		if r.status != 200 || !strings.Contains(string(r.body), `"stored"`) {
			t.Fatalf("upload %s: %d %s", id, r.status, r.body)
		}
	}
	up := func(tok, id, subject string, venue int64, t0 time.Time) {
		upFrom(tok, id, "330100", subject, venue, t0)
	}
	caseSub, inSub, outSub, elsewhereSub := h.subjectOf(t, caseTok), h.subjectOf(t, inTok), h.subjectOf(t, outTok), h.subjectOf(t, elsewhereTok)
	up(cp, "case-000001", caseSub, mall.ID, at)
	up(cp, "in-00000001", inSub, mall.ID, at.Add(30*time.Minute))                     // exactly 30 minutes: a contact
	up(cp, "out-0000001", outSub, mall.ID, at.Add(31*time.Minute))                    // 31 minutes: not
	up(cpFar, "far-0000001", elsewhereSub, far.ID, at)                                // same time, other venue: not
	upFrom(cp, "foreign-001", "110100", "ZZZZZZZZ", mall.ID, at.Add(-10*time.Minute)) // a visitor from Beijing

	var created struct{ Case struct{ ID int64 } }
	r := h.do(t, "POST", "/api/v1/cases", h.tokens[healthcode.RoleTracer], map[string]any{"id_type": "resident_id", "id_number": caseDoc,
		"sample_date": now.Format("2006-01-02")})
	if r.status != 201 {
		t.Fatalf("case: %d %s", r.status, r.body)
	}
	r.json(t, &created)
	r = h.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/trace?purpose=outbreak+7", created.Case.ID), h.tokens[healthcode.RoleTracer], map[string]any{})
	if r.status != 200 {
		t.Fatalf("trace: %d %s", r.status, r.body)
	}
	var tr traceResponse
	r.json(t, &tr)
	if len(tr.Contacts) != 1 || tr.Contacts[0].Subject != inSub || len(tr.Contacts[0].Exposures) != 1 ||
		tr.Contacts[0].Exposures[0].VenueName != "银泰百货" || !tr.Contacts[0].Exposures[0].SourceAt.Equal(at.Truncate(time.Second)) {
		t.Fatalf("trace contacts: %+v", tr.Contacts)
	}
	if len(tr.Foreign) != 1 || tr.Foreign[0].Issuer != "110100" || tr.Foreign[0].Subject != "ZZZZZZZZ" {
		t.Errorf("foreign contacts: %+v", tr.Foreign)
	}
	r = h.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/designate?purpose=outbreak+7", created.Case.ID), h.tokens[healthcode.RoleTracer],
		map[string]any{"subjects": []string{inSub, outSub, "ZZZZZZZZ"}})
	var des struct{ Designations []designation }
	r.json(t, &des)
	if len(des.Designations) != 3 || des.Designations[0].Result != "designated" || des.Designations[1].Result != "rejected" ||
		!strings.Contains(des.Designations[1].Reason, "not found by tracing") || des.Designations[2].Result != "notified" || des.Designations[2].Region != "110100" || des.Designations[2].NoticeID == "" {
		t.Fatalf("designate: %s", r.body)
	}
	// The foreign contact is in the outbox for Beijing, once; on the trace
	// page it has a form of its own that sends the same notice.
	var ob struct {
		Notices []outgoingNoticeJSON
	}
	h.do(t, "GET", "/api/v1/contact-notices", h.tokens[healthcode.RoleTracer], nil).json(t, &ob)
	if len(ob.Notices) != 1 || ob.Notices[0].To != "110100" || ob.Notices[0].State != "pending" || ob.Notices[0].NoticeID != des.Designations[2].NoticeID {
		t.Errorf("outbox: %+v", ob.Notices)
	}
	tb := newBrowser(t, h)
	tb.post("/admin/signin", url.Values{"token": {h.tokens[healthcode.RoleTracer]}}, "same-origin")
	page := tb.post(fmt.Sprintf("/admin/cases/%d/trace", created.Case.ID), url.Values{"purpose": {"outbreak 7"}}, "same-origin")
	if page.status != 200 || !strings.Contains(string(page.body), `name="subject" value="ZZZZZZZZ"`) || !strings.Contains(string(page.body), "110100") {
		t.Errorf("trace page: %d %s", page.status, page.body)
	}
	page = tb.post(fmt.Sprintf("/admin/cases/%d/designate", created.Case.ID), url.Values{"purpose": {"outbreak 7"}, "subject": {"ZZZZZZZZ"}}, "same-origin")
	if page.status != 200 || !strings.Contains(string(page.body), "已通报其所属地区") {
		t.Errorf("notify from the page: %d %s", page.status, page.body)
	}
	h.do(t, "GET", "/api/v1/contact-notices", h.tokens[healthcode.RoleTracer], nil).json(t, &ob)
	if len(ob.Notices) != 1 {
		t.Errorf("notifying again from the page queued another notice: %+v", ob.Notices)
	}
	// A retry records nothing new.
	h.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/designate?purpose=outbreak+7", created.Case.ID), h.tokens[healthcode.RoleTracer],
		map[string]any{"subjects": []string{inSub, inSub}}).json(t, &des)
	if des.Designations[0].Result != "already_designated" || des.Designations[1].Reason != "listed twice in this request" {
		t.Errorf("designate again: %+v", des.Designations)
	}
	var st statusResponse
	h.do(t, "GET", "/api/v1/me/status", inTok, nil).json(t, &st)
	if st.Color != healthcode.Yellow || len(st.Reasons) != 1 || st.Reasons[0].Rule != "close_contact" || !strings.Contains(st.Reasons[0].Message, "银泰百货") {
		t.Errorf("contact's status: %+v", st)
	}
	var ns notificationsResponse
	h.do(t, "GET", "/api/v1/me/notifications", inTok, nil).json(t, &ns)
	if len(ns.Notifications) != 2 || !strings.Contains(ns.Notifications[0].Message, "now yellow") ||
		!strings.Contains(ns.Notifications[0].Message, "银泰百货") || ns.Notifications[1].Kind != healthcode.NotifyContactDesignated {
		t.Errorf("contact's notifications: %+v", ns)
	}
	h.do(t, "GET", "/api/v1/me/status", outTok, nil).json(t, &st)
	if st.Color != healthcode.Green {
		t.Errorf("31 minutes away: %+v", st)
	}
	if r := h.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/trace?purpose=outbreak+7", created.Case.ID), h.tokens[healthcode.RoleTracer], map[string]any{"depth": 3}); r.status != 400 {
		t.Errorf("depth 3: %d", r.status)
	}
	if r := h.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/trace?purpose=outbreak+7", created.Case.ID), h.tokens[healthcode.RoleTracer],
		map[string]any{"max_second_degree": -1}); r.status != 400 || !strings.Contains(string(r.body), "max_second_degree") {
		t.Errorf("a negative bound: %d %s", r.status, r.body)
	}

	// The region's default proximity for malls (31 minutes) finds the
	// person 31 minutes away; a request's own proximity for malls wins.
	// (Set between requests: nothing else is running.)
	h.Server.Config.Handler.(*Server).cfg.ProximityByType = map[healthcode.VenueType]time.Duration{healthcode.Mall: 31 * time.Minute}
	traceSubjects := func(body map[string]any) (subjects []string, truncated bool) {
		t.Helper()
		var tr traceResponse
		r := h.do(t, "POST", fmt.Sprintf("/api/v1/cases/%d/trace?purpose=outbreak+7", created.Case.ID), h.tokens[healthcode.RoleTracer], body)
		if r.status != 200 {
			t.Fatalf("trace %v: %d %s", body, r.status, r.body)
		}
		r.json(t, &tr)
		for _, c := range tr.Contacts {
			subjects = append(subjects, c.Subject)
		}
		return subjects, tr.Truncated
	}
	if got, _ := traceSubjects(map[string]any{}); len(got) != 2 || !slices.Contains(got, outSub) {
		t.Errorf("with the region's 31 minutes for malls: %v, want both people", got)
	}
	if got, _ := traceSubjects(map[string]any{"proximity_by_type": map[string]int{"mall": 30}}); len(got) != 1 || got[0] != inSub {
		t.Errorf("with the request's 30 minutes for malls: %v, want %s alone", got, inSub)
	}
	// The contact met at 5 h ago meets nobody else: nothing to truncate.
	if got, truncated := traceSubjects(map[string]any{"depth": 2, "max_second_degree": 1}); len(got) != 2 || truncated {
		t.Errorf("depth 2 bounded to 1: %v, truncated %v", got, truncated)
	}
}

func TestPaperCodeLifecycle(t *testing.T) {
	h := newHarness(t)
	_, tok := h.resident(t)
	fetchList := func() *statuslist.List {
		t.Helper()
		r := h.do(t, "GET", "/.well-known/healthcode/status-list", "", nil)
		l, err := statuslist.Parse(r.body, h.trust)
		if err != nil {
			t.Fatalf("status list: %v (%s)", err, r.body)
		}
		return l
	}
	var first, second paperCodeResponse
	if r := h.do(t, "POST", "/api/v1/me/paper-code", tok, nil); r.status != 201 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	} else {
		r.json(t, &first)
	}
	now := h.clock.Now()
	seen, v := statuslist.Seen(code.Check(first.Payload, h.trust, now), fetchList(), now)
	if !seen.Valid || seen.Color != healthcode.Green || v.Kind != code.Paper {
		t.Fatalf("fresh paper code: %+v %+v", seen, v)
	}
	// Without a list, or with one past its limit, the colour is unknown: never green.
	if seen, _ := statuslist.Seen(code.Check(first.Payload, h.trust, now), nil, now); seen.Color != "" ||
		healthcode.Decide(healthcode.Policy{Kind: healthcode.PolicyGreen}, seen, now).Decision != healthcode.Deny {
		t.Errorf("no list: %+v", seen)
	}
	list := fetchList()
	later := now.Add(statusListMaxAge + time.Second)
	if seen, v := statuslist.Seen(code.Check(first.Payload, h.trust, later), list, later); seen.Color != "" || !strings.Contains(v.Reason, "check online") {
		t.Errorf("stale list: %+v %q", seen, v.Reason)
	}

	// A fever turns the holder yellow in the next list.
	h.do(t, "POST", "/api/v1/me/declarations", tok, map[string]any{"temperature": 38.5, "contact_with_case": false})
	h.clock.advance(statusListRefresh)
	now = h.clock.Now()
	if seen, _ := statuslist.Seen(code.Check(first.Payload, h.trust, now), fetchList(), now); seen.Color != healthcode.Yellow {
		t.Errorf("after fever: %+v", seen)
	}

	// Reissue: the old code is revoked, the new one works.
	h.do(t, "POST", "/api/v1/me/paper-code", tok, nil).json(t, &second)
	if second.StatusIndex == first.StatusIndex || second.Payload == first.Payload {
		t.Fatalf("reissue kept the index: %+v", second)
	}
	l := fetchList()
	if seen, v := statuslist.Seen(code.Check(first.Payload, h.trust, now), l, now); seen.Valid || v.RejectCode != code.Revoked {
		t.Errorf("old paper code after reissue: %+v %+v", seen, v)
	}
	if seen, _ := statuslist.Seen(code.Check(second.Payload, h.trust, now), l, now); !seen.Valid || seen.Color != healthcode.Yellow {
		t.Errorf("new paper code: %+v", seen)
	}
	// The server answers for its own paper codes from the live records.
	var sv code.Verdict
	h.do(t, "POST", "/api/v1/verify", "", map[string]string{"payload": second.Payload}).json(t, &sv)
	if !sv.Valid || sv.Color != healthcode.Yellow {
		t.Errorf("server verify of the new paper code: %+v", sv)
	}
	h.do(t, "POST", "/api/v1/verify", "", map[string]string{"payload": first.Payload}).json(t, &sv)
	if sv.Valid || sv.RejectCode != code.Revoked {
		t.Errorf("server verify of the old paper code: %+v", sv)
	}
	var cur paperCodeResponse
	h.do(t, "GET", "/api/v1/me/paper-code", tok, nil).json(t, &cur)
	if cur.StatusIndex != second.StatusIndex {
		t.Errorf("current paper code %+v", cur)
	}
	// An official can print one for a resident identified by document.
	e := enrollment()
	h.do(t, "POST", "/api/v1/residents", "", e)
	if r := h.do(t, "POST", "/api/v1/paper-codes", h.tokens[healthcode.RoleTracer], map[string]any{"id_type": "resident_id", "id_number": e["id_number"]}); r.status != 201 {
		t.Errorf("official issue: %d %s", r.status, r.body)
	}
}
