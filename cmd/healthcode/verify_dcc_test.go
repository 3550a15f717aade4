package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/interop/dcc"
)

// issueTestDCC issues a negative PCR test certificate with a fresh key and
// a self-signed DSC that may sign the given types, and returns the QR text
// and the DSC.
func issueTestDCC(t *testing.T, now time.Time, types ...dcc.Type) (string, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dsc, err := dcc.NewDSC(key, pkix.Name{Country: []string{"CN"}, CommonName: "DSC test"}, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0), types...)
	if err != nil {
		t.Fatal(err)
	}
	is, err := dcc.NewIssuer(dcc.IssuerConfig{Key: key, DSC: dsc, Country: "CN", Authority: "Hangzhou Municipal Health Commission"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := dcc.HolderFor(&healthcode.Resident{Name: "王小明", BirthDate: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC)}, "WANG, XIAOMING")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := is.IssueTest(h, &healthcode.TestResult{Type: healthcode.PCR, Result: healthcode.Negative,
		SampledAt: now.Add(-12 * time.Hour), ResultedAt: now.Add(-2 * time.Hour), Institution: "Xihu lab"}, now)
	if err != nil {
		t.Fatal(err)
	}
	return iss.Payload, dsc
}

func TestVerifyDCCCommand(t *testing.T) {
	now := time.Date(2022, 3, 20, 1, 30, 0, 0, time.UTC)
	payload, dsc := issueTestDCC(t, now, dcc.Test)
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "dsc.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: dsc.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(dsc.Raw)
	wrongPayload, _ := issueTestDCC(t, now, dcc.Vaccination) // its own DSC is not given
	png, err := code.RenderPNG(payload, "", 600)
	if err != nil {
		t.Fatal(err)
	}
	pngFile := filepath.Join(dir, "dcc.png")
	if err := os.WriteFile(pngFile, png, 0o600); err != nil {
		t.Fatal(err)
	}
	textFile := filepath.Join(dir, "dcc.txt")
	if err := os.WriteFile(textFile, []byte(payload+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		failed   string // a check that must have failed
	}{
		{"PEM file", []string{"verify", "--dsc", pemFile, "--at", "2022-03-20T09:31:00+08:00", payload}, 0, ""},
		{"base64 inline, +0200 clock", []string{"verify", "--dsc", b64, "--at", "2022-03-20T03:31:00+0200", payload}, 0, ""},
		{"picture", []string{"verify", "--dsc=" + b64, "--at", "2022-03-20 01:31:00", pngFile}, 0, ""},
		{"text file", []string{"verify", "--at", "2022-03-20T01:31:00.1234567Z", "--dsc", pemFile, textFile}, 0, ""},
		{"before issue", []string{"verify", "--dsc", pemFile, "--at", "2022-03-20T01:29:00Z", payload}, 1, dcc.CheckExpiry},
		{"unknown DSC", []string{"verify", "--dsc", pemFile, "--at", "2022-03-20T01:31:00Z", wrongPayload}, 1, dcc.CheckSignature},
		{"not a DCC", []string{"verify", "--dsc", pemFile, "HC2:ABC"}, 1, dcc.CheckPrefix},
	} {
		out, exit := runCLI(t, tc.args...)
		if exit != tc.wantCode {
			t.Errorf("%s: exit %d, want %d (%v)", tc.name, exit, tc.wantCode, out)
			continue
		}
		checks, _ := out["checks"].(map[string]any)
		if len(checks) != len(dcc.Checks) {
			t.Errorf("%s: checks %v", tc.name, out["checks"])
			continue
		}
		if tc.failed == "" {
			for _, c := range dcc.Checks {
				if checks[c] != dcc.OK {
					t.Errorf("%s: %s is %v", tc.name, c, checks[c])
				}
			}
			cert, _ := out["certificate"].(map[string]any)
			if out["valid"] != true || out["type"] != "test" || cert == nil || cert["dob"] != "1990-01-02" {
				t.Errorf("%s: %v", tc.name, out)
			}
			continue
		}
		if s, _ := checks[tc.failed].(string); !strings.HasPrefix(s, "failed: ") || out["valid"] != false {
			t.Errorf("%s: %s is %v, want failed (%v)", tc.name, tc.failed, checks[tc.failed], out)
		}
	}

	// The wrong extended key usage: a vaccination-only DSC signing a test.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	vdsc, err := dcc.NewDSC(key, pkix.Name{CommonName: "vaccination only"}, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0), dcc.Vaccination)
	if err != nil {
		t.Fatal(err)
	}
	is, err := dcc.NewIssuer(dcc.IssuerConfig{Key: key, DSC: vdsc, Country: "CN", Authority: "x"})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := dcc.HolderFor(&healthcode.Resident{Name: "John Smith", BirthDate: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC)}, "")
	iss, err := is.IssueTest(h, &healthcode.TestResult{Type: healthcode.Antigen, Result: healthcode.Negative, SampledAt: now}, now)
	if err != nil {
		t.Fatal(err)
	}
	out, exit := runCLI(t, "verify", "--dsc", base64.StdEncoding.EncodeToString(vdsc.Raw), "--at", "2022-03-20T02:00:00Z", iss.Payload)
	checks, _ := out["checks"].(map[string]any)
	if exit != 1 || checks[dcc.CheckKeyUsage] != "failed: the DSC may sign vaccination certificates, not test" || checks[dcc.CheckSignature] != dcc.OK {
		t.Errorf("wrong key usage: exit %d, %v", exit, out)
	}

	// Usage errors: exit 2.
	for _, args := range [][]string{
		{"verify", "--dsc", pemFile},
		{"verify", "--dsc", pemFile, payload, payload},
		{"verify", "--dsc", "not a certificate", payload},
		{"verify", "--dsc", filepath.Join(dir, "missing.pem"), payload},
		{"verify", "--dsc", pemFile, "--at", "tomorrow", payload},
	} {
		if _, exit := runCLI(t, args...); exit != 2 {
			t.Errorf("%v: exit %d, want 2", args, exit)
		}
	}
}

// TestVerifyDCCCommandVector verifies one of the EU test vectors, when the
// vectors are there, with its DSC and clock.
func TestVerifyDCCCommandVector(t *testing.T) {
	data, err := os.ReadFile("../../../shared/vectors/dcc/common/2DCode/raw/CO28.json")
	if err != nil {
		t.Skipf("the EU DCC test vectors are not there (%v): they live in ../shared/vectors/dcc beside the project", err)
	}
	var v struct {
		Prefix  string `json:"PREFIX"`
		TestCtx struct {
			Certificate     string `json:"CERTIFICATE"`
			ValidationClock string `json:"VALIDATIONCLOCK"`
		} `json:"TESTCTX"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	out, exit := runCLI(t, "verify", "--dsc", v.TestCtx.Certificate, "--at", v.TestCtx.ValidationClock, v.Prefix)
	if exit != 0 || out["valid"] != true {
		t.Fatalf("exit %d: %v", exit, out)
	}
	cert, _ := out["certificate"].(map[string]any)
	vacc, _ := cert["v"].([]any)
	if len(vacc) != 1 {
		t.Fatalf("certificate %v", cert)
	}
	entry := vacc[0].(map[string]any)
	if entry["tg_name"] != "COVID-19" || entry["mp_name"] == nil {
		t.Errorf("value-set names missing: %v", entry)
	}
}
