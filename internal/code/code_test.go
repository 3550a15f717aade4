package code_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dasio/base45"
	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/code"
)

// now is the moment the tests verify at.
var now = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// testKey returns a deterministic Ed25519 key named by seed.
func testKey(tb testing.TB, seed string) ed25519.PrivateKey {
	tb.Helper()
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

// trusted is a KeyResolver over a fixed set of keys.
type trusted []code.Key

func (t trusted) LookupKey(kid []byte) []code.Key {
	var out []code.Key
	for _, k := range t {
		if bytes.Equal(k.KID, kid) {
			out = append(out, k)
		}
	}
	return out
}

func trustKey(priv ed25519.PrivateKey, region string) code.Key {
	pub := priv.Public().(ed25519.PublicKey)
	return code.Key{
		KID:       code.KeyID(pub),
		Region:    region,
		Public:    pub,
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func phoneClaims(name string) code.Claims {
	return code.Claims{
		Subject:    "ABCDEFGH",
		IssuedAt:   now.Add(-time.Minute),
		ExpiresAt:  now.Add(4 * time.Minute),
		Color:      healthcode.Green,
		MaskedName: healthcode.MaskName(name),
		BirthYear:  1986,
		Kind:       code.Phone,
	}
}

func paperClaims(name string) code.Claims {
	return code.Claims{
		Subject:     "Z7Y6X5W4",
		IssuedAt:    now.Add(-30 * 24 * time.Hour),
		ExpiresAt:   now.Add(335 * 24 * time.Hour),
		MaskedName:  healthcode.MaskName(name),
		BirthYear:   1952,
		Kind:        code.Paper,
		StatusIndex: 123456,
	}
}

func sign(tb testing.TB, priv ed25519.PrivateKey, c code.Claims) string {
	tb.Helper()
	p, err := code.NewSigner(priv).Sign(c)
	if err != nil {
		tb.Fatalf("Sign(%+v): %v", c, err)
	}
	return p
}

// wantReason fails unless err is a *VerifyError with the given reason.
func wantReason(tb testing.TB, err error, reason string) *code.VerifyError {
	tb.Helper()
	var ve *code.VerifyError
	if !errors.As(err, &ve) {
		tb.Fatalf("error = %v (%T), want a *VerifyError with reason %s", err, err, reason)
	}
	if ve.Reason != reason {
		tb.Fatalf("reason = %s (%q), want %s", ve.Reason, ve.Detail, reason)
	}
	if ve.Error() == "" {
		tb.Fatalf("empty error message for reason %s", reason)
	}
	return ve
}

// cose returns the COSE bytes of a code.
func coseBytes(tb testing.TB, payload string) []byte {
	tb.Helper()
	b, err := base45.DecodeString(strings.TrimPrefix(payload, code.Prefix))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func encode(b []byte) string { return code.Prefix + base45.EncodeToString(b) }

func TestSignVerifyRoundTrip(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	tests := []struct {
		name   string
		claims code.Claims
	}{
		{"phone Chinese 3", phoneClaims("张三丰")},
		{"phone Chinese 2", phoneClaims("李四")},
		{"phone Latin", phoneClaims("John Smith")},
		{"phone yellow vaccinated", func() code.Claims {
			c := phoneClaims("王小明")
			c.Color, c.Vaccinated = healthcode.Yellow, true
			return c
		}()},
		{"phone red", func() code.Claims { c := phoneClaims("Émile Zola"); c.Color = healthcode.Red; return c }()},
		{"paper Chinese", paperClaims("欧阳娜娜")},
		{"paper Latin", paperClaims("Maria Garcia Lopez")},
		{"paper index 0", func() code.Claims { c := paperClaims("赵六"); c.StatusIndex = 0; return c }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sign(t, issuer, tt.claims)
			if !strings.HasPrefix(p, code.Prefix) {
				t.Fatalf("payload %q lacks the prefix", p)
			}
			got, key, err := code.Verify(p, keys, now)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := tt.claims
			want.IssuedAt, want.ExpiresAt = want.IssuedAt.UTC(), want.ExpiresAt.UTC()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			if key.Region != "330100" || !bytes.Equal(key.KID, code.NewSigner(issuer).KeyID()) {
				t.Errorf("key = %+v", key)
			}
			// A scanner's trailing line break is ignored.
			if _, _, err := code.Verify(p+"\r\n", keys, now); err != nil {
				t.Errorf("Verify with a trailing line break: %v", err)
			}
		})
	}
}

func TestSignIsDeterministic(t *testing.T) {
	issuer := testKey(t, "issuer")
	c := phoneClaims("张三丰")
	if a, b := sign(t, issuer, c), sign(t, issuer, c); a != b {
		t.Errorf("two signatures of the same claims differ:\n%s\n%s", a, b)
	}
}

func TestSignRejectsBadClaims(t *testing.T) {
	issuer := testKey(t, "issuer")
	tests := []struct {
		name   string
		mutate func(*code.Claims)
	}{
		{"short subject", func(c *code.Claims) { c.Subject = "ABC" }},
		{"lower-case subject", func(c *code.Claims) { c.Subject = "abcdefgh" }},
		{"subject with 1", func(c *code.Claims) { c.Subject = "ABCDEFG1" }},
		{"no colour", func(c *code.Claims) { c.Color = "" }},
		{"bad colour", func(c *code.Claims) { c.Color = "blue" }},
		{"no kind", func(c *code.Claims) { c.Kind = "" }},
		{"no name", func(c *code.Claims) { c.MaskedName = "" }},
		{"control in name", func(c *code.Claims) { c.MaskedName = "A\nB" }},
		{"long name", func(c *code.Claims) { c.MaskedName = strings.Repeat("長", 70) }},
		{"birth year 1800", func(c *code.Claims) { c.BirthYear = 1800 }},
		{"birth year in the future", func(c *code.Claims) { c.BirthYear = 2030 }},
		{"expires before issue", func(c *code.Claims) { c.ExpiresAt = c.IssuedAt }},
		{"no times", func(c *code.Claims) { c.IssuedAt, c.ExpiresAt = time.Time{}, time.Time{} }},
		{"phone with index", func(c *code.Claims) { c.StatusIndex = 3 }},
		{"paper with colour", func(c *code.Claims) { c.Kind = code.Paper }},
		{"paper with a test", func(c *code.Claims) {
			*c = paperClaims("张三丰")
			c.NegativeTestAt = c.IssuedAt.Add(-time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := phoneClaims("张三丰")
			tt.mutate(&c)
			if p, err := code.NewSigner(issuer).Sign(c); err == nil {
				t.Errorf("Sign(%+v) = %q, want an error", c, p)
			}
		})
	}
	if _, err := code.NewSigner(ed25519.PrivateKey("short")).Sign(phoneClaims("李四")); err == nil {
		t.Error("Sign with a bad key: no error")
	}
}

func TestVerifyRejects(t *testing.T) {
	issuer := testKey(t, "issuer")
	other := testKey(t, "other region")
	keys := trusted{trustKey(issuer, "330100")}
	good := sign(t, issuer, phoneClaims("张三丰"))

	// A key that shares the issuer's kid but is not the issuer's key.
	impostor := trustKey(other, "110100")
	impostor.KID = code.KeyID(issuer.Public().(ed25519.PublicKey))

	expired := phoneClaims("张三丰")
	expired.IssuedAt, expired.ExpiresAt = now.Add(-10*time.Minute), now.Add(-5*time.Minute)
	expiresNow := phoneClaims("张三丰")
	expiresNow.ExpiresAt = now
	future := phoneClaims("张三丰")
	future.IssuedAt, future.ExpiresAt = now.Add(3*time.Minute), now.Add(8*time.Minute)
	slightlyAhead := phoneClaims("张三丰")
	slightlyAhead.IssuedAt, slightlyAhead.ExpiresAt = now.Add(90*time.Second), now.Add(6*time.Minute)
	paperBeforeKey := paperClaims("张三丰")
	paperBeforeKey.IssuedAt = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name    string
		payload string
		keys    code.KeyResolver
		reason  string // "" means accepted
		detail  string // a substring of the message
	}{
		{"good", good, keys, "", ""},
		{"empty", "", keys, code.NotACode, "empty"},
		{"hello", "hello", keys, code.NotACode, "HQ1:"},
		{"web address", "https://example.org/code?id=1", keys, code.NotACode, "web address"},
		{"EU certificate", "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOOP-IB", keys, code.NotACode, "HC1:"},
		{"SMART Health Card", "shc:/56762909524320603460292437404460", keys, code.NotACode, "SMART"},
		{"other version", "HQ2:6BFOXN*TS0BI$ZDFRH", keys, code.NotACode, "HQ2:"},
		{"lower case", strings.ToLower(good), keys, code.NotACode, "hq1:"},
		{"bad base45 character", good[:20] + "!" + good[21:], keys, code.Malformed, "character 20"},
		{"lower-case base45", code.Prefix + "6bfoxn", keys, code.Malformed, "character 5"},
		{"prefix only", code.Prefix, keys, code.Malformed, "byte 0"},
		{"oversized", code.Prefix + strings.Repeat("0", code.MaxPayloadLen), keys, code.Malformed, "1028 characters"},
		{"expired", sign(t, issuer, expired), keys, code.Expired, "expired at 2026-11-23T07:55:00Z"},
		{"expires now", sign(t, issuer, expiresNow), keys, code.Expired, "expired at 2026-11-23T08:00:00Z"},
		{"not yet valid", sign(t, issuer, future), keys, code.NotYetValid, "not valid until 2026-11-23T08:03:00Z"},
		{"within clock skew", sign(t, issuer, slightlyAhead), keys, "", ""},
		{"unknown kid", good, trusted{trustKey(other, "110100")}, code.UnknownIssuer, "unknown issuer"},
		{"no trusted keys", good, trusted{}, code.UnknownIssuer, "unknown issuer"},
		{"kid resolves to another key", good, trusted{impostor}, code.BadSignature, "bad signature"},
		{"kid resolves to two keys, one right", good, trusted{impostor, trustKey(issuer, "330100")}, "", ""},
		{"signed by another key with the issuer's kid", func() string {
			// Sign with other, then put the issuer's kid in: the kid is signed,
			// so re-sign over the forged header.
			return forgeKID(t, other, code.KeyID(issuer.Public().(ed25519.PublicKey)), phoneClaims("张三丰"))
		}(), keys, code.BadSignature, "bad signature"},
		{"key not valid at issue", sign(t, issuer, paperBeforeKey), keys, code.KeyNotValid, "2024-06-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := code.Verify(tt.payload, tt.keys, now)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			ve := wantReason(t, err, tt.reason)
			if !strings.Contains(ve.Error(), tt.detail) {
				t.Errorf("message %q does not contain %q", ve.Error(), tt.detail)
			}
		})
	}
}

// forgeKID signs claims with priv but labels the code with kid.
func forgeKID(tb testing.TB, priv ed25519.PrivateKey, kid []byte, c code.Claims) string {
	tb.Helper()
	real := coseBytes(tb, sign(tb, priv, c))
	realKID := code.KeyID(priv.Public().(ed25519.PublicKey))
	i := bytes.Index(real, realKID)
	if i < 0 {
		tb.Fatal("kid not found in the protected header")
	}
	forged := bytes.Clone(real)
	copy(forged[i:], kid)
	return encode(forged)
}

// TestVerifyTampered flips each byte of the signed content (the protected
// header and the claims) in turn: every change must be rejected, and a
// change in the claims must be a bad signature.
func TestVerifyTampered(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	raw := coseBytes(t, sign(t, issuer, phoneClaims("张三丰")))
	// raw: 84, 4a <10-byte protected>, a0, 58 <len> <claims>, 58 40 <sig>
	claimsStart, claimsEnd := 1+1+int(raw[1]&0x1f)+1+2, len(raw)-66
	if raw[claimsStart-2] != 0x58 || int(raw[claimsStart-1]) != claimsEnd-claimsStart {
		t.Fatalf("unexpected layout % x", raw)
	}
	for i := 0; i < len(raw); i++ {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(raw)
			b[i] ^= mask
			_, _, err := code.Verify(encode(b), keys, now)
			if err == nil {
				t.Fatalf("flipping byte %d with %02x: accepted", i, mask)
			}
			var ve *code.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("flipping byte %d: %T %v", i, err, err)
			}
			if i >= claimsStart && i < claimsEnd || i >= len(raw)-64 {
				if ve.Reason != code.BadSignature {
					t.Errorf("flipping byte %d (in the claims or signature) with %02x: reason %s (%s), want bad_signature", i, mask, ve.Reason, ve.Detail)
				}
			}
		}
	}
}

