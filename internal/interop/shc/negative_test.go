package shc_test

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"healthcode/internal/interop/shc"
)

// checkMap returns the checks by their JSON names.
func checkMap(tb testing.TB, c shc.Checks) map[string]string {
	tb.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func rawDeflate(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(data)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func zlibCompress(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(data)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// signJWS signs payload as is with ES256, kid and the extra header members.
func signJWS(tb testing.TB, priv *ecdsa.PrivateKey, kid string, header map[string]any, payload []byte) string {
	tb.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range header {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// withHeader replaces the protected header of jws, keeping its payload and
// signature.
func withHeader(jws, header string) string {
	_, rest, _ := strings.Cut(jws, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + rest
}

// flip changes the character at i of part (0 header, 1 payload, 2
// signature) of jws to another base64url character.
func flip(jws string, part, i int) string {
	parts := strings.Split(jws, ".")
	b := []byte(parts[part])
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	parts[part] = string(b)
	return strings.Join(parts, ".")
}

// examplePayload returns example 00's claims, changed by edit.
func examplePayload(tb testing.TB, edit func(claims map[string]any)) []byte {
	tb.Helper()
	var claims map[string]any
	if err := json.Unmarshal([]byte(readVector(tb, "example-00-c-jws-payload-minified.json")), &claims); err != nil {
		tb.Fatal(err)
	}
	if edit != nil {
		edit(claims)
	}
	data, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func bundleOf(claims map[string]any) map[string]any {
	return claims["vc"].(map[string]any)["credentialSubject"].(map[string]any)["fhirBundle"].(map[string]any)
}

func entry(claims map[string]any, i int) map[string]any {
	return bundleOf(claims)["entry"].([]any)[i].(map[string]any)
}

// TestNegative checks that broken, tampered and malformed cards fail the
// check that should catch them, with a reason.
func TestNegative(t *testing.T) {
	keys := exampleKeys(t)
	priv, kid := exampleSigner(t)
	jws := strings.TrimSpace(readVector(t, "example-00-d-jws.txt"))
	chunks := qrChunks(t, "02")
	def := map[string]any{"zip": "DEF"}
	signed := func(edit func(map[string]any)) string {
		return signJWS(t, priv, kid, def, rawDeflate(t, examplePayload(t, edit)))
	}
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		input []string
		check string // the check that must fail
		want  string // the start of its outcome
	}{
		// The signature and the header.
		{"tampered signature", []string{flip(jws, 2, 10)}, "signature", "failed: the ES256 signature does not verify with key " + kid},
		{"tampered payload", []string{flip(jws, 1, 40)}, "signature", "failed: the ES256 signature does not verify"},
		{"signed by another key under the issuer's kid", []string{signJWS(t, stranger, kid, def, rawDeflate(t, examplePayload(t, nil)))},
			"signature", "failed: the ES256 signature does not verify"},
		{"wrong kid", []string{withHeader(jws, `{"zip":"DEF","alg":"ES256","kid":"hKzCxh7p6uQnotakey"}`)}, "kid", "failed: kid hKzCxh7p6uQnotakey is not in the issuer's JWKS"},
		{"no kid", []string{withHeader(jws, `{"zip":"DEF","alg":"ES256"}`)}, "kid", "failed: the JWS header has no kid"},
		{"alg HS256", []string{withHeader(jws, `{"zip":"DEF","alg":"HS256","kid":"`+kid+`"}`)}, "alg", `failed: alg is "HS256", SMART Health Cards use ES256`},
		{"alg none", []string{withHeader(jws, `{"zip":"DEF","alg":"none","kid":"`+kid+`"}`)}, "alg", `failed: alg is "none"`},
		{"two parts", []string{jws[:strings.LastIndex(jws, ".")]}, "decode", "failed: a compact JWS has 3 parts separated by dots, this has 2"},
		{"header not JSON", []string{"bm90IGpzb24." + strings.SplitN(jws, ".", 2)[1]}, "decode", "failed: not a compact JWS"},

		// The numeric QR encoding and its chunks.
		{"odd digits", []string{"shc:/567629095"}, "decode", "failed: odd number of digits (9)"},
		{"pair above 77", []string{"shc:/5676990952"}, "decode", `failed: digits "99" at offset 4 make '\u0090', not a JWS character`},
		{"pair for a slash", []string{"shc:/567602"}, "decode", `failed: digits "02" at offset 4 make '/', not a JWS character`},
		{"not a digit", []string{"shc:/5676x0"}, "decode", "failed: not a digit at offset 4"},
		{"no digits", []string{"shc:/"}, "decode", "failed: no digits after shc:/"},
		{"missing chunk", []string{chunks[2], chunks[0]}, "decode", "failed: missing chunk 2 of 3"},
		{"one chunk of three", []string{chunks[1]}, "decode", "failed: missing chunk 1 of 3"},
		{"chunk twice", []string{chunks[0], chunks[1], chunks[1]}, "decode", "failed: chunk 2 of 3 given twice"},
		{"chunk beyond its count", []string{"shc:/4/3/5676"}, "decode", `failed: chunk header "4"/"3"/ is not C/N/`},
		{"chunks disagree", []string{chunks[0], "shc:/2/2/5676"}, "decode", "failed: chunks disagree on their count: 3 and 2"},
		{"whole card and a chunk", []string{shc.EncodeQR(jws)[0], chunks[0]}, "decode", "failed: 2 QR texts given but one is a whole card"},
		{"chunk with bad digits", []string{chunks[0], chunks[1][:len(chunks[1])-1], chunks[2]}, "decode", "failed: chunk 2 of 3: odd number of digits"},
		{"two JWSs", []string{jws, jws}, "decode", "failed: 2 inputs given"},
		{"file without credentials", []string{`{"verifiableCredential":[]}`}, "decode", "failed: .smart-health-card file without verifiableCredential"},
		{"file not JSON", []string{`{"verifiableCredential":`}, "decode", "failed: not a .smart-health-card file"},

		// The compression.
		{"not compressed", []string{signJWS(t, priv, kid, def, examplePayload(t, nil))}, "deflate", "failed: the payload is not raw DEFLATE"},
		{"zlib, not raw DEFLATE", []string{signJWS(t, priv, kid, def, zlibCompress(t, examplePayload(t, nil)))}, "deflate", "failed: the payload is not raw DEFLATE"},
		{"no zip header", []string{signJWS(t, priv, kid, nil, rawDeflate(t, examplePayload(t, nil)))}, "deflate", `failed: the header has zip "", want DEF`},
		{"zip GZIP", []string{signJWS(t, priv, kid, map[string]any{"zip": "GZIP"}, rawDeflate(t, examplePayload(t, nil)))}, "deflate", `failed: the header has zip "GZIP"`},
		{"bytes after the stream", []string{signJWS(t, priv, kid, def, append(rawDeflate(t, examplePayload(t, nil)), 0, 0))}, "deflate", "failed: the payload is not raw DEFLATE: 2 bytes after the end"},

		// The claims.
		{"no nbf", []string{signed(func(c map[string]any) { delete(c, "nbf") })}, "payload", "failed: no nbf claim"},
		{"nbf not a number", []string{signed(func(c map[string]any) { c["nbf"] = "soon" })}, "payload", "failed: the claims are not the JSON of a health card"},
		{"no health-card type", []string{signed(func(c map[string]any) { c["vc"].(map[string]any)["type"] = []string{"VerifiableCredential"} })},
			"payload", "failed: vc.type [\"VerifiableCredential\"] does not include https://smarthealth.cards#health-card"},
		{"rid too long", []string{signed(func(c map[string]any) { c["vc"].(map[string]any)["rid"] = strings.Repeat("A", 25) })}, "payload", "failed: vc.rid"},
		{"iss with a trailing slash", []string{signed(func(c map[string]any) { c["iss"] = exampleIssuer + "/" })}, "issuer", "failed: iss \"" + exampleIssuer + "/\" ends with a slash"},
		{"iss over http", []string{signed(func(c map[string]any) { c["iss"] = "http://spec.smarthealth.cards/examples/issuer" })}, "issuer", "failed: iss \"http://spec.smarthealth.cards/examples/issuer\" is not an https URL"},

		// The bundle.
		{"bundle not a collection", []string{signed(func(c map[string]any) { bundleOf(c)["type"] = "batch" })}, "fhir_bundle", `failed: bundle type "batch", want collection`},
		{"not a bundle", []string{signed(func(c map[string]any) { bundleOf(c)["resourceType"] = "Patient" })}, "fhir_bundle", `failed: fhirBundle has resourceType "Patient", want Bundle`},
		{"no entries", []string{signed(func(c map[string]any) { bundleOf(c)["entry"] = []any{} })}, "fhir_bundle", "failed: the bundle has no entries"},
		{"long fullUrl", []string{signed(func(c map[string]any) { entry(c, 1)["fullUrl"] = "Immunization/1" })}, "fhir_bundle", `failed: entry 1: fullUrl "Immunization/1" is not resource:N`},
		{"fullUrl twice", []string{signed(func(c map[string]any) { entry(c, 2)["fullUrl"] = "resource:1" })}, "fhir_bundle", "failed: entry 2: fullUrl resource:1 is used twice"},
		{"unexpected resource", []string{signed(func(c map[string]any) { entry(c, 1)["resource"] = map[string]any{"resourceType": "Basic"} })},
			"fhir_bundle", `failed: entry 1 (resource:1): resourceType "Basic" is not a kind health cards carry`},
		{"dangling reference", []string{signed(func(c map[string]any) {
			entry(c, 1)["resource"].(map[string]any)["patient"] = map[string]any{"reference": "resource:9"}
		})}, "fhir_bundle", "failed: reference resource:9 does not resolve to an entry"},
		{"immunization without vaccine", []string{signed(func(c map[string]any) { delete(entry(c, 1)["resource"].(map[string]any), "vaccineCode") })},
			"fhir_bundle", "failed: entry 1 (resource:1): an Immunization without a vaccineCode coding"},
		{"two patients", []string{signed(func(c map[string]any) { entry(c, 1)["resource"] = entry(c, 0)["resource"] })},
			"fhir_bundle", "failed: 2 Patient resources: a card is about one person"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyOne(t, keys, validClock, tc.input...)
			got := checkMap(t, r.Checks)[tc.check]
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("%s: %q, want %q...", tc.check, got, tc.want)
			}
			if r.Valid || !strings.Contains(r.Reason, tc.check+": failed: ") {
				t.Errorf("valid %v, reason %q", r.Valid, r.Reason)
			}
			if r.Checks.Signature != "ok" && (r.Patient != nil || r.Payload != nil) {
				t.Errorf("shows %v from a card whose signature did not verify", r.Patient)
			}
		})
	}

	// The same card re-signed as a control: everything above fails for
	// the reason given, not because re-signing broke something.
	if r := verifyOne(t, keys, validClock, signed(nil)); !r.Valid {
		t.Errorf("re-signed example 00: %s", r.Reason)
	}
	if r := verifyOne(t, keys, validClock, "SHC:/"+strings.TrimPrefix(shc.EncodeQR(jws)[0], "shc:/")); !r.Valid {
		t.Errorf("upper-case scheme: %s", r.Reason)
	}
}
