package trust_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/trust"
)

var now = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func testKey(tb testing.TB, seed string) ed25519.PrivateKey {
	tb.Helper()
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

var (
	from  = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	until = time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
)

// revokedAt is when the leaked key of hangzhou was revoked.
var revokedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// hangzhou returns a list with the current key, an older key that has
// ended and a key revoked at revokedAt.
func hangzhou(tb testing.TB) (*trust.List, ed25519.PrivateKey) {
	tb.Helper()
	current := testKey(tb, "hangzhou 2025")
	old := trust.NewEntry(pub(testKey(tb, "hangzhou 2023")), "330100", "杭州市", from.AddDate(-2, 0, 0), from)
	revoked := trust.NewEntry(pub(testKey(tb, "hangzhou leaked")), "330100", "杭州市", from, until)
	revoked.Revoke(revokedAt)
	return &trust.List{
		Issuer:   "330100",
		IssuedAt: now.Add(-time.Hour),
		Keys: []trust.Entry{
			trust.NewEntry(pub(current), "330100", "杭州市", from, until),
			old,
			revoked,
		},
	}, current
}

func signList(tb testing.TB, l *trust.List, priv ed25519.PrivateKey) []byte {
	tb.Helper()
	data, err := trust.Sign(l, priv)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return data
}

func TestSignParseRoundTrip(t *testing.T) {
	l, priv := hangzhou(t)
	data := signList(t, l, priv)
	if n := bytes.Count(data, []byte(".")); n != 2 {
		t.Fatalf("not a compact JWS: %s", data)
	}
	got, err := trust.Parse(data, now)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if diff := cmp.Diff(l, got); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	// A trailing newline, as in a file, is fine.
	if _, err := trust.Parse(append(bytes.Clone(data), '\n'), now); err != nil {
		t.Errorf("Parse with a trailing newline: %v", err)
	}
}

// jwsParts splits a compact JWS and decodes its header and payload.
func jwsParts(tb testing.TB, data []byte) (header map[string]any, payload []byte, sig string) {
	tb.Helper()
	parts := strings.Split(string(data), ".")
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(h, &header); err != nil {
		tb.Fatal(err)
	}
	payload, err = base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	return header, payload, parts[2]
}

func joinJWS(tb testing.TB, header map[string]any, payload []byte, sig string) []byte {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + sig)
}

// signRaw signs payload as a compact JWS with any header, bypassing
// trust.Sign's checks.
func signRaw(tb testing.TB, priv ed25519.PrivateKey, kid, typ string, payload []byte) []byte {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(out)
}

func kidOf(k ed25519.PrivateKey) string {
	return trust.NewEntry(pub(k), "", "", time.Time{}, time.Time{}).KID
}

