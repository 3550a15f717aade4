package code

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"healthcode"
)

// FuzzDecodeImage feeds DecodeImage any bytes, as a photo or screenshot
// uploaded to a checkpoint. It checks that what it reads is a health-code
// text; that a failure is a not_a_code *VerifyError (a QR code with other
// text), ErrNoQRCode, or a picture error, each with a message; that
// CheckImage agrees; and that a small file never makes it allocate more
// than the pixels the file can hold. Seeds: our own rendering of a phone
// code as PNG and JPEG, QR codes of a web address and of plain text, a
// blank picture, pictures that are not PNG or JPEG, and headers that claim
// huge pictures (in testdata/fuzz/FuzzDecodeImage).
//
//	go test -run '^$' -fuzz '^FuzzDecodeImage$' ./internal/code/
func FuzzDecodeImage(f *testing.F) {
	priv, keys := fuzzIssuer()
	phone, err := NewSigner(priv).Sign(Claims{Subject: "ABCDEFGH", IssuedAt: fuzzNow.Add(-time.Minute),
		ExpiresAt: fuzzNow.Add(4 * time.Minute), Color: healthcode.Green, MaskedName: "张*丰", BirthYear: 1986, Kind: Phone})
	if err != nil {
		f.Fatal(err)
	}
	pic, err := RenderPNG(phone, healthcode.Green, 120)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pic)
	img, err := png.Decode(bytes.NewReader(pic))
	if err != nil {
		f.Fatal(err)
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, img, &jpeg.Options{Quality: 90}); err != nil {
		f.Fatal(err)
	}
	f.Add(jpg.Bytes())
	for _, text := range []string{"https://example.org/checkin?venue=42", "hello", "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL"} {
		bm, err := gozxingqr.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 80, 80, nil)
		if err != nil {
			f.Fatal(err)
		}
		var b bytes.Buffer
		if err := png.Encode(&b, bm); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	blank := image.NewGray(image.Rect(0, 0, 40, 40))
	for i := range blank.Pix {
		blank.Pix[i] = 0xff
	}
	var b bytes.Buffer
	if err := png.Encode(&b, blank); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	b.Reset()
	if err := png.Encode(&b, image.NewNRGBA64(image.Rect(0, 0, 1, 1))); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	pal := image.NewPaletted(image.Rect(0, 0, 8, 8), color.Palette{color.White, color.Black})
	b.Reset()
	if err := png.Encode(&b, pal); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	for _, s := range []string{"", "GIF89a\x01\x00\x01\x00", "\x89PNG\r\n\x1a\n", "\xff\xd8\xff", phone} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		before := heapAllocated()
		text, err := DecodeImage(data)
		// Each pixel costs at most about 48 bytes: the decoded picture (up
		// to 8, or 15 for the coefficients of a progressive JPEG), its grey,
		// transposed and scaled copies, and the QR reader's work.
		if alloc, limit := heapAllocated()-before, allocSlack+48*(freePixels+maxPixelsPerByte*uint64(len(data))); alloc > limit {
			t.Errorf("DecodeImage of %d bytes allocated %d bytes, more than %d", len(data), alloc, limit)
		}
		v := CheckImage(data, keys, fuzzNow)
		if err != nil {
			var ve *VerifyError
			switch {
			case errors.As(err, &ve):
				if ve.Reason != NotACode || ve.Detail == "" {
					t.Fatalf("DecodeImage: error %+v", ve)
				}
			case errors.Is(err, ErrNoQRCode):
			case !strings.HasPrefix(err.Error(), "read picture: ") || len(err.Error()) <= len("read picture: "):
				t.Fatalf("DecodeImage: unclear error %q", err)
			}
			if v.Valid || v.RejectCode != NotACode || !strings.HasPrefix(v.Reason, "not a health code") {
				t.Fatalf("CheckImage = %+v for error %v", v, err)
			}
			return
		}
		if !strings.HasPrefix(text, Prefix) {
			t.Fatalf("DecodeImage = %q, not a health code", text)
		}
		if want := Check(text, keys, fuzzNow); v != want {
			t.Fatalf("CheckImage = %+v, but Check of its text %q = %+v", v, text, want)
		}
	})
}
