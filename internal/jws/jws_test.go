package jws

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func sign(t *testing.T, typ string, key ed25519.PrivateKey) []byte {
	t.Helper()
	out, err := Sign([]byte(`{"a":1}`), key, typ, "k1")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpen: a document of the right type opens (white space around it
// does not matter); each other kind of input is refused with its reason,
// named by the caller's invalid.
func TestOpen(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	invalid := func(format string, args ...any) error { return fmt.Errorf("doc: "+format, args...) }
	good := sign(t, "doc+jws", key)
	sig, hdr, err := Open(append(append([]byte(" \n"), good...), '\n'), 4096, "doc+jws", invalid)
	if err != nil || sig == nil || hdr.ExtraHeaders[jose.HeaderType] != "doc+jws" {
		t.Fatalf("Open: %v %v", err, hdr)
	}
	if p, err := sig.Verify(key.Public()); err != nil || string(p) != `{"a":1}` {
		t.Errorf("verify: %v %s", err, p)
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"too big", string(good), "doc: it is "},
		{"empty", " \n", "doc: it is empty"},
		{"unsigned JSON", `{"a":1}`, "doc: it is unsigned JSON"},
		{"not a JWS", "a.b", "doc: not a compact JWS signed with EdDSA"},
		{"another type", string(sign(t, "other+jws", key)), `doc: the JWS type (typ) is "other+jws", not "doc+jws"`},
	} {
		limit := 4096
		if tc.name == "too big" {
			limit = 10
		}
		if _, _, err := Open([]byte(tc.in), limit, "doc+jws", invalid); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