func TestParseRejects(t *testing.T) {
	l, priv := hangzhou(t)
	good := signList(t, l, priv)
	header, payload, sig := jwsParts(t, good)

	// The same list, with the issuer's key swapped for an attacker's.
	attacker := testKey(t, "attacker")
	tampered := bytes.Replace(payload, []byte(l.Keys[0].PublicKey), []byte(base64.RawURLEncoding.EncodeToString(pub(attacker))), 1)
	revokedSigner := testKey(t, "hangzhou leaked")
	outsider := testKey(t, "beijing")
	expiredKey := testKey(t, "hangzhou 2023")
	future := *l
	future.IssuedAt = now.Add(time.Hour)
	beijing := &trust.List{Issuer: "110100", IssuedAt: now, Keys: []trust.Entry{
		trust.NewEntry(pub(outsider), "110100", "北京市", from, until),
		trust.NewEntry(pub(priv), "330100", "杭州市", from, until),
	}}
	beijingJSON, _ := json.Marshal(beijing)
	listJSON, _ := json.Marshal(l)
	futureJSON, _ := json.Marshal(&future)
	noKeys := `{"issuer":"330100","issued_at":"2026-11-23T07:00:00Z","keys":[]}`
	// The signing key listed over and over: refused before any signature
	// check, which would otherwise run once per entry.
	crowded := *l
	for len(crowded.Keys) <= trust.MaxKeys {
		crowded.Keys = append(crowded.Keys, l.Keys[0])
	}
	crowdedJSON, _ := json.Marshal(&crowded)

	tests := []struct {
		name string
		data []byte
		want string // a substring of the error
	}{
		{"empty", nil, "empty"},
		{"not a JWS", []byte("hello"), "compact JWS"},
		{"unsigned JSON", listJSON, "unsigned JSON"},
		{"oversized", bytes.Repeat([]byte("a"), trust.MaxListSize+1), "limit"},
		{"tampered payload", joinJWS(t, header, tampered, sig), "does not verify"},
		{"tampered signature", []byte(string(good[:len(good)-4]) + "AAAA"), "does not verify"},
		{"signer not in the list", signRaw(t, outsider, kidOf(outsider), trust.Type, listJSON), "not in the list"},
		{"signer not in the list, kid of a listed key", signRaw(t, outsider, kidOf(priv), trust.Type, listJSON), "does not verify"},
		{"no kid", signRaw(t, priv, "", trust.Type, listJSON), "no key id"},
		{"wrong typ", signRaw(t, priv, kidOf(priv), "JWT", listJSON), "typ"},
		{"no typ", signRaw(t, priv, kidOf(priv), "", listJSON), "typ"},
		{"signed by a revoked key", signRaw(t, revokedSigner, kidOf(revokedSigner), trust.Type, listJSON), "revoked on 2026-03-01T12:00:00Z"},
		{"signed by an ended key", signRaw(t, expiredKey, kidOf(expiredKey), trust.Type, listJSON), "not valid now"},
		{"issued in the future", signRaw(t, priv, kidOf(priv), trust.Type, futureJSON), "future"},
		{"lists another region's key", signRaw(t, outsider, kidOf(outsider), trust.Type, beijingJSON), "region"},
		{"no keys", signRaw(t, priv, kidOf(priv), trust.Type, []byte(noKeys)), "not in the list"},
		{"not a list", signRaw(t, priv, kidOf(priv), trust.Type, []byte(`[1,2]`)), "not a trust list"},
		{"too many keys", signRaw(t, priv, kidOf(priv), trust.Type, crowdedJSON), "the limit is 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trust.Parse(tt.data, now)
			if err == nil {
				t.Fatalf("Parse accepted %+v", got)
			}
			if healthcode.ErrorCode(err) != healthcode.EINVALID {
				t.Errorf("error code %s, want invalid: %v", healthcode.ErrorCode(err), err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	l, _ := hangzhou(t)
	tests := []struct {
		name   string
		mutate func(*trust.List)
		field  string
	}{
		{"bad issuer", func(l *trust.List) { l.Issuer = "hz" }, "issuer"},
		{"no issue time", func(l *trust.List) { l.IssuedAt = time.Time{} }, "issued_at"},
		{"wrong kid", func(l *trust.List) { l.Keys[0].KID = "00000000" }, "keys[0]"},
		{"upper-case kid", func(l *trust.List) { l.Keys[0].KID = strings.ToUpper(l.Keys[0].KID) }, "keys[0]"},
		{"short key", func(l *trust.List) { l.Keys[0].PublicKey = "AAAA" }, "keys[0]"},
		{"padded key", func(l *trust.List) { l.Keys[0].PublicKey += "=" }, "keys[0]"},
		{"other alg", func(l *trust.List) { l.Keys[0].Alg = "ES256" }, "keys[0].alg"},
		{"other region", func(l *trust.List) { l.Keys[1].Region = "110100" }, "keys[1].region"},
		{"no start", func(l *trust.List) { l.Keys[0].NotBefore = time.Time{} }, "keys[0].not_before"},
		{"ends before it starts", func(l *trust.List) { l.Keys[0].NotAfter = l.Keys[0].NotBefore }, "keys[0].not_after"},
		{"duplicate key", func(l *trust.List) { l.Keys = append(l.Keys, l.Keys[0]) }, "keys[3]"},
		{"revocation time without revoked", func(l *trust.List) { l.Keys[0].RevokedAt = now }, "keys[0].revoked_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *l
			c.Keys = append([]trust.Entry(nil), l.Keys...)
			tt.mutate(&c)
			err := c.Validate()
			var he *healthcode.Error
			if !errors.As(err, &he) {
				t.Fatalf("Validate = %v, want an *healthcode.Error", err)
			}
			var fields []string
			for _, f := range he.Fields {
				fields = append(fields, f.Field)
			}
			if !contains(fields, tt.field) {
				t.Errorf("problems %v, want one for %s", he.Fields, tt.field)
			}
		})
	}
	if err := l.Validate(); err != nil {
		t.Errorf("Validate of a good list: %v", err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestSignRefuses(t *testing.T) {
	l, priv := hangzhou(t)
	if _, err := trust.Sign(l, testKey(t, "beijing")); err == nil {
		t.Error("Sign with a key that is not in the list: no error")
	}
	if _, err := trust.Sign(l, testKey(t, "hangzhou leaked")); err == nil {
		t.Error("Sign with a revoked key: no error")
	}
	bad := *l
	bad.Issuer = ""
	if _, err := trust.Sign(&bad, priv); err == nil {
		t.Error("Sign of an invalid list: no error")
	}
	if _, err := trust.Sign(l, ed25519.PrivateKey("short")); err == nil {
		t.Error("Sign with a bad key: no error")
	}
}

// TestLookupKeyVerifiesCodes checks the list as the code package's
// KeyResolver: codes signed with the current key verify, codes signed with
// the revoked key do not, and a Set trusts several regions.
func TestLookupKeyVerifiesCodes(t *testing.T) {
	l, priv := hangzhou(t)
	parsed, err := trust.Parse(signList(t, l, priv), now)
	if err != nil {
		t.Fatal(err)
	}
	claims := code.Claims{
		Subject: "ABCDEFGH", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(4 * time.Minute),
		Color: healthcode.Green, MaskedName: "张*丰", BirthYear: 1986, Kind: code.Phone,
	}
	sign := func(k ed25519.PrivateKey) string {
		p, err := code.NewSigner(k).Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	_, key, err := code.Verify(sign(priv), parsed, now)
	if err != nil {
		t.Fatalf("Verify with the list: %v", err)
	}
	if key.Region != "330100" || !key.NotBefore.Equal(from) || !key.NotAfter.Equal(until) || !bytes.Equal(key.Public, pub(priv)) {
		t.Errorf("key = %+v", key)
	}
	leakedKID := code.KeyID(pub(testKey(t, "hangzhou leaked")))
	if got := parsed.LookupKey(leakedKID); len(got) != 0 {
		t.Errorf("LookupKey of a revoked key = %+v", got)
	}
	if got := parsed.LookupRevokedKey(leakedKID); len(got) != 1 || !got[0].RevokedAt.Equal(revokedAt) {
		t.Errorf("LookupRevokedKey of a revoked key = %+v", got)
	}
	if got := parsed.LookupRevokedKey(code.KeyID(pub(priv))); len(got) != 0 {
		t.Errorf("LookupRevokedKey of an unrevoked key = %+v", got)
	}
	// A code signed with the revoked key is refused as such (see also
	// TestRevokedKey).
	_, _, err = code.Verify(sign(testKey(t, "hangzhou leaked")), parsed, now)
	if ve, ok := err.(*code.VerifyError); !ok || ve.Reason != code.KeyNotValid ||
		!strings.Contains(ve.Detail, "key revoked") || !strings.Contains(ve.Detail, "2026-03-01T12:00:00Z") {
		t.Errorf("code signed with a revoked key: %v, want key_not_valid saying it is revoked", err)
	}
	// A code signed with the ended key, issued now, is outside its validity.
	_, _, err = code.Verify(sign(testKey(t, "hangzhou 2023")), parsed, now)
	if ve, ok := err.(*code.VerifyError); !ok || ve.Reason != code.KeyNotValid {
		t.Errorf("code signed with an ended key: %v, want key_not_valid", err)
	}
	if got := parsed.LookupKey(nil); got != nil {
		t.Errorf("LookupKey(nil) = %v", got)
	}

	// Two regions.
	bj := testKey(t, "beijing")
	beijing := &trust.List{Issuer: "110100", IssuedAt: now, Keys: []trust.Entry{trust.NewEntry(pub(bj), "110100", "北京市", from, time.Time{})}}
	beijingParsed, err := trust.Parse(signList(t, beijing, bj), now)
	if err != nil {
		t.Fatal(err)
	}
	set := trust.Set{parsed, beijingParsed}
	for _, tc := range []struct {
		key    ed25519.PrivateKey
		region string
	}{{priv, "330100"}, {bj, "110100"}} {
		_, key, err := code.Verify(sign(tc.key), set, now)
		if err != nil || key.Region != tc.region {
			t.Errorf("Verify with the set: key %+v, error %v; want region %s", key, err, tc.region)
		}
	}
	if _, _, err := code.Verify(sign(bj), parsed, now); err == nil {
		t.Error("a Beijing code verified with the Hangzhou list alone")
	}
}

// TestRevokedKey checks revocation end to end: the list carries it, with
// or without a time; a code signed by a revoked key is rejected saying so,
// whether it claims to be issued before or after the revocation; and so is
// a code checked against a Set.
func TestRevokedKey(t *testing.T) {
	l, priv := hangzhou(t)
	leaked := testKey(t, "hangzhou leaked")
	data := signList(t, l, priv)

	// On the wire: "revoked" and "revoked_at" together, so that a reader
	// that knows only "revoked" (lists before revoked_at) reads the same.
	_, payload, _ := jwsParts(t, data)
	var wire struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(payload, &wire); err != nil {
		t.Fatal(err)
	}
	if k := wire.Keys[2]; k["revoked"] != true || k["revoked_at"] != "2026-03-01T12:00:00Z" {
		t.Errorf("revoked entry on the wire: %v", k)
	}
	if _, ok := wire.Keys[0]["revoked_at"]; ok {
		t.Errorf("unrevoked entry has revoked_at: %v", wire.Keys[0])
	}

	// The same list as one written before revoked_at: revoked, no time.
	noTime := *l
	noTime.Keys = append([]trust.Entry(nil), l.Keys...)
	noTime.Keys[2].RevokedAt = time.Time{}

	withTime, err := trust.Parse(data, now)
	if err != nil {
		t.Fatal(err)
	}
	withoutTime, err := trust.Parse(signList(t, &noTime, priv), now)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(iat time.Time) code.Claims {
		return code.Claims{Subject: "ABCDEFGH", IssuedAt: iat, ExpiresAt: iat.Add(400 * 24 * time.Hour),
			MaskedName: "张*丰", BirthYear: 1986, Kind: code.Paper, StatusIndex: 7}
	}
	before, err := code.NewSigner(leaked).Sign(claims(revokedAt.Add(-30 * 24 * time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	after, err := code.NewSigner(leaked).Sign(claims(now.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		payload string
		keys    code.KeyResolver
		detail  string
	}{
		{"issued before the revocation", before, withTime, "revoked it on 2026-03-01T12:00:00Z"},
		{"issued after the revocation", after, withTime, "revoked it on 2026-03-01T12:00:00Z"},
		{"list without revocation times", after, withoutTime, "has revoked it"},
		{"set of lists", after, trust.Set{withTime}, "revoked it on 2026-03-01T12:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := code.Check(tt.payload, tt.keys, now)
			if v.Valid || v.RejectCode != code.KeyNotValid || !strings.Contains(v.Reason, "key revoked") || !strings.Contains(v.Reason, tt.detail) {
				t.Errorf("verdict %+v, want key_not_valid saying the key was revoked (%s)", v, tt.detail)
			}
		})
	}

	// A resolver that does not know revocations hides the key entirely.
	hiding := code.KeyResolverFunc(withTime.LookupKey)
	if v := code.Check(after, hiding, now); v.RejectCode != code.UnknownIssuer {
		t.Errorf("verdict with a plain resolver: %+v, want unknown_issuer", v)
	}
}

func TestLoad(t *testing.T) {
	l, priv := hangzhou(t)
	data := signList(t, l, priv)
	ctx := context.Background()

	t.Run("file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "trust-list.jws")
		if err := os.WriteFile(path, append(bytes.Clone(data), '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := trust.Load(ctx, path, now)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Errorf("list (-want +got):\n%s", diff)
		}
		if _, err := trust.Load(ctx, filepath.Join(t.TempDir(), "missing"), now); err == nil {
			t.Error("Load of a missing file: no error")
		}
	})

	t.Run("http", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET "+trust.WellKnownPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", trust.MediaType)
			w.Write(data)
		})
		mux.HandleFunc("GET /tampered", func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Replace(data, []byte("."), []byte(".e30"), 1))
		})
		mux.HandleFunc("GET /huge", func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Repeat([]byte("a"), trust.MaxListSize+10))
		})
		mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		})
		srv := httptest.NewServer(mux)
		defer srv.Close()

		got, err := trust.Load(ctx, srv.URL+trust.WellKnownPath, now)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Errorf("list (-want +got):\n%s", diff)
		}
		for _, path := range []string{"/missing", "/tampered", "/huge"} {
			if _, err := trust.Load(ctx, srv.URL+path, now); err == nil {
				t.Errorf("Load %s: no error", path)
			}
		}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := trust.Load(short, srv.URL+"/slow", now); err == nil {
			t.Error("Load past the context deadline: no error")
		}
	})
}
