package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/dasio/base45"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/statuslist"
	"healthcode/internal/trust"
)

// The browser tests drive Debian's chromium through chromedp against a real
// server started in-process. They are skipped when chromium is not
// installed, unless HEALTHCODE_REQUIRE_BROWSER is set (scripts/test.sh sets
// it and installs chromium), in which case its absence fails them.

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("HEALTHCODE_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium is not installed and HEALTHCODE_REQUIRE_BROWSER is set (apt-get install chromium)")
	}
	t.Skip("chromium is not installed: browser tests skipped (apt-get install chromium, or run scripts/test.sh)")
	return ""
}

// newChromium starts one headless chromium for a test. fakeVideo, if not
// empty, is a Y4M file the fake camera shows.
func newChromium(t *testing.T, fakeVideo string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.WindowSize(1280, 800),
	}
	if fakeVideo != "" {
		opts = append(opts, chromedp.Flag("use-file-for-fake-video-capture", fakeVideo))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// session is one person's browser: its own chromium with a fresh profile
// (cookies, storage, service workers), in one tab.
type session struct {
	t   *testing.T
	ctx context.Context
	url string
}

// newSession starts a browser for one person; fakeVideo is what its camera
// shows ("" for chromium's test pattern).
func newSession(t *testing.T, base, fakeVideo string) *session {
	t.Helper()
	s := &session{t: t, ctx: newChromium(t, fakeVideo), url: base}
	s.viewport(360, 640)
	return s
}

func (s *session) do(steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		s.t.Fatalf("browser: %v", err)
	}
}

func (s *session) viewport(w, h int64) {
	s.t.Helper()
	s.do(chromedp.EmulateViewport(w, h))
}

func (s *session) open(path string) {
	s.t.Helper()
	s.do(chromedp.Navigate(s.url+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// eval runs JavaScript (awaiting a promise) and decodes its value into out.
func (s *session) eval(js string, out any) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		s.t.Fatalf("evaluate %s: %v", js, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("evaluate %s: %v in %s", js, err, raw)
		}
	}
}

// waitFor polls a JavaScript condition (a promise is awaited) until it is
// true, for up to a minute.
func (s *session) waitFor(cond string) {
	s.t.Helper()
	var last error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`Promise.resolve((() => { try { return `+cond+`; } catch (e) { return false; } })()).then(Boolean)`, chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
	}
	var body string
	s.eval(`document.body ? document.body.innerText : ''`, &body)
	s.t.Fatalf("waited a minute for %s (last error %v); the page says:\n%s", cond, last, body)
}

// fill sets form fields by id and submits the form of the last one.
func (s *session) fill(fields map[string]string, submit string) {
	s.t.Helper()
	js, _ := json.Marshal(fields)
	s.eval(fmt.Sprintf(`(() => { const f = %s; for (const [id, v] of Object.entries(f)) { const el = document.getElementById(id);
		if (el.type === 'checkbox' || el.type === 'radio') el.checked = v === 'on'; else el.value = v; } return true; })()`, js), nil)
	s.submit(submit)
}

// submit clicks a button that loads a new page and waits for that page.
func (s *session) submit(sel string) {
	s.t.Helper()
	s.eval(`window.__hcOld = true`, nil)
	s.do(chromedp.Click(chromedp.CSS(sel)))
	s.waitFor(`!window.__hcOld && document.readyState === 'complete'`)
}

func (s *session) text(sel string) string {
	s.t.Helper()
	var out string
	s.eval(fmt.Sprintf(`document.querySelector(%q) ? document.querySelector(%q).textContent : ''`, sel, sel), &out)
	return out
}

// shoot saves a full-page screenshot at phone and desktop size, and checks
// that at phone size nothing is wider than the screen.
func (s *session) shoot(dir, name string) {
	s.t.Helper()
	for _, size := range []struct {
		w, h int64
		tag  string
	}{{360, 640, "phone"}, {1280, 800, "desktop"}} {
		s.viewport(size.w, size.h)
		if size.tag == "phone" {
			// Accessibility basics: every form control has a label.
			var unlabelled []string
			s.eval(`Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea')).filter(el =>
				!(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.outerHTML)`, &unlabelled)
			if len(unlabelled) > 0 {
				s.t.Errorf("%s: form controls without a label: %v", name, unlabelled)
			}
			// Contrast: text against its background meets WCAG AA (4.5:1, or
			// 3:1 for large text).
			var low []string
			s.eval(contrastJS, &low)
			if len(low) > 0 {
				s.t.Errorf("%s: text with too little contrast: %v", name, low)
			}
			var fits bool
			s.eval(`document.documentElement.scrollWidth <= window.innerWidth + 1`, &fits)
			if !fits {
				var w int
				s.eval(`document.documentElement.scrollWidth`, &w)
				s.t.Errorf("%s: the page is %d px wide at a 360 px screen", name, w)
			}
		}
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			s.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+size.tag+".png"), img, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	s.viewport(360, 640)
}

