package main

import (
	"bytes"
	"context"
	"fmt"
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
