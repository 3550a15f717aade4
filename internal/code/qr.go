package code

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strconv"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/yeqown/go-qrcode/v2"

	"healthcode"
)

// Picture layout, in modules: a frame in the status colour around a white
// quiet zone around the symbol.
const (
	quietModules = 4
	frameModules = 3
	// MaxPNGSize is the largest PNG side RenderPNG draws, in pixels.
	MaxPNGSize = 4096
)

// frameColor returns the frame colour for a status colour: black for a
// paper code or an unknown colour.
func frameColor(c healthcode.Color) color.RGBA {
	switch c {
	case healthcode.Green:
		return color.RGBA{0x1a, 0x7f, 0x37, 0xff}
	case healthcode.Yellow:
		return color.RGBA{0xd4, 0xa0, 0x00, 0xff}
	case healthcode.Red:
		return color.RGBA{0xc6, 0x28, 0x28, 0xff}
	}
	return color.RGBA{0, 0, 0, 0xff}
}

// qrSymbol encodes payload as a QR symbol at error-correction level M in
// alphanumeric mode and returns its modules (true is dark), indexed [y][x],
// and its version.
func qrSymbol(payload string) (modules [][]bool, version int, err error) {
	if payload == "" {
		return nil, 0, errors.New("qr: nothing to encode")
	}
	if len(payload) > MaxPayloadLen {
		return nil, 0, fmt.Errorf("qr: the text is %d characters; the limit is %d", len(payload), MaxPayloadLen)
	}
	for i := 0; i < len(payload); i++ {
		if base45Values[payload[i]] == 0 { // the base45 alphabet is the QR alphanumeric set
			return nil, 0, fmt.Errorf("qr: %s at character %d cannot be encoded in alphanumeric mode", quoteChar(payload[i]), i)
		}
	}
	defer func() { // the library panics instead of returning some errors
		if r := recover(); r != nil {
			modules, version, err = nil, 0, fmt.Errorf("qr: %v", r)
		}
	}()
	q, err := qrcode.NewWith(payload,
		qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium),
		qrcode.WithEncodingMode(qrcode.EncModeAlphanumeric))
	if err != nil {
		return nil, 0, fmt.Errorf("qr: %w", err)
	}
	var w bitmapWriter
	if err := q.Save(&w); err != nil {
		return nil, 0, fmt.Errorf("qr: %w", err)
	}
	return w.bitmap, (q.Dimension() - 17) / 4, nil
}

// textSymbol encodes text, which need not be a health code (a SMART Health
// Card's "shc:/" text), as a QR symbol at error-correction level L in byte
// mode, and returns its modules like qrSymbol.
func textSymbol(text string) ([][]bool, error) {
	if text == "" {
		return nil, errors.New("qr: nothing to encode")
	}
	var err error
	var w bitmapWriter
	func() {
		defer func() { // the library panics instead of returning some errors
			if r := recover(); r != nil {
				err = fmt.Errorf("qr: %v", r)
			}
		}()
		var q *qrcode.QRCode
		if q, err = qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionLow),
			qrcode.WithEncodingMode(qrcode.EncModeByte)); err != nil {
			err = fmt.Errorf("qr: %w", err)
			return
		}
		if err = q.Save(&w); err != nil {
			err = fmt.Errorf("qr: %w", err)
		}
	}()
	return w.bitmap, err
}

// bitmapWriter is a qrcode.Writer that keeps the symbol's modules.
type bitmapWriter struct{ bitmap [][]bool }

func (w *bitmapWriter) Write(m qrcode.Matrix) error { w.bitmap = m.Bitmap(); return nil }
func (w *bitmapWriter) Close() error                { return nil }

// QRVersion returns the QR version (1-40) that RenderPNG and RenderSVG use
// for payload: the smallest that holds it at error-correction level M in
// alphanumeric mode.
func QRVersion(payload string) (int, error) {
	_, v, err := qrSymbol(payload)
	return v, err
}