func TestVerifyTruncated(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	good := sign(t, issuer, phoneClaims("John Smith"))
	for n := len(code.Prefix); n < len(good); n++ {
		_, _, err := code.Verify(good[:n], keys, now)
		ve := wantReason(t, err, code.Malformed)
		if ve.Offset < 0 {
			t.Errorf("truncated to %d: no offset in %q", n, ve.Detail)
		}
	}
	// Cut in the middle of each part of the COSE structure, on whole bytes.
	raw := coseBytes(t, good)
	for _, n := range []int{0, 1, 5, 12, 13, 20, len(raw) - 65, len(raw) - 30, len(raw) - 1} {
		_, _, err := code.Verify(encode(raw[:n]), keys, now)
		ve := wantReason(t, err, code.Malformed)
		if n > 0 && ve.Offset != n {
			t.Errorf("truncated to %d bytes: offset %d (%s), want %d", n, ve.Offset, ve.Detail, n)
		}
	}
	// Extra bytes after the signature.
	_, _, err := code.Verify(encode(append(bytes.Clone(raw), 0)), keys, now)
	if ve := wantReason(t, err, code.Malformed); ve.Offset != len(raw) {
		t.Errorf("extra byte: offset %d, want %d", ve.Offset, len(raw))
	}
}

// TestVerifyStructure feeds hand-made COSE structures that are well signed
// where that matters but wrong in one respect.
func TestVerifyStructure(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	raw := coseBytes(t, sign(t, issuer, phoneClaims("李四")))
	tests := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"tagged", append([]byte{0xd2}, raw...), code.Malformed},
		{"map instead of array", append([]byte{0xa2}, raw[1:]...), code.Malformed},
		{"3-element array", append([]byte{0x83}, raw[1:]...), code.Malformed},
		{"indefinite array", append([]byte{0x9f}, raw[1:]...), code.Malformed},
		{"garbage", []byte("garbage"), code.Malformed},
		{"single zero byte", []byte{0}, code.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := code.Verify(encode(tt.data), keys, now)
			wantReason(t, err, tt.reason)
		})
	}
}