// contrastJS lists the visible texts whose contrast with their background
// is below WCAG AA.
const contrastJS = `(() => {
  const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3); } return [255, 255, 255]; };
  const out = [];
  document.querySelectorAll('body *').forEach(el => {
    if (el.closest('svg') || !Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) return;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none' || !el.getClientRects().length) return;
    const a = lum(rgb(st.color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) out.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  });
  return out;
})()`

// bytesOf measures what the network carried (encodedDataLength: headers and
// body as sent, compressed) for the requests that action makes.
func (s *session) bytesOf(action func()) (total float64, per map[string]float64) {
	s.t.Helper()
	var mu sync.Mutex
	urls := map[network.RequestID]string{}
	per = map[string]float64{}
	ctx, cancel := context.WithCancel(s.ctx)
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		s.t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		s.t.Fatal(err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls[e.RequestID] = e.Request.URL
		case *network.EventLoadingFinished:
			per[strings.TrimPrefix(urls[e.RequestID], s.url)] += e.EncodedDataLength
			total += e.EncodedDataLength
		}
	}); err != nil {
		s.t.Fatal(err)
	}
	action()
	time.Sleep(300 * time.Millisecond) // the last loadingFinished events
	cancel()
	mu.Lock()
	defer mu.Unlock()
	return total, per
}

