package sqlstore

import (
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