// TestVerifyErrorTypedNil makes sure a successful Verify returns a nil
// error interface, not a typed nil.
func TestVerifyErrorTypedNil(t *testing.T) {
	issuer := testKey(t, "issuer")
	_, _, err := code.Verify(sign(t, issuer, phoneClaims("李四")), trusted{trustKey(issuer, "330100")}, now)
	if err != nil {
		t.Fatalf("err = %#v", err)
	}
}

// TestPayloadSize logs the size of typical codes and fails if a typical
// phone code without a negative test needs a QR code larger than version 7
// at level M. Codes with a test are only logged.
func TestPayloadSize(t *testing.T) {
	issuer := testKey(t, "issuer")
	tests := []struct {
		name   string
		claims code.Claims
		maxVer int // 0: only logged
	}{
		{"phone, 3-character Chinese name", phoneClaims("张三丰"), 7},
		{"phone, 2-character Chinese name", phoneClaims("李四"), 7},
		{"phone, John Smith", phoneClaims("John Smith"), 7},
		{"phone, John Smith, red, vaccinated", func() code.Claims {
			c := phoneClaims("John Smith")
			c.Color, c.Vaccinated = healthcode.Red, true
			return c
		}(), 7},
		{"phone, long Latin name", phoneClaims("Maximilian Alexander Fitzgerald-Montgomery"), 0},
		{"paper, 3-character Chinese name", paperClaims("张三丰"), 0},
		{"paper, 2-character Chinese name", paperClaims("李四"), 0},
		{"paper, John Smith", paperClaims("John Smith"), 0},
		{"paper, long Latin name", paperClaims("Maximilian Alexander Fitzgerald-Montgomery"), 0},
		// With a negative test (claim -7): logged only. Under 24 hours the
		// claim takes 2 bytes, from 24 to 255 hours 3.
		{"phone, 3-character Chinese name, test 20 h", withTest(phoneClaims("张三丰"), 20*time.Hour), 0},
		{"phone, 3-character Chinese name, test 48 h", withTest(phoneClaims("张三丰"), 48*time.Hour), 0},
		{"phone, 2-character Chinese name, test 48 h", withTest(phoneClaims("李四"), 48*time.Hour), 0},
		{"phone, John Smith, test 20 h", withTest(phoneClaims("John Smith"), 20*time.Hour), 0},
		{"phone, John Smith, test 48 h", withTest(phoneClaims("John Smith"), 48*time.Hour), 0},
		{"phone, long Latin name, test 48 h", withTest(phoneClaims("Maximilian Alexander Fitzgerald-Montgomery"), 48*time.Hour), 0},
	}
	for _, tt := range tests {
		p := sign(t, issuer, tt.claims)
		v, err := code.QRVersion(p)
		if err != nil {
			t.Fatalf("%s: QRVersion: %v", tt.name, err)
		}
		t.Logf("%-46s %-22q %3d characters (%3d bytes)  QR version %d-M", tt.name, tt.claims.MaskedName, len(p), len(coseBytes(t, p)), v)
		if tt.maxVer > 0 && v > tt.maxVer {
			t.Errorf("%s: %d characters need QR version %d at level M; the target is %d", tt.name, len(p), v, tt.maxVer)
		}
	}
}

