package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
	"unicode"
)

// TestBrowserLabAndAdmin walks through the lab, keys and trust-list pages in
// Chromium: a lab clerk signs in with a lab token, is told in Chinese what
// is wrong with a bad test result, records a positive test, and the
// resident's code page turns red after a reload; an admin looks at the
// keys (after a rotation: an active and a retired key) and trusts a peer
// region by URL, after a Chinese error for a URL that is not a trust list.
// Screenshots of each page at phone and desktop size go to
// $HEALTHCODE_SCREENSHOTS.
func TestBrowserLabAndAdmin(t *testing.T) {
	chromiumPath(t)
	shots := screenshotDir(t)
	dir, addr := t.TempDir(), freeAddr(t)
	ts := startServerAt(t, dir, addr)
	ts.stop()
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"keys", "rotate-signing-key", "--data", dir}, func(string) string { return "" }, nil, &out, &errb); err != nil {
		t.Fatalf("rotate the signing key: %v: %s", err, errb.String())
	}
	ts = startServerAt(t, dir, addr)
	labTok, adminTok := createToken(t, dir, "lab"), createToken(t, dir, "admin")
	peer := startServer(t, "--region", "310100", "--region-name", "Shanghai")

	// The resident, signed in on their phone, sees a green code.
	res := enrollResident(t, ts, "周美华", 501)
	rs := newSession(t, ts.url, "")
	rs.open("/?lang=en")
	rs.fill(map[string]string{"phone": res.phone, "password": res.passwd}, `main form button[type=submit]`)
	rs.waitFor(`document.querySelector('#qr svg') !== null`)
	if col := rs.text("#colorword"); col != "Green" {
		t.Fatalf("the resident's code before the test: %q", col)
	}

	// The lab clerk signs in where officials do and lands on the lab form.
	s := newSession(t, ts.url, "")
	s.open("/admin/signin?lang=zh")
	s.fill(map[string]string{"token": labTok}, `main form button[type=submit]`)
	if h := s.text("h1"); h != "上报检测结果" {
		t.Fatalf("after signing in the lab clerk sees %q", h)
	}
	s.shoot(shots, "lab-test")
	// Bad input on the Chinese page: a wrong document, no result, a result
	// before the sample. Every error is Chinese.
	now := time.Now().In(time.FixedZone("CST", 8*3600))
	s.fill(map[string]string{"id_number": "330106196003080000", "sampled_at": now.Add(-time.Hour).Format("2006-01-02T15:04"),
		"resulted_at": now.Add(-2 * time.Hour).Format("2006-01-02T15:04")}, `main form button[type=submit]`)
	var errs []string
	s.eval(`Array.from(document.querySelectorAll('.fielderr, .alert')).map(e => e.textContent)`, &errs)
	if len(errs) < 3 {
		t.Fatalf("errors shown for bad input: %q", errs)
	}
	for _, e := range errs {
		if !hasHan(e) {
			t.Errorf("an error on the Chinese page is not in Chinese: %q", e)
		}
	}
	if e := s.text("#result-err"); !strings.Contains(e, "阳性或阴性") {
		t.Errorf("the result's error: %q", e)
	}
	var invalid []string
	s.eval(`Array.from(document.querySelectorAll('[aria-invalid=true]')).map(e => e.id)`, &invalid)
	if strings.Join(invalid, ",") != "id_number,resulted_at" {
		t.Errorf("fields marked invalid: %v", invalid)
	}
	s.shoot(shots, "lab-test-errors")
	// The keyboard reaches the first field in error from the skip link.
	var focusable bool
	s.eval(`(() => { const el = document.getElementById('id_number'); el.focus(); return document.activeElement === el; })()`, &focusable)
	if !focusable {
		t.Error("the document number field cannot take the focus")
	}

	// A positive test for the resident.
	s.fill(map[string]string{"id_number": res.idNum, "result-positive": "on", "sampled_at": now.Add(-5 * time.Hour).Format("2006-01-02T15:04"),
		"resulted_at": now.Add(-time.Hour).Format("2006-01-02T15:04"), "institution": "西湖区疾控中心"}, `main form button[type=submit]`)
	if d := s.text(".done h2"); !strings.Contains(d, "检测结果已记录") {
		t.Fatalf("after recording: %q / %q", d, s.text("main"))
	}
	if d := s.text(".done"); !strings.Contains(d, "阳性") || strings.Contains(d, res.idNum) {
		t.Errorf("the confirmation: %q", d)
	}
	s.shoot(shots, "lab-test-recorded")

	// The resident's code turns red after a reload.
	rs.open("/?lang=en")
	rs.waitFor(`document.querySelector('#qr svg') !== null`)
	if col := rs.text("#colorword"); col != "Red" {
		t.Errorf("the resident's code after a positive test: %q", col)
	}
	rs.shoot(shots, "lab-resident-red")

	// A vaccination, in English this time.
	s.open("/admin/vaccinations?lang=en")
	s.shoot(shots, "lab-vaccination")
	s.fill(map[string]string{"id_number": res.idNum, "product": "CoronaVac", "dose": "0"}, `main form button[type=submit]`)
	if e := s.text("#dose-err"); !strings.Contains(e, "between 1 and 20") {
		t.Errorf("a dose of 0: %q", e)
	}
	s.shoot(shots, "lab-vaccination-errors")
	s.fill(map[string]string{"dose": "1"}, `main form button[type=submit]`)
	if d := s.text(".done h2"); !strings.Contains(d, "Vaccination recorded") {
		t.Fatalf("after recording a vaccination: %q", s.text("main"))
	}
	s.shoot(shots, "lab-vaccination-recorded")

	// The admin: keys, then trust lists.
	a := newSession(t, ts.url, "")
	a.open("/admin/signin?lang=en")
	a.fill(map[string]string{"token": adminTok}, `main form button[type=submit]`)
	a.open("/admin/keys")
	if st := a.text("main"); !strings.Contains(st, "Active") || !strings.Contains(st, "Retired, still verifying") || !strings.Contains(st, "healthcode keys revoke-signing-key") {
		t.Errorf("the keys page: %q", st)
	}
	a.shoot(shots, "admin-keys")
	a.open("/admin/keys?lang=zh")
	a.shoot(shots, "admin-keys-zh")
	a.open("/admin/trust?lang=zh")
	a.shoot(shots, "admin-trust")
	a.fill(map[string]string{"url": peer.url + "/healthz"}, `form[action="/admin/trust"] button`)
	if e := a.text("#url-err"); !hasHan(e) {
		t.Errorf("a URL that is not a trust list, on the Chinese page: %q", e)
	}
	a.shoot(shots, "admin-trust-error")
	a.fill(map[string]string{"url": peer.url + "/.well-known/healthcode/trust-list"}, `form[action="/admin/trust"] button`)
	if n := a.text(".notice"); !strings.Contains(n, "310100") {
		t.Fatalf("after adding the peer: %q", a.text("main"))
	}
	a.shoot(shots, "admin-trust-peer")
	a.submit(`form[action="/admin/trust/remove"] button`)
	if n := a.text(".notice"); !strings.Contains(n, "已停止信任") {
		t.Errorf("after removing the peer: %q", a.text("main"))
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}
