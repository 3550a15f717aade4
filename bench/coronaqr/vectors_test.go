package coronaqr_test

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"healthcode/internal/interop/dcc"
)

// vectorsDir is the EU DCC test data, ../shared/vectors/dcc from the project
// root.
const vectorsDir = "../../../shared/vectors/dcc"

// oneVector is the vector of the single-certificate benchmarks, the one
// internal/interop/dcc's BenchmarkVerifyDCC uses.
const oneVector = "NL/2DCode/raw/000-NL-test.json"

// vector is a test vector that healthcode verifies as valid at its clock.
type vector struct {
	name    string
	payload string
	dsc     *x509.Certificate
	at      time.Time
}

// validVectors returns the vectors that healthcode's verifier accepts at
// their validation clocks (every check ok), in file order.
func validVectors(tb testing.TB) []vector {
	tb.Helper()
	if _, err := os.Stat(vectorsDir); err != nil {
		tb.Skipf("the EU DCC test vectors are not there (%v): they live in ../shared/vectors/dcc beside the project", err)
	}
	var files []string
	err := filepath.WalkDir(vectorsDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(files)
	var out []vector
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var raw struct {
			Prefix  string `json:"PREFIX"`
			TestCtx struct {
				Certificate     string `json:"CERTIFICATE"`
				ValidationClock string `json:"VALIDATIONCLOCK"`
			} `json:"TESTCTX"`
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		certs, err := dcc.ParseCertificates([]byte(raw.TestCtx.Certificate))
		if err != nil || len(certs) != 1 {
			continue
		}
		at, err := dcc.ParseTime(raw.TestCtx.ValidationClock)
		if err != nil {
			continue
		}
		if r := dcc.Verify(raw.Prefix, certs, at); !r.Valid {
			continue
		}
		name, _ := filepath.Rel(vectorsDir, f)
		out = append(out, vector{name: name, payload: raw.Prefix, dsc: certs[0], at: at})
	}
	if len(out) == 0 {
		tb.Skip("no valid vectors")
	}
	return out
}

func pick(tb testing.TB, vs []vector, name string) []vector {
	tb.Helper()
	for _, v := range vs {
		if v.name == name {
			return []vector{v}
		}
	}
	tb.Fatalf("no valid vector %s", name)
	return nil
}