// TestVerifyConcurrent verifies codes from many goroutines; run with -race.
func TestVerifyConcurrent(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	codes := []string{sign(t, issuer, phoneClaims("张三丰")), sign(t, issuer, paperClaims("John Smith"))}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for i := 0; i < 20 && err == nil; i++ {
				_, _, err = code.Verify(codes[(g+i)%2], keys, now)
			}
			errs <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if _, _, err := code.Verify(codes[0], nil, now); err == nil {
		t.Error("Verify with nil keys: no error")
	} else {
		wantReason(t, err, code.UnknownIssuer)
	}
}

// signRaw signs arbitrary claims bytes under an arbitrary protected header,
// as a careless or hostile issuer might.
func signRaw(tb testing.TB, priv ed25519.PrivateKey, protected map[any]any, unprotected []byte, claims []byte) string {
	tb.Helper()
	prot, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		tb.Fatal(err)
	}
	protBytes, err := prot.Marshal(protected)
	if err != nil {
		tb.Fatal(err)
	}
	tbs, err := cbor.Marshal([]any{"Signature1", protBytes, []byte{}, claims})
	if err != nil {
		tb.Fatal(err)
	}
	sig := ed25519.Sign(priv, tbs)
	msg, err := cbor.Marshal([]any{protBytes, cbor.RawMessage(unprotected), claims, sig})
	if err != nil {
		tb.Fatal(err)
	}
	return encode(msg)
}

