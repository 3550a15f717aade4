package sqlstore

import (
	"strings"
	"testing"

	"healthcode"
)

func testTrustedPeers(t *testing.T, e *env) {
	if ps := must[[]healthcode.TrustedPeer](t)(e.db.ListTrustedPeers(e.ctx)); len(ps) != 0 {
		t.Fatalf("peers of a new store: %+v", ps)
	}
	a := &healthcode.TrustedPeer{Source: "https://hc.beijing.example/.well-known/healthcode/trust-list", Region: "110100",
		List: []byte("signed list 1"), ETag: `"1"`}
	if err := e.db.PutTrustedPeer(e.ctx, a); err != nil {
		t.Fatal(err)
	}
	a.List, a.ETag = []byte("signed list 2"), `"2"`
	if err := e.db.PutTrustedPeer(e.ctx, a); err != nil {
		t.Fatal(err)
	}
	b := &healthcode.TrustedPeer{Source: "/etc/healthcode/shanghai.jws", Region: "310100", List: []byte("x"), ETag: `"x"`}
	if err := e.db.PutTrustedPeer(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	ps := must[[]healthcode.TrustedPeer](t)(e.db.ListTrustedPeers(e.ctx))
	if len(ps) != 2 || ps[0].Source != b.Source || ps[1].Region != "110100" || string(ps[1].List) != "signed list 2" || ps[1].ETag != `"2"` {
		t.Errorf("peers: %+v", ps)
	}
}

// testTrustedPeerAudit: an official's adding and removing of a peer are in
// the audit log, with who did it; a refresh's new copy is not.
func testTrustedPeerAudit(t *testing.T, e *env) {
	admin := healthcode.Actor{Role: healthcode.RoleAdmin, TokenID: 3, Name: "admin on duty"}
	p := &healthcode.TrustedPeer{Source: "https://hc.wuhan.example/.well-known/healthcode/trust-list", Region: "420100", List: []byte("l"), ETag: `"a"`}
	if err := e.db.AddTrustedPeer(e.as(admin), p); err != nil {
		t.Fatal(err)
	}
	p.List, p.ETag = []byte("l2"), `"b"`
	if err := e.db.PutTrustedPeer(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.db.RemoveTrustedPeer(e.as(admin), "https://nowhere.example/"); healthcode.ErrorCode(err) != healthcode.ENOTFOUND {
		t.Errorf("removing a peer nobody trusts: %v", err)
	}
	if err := e.db.RemoveTrustedPeer(e.as(admin), p.Source); err != nil {
		t.Fatal(err)
	}
	if ps := must[[]healthcode.TrustedPeer](t)(e.db.ListTrustedPeers(e.ctx)); len(ps) != 0 {
		t.Errorf("peers after the removal: %+v", ps)
	}
	auditor := healthcode.Actor{Role: healthcode.RoleAuditor, TokenID: 9, Name: "auditor"}
	for _, action := range []string{healthcode.ActionTrustAdd, healthcode.ActionTrustRemove} {
		got := must[[]healthcode.AuditEntry](t)(e.db.ListAudit(e.ctx, auditor, healthcode.AuditFilter{Action: action}))
		if len(got) != 1 || got[0].ActorName != "admin on duty" || got[0].ActorRole != healthcode.RoleAdmin ||
			!strings.Contains(got[0].Detail, "420100") || !strings.Contains(got[0].Detail, p.Source) {
			t.Errorf("%s entries: %+v", action, got)
		}
	}
}