// RenderPNG draws payload as a QR code inside a frame in the status colour
// (black for a paper code: pass an empty colour). The picture is square and
// at most px pixels wide: the largest whole number of pixels per module that
// fits. It is an error if px leaves less than one pixel per module.
func RenderPNG(payload string, c healthcode.Color, px int) ([]byte, error) {
	modules, _, err := qrSymbol(payload)
	if err != nil {
		return nil, err
	}
	border := quietModules + frameModules
	total := len(modules) + 2*border
	if px > MaxPNGSize {
		return nil, fmt.Errorf("qr: %d pixels is larger than the limit of %d", px, MaxPNGSize)
	}
	scale := px / total
	if scale < 1 {
		return nil, fmt.Errorf("qr: %d pixels is too small; this code needs at least %d", px, total)
	}
	size := scale * total
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black, frameColor(c)})
	const white, black, frame = 0, 1, 2
	fill := func(x0, y0, x1, y1 int, idx uint8) {
		for y := y0; y < y1; y++ {
			row := img.Pix[y*img.Stride:]
			for x := x0; x < x1; x++ {
				row[x] = idx
			}
		}
	}
	f := frameModules * scale
	fill(0, 0, size, size, frame)
	fill(f, f, size-f, size-f, white)
	off := border * scale
	for y, row := range modules {
		for x, dark := range row {
			if dark {
				fill(off+x*scale, off+y*scale, off+(x+1)*scale, off+(y+1)*scale, black)
			}
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return buf.Bytes(), nil
}

// RenderSVG draws payload like RenderPNG, as a scalable SVG picture (one
// module is one user unit): a rectangle in the frame colour, a white one for
// the quiet zone, and one path of horizontal runs for the dark modules.
func RenderSVG(payload string, c healthcode.Color) ([]byte, error) {
	modules, _, err := qrSymbol(payload)
	if err != nil {
		return nil, err
	}
	return svgOf(modules, c), nil
}

// RenderTextSVG draws any text as a QR code like RenderSVG with a black
// frame: in alphanumeric mode at level M when the text allows it (an EU
// DCC's "HC1:" text); a short prefix and digits (a SMART Health Card's
// "shc:/" text) as a byte and a numeric segment at level L, as that
// specification asks; anything else in byte mode at level L.
func RenderTextSVG(text string) ([]byte, error) {
	modules, err := textModules(text)
	if err != nil {
		return nil, err
	}
	return svgOf(modules, ""), nil
}

// textModules is the symbol RenderTextSVG draws.
func textModules(text string) ([][]bool, error) {
	if modules, _, err := qrSymbol(text); err == nil {
		return modules, nil
	}
	if modules, ok, err := numericSymbol(text); ok {
		return modules, err
	}
	return textSymbol(text)
}

func svgOf(modules [][]bool, c healthcode.Color) []byte {
	border := quietModules + frameModules
	total := len(modules) + 2*border
	fc := frameColor(c)
	label := "health code"
	if c.Severity() >= 0 {
		label = string(c) + " health code"
	}
	var b bytes.Buffer
	t := strconv.Itoa(total)
	inner := strconv.Itoa(total - 2*frameModules)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" shape-rendering="crispEdges" role="img" aria-label="%s">`, t, t, label)
	fmt.Fprintf(&b, `<rect width="%s" height="%s" fill="#%02x%02x%02x"/>`, t, t, fc.R, fc.G, fc.B)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%s" height="%s" fill="#fff"/>`, frameModules, frameModules, inner, inner)
	b.WriteString(`<path fill="#000" d="`)
	for y, row := range modules {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+border, y+border, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes()
}

// ErrNoQRCode means a picture holds no readable QR code.
var ErrNoQRCode = errors.New("no readable QR code in the picture")

// Limits on pictures DecodeImage reads.
const (
	maxImagePixels = 40 << 20 // a 40-megapixel photo
	// A picture may claim at most freePixels plus maxPixelsPerByte pixels
	// per byte of its file. The decoders allocate the whole picture (up to
	// 8 bytes a pixel) before they read its data, so without this a file of
	// 50 bytes that claims 6000x6000 pixels cost 300 MB. Real pictures are
	// far below it: a photo holds a few pixels per byte, a QR code drawn as
	// a 1-bit PNG at 4096 pixels about 1700.
	maxPixelsPerByte = 4096
	freePixels       = 1 << 20
	// Scanning time grows faster than the picture: a 40-megapixel photo
	// took a minute. Pictures are scanned at most maxScanSide pixels wide
	// and high (scaled down if larger), then also at decodeMaxSide.
	maxScanSide   = 2400
	decodeMaxSide = 1200
)

// DecodeImage reads the health code in a PNG or JPEG picture, such as a
// screenshot or a photo of a phone or paper code. It returns ErrNoQRCode
// (wrapped) when it finds no QR code, and a *VerifyError with reason
// not_a_code when the QR code holds something other than a health code. It
// does not verify the code.
func DecodeImage(data []byte) (string, error) {
	text, err := ReadQR(data)
	if err != nil {
		return "", err
	}
	if verr := checkPrefix(text); verr != nil {
		return "", verr
	}
	return text, nil
}

// ReadQR returns the text of the QR code in a PNG or JPEG picture, whatever
// it holds (a place code holds a URL). It returns ErrNoQRCode (wrapped) when
// it finds none.
func ReadQR(data []byte) (string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("read picture: not a PNG or JPEG picture: %w", err)
	}
	if format != "png" && format != "jpeg" {
		return "", fmt.Errorf("read picture: %s pictures are not read; send a PNG or JPEG", format)
	}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if cfg.Width <= 0 || cfg.Height <= 0 || pixels > maxImagePixels {
		return "", fmt.Errorf("read picture: %dx%d pixels is larger than the limit of %d megapixels", cfg.Width, cfg.Height, maxImagePixels>>20)
	}
	if pixels > freePixels+maxPixelsPerByte*int64(len(data)) {
		return "", fmt.Errorf("read picture: a file of %d bytes cannot hold the %dx%d pixels it claims; it is damaged or made up", len(data), cfg.Width, cfg.Height)
	}
	var img image.Image
	if format == "png" {
		img, err = png.Decode(bytes.NewReader(data))
	} else {
		img, err = jpeg.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return "", fmt.Errorf("read picture: %w", err)
	}
	return scanQR(img)
}

// scanQR finds a QR code in img: first in the grey picture as it is (scaled
// down to maxScanSide if larger), then scaled down to decodeMaxSide (which
// helps with large, noisy photos), each also inverted (light modules on a
// dark background).
func scanQR(img image.Image) (string, error) {
	side := max(img.Bounds().Dx(), img.Bounds().Dy())
	greys := []*image.Gray{toGrey(img, (side+maxScanSide-1)/maxScanSide)}
	if side := max(greys[0].Rect.Dx(), greys[0].Rect.Dy()); side > decodeMaxSide {
		greys = append(greys, toGrey(greys[0], (side+decodeMaxSide-1)/decodeMaxSide))
	}
	// gozxing fails on about one valid symbol in seven that zbar and jsQR
	// read, and reads most of those mirrored (zxing's own decoder retries
	// mirrored too), so the mirror image is tried next to last. About one
	// of our own codes in 300 it reads neither way; every one of those it
	// read turned upside down, which is tried last.
	last := greys[len(greys)-1]
	greys = append(greys, transpose(last), rotate180(last))
	sources := make([]gozxing.LuminanceSource, len(greys))
	for i, g := range greys {
		sources[i] = luminance(g)
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	reader := gozxingqr.NewQRCodeReader()
	for _, inverted := range []bool{false, true} {
		for _, src := range sources {
			if inverted {
				src = gozxing.NewInvertedLuminanceSource(src)
			}
			for _, binarizer := range []func(gozxing.LuminanceSource) gozxing.Binarizer{gozxing.NewHybridBinarizer, gozxing.NewGlobalHistgramBinarizer} {
				bmp, err := gozxing.NewBinaryBitmap(binarizer(src))
				if err != nil {
					continue
				}
				if res, err := reader.Decode(bmp, hints); err == nil {
					return res.GetText(), nil
				}
			}
		}
	}
	return "", fmt.Errorf("read picture: %w", ErrNoQRCode)
}

// transpose mirrors g across its main diagonal.
func transpose(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	out := image.NewGray(image.Rect(0, 0, h, w))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out.Pix[x*out.Stride+y] = g.Pix[y*g.Stride+x]
		}
	}
	return out
}