// writeY4M writes a picture as a two-frame greyscale Y4M video, the format
// chromium's fake camera reads.
func writeY4M(t *testing.T, path string, pngData []byte) {
	t.Helper()
	src, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 640, 480
	canvas := image.NewGray(image.Rect(0, 0, w, h))
	draw.Draw(canvas, canvas.Bounds(), image.White, image.Point{}, draw.Src)
	b := src.Bounds()
	off := image.Pt((w-b.Dx())/2, (h-b.Dy())/2)
	draw.Draw(canvas, b.Add(off).Sub(b.Min), src, b.Min, draw.Src)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "YUV4MPEG2 W%d H%d F5:1 Ip A1:1 C420jpeg\n", w, h)
	chroma := bytes.Repeat([]byte{128}, w*h/4)
	for range 2 {
		buf.WriteString("FRAME\n")
		buf.Write(canvas.Pix)
		buf.Write(chroma)
		buf.Write(chroma)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("HEALTHCODE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "healthcode-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type residentFixture struct {
	id            int64
	token, idNum  string
	phone, passwd string
}

func enrollResident(t *testing.T, ts *testServer, name string, seq int) residentFixture {
	t.Helper()
	r := residentFixture{idNum: residentID("330106", "1960-03-08", seq, false), phone: fmt.Sprintf("1360000%04d", seq), passwd: "long enough"}
	body := map[string]any{"name": name, "sex": "female", "birth_date": "1960-03-08", "nationality": "CHN", "id_type": "resident_id",
		"id_number": r.idNum, "phone": r.phone, "password": r.passwd, "region": "330106", "address": "文三路 9 号"}
	var me struct{ ID int64 }
	ts.call(t, "POST", "/api/v1/residents", "", body, 201, &me)
	var login struct{ Token string }
	ts.call(t, "POST", "/api/v1/login", "", map[string]string{"phone": r.phone, "password": r.passwd}, 200, &login)
	r.id, r.token = me.ID, login.Token
	return r
}

// pageDecision is what the checkpoint page decided.
type pageDecision struct {
	Decision  string `json:"decision"`
	ReasonZH  string `json:"reason_zh"`
	Reject    string `json:"reject"`
	Color     string `json:"color"`
	Subject   string `json:"subject"`
	CheckInID string `json:"checkin_id"`
	CheckInAt string `json:"checkin_at"`
}

// TestBrowser walks through the resident, authority and checkpoint pages in
// Chromium: it registers and declares a fever, traces and designates a
// contact, checks codes at the checkpoint page against the Go verifier,
// keeps checking with the server stopped, and measures the code screen's
// bytes. Screenshots of each page at phone and desktop size go to
// $HEALTHCODE_SCREENSHOTS.
func TestBrowser(t *testing.T) {
	chromiumPath(t)
	shots := screenshotDir(t)
	dir, addr := t.TempDir(), freeAddr(t)
	ts := startServerAt(t, dir, addr)
	tracerTok, venueTok := createToken(t, dir, "tracer"), createToken(t, dir, "venue")

	var venue struct {
		ID        int64  `json:"id"`
		PlaceCode string `json:"place_code"`
	}
	ts.call(t, "POST", "/api/v1/venues", venueTok, map[string]any{"name": "银泰百货", "type": "mall", "region": "330106",
		"address": "延安路 98 号", "policy": map[string]any{"kind": "green"}}, 201, &venue)
	var cp struct{ Token string }
	ts.call(t, "POST", fmt.Sprintf("/api/v1/venues/%d/checkpoint-tokens", venue.ID), venueTok, map[string]string{"name": "east gate"}, 201, &cp)

	// D carries a paper code; the fake camera shows it.
	d := enrollResident(t, ts, "李秀英", 301)
	var paper struct{ Payload string }
	ts.call(t, "POST", "/api/v1/me/paper-code", d.token, nil, 201, &paper)
	qr, err := code.RenderPNG(paper.Payload, "", 400)
	if err != nil {
		t.Fatal(err)
	}
	video := filepath.Join(t.TempDir(), "paper-code.y4m")
	writeY4M(t, video, qr)

	t.Run("resident", func(t *testing.T) { testResidentPages(t, ts, shots) })
	t.Run("tracer", func(t *testing.T) { testTracerPages(t, ts, shots, tracerTok, venue.PlaceCode) })
	t.Run("venue", func(t *testing.T) { testVenuePages(t, ts, shots, venueTok) })
	t.Run("appeals", func(t *testing.T) {
		testAppealPages(t, ts, shots, dir, tracerTok, createToken(t, dir, "reviewer"), createToken(t, dir, "auditor"))
	})
	t.Run("checkpoint", func(t *testing.T) {
		testCheckpointPage(t, ts, video, shots, cp.Token, venue.ID, paper.Payload, createToken(t, dir, "lab"),
			func() *testServer { return startServerAt(t, dir, addr) })
	})
}

func testResidentPages(t *testing.T, ts *testServer, shots string) {
	s := newSession(t, ts.url, "")
	s.open("/?lang=en")
	s.shoot(shots, "signin")
	s.open("/register")
	s.shoot(shots, "register")
	s.fill(map[string]string{"name": "张小红", "birth_date": "1992-07-21", "id_number": residentID("330106", "1992-07-21", 41, false),
		"phone": "13500000041", "password": "a long password", "region": "330106", "address": "西湖区文三路 1 号", "sex-female": "on"}, `main form button[type=submit]`)
	s.waitFor(`document.querySelector('#qr svg') !== null`)
	if c := s.text("#colorword"); c != "Green" {
		t.Fatalf("after registering, the code screen says %q", c)
	}
	s.shoot(shots, "code-green")

	// Another site's page posts a fever declaration with the resident's
	// cookie (a different port is the same site, so the Lax cookie goes
	// along): the server refuses it.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/declare"><input name="temperature" value="39.5">`+
			`<input name="symptom" value="fever"><input name="contact_with_case" value="true"></form>`+
			`<script>document.getElementById('f').submit()</script>`, ts.url)
	}))
	defer evil.Close()
	s.do(chromedp.Navigate(evil.URL))
	s.waitFor(`location.href.indexOf('/declare') > 0 && document.body && document.body.innerText.indexOf('cross-site') >= 0`)
	s.open("/")
	if c := s.text("#colorword"); c != "Green" {
		t.Fatalf("after another site's forged declaration the code screen says %q", c)
	}

	// The code screen's weight: the first load, and a refresh.
	first, per := s.bytesOf(func() {
		s.open("/")
		s.waitFor(`document.querySelector('#qr svg') !== null`)
	})
	t.Logf("code screen first load: %.0f bytes (%v)", first, per)
	if first > 30*1024 || first < 1000 {
		t.Errorf("the code screen's first load transferred %.0f bytes; the budget is 30 KB (%v)", first, per)
	}
	refresh, per := s.bytesOf(func() { s.eval(`hcCode.refresh().then(() => true)`, nil) })
	t.Logf("code refresh: %.0f bytes (%v)", refresh, per)
	if refresh > 1024 || refresh == 0 {
		t.Errorf("a code refresh transferred %.0f bytes; the budget is 1 KB (%v)", refresh, per)
	}

	// The code on the screen is the resident's signed code.
	var payload string
	s.eval(`document.getElementById('code').dataset.payload`, &payload)
	if !strings.HasPrefix(payload, code.Prefix) {
		t.Errorf("payload %q", payload)
	}

	// Declare a fever: the code turns yellow and says why.
	s.open("/declare")
	s.shoot(shots, "declare")
	s.fill(map[string]string{"temperature": "38.6", "symptom-fever": "on"}, `#declare-submit`)
	s.waitFor(`document.querySelector('#qr svg') !== null`)
	if c := s.text("#colorword"); c != "Yellow" {
		t.Errorf("after declaring a fever the code screen says %q", c)
	}
	if r := s.text(".reasons"); !strings.Contains(strings.ToLower(r), "fever") {
		t.Errorf("reasons after a fever: %q", r)
	}
	s.shoot(shots, "code-yellow")
	s.open("/status")
	s.shoot(shots, "status")
	s.open("/?lang=zh")
	if c := s.text("#colorword"); c != "黄码" {
		t.Errorf("in Chinese the code screen says %q", c)
	}
	s.shoot(shots, "code-yellow-zh")
	for _, p := range []string{"family", "notifications", "paper", "rules", "scan"} {
		s.open("/" + p + "?lang=en")
		s.shoot(shots, p)
	}
	// Keyboard: the first Tab reaches the skip link.
	var active string
	s.do(chromedp.KeyEvent("\t"))
	s.eval(`document.activeElement.className`, &active)
	if active != "skip" {
		t.Errorf("the first Tab focuses %q, not the skip link", active)
	}
}

