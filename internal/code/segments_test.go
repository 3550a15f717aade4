package code

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"
)

// pngOf draws modules with a quiet zone, scale pixels a module.
func pngOf(t *testing.T, modules [][]bool, scale int) []byte {
	t.Helper()
	n := len(modules) + 8
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y, row := range modules {
		for x, dark := range row {
			if dark {
				for dy := range scale {
					for dx := range scale {
						img.SetGray((x+4)*scale+dx, (y+4)*scale+dy, color.Gray{})
					}
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestNumericSymbol: a SMART Health Card's text ("shc:/" and digits, the
// lengths of small and large cards) drawn as a byte and a numeric segment
// reads back as itself, in a smaller symbol than byte mode alone, and at
// the version the specification promises for the largest single card.
func TestNumericSymbol(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{10, 11, 12, 500, 1501, 2390} {
		var digits strings.Builder
		for range n {
			digits.WriteByte(byte('0' + rng.IntN(10)))
		}
		text := "shc:/" + digits.String()
		modules, ok, err := numericSymbol(text)
		if !ok || err != nil {
			t.Fatalf("%d digits: ok %v, %v", n, ok, err)
		}
		got, err := ReadQR(pngOf(t, modules, 3))
		if err != nil || got != text {
			t.Errorf("%d digits (%d modules) read back as %.30q, %v", n, len(modules), got, err)
		}
		bytesOnly, err := textSymbol(text)
		if err != nil {
			t.Fatal(err)
		}
		if len(modules) >= len(bytesOnly) && n > 100 {
			t.Errorf("%d digits: %d modules, no smaller than byte mode's %d", n, len(modules), len(bytesOnly))
		}
		if n == 2390 && len(modules) > 17+4*22 {
			t.Errorf("the largest single card needs %d modules, more than version 22", len(modules))
		}
	}
	if _, ok, _ := numericSymbol("https://example.com/"); ok {
		t.Error("a URL taken for digits")
	}
}
