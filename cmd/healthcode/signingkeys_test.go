package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

// TestSigningKeyRotation: after a rotation a code signed with the old key
// still verifies and new codes are signed with the new key; after the old
// key is revoked its codes are refused, saying so, and the new ones still
// verify. Checked through a restarted server each time.
func TestSigningKeyRotation(t *testing.T) {
	dir := t.TempDir()
	ts := startServerAt(t, dir, "127.0.0.1:0")
	_, before := enrollWithCode(t, ts, 41)
	ts.stop()

	keys := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(context.Background(), append([]string{"keys"}, append(args, "--data", dir)...), func(string) string { return "" }, nil, &out, &errb); err != nil {
			t.Fatalf("keys %v: %v: %s", args, err, errb.String())
		}
		return out.String()
	}
	m := regexp.MustCompile(`new signing key ([0-9a-f]+); key ([0-9a-f]+) retired`).FindStringSubmatch(keys("rotate-signing-key"))
	if m == nil {
		t.Fatal("rotate-signing-key did not name the keys")
	}
	oldKID := m[2]

	type verdict struct {
		Valid      bool
		RejectCode string `json:"reject_code"`
		Reason     string
	}
	verify := func(ts *testServer, payload string) verdict {
		var v verdict
		ts.call(t, "POST", "/api/v1/verify", "", map[string]string{"payload": payload}, 200, &v)
		return v
	}
	ts = startServerAt(t, dir, "127.0.0.1:0")
	if v := verify(ts, before); !v.Valid {
		t.Errorf("a code signed before the rotation: %+v", v)
	}
	var login struct{ Token string }
	ts.call(t, "POST", "/api/v1/login", "", map[string]string{"phone": "13700000041", "password": "long enough"}, 200, &login)
	var c struct{ Payload string }
	ts.call(t, "GET", "/api/v1/me/code", login.Token, nil, 200, &c)
	if c.Payload == before {
		t.Fatal("the code was not signed again after the rotation")
	}
	after := c.Payload
	ts.stop()

	// The current key cannot be revoked; the retired one can.
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"keys", "revoke-signing-key", "--data", dir, "--kid", m[1]}, func(string) string { return "" }, nil, &out, &errb); err == nil {
		t.Error("revoking the current key succeeded")
	}
	keys("revoke-signing-key", "--kid", oldKID)
	ts = startServerAt(t, dir, "127.0.0.1:0")
	if v := verify(ts, before); v.Valid || v.RejectCode != "key_not_valid" || !regexp.MustCompile(`revoked`).MatchString(v.Reason) {
		t.Errorf("a code of the revoked key: %+v", v)
	}
	if v := verify(ts, after); !v.Valid {
		t.Errorf("a code of the new key after the revocation: %+v", v)
	}
}
