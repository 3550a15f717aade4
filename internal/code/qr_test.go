package code_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"healthcode"
	"healthcode/internal/code"
)

func decodePNG(tb testing.TB, data []byte) image.Image {
	tb.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

func encodePNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(tb testing.TB, img image.Image, quality int) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// scale resizes img to w x h by nearest neighbour: a crude downscale that
// blurs nothing but drops and doubles rows, like a cheap screenshot.
func scale(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out.Set(x, y, img.At(b.Min.X+x*b.Dx()/w, b.Min.Y+y*b.Dy()/h))
		}
	}
	return out
}

// onPhoto pastes img, slightly smaller, onto a grey "photo" with some noise.
func onPhoto(img image.Image) *image.RGBA {
	const side = 900
	out := image.NewRGBA(image.Rect(0, 0, side, side))
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			v := uint8(120 + (x*7+y*13)%40)
			out.Set(x, y, color.RGBA{v, v, v - 20, 0xff})
		}
	}
	small := scale(img, 500, 500)
	draw.Draw(out, image.Rect(170, 230, 670, 730), small, image.Point{}, draw.Src)
	return out
}

func TestRenderPNGDecodeImage(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	for _, tt := range []struct {
		name   string
		claims func() any
		color  healthcode.Color
	}{
		{"green phone", nil, healthcode.Green},
		{"yellow phone", nil, healthcode.Yellow},
		{"red phone", nil, healthcode.Red},
		{"paper", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := phoneClaims("张三丰")
			if tt.color == "" {
				c = paperClaims("John Smith")
			} else {
				c.Color = tt.color
			}
			p := sign(t, issuer, c)
			data, err := code.RenderPNG(p, tt.color, 400)
			if err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, data)
			if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() > 400 || b.Dx() < 300 {
				t.Errorf("picture is %v, want a square of at most 400 pixels", b)
			}
			// The frame is in the status colour.
			wantFrame := map[healthcode.Color]color.RGBA{
				healthcode.Green: {0x1a, 0x7f, 0x37, 0xff}, healthcode.Yellow: {0xd4, 0xa0, 0x00, 0xff},
				healthcode.Red: {0xc6, 0x28, 0x28, 0xff}, "": {0, 0, 0, 0xff},
			}[tt.color]
			if got := color.RGBAModel.Convert(img.At(1, 1)).(color.RGBA); got != wantFrame {
				t.Errorf("frame colour %v, want %v", got, wantFrame)
			}

			pictures := map[string][]byte{
				"png":                   data,
				"jpeg q60":              encodeJPEG(t, img, 60),
				"downscaled 37% jpeg":   encodeJPEG(t, scale(img, img.Bounds().Dx()*37/100, img.Bounds().Dy()*37/100), 75),
				"on a photo, jpeg q50":  encodeJPEG(t, onPhoto(img), 50),
				"inverted png":          encodePNG(t, invert(img)),
				"downscaled 2/3 png":    encodePNG(t, scale(img, img.Bounds().Dx()*2/3, img.Bounds().Dy()*2/3)),
				"big, 3000px jpeg q70 ": encodeJPEG(t, scale(img, 3000, 3000), 70),
			}
			for name, pic := range pictures {
				got, err := code.DecodeImage(pic)
				if err != nil {
					t.Errorf("%s: DecodeImage: %v", name, err)
					continue
				}
				if got != p {
					t.Errorf("%s: DecodeImage = %q, want %q", name, got, p)
					continue
				}
				if _, _, err := code.Verify(got, keys, now); err != nil {
					t.Errorf("%s: Verify: %v", name, err)
				}
			}
		})
	}
}

func invert(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out.Set(x, y, color.RGBA{255 - uint8(r>>8), 255 - uint8(g>>8), 255 - uint8(bl>>8), 0xff})
		}
	}
	return out
}

func TestRenderPNGSize(t *testing.T) {
	p := sign(t, testKey(t, "issuer"), phoneClaims("John Smith"))
	v, err := code.QRVersion(p)
	if err != nil {
		t.Fatal(err)
	}
	modules := 17 + 4*v + 2*(4+3) // symbol, quiet zone, frame
	for _, px := range []int{modules, modules*3 + 2, 1000} {
		data, err := code.RenderPNG(p, healthcode.Green, px)
		if err != nil {
			t.Fatalf("RenderPNG(%d): %v", px, err)
		}
		side := decodePNG(t, data).Bounds().Dx()
		if side > px || side%modules != 0 || side+modules <= px {
			t.Errorf("RenderPNG(%d) gives %d pixels; want the largest multiple of %d that fits", px, side, modules)
		}
	}
	for _, px := range []int{0, -5, modules - 1, code.MaxPNGSize + 1} {
		if _, err := code.RenderPNG(p, healthcode.Green, px); err == nil {
			t.Errorf("RenderPNG(%d): no error", px)
		}
	}
	for _, bad := range []string{"", "hq1:lower", "HQ1:\x00", strings.Repeat("A", code.MaxPayloadLen+1)} {
		if _, err := code.RenderPNG(bad, healthcode.Green, 400); err == nil {
			t.Errorf("RenderPNG(%.20q): no error", bad)
		}
		if _, err := code.RenderSVG(bad, healthcode.Green); err == nil {
			t.Errorf("RenderSVG(%.20q): no error", bad)
		}
		if _, err := code.QRVersion(bad); err == nil {
			t.Errorf("QRVersion(%.20q): no error", bad)
		}
	}
}