// TestVerifyCrafted checks codes that are well signed but break the layout.
func TestVerifyCrafted(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	kid := code.KeyID(issuer.Public().(ed25519.PublicKey))
	hdr := map[any]any{1: -8, 4: kid}
	iat, exp := now.Add(-time.Minute).Unix(), now.Add(4*time.Minute).Unix()
	good := map[int]any{6: iat, 4: exp, -1: []byte{1, 2, 3, 4, 5}, -2: 0, -3: "张*丰", -4: 1986}
	with := func(k int, v any) map[int]any {
		m := map[int]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	enc := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Duplicate key -3, written by hand: a7 then the six claims, then -3 again.
	dup := append([]byte{0xa7}, enc(good)[1:]...)
	dup = append(dup, 0x22, 0x61, 'X')

	tests := []struct {
		name   string
		code   string
		reason string
		detail string
	}{
		{"reference", signRaw(t, issuer, hdr, []byte{0xa0}, enc(good)), "", ""},
		{"unknown claim", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-9, 1))), code.Malformed, "claims"},
		{"iss claim", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(1, "330100"))), code.Malformed, "claims"},
		{"duplicate claim", signRaw(t, issuer, hdr, []byte{0xa0}, dup), code.Malformed, "duplicate"},
		{"missing iat", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(6, nil))), code.Malformed, "missing claim iat"},
		{"missing name", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-3, nil))), code.Malformed, "missing claim masked name"},
		{"missing state", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-2, nil))), code.Malformed, "missing claim state"},
		{"state 3", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-2, 3))), code.Malformed, "state 3"},
		{"state 8", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-2, 8))), code.Malformed, "state 8"},
		{"kind 2", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-5, 2))), code.Malformed, "kind 2"},
		{"paper without index", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-5, 1))), code.Malformed, "status index"},
		{"subject of 4 bytes", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-1, []byte{1, 2, 3, 4}))), code.Malformed, "subject"},
		{"subject as text", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-1, "ABCDEFGH"))), code.Malformed, "claims"},
		{"float time", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(4, float64(exp)))), code.Malformed, "claims"},
		{"claims not a map", signRaw(t, issuer, hdr, []byte{0xa0}, enc([]int{1, 2})), code.Malformed, "not a map"},
		{"claims with a tag", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-3, cbor.Tag{Number: 32, Content: "x"}))), code.Malformed, "tag"},
		{"unprotected kid", signRaw(t, issuer, hdr, enc(map[int]any{4: kid}), enc(good)), code.Malformed, "unprotected header"},
		{"no kid", signRaw(t, issuer, map[any]any{1: -8}, []byte{0xa0}, enc(good)), code.Malformed, "key id"},
		{"no alg", signRaw(t, issuer, map[any]any{4: kid}, []byte{0xa0}, enc(good)), code.Malformed, "algorithm"},
		{"extra header", signRaw(t, issuer, map[any]any{1: -8, 4: kid, 3: "application/cwt"}, []byte{0xa0}, enc(good)), code.Malformed, "protected header"},
		{"alg ES256", signRaw(t, issuer, map[any]any{1: -7, 4: kid}, []byte{0xa0}, enc(good)), code.BadSignature, "ES256"},
		{"alg as text", signRaw(t, issuer, map[any]any{1: "EdDSA", 4: kid}, []byte{0xa0}, enc(good)), code.Malformed, "protected header"},
		{"test 0 h", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-7, 0))), "", ""},
		{"test 255 h", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-7, 255))), "", ""},
		{"test 256 h", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-7, 256))), code.Malformed, "more than 255"},
		{"test negative", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-7, -1))), code.Malformed, "claims"},
		{"test as text", signRaw(t, issuer, hdr, []byte{0xa0}, enc(with(-7, "48"))), code.Malformed, "claims"},
		{"test on a paper code", signRaw(t, issuer, hdr, []byte{0xa0}, enc(func() map[int]any {
			m := with(-2, nil)
			m[-5], m[-6], m[-7] = 1, 7, 3
			return m
		}())), code.Malformed, "paper code carries a negative test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := code.Verify(tt.code, keys, now)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			ve := wantReason(t, err, tt.reason)
			if !strings.Contains(ve.Error(), tt.detail) {
				t.Errorf("message %q does not contain %q", ve.Error(), tt.detail)
			}
		})
	}
}