// testAppealPages: a resident with a case files an appeal through the page,
// a reviewer opens it with a purpose and upholds it, and the resident sees
// the decision and the reviewer's read in the access log.
func testAppealPages(t *testing.T, ts *testServer, shots, dataDir, tracerTok, reviewerTok, auditorTok string) {
	r := enrollResident(t, ts, "周敏", 601)
	var cr struct{ Case struct{ ID int64 } }
	ts.call(t, "POST", "/api/v1/cases", tracerTok, map[string]string{"id_type": "resident_id", "id_number": r.idNum,
		"sample_date": time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")}, 201, &cr)
	s := newSession(t, ts.url, "")
	s.open("/?lang=en")
	s.fill(map[string]string{"phone": r.phone, "password": r.passwd}, `main form button[type=submit]`)
	s.open("/appeals")
	s.shoot(shots, "appeals")
	s.fill(map[string]string{"fact_kind": "case", "fact_id": fmt.Sprint(cr.Case.ID), "what": "I am not a case",
		"why": "The lab mixed up my sample with another person's.", "evidence": "Hospital letter 2026-117"}, `#appeal-submit`)
	if st := s.text(".appeals .badge"); st != "Open" {
		t.Fatalf("after filing, the appeal is %q: %s", st, s.text("main"))
	}
	s.shoot(shots, "appeals-filed")

	rv := newSession(t, ts.url, "")
	rv.open("/admin?lang=en")
	rv.fill(map[string]string{"token": reviewerTok}, `main form button[type=submit]`)
	if h := rv.text("h1"); h != "Appeal queue" {
		t.Fatalf("after signing in the reviewer sees %q", h)
	}
	rv.shoot(shots, "admin-appeals")
	rv.submit(`main table a`)
	rv.fill(map[string]string{"purpose": "appeal review: sample mix-up"}, `#open-submit`)
	if !strings.Contains(rv.text("main"), "I am not a case") {
		t.Fatalf("the opened appeal: %s", rv.text("main"))
	}
	rv.shoot(shots, "admin-appeal")
	rv.fill(map[string]string{"decision-uphold": "on", "reason": "The hospital confirmed the mix-up."}, `#decide-submit`)
	if n := rv.text(".notice"); !strings.Contains(n, "Decision recorded") {
		t.Errorf("after deciding: %q", rv.text("main"))
	}
	// A tracer proposes an override of another resident's case; the
	// reviewer opens it with a purpose and approves.
	o := enrollResident(t, ts, "吴刚", 603)
	var oc struct{ Case struct{ ID int64 } }
	ts.call(t, "POST", "/api/v1/cases", tracerTok, map[string]string{"id_type": "resident_id", "id_number": o.idNum,
		"sample_date": time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")}, 201, &oc)
	tr := newSession(t, ts.url, "")
	tr.open("/admin?lang=en")
	tr.fill(map[string]string{"token": tracerTok}, `main form button[type=submit]`)
	tr.open("/admin/overrides")
	tr.fill(map[string]string{"fact_kind": "case", "fact_id": fmt.Sprint(oc.Case.ID), "kind": "data_error",
		"reason": "Recorded for the wrong person: two samples were swapped."}, `#propose-submit`)
	tr.shoot(shots, "admin-overrides")
	// The proposer, holding a reviewer token under their own name, is refused.
	var tokOut, tokErr bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--data", dataDir, "--role", "reviewer", "--name", "tracer test"},
		func(string) string { return "" }, nil, &tokOut, &tokErr); err != nil {
		t.Fatalf("token create: %v: %s", err, tokErr.String())
	}
	self := newSession(t, ts.url, "")
	self.open("/admin?lang=en")
	self.fill(map[string]string{"token": strings.TrimSpace(tokOut.String())}, `main form button[type=submit]`)
	self.open("/admin/overrides")
	self.submit(`main table a`)
	self.fill(map[string]string{"purpose": "override review"}, `#open-submit`)
	self.fill(map[string]string{"decision-approve": "on"}, `#decide-submit`)
	if a := self.text(".alert"); !strings.Contains(a, "proposed") {
		t.Errorf("the proposer approving their own override: %q", self.text("main"))
	}
	self.shoot(shots, "admin-override-refused")
	rv.open("/admin/overrides")
	rv.submit(`main table a`)
	rv.fill(map[string]string{"purpose": "override review"}, `#open-submit`)
	rv.shoot(shots, "admin-override")
	rv.fill(map[string]string{"decision-approve": "on"}, `#decide-submit`)
	if n := rv.text(".notice"); !strings.Contains(n, "Decision recorded") {
		t.Errorf("after approving the override: %q", rv.text("main"))
	}

	s.open("/appeals")
	if st := s.text(".appeals .badge"); st != "Upheld" || !strings.Contains(s.text("main"), "The hospital confirmed the mix-up.") {
		t.Errorf("the resident sees the appeal %q: %s", st, s.text("main"))
	}
	s.shoot(shots, "appeals-upheld")
	s.open("/appeals?lang=zh")
	s.shoot(shots, "appeals-zh")
	s.open("/access-log?lang=en")
	if !strings.Contains(s.text("main"), "appeal review: sample mix-up") {
		t.Errorf("access log: %s", s.text("main"))
	}
	s.shoot(shots, "access-log")

	a := newSession(t, ts.url, "")
	a.open("/admin?lang=en")
	a.fill(map[string]string{"token": auditorTok}, `main form button[type=submit]`)
	a.shoot(shots, "admin-audit")
	a.submit(`#verify-link`)
	if v := a.text("#verify-result .big"); v != "The chain is intact" {
		t.Errorf("chain check: %q", v)
	}
	a.shoot(shots, "admin-audit-verify")
}

func testTracerPages(t *testing.T, ts *testServer, shots, tracerTok, placeCode string) {
	// A case and a contact check in at the same venue by its place code:
	// the case through the API, the contact by scanning the code posted at
	// the door with the phone's camera.
	c := enrollResident(t, ts, "陈建国", 401)
	b := enrollResident(t, ts, "赵丽", 403)
	ts.call(t, "POST", "/api/v1/me/checkins", c.token, map[string]string{"place_code": placeCode}, 201, nil)
	poster, err := code.RenderPNG(placeCode, "", 360)
	if err != nil {
		t.Fatal(err)
	}
	video := filepath.Join(t.TempDir(), "place-code.y4m")
	writeY4M(t, video, poster)
	bs := newSession(t, ts.url, video)
	bs.open("/?lang=en")
	bs.fill(map[string]string{"phone": b.phone, "password": b.passwd}, `main form button[type=submit]`)
	bs.waitFor(`document.querySelector('#qr svg') !== null`)
	if col := bs.text("#colorword"); col != "Green" {
		t.Fatalf("contact's code before tracing: %q", col)
	}
	bs.open("/scan")
	bs.waitFor(`location.pathname.startsWith('/P/') && document.getElementById('checkin') !== null`)
	bs.shoot(shots, "place")
	bs.submit(`#checkin`)
	if v := bs.text(".verdict"); v != "ADMIT" {
		t.Errorf("checking in by scanning the place code: %q", bs.text("main"))
	}
	bs.shoot(shots, "place-checked-in")

	s := newSession(t, ts.url, "")
	s.open("/admin?lang=en")
	s.shoot(shots, "admin-signin")
	s.fill(map[string]string{"token": tracerTok}, `main form button[type=submit]`)
	if h := s.text("h1"); h != "Dashboard" {
		t.Fatalf("after signing in the tracer sees %q", h)
	}
	s.open("/admin/cases")
	s.shoot(shots, "admin-cases")
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	s.fill(map[string]string{"id_number": c.idNum, "onset_date": today, "note": "cluster 1"}, `form[method=post][action="/admin/cases"] button`)
	if h := s.text("h1"); !strings.Contains(h, "Case #") {
		t.Fatalf("after confirming a case: %q", h)
	}
	s.shoot(shots, "admin-case")
	s.fill(map[string]string{"purpose": "cluster 1: find the close contacts"}, `form[action$="/trace"] button`)
	var rows int
	s.eval(`document.querySelectorAll('input[name=subject]').length`, &rows)
	if rows != 1 {
		t.Fatalf("trace found %d contacts, want 1", rows)
	}
	var nodes int
	s.eval(`document.querySelectorAll('svg.graph circle').length`, &nodes)
	if nodes != 2 {
		t.Errorf("the contact graph has %d nodes, want the case and one contact", nodes)
	}
	s.shoot(shots, "admin-trace")
	s.submit(`form[action$="/designate"] button`)
	if r := s.text("table"); !strings.Contains(r, "designated") {
		t.Errorf("designation result: %q", r)
	}
	s.shoot(shots, "admin-designated")

	// After a refresh the contact's page is yellow.
	bs.open("/")
	bs.waitFor(`document.querySelector('#qr svg') !== null`)
	if col := bs.text("#colorword"); col != "Yellow" {
		t.Errorf("contact's code after designation: %q", col)
	}
	bs.shoot(shots, "contact-yellow")

	// Discharge the case.
	s.open("/admin/cases/1")
	s.fill(map[string]string{"discharge-confirm": "on"}, `form[action$="/discharge"] button`)
	if r := s.text("dl.facts"); strings.Contains(r, "Discharged—") || !strings.Contains(r, "Discharged") {
		t.Errorf("case after discharge: %q", r)
	}
	if n := strings.Count(s.text("main"), "Record the discharge"); n != 0 {
		t.Errorf("a discharged case still offers the discharge")
	}

	s.open("/admin")
	var tiles string
	s.eval(`document.querySelector('.tiles').textContent`, &tiles)
	if !strings.Contains(tiles, "Open cases") {
		t.Errorf("dashboard tiles: %q", tiles)
	}
	s.shoot(shots, "admin-dashboard")
	s.open("/admin/lookup")
	s.fill(map[string]string{"id_number": b.idNum, "purpose": "follow up a designated contact"}, `main form button[type=submit]`)
	if r := s.text(".statusbox"); !strings.Contains(r, "Yellow") {
		t.Errorf("lookup: %q", r)
	}
	s.shoot(shots, "admin-lookup")
	s.open("/admin/areas")
	s.fill(map[string]string{"region_prefix": "4201", "level": "high"}, `main form button[type=submit]`)
	if r := s.text("table"); !strings.Contains(r, "4201") {
		t.Errorf("areas: %q", r)
	}
	s.shoot(shots, "admin-areas")
	s.open("/admin/contact-notices")
	if r := s.text("main h1"); !strings.Contains(r, "Contact notices") {
		t.Errorf("contact notices: %q", r)
	}
	s.shoot(shots, "admin-contact-notices")
	s.open("/admin/paper-codes")
	s.shoot(shots, "admin-paper-codes")
	s.open("/rules")
	s.shoot(shots, "admin-rules")
}

func testVenuePages(t *testing.T, ts *testServer, shots, venueTok string) {
	s := newSession(t, ts.url, "")
	s.open("/admin/signin?lang=en")
	s.fill(map[string]string{"token": venueTok}, `main form button[type=submit]`)
	s.fill(map[string]string{"name": "知味观", "type": "restaurant", "address": "仁和路 83 号", "policy": "green_and_test_within_hours", "hours": "48"},
		`form[action="/admin/venues"] button`)
	if r := s.text("main"); !strings.Contains(r, "知味观") {
		t.Fatalf("venues page after creating one: %q", r)
	}
	s.shoot(shots, "admin-venues")
	s.open("/admin/venues/1/print")
	s.shoot(shots, "admin-venue-print")
}

func testCheckpointPage(t *testing.T, ts *testServer, video, shots, cpToken string, venueID int64, paperPayload, labToken string, restart func() *testServer) {
	// The codes to check, and what the Go verifier makes of them.
	green := enrollResident(t, ts, "周杰", 501)
	var gc struct{ Payload string }
	ts.call(t, "GET", "/api/v1/me/code", green.token, nil, 200, &gc)
	yellow := enrollResident(t, ts, "吴敏", 503)
	ts.call(t, "POST", "/api/v1/me/declarations", yellow.token, map[string]any{"temperature": 38.9, "symptoms": []string{"fever"},
		"visited": []any{}, "contact_with_case": false}, 201, nil)
	var yc struct{ Payload string }
	ts.call(t, "GET", "/api/v1/me/code", yellow.token, nil, 200, &yc)
	// A paper code replaced by a newer one is revoked.
	var oldPaper, newPaper struct{ Payload string }
	ts.call(t, "POST", "/api/v1/me/paper-code", green.token, nil, 201, &oldPaper)
	ts.call(t, "POST", "/api/v1/me/paper-code", green.token, nil, 201, &newPaper)

	key, err := (&storageConfig{DataDir: ts.dataDir}).loadSigningKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	expired, err := code.NewSigner(key.priv).Sign(code.Claims{Subject: "ABCDEFGH", IssuedAt: now.Add(-10 * time.Minute),
		ExpiresAt: now.Add(-5 * time.Minute), Color: healthcode.Green, MaskedName: "王*", BirthYear: 1980, Kind: code.Phone})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base45.DecodeString(strings.TrimPrefix(gc.Payload, code.Prefix))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	badSig := code.Prefix + base45.EncodeToString(raw)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	foreign, _ := code.NewSigner(otherKey).Sign(code.Claims{Subject: "ABCDEFGH", IssuedAt: now, ExpiresAt: now.Add(time.Minute),
		Color: healthcode.Green, MaskedName: "王*", BirthYear: 1980, Kind: code.Phone})

	s := newSession(t, ts.url, video)
	s.open("/checkpoint?lang=en")
	s.waitFor(`!document.getElementById('signin').classList.contains('hidden')`)
	s.shoot(shots, "checkpoint-signin")
	s.fill(map[string]string{"token": cpToken}, `#signin button[type=submit]`)
	s.waitFor(`!document.getElementById('station').classList.contains('hidden') && window.hcCheckpoint && hcCheckpoint.state().status`)

	trustData := fetchDoc(t, ts.url+"/.well-known/healthcode/trust-list")
	tl, err := trust.Parse(trustData, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sl, err := statuslist.Parse(fetchDoc(t, ts.url+"/.well-known/healthcode/status-list"), tl)
	if err != nil {
		t.Fatal(err)
	}
	check := func(payload string) pageDecision {
		t.Helper()
		var got pageDecision
		s.eval(fmt.Sprintf(`hcCheckpoint.check(%q).then(r => ({decision: r.admission.decision, reason_zh: r.admission.reason_zh,
			reject: r.verdict.reject_code || '', color: r.seen.color || '', subject: r.verdict.subject || '', checkin_id: r.checkin_id || '', checkin_at: r.checkin_at || ''}))`, payload), &got)
		return got
	}
	policy := healthcode.Policy{Kind: healthcode.PolicyGreen}
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"valid green phone code", gc.Payload, "admit"},
		{"yellow phone code", yc.Payload, "deny"},
		{"expired", expired, "deny"},
		{"wrong signature", badSig, "deny"},
		{"unknown issuer", foreign, "deny"},
		{"paper code", newPaper.Payload, "admit"},
		{"revoked paper code", oldPaper.Payload, "deny"},
		{"not a code", "https://example.com/", "deny"},
	} {
		at := time.Now()
		v := code.Check(tc.payload, tl, at)
		seen, v := statuslist.Seen(v, sl, at)
		adm := healthcode.Decide(policy, seen, at)
		want := pageDecision{Decision: string(adm.Decision), ReasonZH: adm.ReasonZH, Reject: v.RejectCode, Color: string(seen.Color), Subject: v.Subject}
		got := check(tc.payload)
		got.CheckInID, got.CheckInAt = "", ""
		if got != want || got.Decision != tc.want {
			t.Errorf("%s: the page decided %+v, the Go verifier %+v (want %s)", tc.name, got, want, tc.want)
		}
		if tc.name == "valid green phone code" {
			s.shoot(shots, "checkpoint-admit")
		}
		if tc.name == "yellow phone code" {
			s.shoot(shots, "checkpoint-deny")
		}
	}

	// Venue policies, decided in the page and in Go, for codes with and
	// without the vaccinated mark and a negative test, and for codes that
	// are not yet valid or malformed.
	v := enrollResident(t, ts, "孙悦", 505)
	ts.call(t, "POST", "/api/v1/test-results", labToken, map[string]any{"id_type": "resident_id", "id_number": v.idNum, "type": "pcr",
		"result": "negative", "sampled_at": now.Add(-10 * time.Hour).Format(time.RFC3339), "resulted_at": now.Add(-4 * time.Hour).Format(time.RFC3339),
		"institution": "西湖区疾控"}, 201, nil)
	ts.call(t, "POST", "/api/v1/vaccinations", labToken, map[string]any{"id_type": "resident_id", "id_number": v.idNum, "product": "CoronaVac",
		"dose": 2, "series_doses": 2, "date": now.AddDate(0, 0, -30).Format("2006-01-02"), "institution": "西湖区疾控"}, 201, nil)
	var vc struct {
		Payload    string
		Vaccinated bool
	}
	ts.call(t, "GET", "/api/v1/me/code", v.token, nil, 200, &vc)
	if !vc.Vaccinated {
		t.Fatalf("the vaccinated resident's code has no mark")
	}
	vs := newSession(t, ts.url, "")
	vs.open("/?lang=en")
	vs.fill(map[string]string{"phone": v.phone, "password": v.passwd}, `main form button[type=submit]`)
	vs.waitFor(`document.querySelector('#qr svg') !== null`)
	var gold bool
	vs.eval(`!document.getElementById('gold').classList.contains('hidden')`, &gold)
	if !gold {
		t.Errorf("the vaccinated resident's code screen shows no gold mark")
	}
	vs.shoot(shots, "code-vaccinated")
	notYet, err := code.NewSigner(key.priv).Sign(code.Claims{Subject: "ABCDEFGH", IssuedAt: now.Add(10 * time.Minute),
		ExpiresAt: now.Add(20 * time.Minute), Color: healthcode.Green, MaskedName: "王*", BirthYear: 1980, Kind: code.Phone})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{"green": gc.Payload, "vaccinated and tested": vc.Payload, "not yet valid": notYet,
		"malformed": "HQ1:ABC", "paper": newPaper.Payload}
	policies := []healthcode.Policy{{Kind: healthcode.PolicyGreen}, {Kind: healthcode.PolicyGreenVaccinated},
		{Kind: healthcode.PolicyGreenAndTest, Hours: 48}, {Kind: healthcode.PolicyGreenAndTest, Hours: 6}}
	for name, payload := range codes {
		for _, pol := range policies {
			pj, _ := json.Marshal(pol)
			var got pageDecision
			s.eval(fmt.Sprintf(`hcCheckpoint.decide(%q, %s).then(r => ({decision: r.admission.decision, reason_zh: r.admission.reason_zh,
				reject: r.verdict.reject_code || '', color: r.seen.color || '', subject: r.verdict.subject || ''}))`, payload, pj), &got)
			at := time.Now()
			v := code.Check(payload, tl, at)
			seen, v := statuslist.Seen(v, sl, at)
			adm := healthcode.Decide(pol, seen, at)
			want := pageDecision{Decision: string(adm.Decision), ReasonZH: adm.ReasonZH, Reject: v.RejectCode, Color: string(seen.Color), Subject: v.Subject}
			if got != want {
				t.Errorf("%s at a %s venue: the page decided %+v, the Go verifier %+v", name, pj, got, want)
			}
		}
	}

	// The fake camera shows D's paper code.
	s.do(chromedp.Click(chromedp.CSS(`#scanstart`)))
	s.waitFor(`document.getElementById('who').textContent.indexOf('李*英') >= 0`)
	if v := s.text("#verdict"); v != "ADMIT" {
		t.Errorf("the camera's paper code: %q", v)
	}
	s.shoot(shots, "checkpoint-camera")
	s.waitFor(`hcCheckpoint.queueSize().then(n => n === 0)`)

	// The server stops. The page keeps deciding and queues; reloaded, the
	// service worker serves it and the queue is still there.
	ts.stop()
	got := check(gc.Payload)
	if got.Decision != "admit" || got.CheckInID == "" {
		t.Fatalf("offline: %+v", got)
	}
	s.open("/checkpoint")
	s.waitFor(`!document.getElementById('station').classList.contains('hidden') && window.hcCheckpoint && hcCheckpoint.state().trust`)
	var queued int
	s.eval(`hcCheckpoint.queueSize()`, &queued)
	if queued != 1 {
		t.Fatalf("after reloading offline the queue holds %d check-ins, want 1", queued)
	}
	if net := s.text("#net"); net != "Offline" {
		t.Errorf("indicator with the server down: %q", net)
	}
	if again := check(paperPayload); again.Decision != "admit" {
		t.Errorf("offline paper code: %+v", again)
	}
	s.shoot(shots, "checkpoint-offline")

	// The server comes back: the queue drains, each check-in stored once.
	ts2 := restart()
	s.waitFor(`hcCheckpoint.queueSize().then(n => n === 0)`)
	var log struct{ Stored, Duplicates, Rejected int }
	s.eval(`({stored: hcCheckpoint.log.stored, duplicates: hcCheckpoint.log.duplicates, rejected: hcCheckpoint.log.rejected})`, &log)
	if log.Stored != 2 || log.Duplicates != 0 || log.Rejected != 0 {
		t.Errorf("after the restart the page uploaded %+v, want 2 stored", log)
	}
	// Sending the offline check-in again, with its id and time, is a
	// duplicate: the server has it.
	var up struct {
		Results []healthcode.CheckInResult `json:"results"`
	}
	item := map[string]any{"id": got.CheckInID, "subject": got.Subject, "issuer": "330100", "venue_id": venueID,
		"at": got.CheckInAt, "decision": "admit", "color": "green", "mode": "checkpoint"}
	ts2.call(t, "POST", "/api/v1/checkins", cpToken, map[string]any{"checkins": []any{item}}, 200, &up)
	if len(up.Results) != 1 || up.Results[0].Result != healthcode.Duplicate {
		t.Errorf("re-sending the offline check-in: %+v", up.Results)
	}
}

func fetchDoc(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return data
}
