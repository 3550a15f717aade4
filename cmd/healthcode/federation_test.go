package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"healthcode"
)

// TestPeerRegionCodes: region B accepts region A's codes once an operator
// adds A's trust list, without restarting B (the server refreshes its
// peers), and not before.
func TestPeerRegionCodes(t *testing.T) {
	a := startServer(t)
	b := startServer(t, "--region", "310100", "--region-name", "Shanghai", "--trust-refresh", "200ms")
	_, payload := enrollWithCode(t, a, 31)
	verifyAt := func(ts *testServer) (valid bool, reason string) {
		var v struct {
			Valid  bool
			Reason string
		}
		ts.call(t, "POST", "/api/v1/verify", "", map[string]string{"payload": payload}, 200, &v)
		return v.Valid, v.Reason
	}
	if valid, _ := verifyAt(a); !valid {
		t.Fatal("region A does not accept its own code")
	}
	if valid, reason := verifyAt(b); valid {
		t.Fatalf("region B accepts region A's code before trusting A: %s", reason)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"trust", "add", "--data", b.dataDir, a.url + "/.well-known/healthcode/trust-list"},
		func(string) string { return "" }, nil, &out, &errb); err != nil {
		t.Fatalf("trust add: %v: %s", err, errb.String())
	}
	if !strings.Contains(out.String(), "trusting region 330100") {
		t.Errorf("trust add said %q", out.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if valid, _ := verifyAt(b); valid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("region B never accepted region A's code after trusting A")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// B's command-line checkpoint admits A's code, from its cached lists:
	// the server is stopped first, so the decision is made offline.
	venueTok := createToken(t, b.dataDir, "venue")
	var v struct{ ID int64 }
	b.call(t, "POST", "/api/v1/venues", venueTok, map[string]any{"name": "虹桥站", "type": "transit", "region": "310105",
		"address": "申贵路 1500 号", "policy": map[string]any{"kind": "green"}}, 201, &v)
	var cp struct{ Token string }
	b.call(t, "POST", fmt.Sprintf("/api/v1/venues/%d/checkpoint-tokens", v.ID), venueTok, map[string]string{"name": "gate"}, 201, &cp)
	state := t.TempDir()
	in, lines, wait := runCheckpointCLI(t, b.url, cp.Token, v.ID, state)
	if l := checkpointDecision(t, in, lines, payload); l.Decision != healthcode.Admit || l.Issuer != "330100" {
		t.Errorf("B's checkpoint on A's code: %+v", l)
	}
	in.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	b.stop()
	in, lines, wait = runCheckpointCLI(t, b.url, cp.Token, v.ID, state)
	if l := checkpointDecision(t, in, lines, payload); l.Decision != healthcode.Admit {
		t.Errorf("B's checkpoint offline on A's code: %+v", l)
	}
	in.Close()
	wait()

	out.Reset()
	if err := run(context.Background(), []string{"trust", "list", "--data", b.dataDir}, func(string) string { return "" }, nil, &out, &errb); err != nil ||
		!strings.Contains(out.String(), "330100\t"+a.url) {
		t.Errorf("trust list: %v %q", err, out.String())
	}
	// A list that is not a trust list is refused.
	if err := run(context.Background(), []string{"trust", "add", "--data", b.dataDir, a.url + "/api/v1/rules"},
		func(string) string { return "" }, nil, &out, &errb); err == nil {
		t.Error("trust add of a document that is not a trust list succeeded")
	}
}

// region is one of the three servers of TestThreeRegions.
type region struct {
	code, name, addr, dir string
	ts                    *testServer
	tracer                string
	venue                 int64
	checkpoint            string
}

func (r *region) start(t *testing.T) {
	t.Helper()
	r.ts = startServerAt(t, r.dir, r.addr, "--region", r.code, "--region-name", r.name, "--trust-refresh", "200ms",
		"--notice-retry", "200ms")
}

func (r *region) trustList() string { return "http://" + r.addr + "/.well-known/healthcode/trust-list" }

// eventually polls cond every 50 ms until it holds, failing after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type verdictJSON struct {
	Valid      bool
	RejectCode string `json:"reject_code"`
	Reason     string
	Issuer     string
}

