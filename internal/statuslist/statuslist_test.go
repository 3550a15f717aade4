package statuslist_test

import (
	"bytes"
	"compress/zlib"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/statuslist"
	"healthcode/internal/trust"
)

// now is the moment the tests look lists up at.
var now = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

const maxAge = 15 * time.Minute

func testKey(tb testing.TB, seed string) ed25519.PrivateKey {
	tb.Helper()
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func pub(priv ed25519.PrivateKey) ed25519.PublicKey { return priv.Public().(ed25519.PublicKey) }

var (
	keyFrom = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	keyTo   = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

// hangzhou returns a trust list of region 330100 and its signing key.
func hangzhou(tb testing.TB) (*trust.List, ed25519.PrivateKey) {
	tb.Helper()
	priv := testKey(tb, "hangzhou")
	return &trust.List{Issuer: "330100", IssuedAt: keyFrom, Keys: []trust.Entry{
		trust.NewEntry(pub(priv), "330100", "Hangzhou", keyFrom, keyTo),
	}}, priv
}

// revokedList returns l with every key revoked at at (zero: at no stated
// time).
func revokedList(l *trust.List, at time.Time) *trust.List {
	c := *l
	c.Keys = append([]trust.Entry(nil), l.Keys...)
	for i := range c.Keys {
		c.Keys[i].Revoke(at)
	}
	return &c
}

// beijing returns a trust list of region 110100 and its signing key.
func beijing(tb testing.TB) (*trust.List, ed25519.PrivateKey) {
	tb.Helper()
	priv := testKey(tb, "beijing")
	return &trust.List{Issuer: "110100", IssuedAt: keyFrom, Keys: []trust.Entry{
		trust.NewEntry(pub(priv), "110100", "Beijing", keyFrom, keyTo),
	}}, priv
}

// sampleEntries has every state, and a gap at index 5.
func sampleEntries() []healthcode.StatusListEntry {
	return []healthcode.StatusListEntry{
		{Index: 0, Color: healthcode.Green},
		{Index: 1, Color: healthcode.Yellow},
		{Index: 2, Color: healthcode.Red},
		{Index: 3, Color: healthcode.Green, Revoked: true},
		{Index: 4, Color: healthcode.Green},
		{Index: 6, Color: healthcode.Red},
		{Index: 7, Color: healthcode.Yellow},
		{Index: 8, Color: healthcode.Green},
	}
}

var sampleStates = []statuslist.State{statuslist.Green, statuslist.Yellow, statuslist.Red, statuslist.Revoked,
	statuslist.Green, statuslist.Revoked, statuslist.Red, statuslist.Yellow, statuslist.Green}

func signed(tb testing.TB, l *statuslist.List, priv ed25519.PrivateKey) []byte {
	tb.Helper()
	data, err := l.Sign(priv)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return data
}

func parse(tb testing.TB, data []byte, keys code.KeyResolver) *statuslist.List {
	tb.Helper()
	l, err := statuslist.Parse(data, keys)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return l
}

// wantInvalid fails unless err is an EINVALID error whose message contains
// detail.
func wantInvalid(tb testing.TB, err error, detail string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("no error, want one about %q", detail)
	}
	if healthcode.ErrorCode(err) != healthcode.EINVALID {
		tb.Fatalf("error %v has code %s, want invalid", err, healthcode.ErrorCode(err))
	}
	if !strings.Contains(err.Error(), detail) {
		tb.Fatalf("error %q does not contain %q", err, detail)
	}
}

func TestRoundTrip(t *testing.T) {
	tl, priv := hangzhou(t)
	issued := now.Add(-time.Minute)
	data := signed(t, statuslist.Build("330100", issued, maxAge, sampleEntries()), priv)
	l := parse(t, data, tl)
	if l.Issuer != "330100" || !l.IssuedAt.Equal(issued) || l.MaxAge != maxAge || l.Size != len(sampleStates) {
		t.Fatalf("parsed %+v", l)
	}
	for i, want := range sampleStates {
		got, err := l.Lookup(i, now)
		if err != nil || got != want {
			t.Errorf("Lookup(%d) = %v, %v; want %v", i, got, err, want)
		}
	}
	// The JWS header.
	jws, err := jose.ParseSignedCompact(string(data), []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.Signatures[0].Protected
	if hdr.KeyID != hex.EncodeToString(code.KeyID(pub(priv))) || hdr.ExtraHeaders[jose.HeaderType] != statuslist.Type || hdr.Algorithm != "EdDSA" {
		t.Errorf("header %+v", hdr)
	}
	t.Logf("payload: %s", jws.UnsafePayloadWithoutVerification())
}

// TestRoundTripSizes covers every size modulo 4 (the padding of the last
// byte), the empty list, and each state in each position of a byte.
func TestRoundTripSizes(t *testing.T) {
	tl, priv := hangzhou(t)
	states := []healthcode.StatusListEntry{
		{Color: healthcode.Green}, {Color: healthcode.Yellow}, {Color: healthcode.Red}, {Revoked: true},
	}
	want := []statuslist.State{statuslist.Green, statuslist.Yellow, statuslist.Red, statuslist.Revoked}
	for size := 0; size <= 17; size++ {
		var entries []healthcode.StatusListEntry
		for i := 0; i < size; i++ {
			e := states[(i+size)%4]
			e.Index = i
			entries = append(entries, e)
		}
		l := parse(t, signed(t, statuslist.Build("330100", now, maxAge, entries), priv), tl)
		if l.Size != size {
			t.Fatalf("size %d: parsed size %d", size, l.Size)
		}
		for i := 0; i < size; i++ {
			if got, err := l.Lookup(i, now); err != nil || got != want[(i+size)%4] {
				t.Errorf("size %d: Lookup(%d) = %v, %v; want %v", size, i, got, err, want[(i+size)%4])
			}
		}
		if _, err := l.Lookup(size, now); !errors.Is(err, statuslist.ErrOutOfRange) {
			t.Errorf("size %d: Lookup(%d) error %v, want out of range", size, size, err)
		}
	}
}

func TestBuild(t *testing.T) {
	t.Run("duplicates: the most severe wins", func(t *testing.T) {
		l := statuslist.Build("330100", now, maxAge, []healthcode.StatusListEntry{
			{Index: 0, Color: healthcode.Red}, {Index: 0, Color: healthcode.Green},
			{Index: 1, Color: healthcode.Green}, {Index: 1, Color: healthcode.Yellow},
			{Index: 2, Revoked: true, Color: healthcode.Green}, {Index: 2, Color: healthcode.Green},
		})
		for i, want := range []statuslist.State{statuslist.Red, statuslist.Yellow, statuslist.Revoked} {
			if got, err := l.Lookup(i, now); err != nil || got != want {
				t.Errorf("Lookup(%d) = %v, %v; want %v", i, got, err, want)
			}
		}
	})
	t.Run("gaps are revoked", func(t *testing.T) {
		l := statuslist.Build("330100", now, maxAge, []healthcode.StatusListEntry{{Index: 70, Color: healthcode.Green}})
		if l.Size != 71 {
			t.Fatalf("size %d", l.Size)
		}
		for i := 0; i < 70; i++ {
			if got, _ := l.Lookup(i, now); got != statuslist.Revoked {
				t.Fatalf("Lookup(%d) = %v, want revoked", i, got)
			}
		}
		if got, _ := l.Lookup(70, now); got != statuslist.Green {
			t.Errorf("Lookup(70) = %v", got)
		}
	})
	_, priv := hangzhou(t)
	for _, tt := range []struct {
		name    string
		entries []healthcode.StatusListEntry
		detail  string
	}{
		{"negative index", []healthcode.StatusListEntry{{Index: -1, Color: healthcode.Green}}, "index -1"},
		{"huge index", []healthcode.StatusListEntry{{Index: statuslist.MaxEntries, Color: healthcode.Green}}, "index 67108864"},
		{"no colour", []healthcode.StatusListEntry{{Index: 0, Color: healthcode.Green}, {Index: 1}}, `entry 1 has colour ""`},
		{"bad colour", []healthcode.StatusListEntry{{Index: 0, Color: "blue"}}, `colour "blue"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := statuslist.Build("330100", now, maxAge, tt.entries)
			_, err := l.Sign(priv)
			wantInvalid(t, err, tt.detail)
			if s, err := l.Lookup(0, now); err == nil || s != statuslist.Unknown {
				t.Errorf("Lookup = %v, %v; want unknown and an error", s, err)
			}
		})
	}
	for _, tt := range []struct {
		name string
		l    *statuslist.List
		want string
	}{
		{"bad issuer", statuslist.Build("Hangzhou", now, maxAge, nil), "issuer"},
		{"no time", statuslist.Build("330100", time.Time{}, maxAge, nil), "issued_at"},
		{"no max age", statuslist.Build("330100", now, 0, nil), "max_age_seconds"},
		{"max age too long", statuslist.Build("330100", now, 32*24*time.Hour, nil), "max_age_seconds"},
		{"hand-made", &statuslist.List{Issuer: "330100", IssuedAt: now, MaxAge: maxAge, Size: 3}, "bits"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.l.Sign(priv)
			wantInvalid(t, err, tt.want)
		})
	}
	if _, err := statuslist.Build("330100", now, maxAge, nil).Sign(ed25519.PrivateKey("short")); err == nil {
		t.Error("Sign with a bad key: no error")
	}
}

func TestStale(t *testing.T) {
	tl, priv := hangzhou(t)
	issued := now.Add(-maxAge)
	l := parse(t, signed(t, statuslist.Build("330100", issued, maxAge, sampleEntries()), priv), tl)
	tests := []struct {
		at     time.Time
		stale  bool
		detail string
	}{
		{issued, false, ""},
		{issued.Add(maxAge - time.Nanosecond), false, ""},
		{issued.Add(maxAge), false, ""}, // exactly MaxAge old: still fresh
		{issued.Add(maxAge + time.Nanosecond), true, "status list is 15 minutes 1 second old, older than its limit of 15 minutes: check online"},
		{issued.Add(16 * time.Minute), true, "status list is 16 minutes old, older than its limit of 15 minutes: check online"},
		{issued.Add(25*time.Hour + 2*time.Minute), true, "status list is 1 day 1 hour 2 minutes old"},
		{issued.Add(-code.ClockSkew), false, ""},
		{issued.Add(-code.ClockSkew - time.Second), true, "in the future"},
	}
	for _, tt := range tests {
		s, err := l.Lookup(0, tt.at)
		if !tt.stale {
			if err != nil || s != statuslist.Green {
				t.Errorf("at %v: Lookup = %v, %v; want green", tt.at, s, err)
			}
			continue
		}
		if !errors.Is(err, statuslist.ErrStale) || s != statuslist.Unknown {
			t.Errorf("at %v: Lookup = %v, %v; want unknown, stale", tt.at, s, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.detail) {
			t.Errorf("at %v: error %q does not contain %q", tt.at, err, tt.detail)
		}
	}
}

func TestOutOfRange(t *testing.T) {
	tl, priv := hangzhou(t)
	l := parse(t, signed(t, statuslist.Build("330100", now, maxAge, sampleEntries()), priv), tl)
	for _, i := range []int{-1, l.Size, l.Size + 1, 1 << 40} {
		s, err := l.Lookup(i, now)
		if !errors.Is(err, statuslist.ErrOutOfRange) || errors.Is(err, statuslist.ErrStale) || s != statuslist.Unknown {
			t.Errorf("Lookup(%d) = %v, %v; want unknown, out of range", i, s, err)
		}
	}
	_, err := l.Lookup(l.Size, now)
	if want := "status index 9 is beyond the status list, which has 9 entries"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestTampered(t *testing.T) {
	tl, priv := hangzhou(t)
	data := signed(t, statuslist.Build("330100", now, maxAge, sampleEntries()), priv)
	// Flip characters in the header, the payload and the signature.
	dots := []int{bytes.IndexByte(data, '.'), bytes.LastIndexByte(data, '.')}
	for _, i := range []int{2, dots[0] / 2, dots[0] + 5, (dots[0] + dots[1]) / 2, dots[1] - 3, dots[1] + 4, len(data) - 5} {
		b := bytes.Clone(data)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if _, err := statuslist.Parse(b, tl); healthcode.ErrorCode(err) != healthcode.EINVALID {
			t.Errorf("flipping character %d: error %v, want invalid", i, err)
		}
	}
	// Make a red holder green, keeping the signature.
	parts := strings.Split(string(data), ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m["bits"] = compress(t, make([]byte, 3))
	forged, _ := json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(forged)
	_, err = statuslist.Parse([]byte(strings.Join(parts, ".")), tl)
	wantInvalid(t, err, "signature does not verify")
	// Trailing white space, as a file may have, is fine.
	parse(t, append(bytes.Clone(data), '\n'), tl)
}

func TestUntrusted(t *testing.T) {
	tl, priv := hangzhou(t)
	bl, bpriv := beijing(t)
	other := testKey(t, "not in any list")
	list := statuslist.Build("330100", now, maxAge, sampleEntries())

	// A key that shares the signer's kid but is another key.
	impostor := code.Key{KID: code.KeyID(pub(priv)), Region: "330100", Public: pub(other), NotBefore: keyFrom}
	// The right key, but of another region in the resolver.
	misfiled := code.Key{KID: code.KeyID(pub(priv)), Region: "110100", Public: pub(priv), NotBefore: keyFrom}
	// The right key, but valid only from after the list was issued.
	late := code.Key{KID: code.KeyID(pub(priv)), Region: "330100", Public: pub(priv), NotBefore: now.Add(time.Hour)}
	resolver := func(keys ...code.Key) code.KeyResolver {
		return code.KeyResolverFunc(func(kid []byte) []code.Key {
			var out []code.Key
			for _, k := range keys {
				if bytes.Equal(k.KID, kid) {
					out = append(out, k)
				}
			}
			return out
		})
	}
	tests := []struct {
		name   string
		data   []byte
		keys   code.KeyResolver
		detail string
	}{
		{"untrusted key", signed(t, list, other), tl, "which no trusted region has"},
		{"another region's trust list", signed(t, list, priv), bl, "which no trusted region has"},
		{"nil keys", signed(t, list, priv), nil, "which no trusted region has"},
		{"impostor with the kid", signed(t, list, priv), resolver(impostor), "signature does not verify"},
		{"impostor and the right key", signed(t, list, priv), resolver(impostor, tl.LookupKey(code.KeyID(pub(priv)))[0]), ""},
		{"issuer is not the key's region", signed(t, statuslist.Build("110100", now, maxAge, sampleEntries()), priv), tl,
			"signed by key " + hex.EncodeToString(code.KeyID(pub(priv))) + " of region 330100, not of the list's issuer 110100"},
		{"key filed under another region", signed(t, list, priv), resolver(misfiled), "of region 110100, not of the list's issuer 330100"},
		{"beijing signs for hangzhou", signed(t, list, bpriv), trust.Set{tl, bl}, "of region 110100, not of the list's issuer 330100"},
		{"key not valid at issue", signed(t, list, priv), resolver(late), "which is not valid then"},
		{"both trusted, right region", signed(t, list, priv), trust.Set{bl, tl}, ""},
		{"key revoked", signed(t, list, priv), revokedList(tl, now.Add(-time.Hour)), "of region 330100, and the region revoked it on 2026-11-23T07:00:00Z"},
		{"key revoked, no time", signed(t, list, priv), revokedList(tl, time.Time{}), "and the region has revoked it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := statuslist.Parse(tt.data, tt.keys)
			if tt.detail == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			wantInvalid(t, err, tt.detail)
		})
	}
}

// compress returns the base64url of the zlib compression of b.
func compress(tb testing.TB, b []byte) string {
	tb.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

// signJSON signs arbitrary content as a status list, as a careless or
// hostile issuer might.
func signJSON(tb testing.TB, priv ed25519.PrivateKey, typ string, payload []byte) []byte {
	tb.Helper()
	return signJSONKID(tb, priv, typ, hex.EncodeToString(code.KeyID(pub(priv))), payload)
}

func signJSONKID(tb testing.TB, priv ed25519.PrivateKey, typ, kid string, payload []byte) []byte {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(out)
}

// listJSON is the signed content with the given bits and size, and the
// other members as a good list has them; extra adds or replaces members
// (nil deletes).
func listJSON(tb testing.TB, bits string, size int64, extra map[string]any) []byte {
	tb.Helper()
	m := map[string]any{"issuer": "330100", "issued_at": now.Format(time.RFC3339), "max_age_seconds": 900, "size": size, "bits": bits}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestParseRejects(t *testing.T) {
	tl, priv := hangzhou(t)
	three := compress(t, []byte{0x1b, 0x00, 0x00}) // green yellow red revoked, then zeros
	sign := func(payload []byte) []byte { return signJSON(t, priv, statuslist.Type, payload) }
	var trailing bytes.Buffer
	{
		raw, _ := base64.RawURLEncoding.DecodeString(three)
		trailing.Write(raw)
		trailing.WriteByte(0)
	}
	trustList, err := trust.Sign(tl, priv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		data   []byte
		detail string
	}{
		{"reference", sign(listJSON(t, three, 12, nil)), ""},
		{"empty", nil, "it is empty"},
		{"blank", []byte(" \n"), "it is empty"},
		{"unsigned JSON", listJSON(t, three, 12, nil), "unsigned JSON"},
		{"oversized", bytes.Repeat([]byte("A"), statuslist.MaxSignedSize+1), "the limit is"},
		{"not a JWS", []byte("hello"), "not a compact JWS"},
		{"a trust list", trustList, `the JWS type (typ) is "healthcode-trust-list+jws"`},
		{"no typ", signJSON(t, priv, "", listJSON(t, three, 12, nil)), "the JWS type (typ)"},
		{"upper-case kid", signJSONKID(t, priv, statuslist.Type, "3348AB", listJSON(t, three, 12, nil)), "lower-case hex"},
		{"no kid", signJSONKID(t, priv, statuslist.Type, "", listJSON(t, three, 12, nil)), "key id (kid)"},
		{"long kid", signJSONKID(t, priv, statuslist.Type, strings.Repeat("ab", 17), listJSON(t, three, 12, nil)), "key id (kid)"},
		{"not JSON", sign([]byte("not json")), "not a status list"},
		{"JSON array", sign([]byte("[]")), "not a status list"},
		{"trailing JSON", sign(append(listJSON(t, three, 12, nil), []byte("{}")...)), "data after"},
		{"unknown member", sign(listJSON(t, three, 12, map[string]any{"colour": "green"})), "unknown field"},
		{"no issuer", sign(listJSON(t, three, 12, map[string]any{"issuer": nil})), "issuer: is missing"},
		{"null issued_at", sign([]byte(`{"issuer":"330100","issued_at":null,"max_age_seconds":900,"size":12,"bits":"` + three + `"}`)), "issued_at: is missing"},
		{"no bits", sign(listJSON(t, three, 12, map[string]any{"bits": nil})), "bits: is missing"},
		{"no size", sign(listJSON(t, three, 12, map[string]any{"size": nil})), "size: is missing"},
		{"no max age", sign(listJSON(t, three, 12, map[string]any{"max_age_seconds": nil})), "max_age_seconds: is missing"},
		{"bad issuer", sign(listJSON(t, three, 12, map[string]any{"issuer": "Hangzhou"})), "issuer"},
		{"zero max age", sign(listJSON(t, three, 12, map[string]any{"max_age_seconds": 0})), "max_age_seconds: is 0"},
		{"huge max age", sign(listJSON(t, three, 12, map[string]any{"max_age_seconds": int64(1) << 62})), "max_age_seconds"},
		{"negative size", sign(listJSON(t, three, -1, nil)), "size: is -1"},
		{"fractional size", sign(listJSON(t, three, 12, map[string]any{"size": 12.5})), "not a status list"},
		{"bad time", sign(listJSON(t, three, 12, map[string]any{"issued_at": "yesterday"})), "not a status list"},
		{"zero time", sign(listJSON(t, three, 12, map[string]any{"issued_at": "0001-01-01T00:00:00Z"})), "issued_at"},
		{"padded base64", sign(listJSON(t, three+"=", 12, nil)), "not base64url"},
		{"standard base64", sign(listJSON(t, "eJz+/w", 12, nil)), "not base64url"},
		{"not zlib", sign(listJSON(t, base64.RawURLEncoding.EncodeToString([]byte("raw bits")), 32, nil)), "not zlib"},
		{"raw deflate", sign(listJSON(t, base64.RawURLEncoding.EncodeToString([]byte{0x63, 0x60, 0x60, 0, 0}), 12, nil)), "not zlib"},
		{"too few bits", sign(listJSON(t, three, 13, nil)), "decompress to 3 bytes; size 13 needs 4"},
		{"too many bits", sign(listJSON(t, three, 8, nil)), "decompress to more than the 2 bytes"},
		{"cut short", sign(listJSON(t, three[:len(three)-4], 12, nil)), "bits"},
		{"bad checksum", sign(listJSON(t, func() string {
			raw, _ := base64.RawURLEncoding.DecodeString(three)
			raw[len(raw)-1] ^= 1
			return base64.RawURLEncoding.EncodeToString(raw)
		}(), 12, nil)), "bad zlib data"},
		{"bytes after the zlib data", sign(listJSON(t, base64.RawURLEncoding.EncodeToString(trailing.Bytes()), 12, nil)), "after the end of the zlib data"},
		{"padding bits set", sign(listJSON(t, compress(t, []byte{0x1b, 0x00, 0x01}), 11, nil)), "after the last entry are not zero"},
		{"padding bits set, size 9", sign(listJSON(t, compress(t, []byte{0, 0, 0x20}), 9, nil)), "after the last entry are not zero"},
		{"padding bits clear, size 9", sign(listJSON(t, compress(t, []byte{0, 0, 0xc0}), 9, nil)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := statuslist.Parse(tt.data, tl)
			if tt.detail == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			wantInvalid(t, err, tt.detail)
		})
	}
}

// TestZipBomb checks that Parse neither decompresses nor allocates much
// more than the declared size needs, whatever the compressed data holds.
func TestZipBomb(t *testing.T) {
	tl, priv := hangzhou(t)
	// 64 MiB of zeros compresses to about 64 KiB.
	bomb := compress(t, make([]byte, 64<<20))
	t.Logf("bomb: 64 MiB in %d base64 characters", len(bomb))
	tests := []struct {
		name    string
		size    int64
		bits    string
		detail  string
		maxHeap uint64 // bytes Parse may allocate
	}{
		{"size within limits, data far beyond", 100, bomb, "decompress to more than the 25 bytes", 4 << 20},
		{"largest size, data beyond", statuslist.MaxEntries, bomb, "decompress to more than the 16777216 bytes", 24 << 20},
		{"huge size claimed", 1 << 40, compress(t, []byte{0}), "size: is 1099511627776", 1 << 20},
		// A few bytes that claim the largest size: the bits are read as
		// they come, not allocated for the size up front (which cost 16 MiB).
		{"largest size, few bytes", statuslist.MaxEntries, compress(t, []byte{0}), "decompress to 1 bytes", 1 << 20},
		{"size just over the limit", statuslist.MaxEntries + 1, bomb, "size: is 67108865", 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := signJSON(t, priv, statuslist.Type, listJSON(t, tt.bits, tt.size, nil))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := statuslist.Parse(data, tl)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			wantInvalid(t, err, tt.detail)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("rejected in %v, allocating %d KiB", elapsed, alloc>>10)
			if alloc > tt.maxHeap+uint64(4*len(data)) {
				t.Errorf("Parse allocated %d bytes; want at most %d plus the input", alloc, tt.maxHeap)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tl, priv := hangzhou(t)
	data := signed(t, statuslist.Build("330100", now, maxAge, sampleEntries()), priv)
	dir := t.TempDir()
	file := filepath.Join(dir, "status-list.jws")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.jws")
	if err := os.WriteFile(big, bytes.Repeat([]byte("A"), statuslist.MaxSignedSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	var gotAccept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case statuslist.WellKnownPath:
			gotAccept = r.Header.Get("Accept")
			w.Header().Set("Content-Type", statuslist.MediaType)
			_, _ = w.Write(data)
		case "/tampered":
			_, _ = w.Write(data[:len(data)-2])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := t.Context()

	for _, src := range []string{file, srv.URL + statuslist.WellKnownPath} {
		l, err := statuslist.Load(ctx, src, tl)
		if err != nil {
			t.Fatalf("Load(%s): %v", src, err)
		}
		if s, err := l.Lookup(2, now); err != nil || s != statuslist.Red {
			t.Errorf("Load(%s): Lookup(2) = %v, %v", src, s, err)
		}
	}
	if gotAccept != statuslist.MediaType {
		t.Errorf("Accept = %q", gotAccept)
	}
	for _, tt := range []struct {
		src, detail string
		invalid     bool
	}{
		{filepath.Join(dir, "missing.jws"), "no such file", false},
		{big, "larger than the limit", false},
		{srv.URL + "/nothing", "404", false},
		{srv.URL + "/tampered", "signature does not verify", true},
	} {
		_, err := statuslist.Load(ctx, tt.src, tl)
		if err == nil || !strings.Contains(err.Error(), tt.detail) || !strings.Contains(err.Error(), tt.src) {
			t.Errorf("Load(%s): error %v, want one naming the source and %q", tt.src, err, tt.detail)
		}
		if got := healthcode.ErrorCode(err) == healthcode.EINVALID; got != tt.invalid {
			t.Errorf("Load(%s): error code %s", tt.src, healthcode.ErrorCode(err))
		}
	}
}

// sizeEntries makes n holders: 5% yellow, 0.5% red, 1% revoked, the rest
// green, scattered at random (with a fixed seed).
func sizeEntries(n int) []healthcode.StatusListEntry {
	r := rand.New(rand.NewPCG(1, 2))
	entries := make([]healthcode.StatusListEntry, n)
	for i := range entries {
		e := healthcode.StatusListEntry{Index: i, Color: healthcode.Green}
		switch x := r.IntN(1000); {
		case x < 50:
			e.Color = healthcode.Yellow
		case x < 55:
			e.Color = healthcode.Red
		case x < 65:
			e.Revoked = true
		}
		entries[i] = e
	}
	return entries
}

// TestListSize logs the size of signed lists and the time to make and read
// them:
//
//	go test -run TestListSize -v ./internal/statuslist/
func TestListSize(t *testing.T) {
	tl, priv := hangzhou(t)
	for _, n := range []int{10_000, 1_000_000} {
		entries := sizeEntries(n)
		start := time.Now()
		data := signed(t, statuslist.Build("330100", now, maxAge, entries), priv)
		made := time.Since(start)
		start = time.Now()
		l := parse(t, data, tl)
		read := time.Since(start)
		for _, i := range []int{0, n / 3, n - 1} {
			want := statuslist.Green
			switch {
			case entries[i].Revoked:
				want = statuslist.Revoked
			case entries[i].Color == healthcode.Yellow:
				want = statuslist.Yellow
			case entries[i].Color == healthcode.Red:
				want = statuslist.Red
			}
			if got, err := l.Lookup(i, now); err != nil || got != want {
				t.Errorf("n %d: Lookup(%d) = %v, %v; want %v", n, i, got, err, want)
			}
		}
		t.Logf("%9d holders: %8d bytes signed (%d bytes of bits before compression), Build+Sign %v, Parse %v",
			n, len(data), (n+3)/4, made.Round(time.Microsecond), read.Round(time.Microsecond))
		if len(data) > statuslist.MaxSignedSize {
			t.Errorf("%d holders: the list is over the limit", n)
		}
	}
}

func BenchmarkBuildSign(b *testing.B) {
	_, priv := hangzhou(b)
	for _, n := range []int{10_000, 1_000_000} {
		entries := sizeEntries(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := statuslist.Build("330100", now, maxAge, entries).Sign(priv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	tl, priv := hangzhou(b)
	for _, n := range []int{10_000, 1_000_000} {
		data := signed(b, statuslist.Build("330100", now, maxAge, sizeEntries(n)), priv)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := statuslist.Parse(data, tl); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	l := statuslist.Build("330100", now, maxAge, sizeEntries(1_000_000))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Lookup(i, now); err != nil {
			b.Fatal(err)
		}
		i = (i + 7919) % l.Size
	}
}