// TestRenderSVG parses the SVG, redraws its modules and frame as a PNG and
// reads the code back.
func TestRenderSVG(t *testing.T) {
	p := sign(t, testKey(t, "issuer"), phoneClaims("张三丰"))
	data, err := code.RenderSVG(p, healthcode.Red)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		ViewBox string   `xml:"viewBox,attr"`
		Label   string   `xml:"aria-label,attr"`
		Rects   []struct {
			Fill string `xml:"fill,attr"`
		} `xml:"rect"`
		Paths []struct {
			D    string `xml:"d,attr"`
			Fill string `xml:"fill,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("SVG does not parse: %v\n%s", err, data)
	}
	if len(doc.Paths) != 1 || doc.Paths[0].Fill != "#000" {
		t.Fatalf("want one black path, got %+v", doc.Paths)
	}
	if len(doc.Rects) == 0 || doc.Rects[0].Fill != "#c62828" {
		t.Errorf("frame rectangles %+v, want the first in red #c62828", doc.Rects)
	}
	if doc.Label != "red health code" {
		t.Errorf("aria-label %q", doc.Label)
	}
	var side int
	if _, err := fmt.Sscanf(doc.ViewBox, "0 0 %d %d", &side, &side); err != nil {
		t.Fatalf("viewBox %q: %v", doc.ViewBox, err)
	}
	t.Logf("SVG: %d bytes for %d modules a side", len(data), side)

	// Redraw: 6 pixels per module, white background, runs in black.
	const px = 6
	img := image.NewGray(image.Rect(0, 0, side*px, side*px))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	runs := strings.Split(strings.TrimSuffix(doc.Paths[0].D, "z"), "z")
	for _, r := range runs {
		var x, y, n, n2 int
		if _, err := fmt.Sscanf(r, "M%d %dh%dv1h-%d", &x, &y, &n, &n2); err != nil || n != n2 || n <= 0 {
			t.Fatalf("path element %q: %v", r, err)
		}
		draw.Draw(img, image.Rect(x*px, y*px, (x+n)*px, (y+1)*px), image.Black, image.Point{}, draw.Src)
	}
	got, err := code.DecodeImage(encodePNG(t, img))
	if err != nil {
		t.Fatalf("DecodeImage of the redrawn SVG: %v", err)
	}
	if got != p {
		t.Errorf("redrawn SVG reads %q, want %q", got, p)
	}
}

func TestDecodeImageRejects(t *testing.T) {
	blank := image.NewGray(image.Rect(0, 0, 300, 300))
	draw.Draw(blank, blank.Bounds(), image.White, image.Point{}, draw.Src)
	noise := image.NewGray(image.Rect(0, 0, 300, 300))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(i * 7919 % 251)
	}
	t.Run("no QR code", func(t *testing.T) {
		for name, pic := range map[string][]byte{"blank png": encodePNG(t, blank), "noise jpeg": encodeJPEG(t, noise, 80)} {
			_, err := code.DecodeImage(pic)
			if !errors.Is(err, code.ErrNoQRCode) {
				t.Errorf("%s: error %v, want ErrNoQRCode", name, err)
			}
		}
	})
	t.Run("not a picture", func(t *testing.T) {
		for _, data := range [][]byte{nil, []byte("hello"), []byte("\x89PNG\r\n\x1a\n garbage")} {
			if _, err := code.DecodeImage(data); err == nil || errors.Is(err, code.ErrNoQRCode) {
				t.Errorf("DecodeImage(%q): error %v, want a picture error", data, err)
			}
		}
	})
	t.Run("QR code that is not a health code", func(t *testing.T) {
		for _, text := range []string{"https://example.org/checkin?venue=42", "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOOP-IB"} {
			bm, err := gozxingqr.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 300, 300, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = code.DecodeImage(encodePNG(t, bm))
			wantReason(t, err, code.NotACode)
		}
	})
}

// TestRenderedCodesAlwaysDecode renders many different payloads and reads
// each back. gozxing alone failed on about one in seven valid symbols (zbar
// and jsQR read them); the decoder's mirrored retry must cover every one.
func TestRenderedCodesAlwaysDecode(t *testing.T) {
	for i := 0; i < 120; i++ {
		payloads := []string{
			fmt.Sprintf("HQ1:%0170d", i*7919),
			fmt.Sprintf("HTTP://127.0.0.1:%d/P/%d.PI5HX4F35BP2UEX%c", 40000+i*37, i+1, 'A'+i%26),
		}
		for _, p := range payloads {
			img, err := code.RenderPNG(p, healthcode.Green, 400)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := code.ReadQR(img); err != nil || got != p {
				t.Fatalf("%s: read %q, %v", p, got, err)
			}
		}
	}
}

// TestDecodeImageReadsUpsideDown reads phone codes that gozxing read
// neither as drawn nor mirrored (about one of our codes in 300: `healthcode
// verify` failed on one in TestEndToEnd), but reads turned upside down.
func TestDecodeImageReadsUpsideDown(t *testing.T) {
	for _, tc := range []struct {
		i    int
		name string
	}{{172, "李四"}, {400, "张三"}, {670, "张三"}, {1027, "李四"}} {
		c := phoneClaims(tc.name)
		c.Color = []healthcode.Color{healthcode.Green, healthcode.Yellow, healthcode.Red}[tc.i%3]
		c.Vaccinated = tc.i%7 == 0
		c.IssuedAt = now.Add(time.Duration(tc.i) * time.Second)
		c.ExpiresAt = c.IssuedAt.Add(5 * time.Minute)
		if tc.i%2 == 0 {
			c.NegativeTestAt = now.Add(-time.Duration(tc.i%50) * time.Hour)
		}
		p := sign(t, testKey(t, fmt.Sprint("k", tc.i)), c)
		img, err := code.RenderPNG(p, c.Color, 512)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := code.DecodeImage(img); err != nil || got != p {
			t.Errorf("code %d: DecodeImage = %q, %v; want %q", tc.i, got, err, p)
		}
	}
}
