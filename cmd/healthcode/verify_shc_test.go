package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/interop/shc"
)

// TestVerifySHCIssued verifies a card we issue with `healthcode verify
// --jwks`, in each form the command takes.
func TestVerifySHCIssued(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &shc.Issuer{URL: "https://hc.hangzhou.example", Key: key}
	issued := time.Date(2022, 3, 10, 1, 30, 0, 0, time.UTC)
	card, err := is.Issue(shc.Records{
		Resident:     &healthcode.Resident{ID: 1, Name: "张三", BirthDate: time.Date(1985, 6, 12, 0, 0, 0, 0, time.UTC)},
		Vaccinations: []healthcode.Vaccination{{Product: "CoronaVac", Dose: 1, SeriesDoses: 2, Date: time.Date(2022, 2, 8, 0, 0, 0, 0, time.UTC)}},
	}, issued, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jwks, file := filepath.Join(dir, "jwks.json"), filepath.Join(dir, "card.smart-health-card")
	data, err := is.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jwks, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, card.File(), 0o600); err != nil {
		t.Fatal(err)
	}
	at := "2022-03-10T09:30:00+08:00"
	for _, input := range []string{card.QR[0], card.JWS, file} {
		out, code := runCLI(t, "verify", "--jwks", jwks, "--iss", is.URL, "--at", at, input)
		checks, _ := out["checks"].(map[string]any)
		patient, _ := out["patient"].(map[string]any)
		if code != 0 || out["valid"] != true || checks["signature"] != "ok" || checks["issuer"] != "ok" || patient["name"] != "张三" {
			t.Errorf("%.20s: exit %d, %v", input, code, out)
		}
	}

	// Without --iss, a JWKS file says nothing about the issuer.
	out, code := runCLI(t, "verify", "--jwks", jwks, "--at", at, card.JWS)
	if checks, _ := out["checks"].(map[string]any); code != 0 || checks["issuer"] != "skipped" {
		t.Errorf("without --iss: exit %d, %v", code, out)
	}
	// Before it was issued, and tampered with.
	out, code = runCLI(t, "verify", "--jwks", jwks, "--at", "2022-03-10", card.JWS)
	if checks, _ := out["checks"].(map[string]any); code != 1 || out["valid"] != false || !strings.HasPrefix(checks["not_before"].(string), "failed: ") {
		t.Errorf("before nbf: exit %d, %v", code, out)
	}
	tampered := card.JWS[:len(card.JWS)-20] + "A" + card.JWS[len(card.JWS)-19:]
	if tampered == card.JWS {
		tampered = card.JWS[:len(card.JWS)-20] + "B" + card.JWS[len(card.JWS)-19:]
	}
	out, code = runCLI(t, "verify", "--jwks", jwks, "--at", at, tampered)
	if checks, _ := out["checks"].(map[string]any); code != 1 || !strings.HasPrefix(checks["signature"].(string), "failed: ") {
		t.Errorf("tampered: exit %d, %v", code, out)
	}

	// Usage errors exit 2.
	for _, args := range [][]string{
		{"verify", "--jwks", jwks},
		{"verify", "--jwks", filepath.Join(dir, "missing.json"), card.JWS},
		{"verify", "--jwks", jwks, "--at", "next tuesday", card.JWS},
		{"verify", "--jwks", jwks, filepath.Join(dir, "missing.smart-health-card")},
		{"verify", "--jwks", jwks, dir},
		{"verify", "--jwks"},
	} {
		if _, code := runCLI(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args[1:], code)
		}
	}
}

// TestVerifySHCVectors runs the command on the SMART Health Cards spec's
// examples in ../shared/vectors/shc.
func TestVerifySHCVectors(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "vectors", "shc", "examples")
	jwks := filepath.Join(dir, "issuer", ".well-known", "jwks.json")
	if _, err := os.Stat(jwks); err != nil {
		t.Skipf("SMART Health Card vectors not found at %s (../shared/vectors/shc from the project root): %v", dir, err)
	}
	ex := func(name string) string { return filepath.Join(dir, "example-"+name) }
	iss := "https://spec.smarthealth.cards/examples/issuer"
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		check map[string]string // check: the start of its outcome
	}{
		{"example 00 QR", []string{ex("00-f-qr-code-numeric-value-0.txt")}, 0, map[string]string{"revocation": "ok", "issuer": "ok"}},
		{"example 01 file", []string{ex("01-e-file.smart-health-card")}, 0, map[string]string{"signature": "ok", "revocation": "skipped"}},
		{"example 02 chunks in any order", []string{ex("02-f-qr-code-numeric-value-2.txt"), ex("02-f-qr-code-numeric-value-0.txt"), ex("02-f-qr-code-numeric-value-1.txt")},
			0, map[string]string{"decode": "ok", "fhir_bundle": "ok"}},
		{"example 02 missing chunk", []string{ex("02-f-qr-code-numeric-value-2.txt"), ex("02-f-qr-code-numeric-value-0.txt")},
			1, map[string]string{"decode": "failed: missing chunk 2 of 3"}},
		{"example 03 revoked", []string{ex("03-d-jws.txt")}, 1, map[string]string{"expiry": "ok", "revocation": "failed: rid vwAjHdarZuc is on"}},
		{"example 03 expired and revoked", []string{"--at", "2024-07-01T00:00:00Z", ex("03-d-jws.txt")}, 1,
			map[string]string{"expiry": "failed: expired at 2024-06-21T16:19:24.657Z", "revocation": "failed: rid vwAjHdarZuc is on"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"verify", "--jwks", jwks, "--iss", iss, "--at", "1688169600"}, tc.args...)
			out, code := runCLI(t, args...)
			checks, _ := out["checks"].(map[string]any)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %v", code, tc.code, out)
			}
			for name, want := range tc.check {
				if got, _ := checks[name].(string); !strings.HasPrefix(got, want) {
					t.Errorf("%s: %q, want %q...", name, got, want)
				}
			}
		})
	}
}

func TestParseSHCTime(t *testing.T) {
	want := time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"2023-07-01T00:00:00Z", "2023-07-01T08:00:00+08:00", "2023-07-01T00:00:00", "2023-07-01", "1688169600", "1688169600.000"} {
		if got, err := parseSHCTime(s); err != nil || !got.Equal(want) {
			t.Errorf("parseSHCTime(%q) = %v, %v", s, got, err)
		}
	}
	if got, err := parseSHCTime("1687450764.656"); err != nil || got.Nanosecond() != 656e6 {
		t.Errorf("fractional seconds: %v, %v", got, err)
	}
	for _, s := range []string{"", "yesterday", "-5", "2023-13-01"} {
		if _, err := parseSHCTime(s); err == nil {
			t.Errorf("parseSHCTime(%q) accepted", s)
		}
	}
	if !shcRequested([]string{"--at", "x", "--jwks=f.json", "shc:/1"}) || !shcRequested([]string{"-jwks", "f"}) ||
		shcRequested([]string{"--trust", "t", "--", "--jwks"}) || shcRequested([]string{"--trust", "jwks"}) {
		t.Error("shcRequested")
	}
}
