package paperpdf

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"healthcode/internal/code"
)

func testCards(tb testing.TB, n int) []Card {
	tb.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	signer := code.NewSigner(priv)
	at := time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)
	var cards []Card
	for i := range n {
		payload, err := signer.Sign(code.Claims{Subject: "ABCDEFGH", IssuedAt: at, ExpiresAt: at.AddDate(1, 0, 0),
			MaskedName: "张*丰", BirthYear: 1950 + i, Kind: code.Paper, StatusIndex: i})
		if err != nil {
			tb.Fatal(err)
		}
		cards = append(cards, Card{Payload: payload, MaskedName: "张*丰", BirthYear: 1950 + i, RegionName: "杭州", Region: "330100",
			IssuedAt: at, ExpiresAt: at.AddDate(1, 0, 0)})
	}
	return cards
}

// TestRender prints five cards (two pages) with and without a CJK font and
// reads the QR codes back from the rendered pages when pdftoppm is there.
func TestRender(t *testing.T) {
	fonts := map[string]string{"latin": ""}
	if f := FindCJKFont(); f != "" {
		fonts["cjk"] = f
	} else {
		t.Log("no CJK font installed (apt-get install fonts-droid-fallback): testing the Latin fallback only")
	}
	for name, font := range fonts {
		t.Run(name, func(t *testing.T) {
			cards := testCards(t, 5)
			pdf, err := Render(cards, font, time.FixedZone("CST", 8*3600))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(pdf, []byte("%PDF-")) || bytes.Count(pdf, []byte("/Type /Page\n")) != 2 {
				t.Fatalf("want a PDF of 2 pages, got %d bytes with %d pages", len(pdf), bytes.Count(pdf, []byte("/Type /Page\n")))
			}
			if _, err := exec.LookPath("pdftoppm"); err != nil {
				t.Log("pdftoppm not installed: the pages are not read back")
				return
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "codes.pdf")
			if err := os.WriteFile(file, pdf, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("pdftoppm", "-r", "100", "-png", "-f", "1", "-l", "1", file, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
				t.Fatalf("pdftoppm: %v: %s", err, out)
			}
			matches, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
			if len(matches) != 1 {
				t.Fatalf("pdftoppm made %v", matches)
			}
			png, err := os.ReadFile(matches[0])
			if err != nil {
				t.Fatal(err)
			}
			got, err := code.ReadQR(png)
			if err != nil {
				t.Fatalf("no QR code read from the printed page: %v", err)
			}
			if !strings.HasPrefix(got, code.Prefix) {
				t.Errorf("read %q from the page", got)
			}
		})
	}
}

func TestRenderNothing(t *testing.T) {
	if _, err := Render(nil, "", nil); err == nil {
		t.Error("printing no cards succeeded")
	}
}
