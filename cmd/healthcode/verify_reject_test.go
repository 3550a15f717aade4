package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dasio/base45"
	"github.com/fxamacker/cbor/v2"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/trust"
)

// TestVerifyRejects runs `healthcode verify` offline on each kind of bad
// code, as text and as a picture: each exits 1 with valid false, the
// reject code and a reason that says why.
func TestVerifyRejects(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	key := func(seed string) ed25519.PrivateKey {
		s := sha256.Sum256([]byte(seed))
		return ed25519.NewKeyFromSeed(s[:])
	}
	current, leaked, stranger := key("hangzhou 2026"), key("hangzhou leaked"), key("stranger")
	from, until := now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0)
	revoked := trust.NewEntry(leaked.Public().(ed25519.PublicKey), "330100", "杭州市", from, until)
	revoked.Revoke(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	list := &trust.List{Issuer: "330100", IssuedAt: now.Add(-time.Hour), Keys: []trust.Entry{
		trust.NewEntry(current.Public().(ed25519.PublicKey), "330100", "杭州市", from, until), revoked}}
	signedList, err := trust.Sign(list, current)
	if err != nil {
		t.Fatal(err)
	}
	trustFile := filepath.Join(dir, "trust-list.jws")
	if err := os.WriteFile(trustFile, signedList, 0o600); err != nil {
		t.Fatal(err)
	}

	claims := func(color healthcode.Color, iat time.Time) code.Claims {
		return code.Claims{Subject: "ABCDEFGH", IssuedAt: iat, ExpiresAt: iat.Add(5 * time.Minute), Color: color,
			MaskedName: "张*丰", BirthYear: 1986, Kind: code.Phone}
	}
	sign := func(priv ed25519.PrivateKey, c code.Claims) string {
		p, err := code.NewSigner(priv).Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := sign(current, claims(healthcode.Green, now.Add(-time.Minute)))
	// The signature of the green code over the claims of a red one.
	type cose struct {
		_                  struct{} `cbor:",toarray"`
		Protected          []byte
		Unprotected        cbor.RawMessage
		Payload, Signature []byte
	}
	var green, red cose
	for p, m := range map[string]*cose{good: &green, sign(current, claims(healthcode.Red, now.Add(-time.Minute))): &red} {
		raw, err := base45.DecodeString(strings.TrimPrefix(p, code.Prefix))
		if err != nil {
			t.Fatal(err)
		}
		if err := cbor.Unmarshal(raw, m); err != nil {
			t.Fatal(err)
		}
	}
	green.Payload = red.Payload
	splicedRaw, err := cbor.Marshal(green)
	if err != nil {
		t.Fatal(err)
	}
	spliced := code.Prefix + base45.EncodeToString(splicedRaw)

	picture := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	qr := func(name, text string) string {
		bm, err := gozxingqr.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 300, 300, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := png.Encode(&b, bm); err != nil {
			t.Fatal(err)
		}
		return picture(name, b.Bytes())
	}
	goodPNG, err := code.RenderPNG(good, healthcode.Green, 400)
	if err != nil {
		t.Fatal(err)
	}
	blank := image.NewGray(image.Rect(0, 0, 200, 200))
	draw.Draw(blank, blank.Bounds(), image.White, image.Point{}, draw.Src)
	var blankPNG bytes.Buffer
	if err := png.Encode(&blankPNG, blank); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		arg    string
		reject string // "" means valid
		reason string // a substring of the reason
	}{
		{"good", good, "", "valid code"},
		{"good, as a picture", picture("good.png", goodPNG), "", "valid code"},
		{"expired", sign(current, claims(healthcode.Green, now.Add(-10*time.Minute))), code.Expired, "expired at 2026-11-23T07:55:00Z"},
		{"untrusted key", sign(stranger, claims(healthcode.Green, now.Add(-time.Minute))), code.UnknownIssuer, "unknown issuer"},
		{"revoked key", sign(leaked, claims(healthcode.Green, now.Add(-time.Minute))), code.KeyNotValid, "key revoked"},
		{"revoked key, issued before the revocation", sign(leaked, claims(healthcode.Green, time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC))),
			code.KeyNotValid, "revoked it on 2026-10-01T00:00:00Z"},
		{"signature over different bytes", spliced, code.BadSignature, "bad signature"},
		{"truncated", good[:len(good)-5], code.Malformed, "cut short"},
		{"truncated to the prefix", code.Prefix, code.Malformed, "cut short"},
		{"oversized", good + strings.Repeat("0", code.MaxPayloadLen), code.Malformed, fmt.Sprintf("at most %d", code.MaxPayloadLen)},
		{"plain text", "hello", code.NotACode, "not a health code"},
		{"picture of a web address", qr("url.png", "https://example.org/checkin?venue=42"), code.NotACode, "not a health code: it is a web address"},
		{"picture of plain text", qr("text.png", "hello, world"), code.NotACode, "not a health code"},
		{"picture without a QR code", picture("blank.png", blankPNG.Bytes()), code.NotACode, "no readable QR code"},
		{"file that is not a picture", picture("fake.png", []byte("not a picture")), code.NotACode, "not a PNG or JPEG picture"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, exit := runCLI(t, "verify", "--trust", trustFile, "--at", now.Format(time.RFC3339), tt.arg)
			wantExit := 1
			if tt.reject == "" {
				wantExit = 0
			}
			reject, _ := v["reject_code"].(string)
			reason, _ := v["reason"].(string)
			if exit != wantExit || v["valid"] != (tt.reject == "") || reject != tt.reject || !strings.Contains(reason, tt.reason) {
				t.Errorf("exit %d, verdict %v; want exit %d, reject_code %q and a reason with %q", exit, v, wantExit, tt.reject, tt.reason)
			}
		})
	}
}
