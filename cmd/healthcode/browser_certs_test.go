package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/interop/dcc"
)

// TestBrowserCertificates: in Chromium, a resident opens the certificates
// page, gives the passport spelling of their name and sees their EU DCC
// and SMART Health Card as QR codes that read back from a phone-size
// screenshot; pastes a foreign certificate's text, signed by a DSC given
// to the server with --import-dsc, and sees it recorded; and a bad text
// is refused in Chinese on the Chinese page.
func TestBrowserCertificates(t *testing.T) {
	chromiumPath(t)
	shots := screenshotDir(t)
	dir := t.TempDir()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dsc, err := dcc.NewDSC(key, pkix.Name{Country: []string{"DE"}, CommonName: "a German DSC"}, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	dscFile := filepath.Join(t.TempDir(), "import-dsc.pem")
	if err := os.WriteFile(dscFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: dsc.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServerAt(t, dir, "127.0.0.1:0", "--import-dsc", dscFile)

	res := enrollResident(t, ts, "王秀兰", 601) // born 1960-03-08
	lab := createToken(t, dir, "lab")
	ts.call(t, "POST", "/api/v1/vaccinations", lab, map[string]any{"id_type": "resident_id", "id_number": res.idNum,
		"product": "CoronaVac", "dose": 2, "series_doses": 2, "date": now.AddDate(0, -2, 0).Format("2006-01-02")}, 201, nil)

	s := newSession(t, ts.url, "")
	s.open("/?lang=en")
	s.fill(map[string]string{"phone": res.phone, "password": res.passwd}, `main form button[type=submit]`)
	s.open("/certificates")
	if h := s.text("h1"); !strings.HasPrefix(h, "International certificates") {
		t.Fatalf("the certificates page says %q", h)
	}
	if cur := s.text(`nav.nav a[aria-current=page]`); cur != "Certificates" {
		t.Errorf("the navigation marks %q", cur)
	}
	s.shoot(shots, "certificates-latin-name")
	s.fill(map[string]string{"latin_name": "WANG, XIULAN"}, `.latin button[type=submit]`)
	s.waitFor(`document.querySelector('[data-kind=dcc-vaccination] svg') !== null`)
	if facts := s.text(`[data-kind=dcc-vaccination] + dl`); !strings.Contains(facts, "CoronaVac") || !strings.Contains(facts, "WANG, XIULAN") {
		t.Errorf("the DCC's facts: %q", facts)
	}
	s.shoot(shots, "certificates")

	// The QR codes, as a 360 px screen shows them, read back as what the API issues.
	var dccOut struct{ Payload string }
	ts.call(t, "GET", "/api/v1/me/certificates/dcc?type=vaccination&latin_name=WANG,+XIULAN", res.token, nil, 200, &dccOut)
	var shcOut struct{ QR []string }
	ts.call(t, "GET", "/api/v1/me/certificates/shc", res.token, nil, 200, &shcOut)
	for sel, want := range map[string]string{"[data-kind=dcc-vaccination]": dccOut.Payload, "[data-kind=shc-vaccination]": shcOut.QR[0]} {
		s.do(chromedp.ScrollIntoView(chromedp.CSS(sel + " svg")))
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel+" svg")))
		cancel()
		if err != nil {
			t.Fatalf("screenshot %s: %v", sel, err)
		}
		if err := os.WriteFile(filepath.Join(shots, "certificates-qr-"+sel[11:14]+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := code.ReadQR(png)
		if err != nil {
			t.Errorf("%s at 360 px: %v", sel, err)
			continue
		}
		// The certificate's text is re-issued on every load (a new id), so compare the kind of text.
		if got[:5] != want[:5] || len(got) < len(want)-8 || len(got) > len(want)+8 {
			t.Errorf("%s reads back as %.40q..., want %.40q...", sel, got, want)
		}
	}

	// A foreign test certificate, pasted.
	holder := dcc.Holder{Name: dcc.Name{FamilyName: "Wang", FamilyNameStandard: "WANG", GivenName: "Xiulan", GivenNameStandard: "XIULAN"},
		DateOfBirth: "1960-03-08"}
	issuer, err := dcc.NewIssuer(dcc.IssuerConfig{Key: key, DSC: dsc, Country: "DE", Authority: "Robert Koch-Institut"})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := issuer.IssueTest(holder, &healthcode.TestResult{Type: healthcode.PCR, Result: healthcode.Negative,
		SampledAt: now.Add(-20 * time.Hour), Institution: "Testzentrum Berlin Mitte"}, now)
	if err != nil {
		t.Fatal(err)
	}
	s.fill(map[string]string{"payload": foreign.Payload}, `#importform button[type=submit]`)
	if n := s.text(".notice"); n != "The test result is now in your record." {
		t.Errorf("after the import the notice says %q; the error %q", n, s.text(".alert"))
	}
	if got := s.text("#imported"); !strings.Contains(got, "Robert Koch-Institut (DE)") || !strings.Contains(got, "Not detected") {
		t.Errorf("what was recorded: %q", got)
	}
	if s.text("#dcc-test") == "" {
		t.Errorf("after the import the page shows no test DCC (the passport name was lost?)")
	}
	s.shoot(shots, "certificates-imported")

	// A bad text on the Chinese page.
	s.open("/certificates?lang=zh")
	s.fill(map[string]string{"payload": "HC1:这不是证书"}, `#importform button[type=submit]`)
	if a := s.text(".alert"); !strings.Contains(a, "这不是可读取的欧盟数字新冠证书") {
		t.Errorf("a bad certificate on the Chinese page: %q", a)
	}
	s.shoot(shots, "certificates-error-zh")
}
