package dcc_test

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"healthcode/internal/interop/dcc"
)

// FuzzVerifyHC1 hands Verify whatever a scanner may read. It must never
// panic, every check must be "ok", "skipped" or "failed: <why>", and it
// calls valid only a certificate whose every check passed.
//
//	go test -run '^$' -fuzz FuzzVerifyHC1 ./internal/interop/dcc/
func FuzzVerifyHC1(f *testing.F) {
	key := testKey(f)
	dsc := testDSC(f, key)
	v, err := dcc.NewVerifier([]*x509.Certificate{dsc})
	if err != nil {
		f.Fatal(err)
	}
	for _, iss := range issueAll(f, testIssuer(f, key, dsc)) {
		f.Add(iss.Payload)
		f.Add(iss.Payload[:len(iss.Payload)/2])
		f.Add(strings.Replace(iss.Payload, "HC1:", "HC2:", 1))
	}
	f.Add("HC1:")
	f.Add("HC1:6BF")
	f.Add("")
	at := issueNow.Add(time.Hour)
	f.Fuzz(func(t *testing.T, payload string) {
		r := v.Verify(payload, at)
		allOK := true
		for name, c := range r.Checks {
			switch {
			case c == "ok":
			case c == "skipped" || strings.HasPrefix(c, "failed: "):
				allOK = false
			default:
				t.Errorf("check %s is %q", name, c)
			}
		}
		if r.Valid && !allOK {
			t.Errorf("valid with checks %v", r.Checks)
		}
		if !r.Valid && r.Reason == "" {
			t.Errorf("rejected without a reason: %v", r.Checks)
		}
	})
}
