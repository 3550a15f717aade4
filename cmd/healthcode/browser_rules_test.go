package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserRules: an admin previews a new rule set in Chromium, sees the
// diff and publishes it; a resident whom it affects sees the new colour
// after a refresh, and the public rules page shows the history.
func TestBrowserRules(t *testing.T) {
	chromiumPath(t)
	shots := screenshotDir(t)
	ts := startServerAt(t, t.TempDir(), "127.0.0.1:0")

	// A resident with a fever: yellow under the default rules.
	res := enrollResident(t, ts, "周芳", 501)
	ts.call(t, "POST", "/api/v1/me/declarations", res.token, map[string]any{"temperature": 38.4, "symptoms": []string{},
		"visited": []any{}, "contact_with_case": false}, 201, nil)
	rs := newSession(t, ts.url, "")
	rs.open("/?lang=en")
	rs.fill(map[string]string{"phone": res.phone, "password": res.passwd}, `main form button[type=submit]`)
	rs.waitFor(`document.querySelector('#qr svg') !== null`)
	if c := rs.text("#colorword"); c != "Yellow" {
		t.Fatalf("the feverish resident's code before: %q", c)
	}

	var before struct{ Version string }
	ts.call(t, "GET", "/api/v1/rules", "", nil, 200, &before)

	s := newSession(t, ts.url, "")
	s.open("/admin?lang=en")
	s.fill(map[string]string{"token": ts.adminToken}, `main form button[type=submit]`)
	s.open("/admin/rules")
	if h := s.text("h1"); h != "Publish rules" {
		t.Fatalf("the admin's rules page says %q", h)
	}
	s.shoot(shots, "admin-rules")

	// A document with a mistake: every problem, by rule and field.
	bad := strings.Replace(redFeverRules(t), "(it.temperature >= 37.3", "(it.temprature >= 37.3", 1)
	s.fill(map[string]string{"source": bad}, `#rules-preview`)
	if p := s.text(".problems"); !strings.Contains(p, "rules.fever_or_symptoms.when") || !strings.Contains(p, "temprature") {
		t.Errorf("problems shown: %q", p)
	}
	s.shoot(shots, "admin-rules-problems")

	// The fix: the preview shows the one change, nothing is published yet.
	s.fill(map[string]string{"source": redFeverRules(t)}, `#rules-preview`)
	preview := s.text("#preview")
	for _, want := range []string{"fever_or_symptoms", "Changed", "yellow", "red", "Rules changed: 1", "Rules added: 0"} {
		if !strings.Contains(strings.Join(strings.Fields(preview), " "), want) {
			t.Errorf("the preview does not show %q: %s", want, preview)
		}
	}
	var now struct{ Version string }
	ts.call(t, "GET", "/api/v1/rules", "", nil, 200, &now)
	if now.Version != before.Version {
		t.Fatalf("a preview published %s", now.Version)
	}
	s.shoot(shots, "admin-rules-preview")
	// The line diff opens too.
	s.eval(`document.querySelector('#preview details').open = true`, nil)
	s.shoot(shots, "admin-rules-preview-lines")

	s.submit(`#rules-publish`)
	if n := s.text(".notice"); !strings.Contains(n, "Published") {
		t.Errorf("after publishing: %q", s.text("main"))
	}
	s.shoot(shots, "admin-rules-published")
	ts.call(t, "GET", "/api/v1/rules", "", nil, 200, &now)
	if now.Version == before.Version {
		t.Fatal("nothing was published")
	}

	// The resident refreshes: red.
	rs.open("/?lang=en")
	rs.waitFor(`document.getElementById('colorword').textContent === 'Red'`)
	rs.shoot(shots, "code-red-after-rules")
	rs.open("/status")
	if !strings.Contains(rs.text("main"), now.Version) && !strings.Contains(rs.text("main"), "fever") {
		t.Errorf("the status page after the publication: %s", rs.text("main"))
	}

	// The public rules page lists both publications and links to the change.
	rs.open("/rules")
	if h := rs.text("#history"); !strings.Contains(h, now.Version) || !strings.Contains(h, before.Version) || !strings.Contains(h, "What changed") {
		t.Errorf("the public history: %q", h)
	}
	rs.shoot(shots, "rules-history")
	rs.submit(`#history a[href^="/rules/diff"]`)
	if d := rs.text("main"); !strings.Contains(d, "fever_or_symptoms") {
		t.Errorf("the public diff page: %q", d)
	}
	rs.shoot(shots, "rules-diff")

	// Roll back from the history: the preview, then the resident is yellow again.
	s.open("/admin/rules")
	s.submit(`#history a[href^="/admin/rules/versions/"]`)
	if p := s.text("#preview"); !strings.Contains(p, "fever_or_symptoms") {
		t.Errorf("the rollback preview: %q", p)
	}
	s.shoot(shots, "admin-rules-rollback")
	s.submit(`#rules-publish`)
	ts.call(t, "GET", "/api/v1/rules", "", nil, 200, &now)
	if now.Version != before.Version {
		t.Errorf("after the rollback %s is in force, want %s", now.Version, before.Version)
	}
	rs.open("/?lang=en")
	rs.waitFor(`document.getElementById('colorword').textContent === 'Yellow'`)

	// The same pages in Chinese.
	s.open("/admin/rules?lang=zh")
	s.fill(map[string]string{"source": redFeverRules(t)}, `#rules-preview`)
	if h := s.text("#preview-h"); h != "此规则集将带来的改动" {
		t.Errorf("the preview's heading in Chinese: %q", h)
	}
	s.shoot(shots, "admin-rules-preview-zh")
	rs.open("/rules?lang=zh")
	rs.shoot(shots, "rules-history-zh")

	// A tracer may read the rules but not publish.
	tracer := createToken(t, ts.dataDir, "tracer")
	req, _ := http.NewRequest("POST", ts.url+"/api/v1/rules", strings.NewReader(redFeverRules(t)))
	req.Header.Set("Authorization", "Bearer "+tracer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("a tracer publishing: %d", resp.StatusCode)
	}
}
