package dcc_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"healthcode/internal/code"
	"healthcode/internal/interop/dcc"
)

// vectorsDir is the EU DCC test data (dgc-testdata), relative to this
// package: ../shared/vectors from the project root.
const vectorsDir = "../../../../shared/vectors/dcc"

// vector is one dgc-testdata file.
type vector struct {
	name     string
	Prefix   string `json:"PREFIX"`
	Picture  string `json:"2DCODE"`
	Picture2 string `json:"_2DCODE"`
	JSON     json.RawMessage
	TestCtx  struct {
		Certificate     string `json:"CERTIFICATE"`
		ValidationClock string `json:"VALIDATIONCLOCK"`
		Description     string `json:"DESCRIPTION"`
	} `json:"TESTCTX"`
	Expected map[string]bool `json:"EXPECTEDRESULTS"`
}

func loadVectors(tb testing.TB) []vector {
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
	var vs []vector
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var v vector
		if err := json.Unmarshal(data, &v); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		v.name, _ = filepath.Rel(vectorsDir, f)
		v.name = strings.TrimSuffix(strings.ReplaceAll(v.name, "/2DCode/raw/", "/"), ".json")
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		tb.Skipf("no test vectors in %s", vectorsDir)
	}
	return vs
}

// expectationChecks maps each expectation of the vectors that a single
// check answers to that check.
var expectationChecks = map[string]string{
	"EXPECTEDUNPREFIX":         dcc.CheckPrefix,
	"EXPECTEDB45DECODE":        dcc.CheckBase45,
	"EXPECTEDCOMPRESSION":      dcc.CheckDecompress,
	"EXPECTEDDECODE":           dcc.CheckCOSE,
	"EXPECTEDVALIDOBJECT":      dcc.CheckCOSE, // the CBOR is a CWT with a DCC
	"EXPECTEDVERIFY":           dcc.CheckSignature,
	"EXPECTEDEXPIRATIONCHECK":  dcc.CheckExpiry,
	"EXPECTEDKEYUSAGE":         dcc.CheckKeyUsage,
	"EXPECTEDSCHEMAVALIDATION": dcc.CheckSchema,
}

// outcome is what our verification says about one expectation: true when
// the step succeeded. ok is false when the expectation is not one we know.
func outcome(t *testing.T, v *vector, key string, r dcc.Result) (got bool, ok bool) {
	if check, found := expectationChecks[key]; found {
		return r.Checks[check] == dcc.OK, true
	}
	switch key {
	case "EXPECTEDVALIDJSON", "EXPECTEDENCODE":
		// The CBOR decodes to the vector's JSON: our decoding is the
		// inverse of the vector's encoding.
		return decodedMatchesJSON(t, v, r), true
	case "EXPTECTEDEXPIRED":
		// The first dgc-testdata README's name, so spelled, for what is
		// now EXPECTEDEXPIRATIONCHECK: "Check the EXP field for expiring
		// against the VALIDATIONCLOCK time"; true means the check passes.
		return r.Checks[dcc.CheckExpiry] == dcc.OK, true
	case "EXPECTEDRESULTS": // every step the vector tests succeeds: all of ours
		return r.Valid, true
	case "EXPECTEDPICTUREDECODE":
		pic := v.Picture
		if pic == "" {
			pic = v.Picture2
		}
		if pic == "" {
			return false, true
		}
		png, err := base64.StdEncoding.DecodeString(pic)
		if err != nil {
			return false, true
		}
		text, err := code.ReadQR(png)
		return err == nil && text == v.Prefix, true
	}
	return false, false
}

// decodedMatchesJSON reports whether the certificate we decoded equals the
// vector's JSON.
func decodedMatchesJSON(t *testing.T, v *vector, r dcc.Result) bool {
	if r.Certificate == nil {
		return false
	}
	if len(v.JSON) == 0 {
		return r.Checks[dcc.CheckCOSE] == dcc.OK
	}
	var want dcc.Certificate
	if err := json.Unmarshal(v.JSON, &want); err != nil {
		t.Logf("%s: the vector's JSON does not decode: %v", v.name, err)
		return false
	}
	got := *r.Certificate
	ignoreNames := cmpopts.IgnoreFields(dcc.VaccinationEntry{}, "DiseaseName", "VaccineTypeName", "ProductName", "ManufacturerName")
	ignoreTestNames := cmpopts.IgnoreFields(dcc.TestEntry{}, "DiseaseName", "TestTypeName", "ManufacturerName", "ResultName")
	ignoreRecNames := cmpopts.IgnoreFields(dcc.RecoveryEntry{}, "DiseaseName")
	if d := cmp.Diff(want, got, ignoreNames, ignoreTestNames, ignoreRecNames, cmpopts.EquateEmpty()); d != "" {
		t.Logf("%s: decoded certificate differs from the vector's JSON (-want +got):\n%s", v.name, d)
		return false
	}
	return true
}

// TestVectorsDCC runs every EU DCC test vector and compares each expectation
// it states with our result.
func TestVectorsDCC(t *testing.T) {
	vectors := loadVectors(t)
	var agree, disagree, known, expectations int
	usedKnown := map[string]bool{}
	for i := range vectors {
		v := &vectors[i]
		var certs []*x509.Certificate
		if v.TestCtx.Certificate != "" {
			c, err := dcc.ParseCertificates([]byte(v.TestCtx.Certificate))
			if err != nil {
				t.Errorf("%s: the vector's DSC: %v", v.name, err)
				continue
			}
			certs = c
		}
		at, err := dcc.ParseTime(v.TestCtx.ValidationClock)
		if err != nil {
			t.Errorf("%s: %v", v.name, err)
			continue
		}
		r := dcc.Verify(v.Prefix, certs, at)
		// A Verifier that has seen the payload before says the same.
		again := verifier(t, certs...)
		again.Verify(v.Prefix, at)
		if d := cmp.Diff(r, again.Verify(v.Prefix, at)); d != "" {
			t.Errorf("%s: verified again (-first +again):\n%s", v.name, d)
		}
		vectorAgrees, vectorKnown := true, false
		for _, key := range slices.Sorted(maps.Keys(v.Expected)) {
			want := v.Expected[key]
			got, ok := outcome(t, v, key, r)
			if !ok {
				t.Errorf("%s: unknown expectation %s", v.name, key)
				continue
			}
			expectations++
			if got == want {
				continue
			}
			if reason, isKnown := knownVectorErrors[v.name+" "+key]; isKnown {
				usedKnown[v.name+" "+key] = true
				vectorKnown = true
				t.Logf("%s: %s: known vector error (%s)", v.name, key, reason)
				continue
			}
			vectorAgrees = false
			t.Errorf("%s (%s): %s is %v, we say %v; checks %v", v.name, v.TestCtx.Description, key, want, got, r.Checks)
		}
		switch {
		case !vectorAgrees:
			disagree++
		case vectorKnown:
			known++
		default:
			agree++
		}
	}
	for k := range knownVectorErrors {
		if !usedKnown[k] {
			t.Errorf("known vector error %q no longer occurs: remove it from the table", k)
		}
	}
	t.Logf("EU DCC vectors: %d in all, %d agree, %d disagree, %d agree except for known vector errors (%d expectations compared)",
		len(vectors), agree, disagree, known, expectations)
}

// TestParseTimeVectorsDCC parses every validation clock of the vectors.
func TestParseTimeVectorsDCC(t *testing.T) {
	for _, v := range loadVectors(t) {
		if _, err := dcc.ParseTime(v.TestCtx.ValidationClock); err != nil {
			t.Errorf("%s: %v", v.name, err)
		}
	}
}