// TestLayout pins the bytes of a code's headers and the order of its claims.
func TestLayout(t *testing.T) {
	issuer := testKey(t, "issuer")
	raw := coseBytes(t, sign(t, issuer, phoneClaims("张三丰")))
	kid := code.KeyID(issuer.Public().(ed25519.PublicKey))
	wantHead := append([]byte{0x84, 0x47, 0xa2, 0x01, 0x27, 0x04, 0x42}, kid...)
	wantHead = append(wantHead, 0xa0)
	if !bytes.HasPrefix(raw, wantHead) {
		t.Fatalf("code starts % x, want % x", raw[:len(wantHead)], wantHead)
	}
	diag, err := cbor.Diagnose(raw[len(wantHead)+2 : len(raw)-66])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("claims: %s", diag)
	c := phoneClaims("张三丰")
	want := fmt.Sprintf(`{4: %d, 6: %d, -1: h'00443214c7', -2: 0, -3: "\u5f20*\u4e30", -4: 1986}`, c.ExpiresAt.Unix(), c.IssuedAt.Unix())
	if diag != want {
		t.Errorf("claims\n got %s\nwant %s", diag, want)
	}

	// A negative test sampled 30.5 hours before iat: claim -7 is 31, the
	// last claim in deterministic order.
	c = withTest(phoneClaims("张三丰"), 30*time.Hour+30*time.Minute)
	raw = coseBytes(t, sign(t, issuer, c))
	if !bytes.HasPrefix(raw, wantHead) {
		t.Fatalf("code with a test starts % x, want % x", raw[:len(wantHead)], wantHead)
	}
	if diag, err = cbor.Diagnose(raw[len(wantHead)+2 : len(raw)-66]); err != nil {
		t.Fatal(err)
	}
	t.Logf("claims with a test: %s", diag)
	want = fmt.Sprintf(`{4: %d, 6: %d, -1: h'00443214c7', -2: 0, -3: "\u5f20*\u4e30", -4: 1986, -7: 31}`, c.ExpiresAt.Unix(), c.IssuedAt.Unix())
	if diag != want {
		t.Errorf("claims with a test\n got %s\nwant %s", diag, want)
	}
}