func verifyAt(t *testing.T, ts *testServer, payload string) verdictJSON {
	t.Helper()
	var v verdictJSON
	ts.call(t, "POST", "/api/v1/verify", "", map[string]string{"payload": payload}, 200, &v)
	return v
}

// TestThreeRegions runs three regions on loopback, each trusting the other
// two: they verify each other's codes (checkpoints too, from their cached
// lists); A rotates its signing key (old and new codes verify at B and C)
// and revokes the old one (B and C refuse its codes after their refresh);
// then a trace at B finds a holder of an A code, B designates while A is
// down, the notice waits in B's outbox, A comes back, the notice arrives
// exactly once (also when B sends it again), A's tracer confirms, and the
// A resident turns yellow with the reason naming the venue and region B.
func TestThreeRegions(t *testing.T) {
	a := &region{code: "330100", name: "Hangzhou", addr: freeAddr(t), dir: t.TempDir()}
	b := &region{code: "310100", name: "Shanghai", addr: freeAddr(t), dir: t.TempDir()}
	c := &region{code: "110100", name: "Beijing", addr: freeAddr(t), dir: t.TempDir()}
	regions := []*region{a, b, c}
	for _, r := range regions {
		r.start(t)
	}
	for _, r := range regions {
		for _, p := range regions {
			if p == r {
				continue
			}
			var out, errb bytes.Buffer
			if err := run(context.Background(), []string{"trust", "add", "--data", r.dir, p.trustList()},
				func(string) string { return "" }, nil, &out, &errb); err != nil {
				t.Fatalf("%s trusts %s: %v: %s", r.name, p.name, err, errb.String())
			}
		}
		r.tracer = createToken(t, r.dir, "tracer")
		venueTok := createToken(t, r.dir, "venue")
		var v struct{ ID int64 }
		r.ts.call(t, "POST", "/api/v1/venues", venueTok, map[string]any{"name": r.name + "站", "type": "transit", "region": r.code,
			"address": "站前路 1 号", "policy": map[string]any{"kind": "green"}}, 201, &v)
		var cp struct{ Token string }
		r.ts.call(t, "POST", fmt.Sprintf("/api/v1/venues/%d/checkpoint-tokens", v.ID), venueTok, map[string]string{"name": "gate"}, 201, &cp)
		r.venue, r.checkpoint = v.ID, cp.Token
	}

	// Cross-verification: each server, and each region's checkpoint from
	// the lists it cached, accepts the other two regions' codes.
	codes := map[*region]string{}
	for i, r := range regions {
		_, codes[r] = enrollWithCode(t, r.ts, 60+i)
	}
	for _, r := range regions {
		in, lines, wait := runCheckpointCLI(t, r.ts.url, r.checkpoint, r.venue, t.TempDir())
		for _, p := range regions {
			if p == r {
				continue
			}
			eventually(t, r.name+" accepts "+p.name+"'s code", func() bool { return verifyAt(t, r.ts, codes[p]).Valid })
			if l := checkpointDecision(t, in, lines, codes[p]); l.Decision != healthcode.Admit || l.Issuer != p.code {
				t.Errorf("%s's checkpoint on %s's code: %+v", r.name, p.name, l)
			}
		}
		in.Close()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}

	// A rotates its signing key: codes signed before still verify at B and
	// C, and so do the new key's, once B and C have A's new list.
	keys := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(context.Background(), append([]string{"keys"}, append(args, "--data", a.dir)...), func(string) string { return "" }, nil, &out, &errb); err != nil {
			t.Fatalf("keys %v: %v: %s", args, err, errb.String())
		}
		return out.String()
	}
	oldCode := codes[a]
	a.ts.stop()
	m := regexp.MustCompile(`key ([0-9a-f]+) retired`).FindStringSubmatch(keys("rotate-signing-key"))
	if m == nil {
		t.Fatal("rotate-signing-key did not name the retired key")
	}
	a.start(t)
	var login struct{ Token string }
	a.ts.call(t, "POST", "/api/v1/login", "", map[string]string{"phone": "13700000060", "password": "long enough"}, 200, &login)
	var nc struct{ Payload string }
	a.ts.call(t, "GET", "/api/v1/me/code", login.Token, nil, 200, &nc)
	if nc.Payload == oldCode {
		t.Fatal("A did not sign the code again after the rotation")
	}
	for _, r := range []*region{b, c} {
		eventually(t, r.name+" accepts A's code of the new key", func() bool { return verifyAt(t, r.ts, nc.Payload).Valid })
		if v := verifyAt(t, r.ts, oldCode); !v.Valid {
			t.Errorf("%s on A's code signed before the rotation: %+v", r.name, v)
		}
	}

	// A revokes the retired key: after their refresh, B and C refuse its
	// codes, saying so, and still accept the new key's.
	a.ts.stop()
	keys("revoke-signing-key", "--kid", m[1])
	a.start(t)
	for _, r := range []*region{b, c} {
		eventually(t, r.name+" refuses the revoked key's code", func() bool {
			v := verifyAt(t, r.ts, oldCode)
			return !v.Valid && strings.Contains(v.Reason, "revoked")
		})
		if v := verifyAt(t, r.ts, nc.Payload); !v.Valid {
			t.Errorf("%s on A's new code after the revocation: %+v", r.name, v)
		}
	}

	// An A resident (x) and a B resident who becomes a case (y) pass B's
	// gate a few minutes apart.
	xToken := login.Token
	var xExport struct{ Pseudonym string }
	a.ts.call(t, "GET", "/api/v1/me/export", xToken, nil, 200, &xExport)
	_, yCode := enrollWithCode(t, b.ts, 70)
	// B's gate admits both (offline, from its cached lists) and uploads
	// their check-ins when it stops.
	in, lines, wait := runCheckpointCLI(t, b.ts.url, b.checkpoint, b.venue, t.TempDir())
	for _, p := range []struct{ payload, issuer string }{{nc.Payload, a.code}, {yCode, b.code}} {
		if l := checkpointDecision(t, in, lines, p.payload); l.Decision != healthcode.Admit || l.Issuer != p.issuer {
			t.Fatalf("B's gate: %+v", l)
		}
	}
	in.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	var cs struct{ Case struct{ ID int64 } }
	b.ts.call(t, "POST", "/api/v1/cases", b.tracer, map[string]any{"id_type": "resident_id",
		"id_number": residentID("330106", "1990-01-02", 70*2+1, true), "sample_date": today}, 201, &cs)
	tracePath := fmt.Sprintf("/api/v1/cases/%d/trace?purpose=cluster+at+the+station", cs.Case.ID)
	var tr struct {
		Foreign []healthcode.Contact `json:"foreign_contacts"`
	}
	b.ts.call(t, "POST", tracePath, b.tracer, map[string]any{}, 200, &tr)
	// The gate also saw A's and C's residents earlier (cross-verification):
	// both are foreign contacts; the A resident is the one B reports here.
	found := false
	for _, ct := range tr.Foreign {
		found = found || (ct.Subject == xExport.Pseudonym && ct.Issuer == a.code)
	}
	if !found {
		t.Fatalf("B's trace did not find the A resident %s: %+v", xExport.Pseudonym, tr.Foreign)
	}

	// A is down when B designates: the notice waits in B's outbox.
	a.ts.stop()
	designatePath := fmt.Sprintf("/api/v1/cases/%d/designate?purpose=cluster+at+the+station", cs.Case.ID)
	type designated struct {
		Designations []struct {
			Result, Region string
			NoticeID       string `json:"notice_id"`
		}
	}
	var des designated
	b.ts.call(t, "POST", designatePath, b.tracer, map[string]any{"subjects": []string{xExport.Pseudonym}}, 200, &des)
	if len(des.Designations) != 1 || des.Designations[0].Result != "notified" || des.Designations[0].Region != a.code || des.Designations[0].NoticeID == "" {
		t.Fatalf("designate: %+v", des)
	}
	noticeID := des.Designations[0].NoticeID
	type outbox struct {
		Notices []struct {
			NoticeID  string `json:"notice_id"`
			To        string
			Attempts  int
			LastError string `json:"last_error"`
			State     string
		}
	}
	outboxState := func() (state string, attempts int) {
		var ob outbox
		b.ts.call(t, "GET", "/api/v1/contact-notices", b.tracer, nil, 200, &ob)
		for _, n := range ob.Notices {
			if n.NoticeID == noticeID {
				return n.State, n.Attempts
			}
		}
		t.Fatalf("notice %s is not in B's outbox: %+v", noticeID, ob)
		return "", 0
	}
	eventually(t, "B tries A and fails while A is down", func() bool {
		st, n := outboxState()
		return st == "pending" && n >= 2
	})
	// Designating again queues nothing new: the same notice.
	b.ts.call(t, "POST", designatePath, b.tracer, map[string]any{"subjects": []string{xExport.Pseudonym}}, 200, &des)
	if des.Designations[0].NoticeID != noticeID {
		t.Errorf("designating again made notice %s, not %s", des.Designations[0].NoticeID, noticeID)
	}

	// A comes back; the notice arrives exactly once.
	a.start(t)
	eventually(t, "B delivers the notice", func() bool { st, _ := outboxState(); return st == "delivered" })
	type proposals struct {
		Proposals []struct {
			ID         int64
			ResidentID int64 `json:"resident_id"`
			Subject    string
			FromRegion string `json:"from_region"`
			NoticeID   string `json:"notice_id"`
			Venue      string
			State      string
		}
	}
	var ps proposals
	a.ts.call(t, "GET", "/api/v1/contact-proposals?state=all&purpose=notice+from+Shanghai", a.tracer, nil, 200, &ps)
	if len(ps.Proposals) != 1 || ps.Proposals[0].Subject != xExport.Pseudonym || ps.Proposals[0].FromRegion != b.code ||
		ps.Proposals[0].NoticeID != noticeID || ps.Proposals[0].Venue != b.name+"站" {
		t.Fatalf("A's proposals after the delivery: %+v", ps)
	}

	// The acknowledgement is lost (B forgets it delivered): B sends the
	// notice again, signed afresh, and A stores nothing new.
	_, before := outboxState()
	bdb, err := sql.Open("sqlite", filepath.Join(b.dir, "healthcode.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if _, err := bdb.Exec(`UPDATE contact_notice_outbox SET delivered_at = NULL, next_attempt_at = 0 WHERE notice_id = ?`, noticeID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B delivers the notice again", func() bool { st, n := outboxState(); return st == "delivered" && n > before })
	a.ts.call(t, "GET", "/api/v1/contact-proposals?state=all&purpose=notice+from+Shanghai", a.tracer, nil, 200, &ps)
	if len(ps.Proposals) != 1 {
		t.Fatalf("A's proposals after a redelivery: %+v", ps)
	}

	// A's tracer confirms: the resident is a close contact, yellow, with
	// the venue and region B in the reason, and notified.
	a.ts.call(t, "POST", fmt.Sprintf("/api/v1/contact-proposals/%d/confirm", ps.Proposals[0].ID), a.tracer, nil, 200, nil)
	var st statusBody
	a.ts.call(t, "GET", "/api/v1/me/status", xToken, nil, 200, &st)
	if st.Color != "yellow" || len(st.Reasons) != 1 || st.Reasons[0].Rule != "close_contact" ||
		!strings.Contains(st.Reasons[0].Message, "Shanghai站 (Shanghai 310100)") {
		t.Errorf("the A resident's status: %+v", st)
	}
	var ns struct{ Notifications []struct{ Kind string } }
	a.ts.call(t, "GET", "/api/v1/me/notifications", xToken, nil, 200, &ns)
	kinds := map[string]bool{}
	for _, n := range ns.Notifications {
		kinds[n.Kind] = true
	}
	if !kinds[healthcode.NotifyContactDesignated] {
		t.Errorf("the A resident was not notified: %+v", ns)
	}
	a.ts.call(t, "POST", fmt.Sprintf("/api/v1/contact-proposals/%d/confirm", ps.Proposals[0].ID), a.tracer, nil, 409, nil)
}
