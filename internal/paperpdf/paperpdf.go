// Package paperpdf prints paper health codes: A4 sheets of four A6 cards
// with cut marks, each with the QR code, the masked name, the region, the
// validity and a short instruction in Chinese and English.
//
// Chinese text needs a TrueType font with CJK glyphs. None is embedded (a
// CJK font is megabytes); FindCJKFont looks for one that Debian's
// fonts-droid-fallback package installs. Without one the card is printed in
// Latin letters only: the Chinese instruction is left out and the masked
// name shows its Latin characters with an asterisk for each other
// character. The QR code, which carries the name, is the same either way.
package paperpdf

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/go-pdf/fpdf"

	"healthcode/internal/code"
)

// Card is one paper code to print.
type Card struct {
	Payload    string // the HQ1: text of the paper code
	MaskedName string
	BirthYear  int
	RegionName string
	Region     string
	IssuedAt   time.Time
	ExpiresAt  time.Time
}

// CJKFontPaths are where FindCJKFont looks, in order: TrueType (not
// TrueType collection) fonts with Chinese glyphs from Debian packages.
var CJKFontPaths = []string{
	"/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", // fonts-droid-fallback
	"/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf",    // fonts-arphic-gbsn00lp
	"/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf",    // fonts-arphic-gkai00mp
}

// FindCJKFont returns the first of CJKFontPaths that exists, or "".
func FindCJKFont() string {
	for _, p := range CJKFontPaths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Render prints cards on A4 pages, four to a page, in the time zone loc.
// fontPath is a CJK TrueType font, or "" to print Latin text only.
func Render(cards []Card, fontPath string, loc *time.Location) ([]byte, error) {
	if len(cards) == 0 {
		return nil, fmt.Errorf("paper codes: nothing to print")
	}
	if loc == nil {
		loc = time.UTC
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle("Health codes (paper) / 纸质健康码", true)
	pdf.SetCreator("healthcode", false)
	pdf.SetCreationDate(cards[0].IssuedAt)
	pdf.SetModificationDate(cards[0].IssuedAt)
	pdf.SetAutoPageBreak(false, 0)
	cjk := fontPath != ""
	if cjk {
		font, err := os.ReadFile(fontPath)
		if err != nil {
			return nil, fmt.Errorf("paper codes: read font: %w", err)
		}
		pdf.AddUTF8FontFromBytes("cjk", "", font)
		if err := pdf.Error(); err != nil {
			return nil, fmt.Errorf("paper codes: font %s: %w", fontPath, err)
		}
	}
	// line writes one centred line; with a CJK font, runs of non-ASCII
	// text use it and the rest Helvetica (CJK fallback fonts have no Latin
	// glyphs).
	line := func(x, y, w, h, size float64, text string) {
		if !cjk {
			text = latin(text)
		}
		runs := splitRuns(text)
		font := func(ascii bool) {
			if ascii || !cjk {
				pdf.SetFont("Helvetica", "", size)
			} else {
				pdf.SetFont("cjk", "", size)
			}
		}
		total := 0.0
		for _, r := range runs {
			font(r.ascii)
			total += pdf.GetStringWidth(r.text)
		}
		pdf.SetXY(x+(w-total)/2, y)
		for _, r := range runs {
			font(r.ascii)
			pdf.CellFormat(pdf.GetStringWidth(r.text), h, r.text, "", 0, "L", false, 0, "")
		}
	}
	para := func(x, y, w, size float64, text string, useCJK bool) float64 {
		if useCJK {
			pdf.SetFont("cjk", "", size)
		} else {
			pdf.SetFont("Helvetica", "", size)
		}
		pdf.SetXY(x, y)
		pdf.MultiCell(w, size*0.45, text, "", "L", false)
		return pdf.GetY()
	}
	const cardW, cardH = 105.0, 148.5
	for i, c := range cards {
		if i%4 == 0 {
			pdf.AddPage()
			cutMarks(pdf, cardW, cardH)
		}
		x := float64(i%2) * cardW
		y := float64(i%4/2) * cardH
		png, err := code.RenderPNG(c.Payload, "", 600)
		if err != nil {
			return nil, fmt.Errorf("paper codes: card %d: %w", i+1, err)
		}
		name := fmt.Sprintf("qr%d", i)
		pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))

		pdf.SetTextColor(0, 0, 0)
		title := "Health code (paper)"
		if cjk {
			title = "纸质健康码 Health code (paper)"
		}
		line(x, y+10, cardW, 7, 14, title)
		pdf.ImageOptions(name, x+(cardW-72)/2, y+19, 72, 72, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
		line(x, y+93, cardW, 8, 16, fmt.Sprintf("%s (%d)", c.MaskedName, c.BirthYear))
		line(x, y+101, cardW, 5, 9, fmt.Sprintf("%s %s", c.RegionName, c.Region))
		from, to := c.IssuedAt.In(loc).Format("2006-01-02"), c.ExpiresAt.In(loc).Format("2006-01-02")
		if cjk {
			line(x, y+106, cardW, 5, 9, fmt.Sprintf("有效期 %s 至 %s", from, to))
		}
		line(x, y+111, cardW, 5, 9, fmt.Sprintf("Valid %s to %s", from, to))
		ty := y + 118.0
		if cjk {
			ty = para(x+10, ty, cardW-20, 8, "请在检查点出示此码。本码不印颜色：检查点按本地区签发的状态名单核验。补发新码后，旧码作废。", true) + 1
		}
		ty = para(x+10, ty, cardW-20, 8, "Show this code at checkpoints. It carries no colour: checkpoints look it up in the region's signed status list. A new paper code replaces this one.", false)
		if !cjk {
			para(x+10, ty+1, cardW-20, 8, "(Printed without a Chinese font: the name is in the code.)", false)
		}
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("paper codes: %w", err)
	}
	return buf.Bytes(), nil
}

// cutMarks draws the lines to cut an A4 sheet into four A6 cards: short
// ticks at the edges and a cross in the middle, so no line crosses a card.
func cutMarks(pdf *fpdf.Fpdf, w, h float64) {
	pdf.SetDrawColor(120, 120, 120)
	pdf.SetLineWidth(0.2)
	const tick = 6.0
	pdf.Line(w, 0, w, tick)
	pdf.Line(w, 2*h-tick, w, 2*h)
	pdf.Line(0, h, tick, h)
	pdf.Line(2*w-tick, h, 2*w, h)
	pdf.Line(w-tick/2, h, w+tick/2, h)
	pdf.Line(w, h-tick/2, w, h+tick/2)
}

type run struct {
	text  string
	ascii bool
}

// splitRuns cuts s into runs of ASCII and of other characters.
func splitRuns(s string) []run {
	var out []run
	for _, r := range s {
		ascii := r < 0x80
		if len(out) == 0 || out[len(out)-1].ascii != ascii {
			out = append(out, run{ascii: ascii})
		}
		out[len(out)-1].text += string(r)
	}
	return out
}

// latin keeps what the PDF's built-in Latin fonts can draw and puts an
// asterisk for anything else.
func latin(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x7f && (unicode.IsPrint(r) || r == ' ') {
			b.WriteRune(r)
		} else {
			b.WriteRune('*')
		}
	}
	return b.String()
}
