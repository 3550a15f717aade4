package code_test

import (
	"bytes"
	"crypto/ed25519"
	"image"
	"image/draw"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"healthcode"
	"healthcode/internal/code"
)

// cose is an untagged COSE_Sign1, to take codes apart.
type cose struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

// spliced returns the code with the header and signature of signedCode
// and the claims of otherCode: a signature over different bytes.
func spliced(tb testing.TB, signedCode, otherCode string) string {
	tb.Helper()
	var a, b cose
	if err := cbor.Unmarshal(coseBytes(tb, signedCode), &a); err != nil {
		tb.Fatal(err)
	}
	if err := cbor.Unmarshal(coseBytes(tb, otherCode), &b); err != nil {
		tb.Fatal(err)
	}
	a.Payload = b.Payload
	raw, err := cbor.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	return encode(raw)
}

// qrPNG returns a PNG of a QR code holding any text.
func qrPNG(tb testing.TB, text string) []byte {
	tb.Helper()
	bm, err := gozxingqr.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 300, 300, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return encodePNG(tb, bm)
}

// TestCheckRejects checks through Check (and CheckImage) that each kind of
// bad code is rejected with its reason: expired, untrusted, revoked,
// signed over other bytes, truncated, oversized, and a picture of a QR
// code that holds something else.
func TestCheckRejects(t *testing.T) {
	issuer := testKey(t, "issuer")
	leaked := testKey(t, "leaked")
	keys := revocable{trusted: trusted{trustKey(issuer, "330100")}, revoked: trusted{trustKey(leaked, "330100")}}
	keys.revoked[0].RevokedAt = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

	good := sign(t, issuer, phoneClaims("张三丰"))
	expired := phoneClaims("张三丰")
	expired.IssuedAt, expired.ExpiresAt = now.Add(-10*time.Minute), now.Add(-5*time.Minute)
	red := phoneClaims("张三丰")
	red.Color = healthcode.Red
	beforeRevocation := paperClaims("John Smith")
	beforeRevocation.IssuedAt = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	blank := image.NewGray(image.Rect(0, 0, 200, 200))
	draw.Draw(blank, blank.Bounds(), image.White, image.Point{}, draw.Src)
	goodPNG, err := code.RenderPNG(good, healthcode.Green, 400)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		payload string
		image   []byte // checked with CheckImage instead of payload
		reason  string // "" means accepted
		detail  string // a substring of the verdict's Reason
	}{
		{"good", good, nil, "", "valid code issued by region 330100"},
		{"expired", sign(t, issuer, expired), nil, code.Expired, "expired at 2026-11-23T07:55:00Z"},
		{"untrusted key", sign(t, testKey(t, "stranger"), phoneClaims("张三丰")), nil, code.UnknownIssuer, "no trusted region has signing key"},
		{"revoked key", sign(t, leaked, phoneClaims("张三丰")), nil, code.KeyNotValid, "key revoked: the code is signed with key"},
		{"revoked key, issued before the revocation", sign(t, leaked, beforeRevocation), nil, code.KeyNotValid, "revoked it on 2026-10-01T00:00:00Z"},
		{"revoked key's id, another key's signature", forgeKID(t, testKey(t, "stranger"), code.KeyID(leaked.Public().(ed25519.PublicKey)), phoneClaims("张三丰")),
			nil, code.UnknownIssuer, "no trusted region"},
		{"signature over different bytes", spliced(t, good, sign(t, issuer, red)), nil, code.BadSignature, "altered"},
		{"truncated by one character", good[:len(good)-1], nil, code.Malformed, "cut short"},
		{"truncated by two characters", good[:len(good)-2], nil, code.Malformed, "cut short"},
		{"truncated inside the signature", good[:len(good)-30], nil, code.Malformed, "cut short"},
		{"truncated inside the claims", good[:len(good)/2], nil, code.Malformed, "cut short"},
		{"oversized", good + strings.Repeat("0", code.MaxPayloadLen), nil, code.Malformed, "a code has at most 1024"},
		{"oversized without the prefix", strings.Repeat("A", 1<<20), nil, code.NotACode, "does not start with HQ1:"},
		{"picture of a good code", "", goodPNG, "", "valid code"},
		{"picture of a web address", "", qrPNG(t, "https://example.org/checkin?venue=42"), code.NotACode, "not a health code: it is a web address"},
		{"picture of plain text", "", qrPNG(t, "hello, world"), code.NotACode, "not a health code: it does not start with HQ1:"},
		{"picture of an EU certificate", "", qrPNG(t, "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOOP-IB"), code.NotACode, "EU Digital COVID Certificate"},
		{"picture without a QR code", "", encodePNG(t, blank), code.NotACode, "no readable QR code"},
		{"not a picture", "", []byte("GIF89a"), code.NotACode, "not a PNG or JPEG picture"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v code.Verdict
			if tt.image != nil {
				v = code.CheckImage(tt.image, keys, now)
			} else {
				v = code.Check(tt.payload, keys, now)
			}
			if v.Valid != (tt.reason == "") || v.RejectCode != tt.reason || !strings.Contains(v.Reason, tt.detail) {
				t.Errorf("verdict %+v, want reason %q and a message with %q", v, tt.reason, tt.detail)
			}
		})
	}
	// The image verdicts say the same as the errors DecodeImage returns.
	if _, err := code.DecodeImage(bytes.Clone(encodePNG(t, blank))); err == nil || code.ImageVerdict(err).Valid {
		t.Errorf("blank picture: DecodeImage error %v", err)
	}
}