// rotate180 turns g upside down.
func rotate180(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out.Pix[(h-1-y)*out.Stride+w-1-x] = g.Pix[y*g.Stride+x]
		}
	}
	return out
}

// toGrey returns img in grey, each pixel the mean of a factor x factor
// block. Transparent pixels count as white, as on a screen.
func toGrey(img image.Image, factor int) *image.Gray {
	b := img.Bounds()
	w, h := (b.Dx()+factor-1)/factor, (b.Dy()+factor-1)/factor
	out := image.NewGray(image.Rect(0, 0, w, h))
	grey, _ := img.(*image.Gray)
	ycc, _ := img.(*image.YCbCr) // a JPEG photo: its Y is the grey
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var sum, n uint32
			for dy := 0; dy < factor && y*factor+dy < b.Dy(); dy++ {
				for dx := 0; dx < factor && x*factor+dx < b.Dx(); dx++ {
					px, py := b.Min.X+x*factor+dx, b.Min.Y+y*factor+dy
					switch {
					case grey != nil:
						sum += uint32(grey.Pix[grey.PixOffset(px, py)])
					case ycc != nil:
						sum += uint32(ycc.Y[ycc.YOffset(px, py)])
					default:
						r, g, bl, a := img.At(px, py).RGBA() // premultiplied, 16 bits
						sum += ((299*r+587*g+114*bl)/1000 + 0xffff - a) >> 8
					}
					n++
				}
			}
			out.Pix[y*out.Stride+x] = uint8(sum / n)
		}
	}
	return out
}

func luminance(g *image.Gray) gozxing.LuminanceSource {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	src, err := gozxing.NewPlanarYUVLuminanceSource(g.Pix, g.Stride, h, 0, 0, w, h, false)
	if err != nil { // cannot happen: the rectangle is the whole picture
		return gozxing.NewLuminanceSourceFromImage(g)
	}
	return src
}
