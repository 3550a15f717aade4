package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestShedding fills the server's only slot and checks that a request is
// then answered 503 with Retry-After, that health and metrics are still
// served, and that the server serves again once the slot is free.
func TestShedding(t *testing.T) {
	h := newHarness(t)
	srv := h.Server.Config.Handler.(*Server)
	srv.shedder = newShedder(1, 10*time.Millisecond)
	srv.shedder.inFlight.Add(1) // a request that does not finish

	r := h.do(t, "GET", "/api/v1/rules", "", nil)
	if r.status != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(string(r.body), `"code":"unavailable"`) {
		t.Fatalf("at capacity: %d %v %s", r.status, r.header, r.body)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		if r := h.do(t, "GET", path, "", nil); r.status != 200 {
			t.Errorf("%s at capacity: %d", path, r.status)
		}
	}
	if m := h.do(t, "GET", "/metrics", "", nil); !strings.Contains(string(m.body), "healthcode_http_shed_total 1\n") ||
		!strings.Contains(string(m.body), "healthcode_http_in_flight 1\n") {
		t.Errorf("metrics do not show the shed request and the busy slot:\n%s", m.body)
	}

	srv.shedder.release()
	if r := h.do(t, "GET", "/api/v1/rules", "", nil); r.status != 200 {
		t.Errorf("after the slot is free: %d %s", r.status, r.body)
	}

	// Password hashing has slots of its own: when they are taken, sign-in
	// is shed and everything else is served.
	srv.heavy = newShedder(1, 10*time.Millisecond)
	srv.heavy.inFlight.Add(1)
	login := map[string]any{"phone": "13900000000", "password": "wrong password"}
	if r := h.do(t, "POST", "/api/v1/login", "", login); r.status != 503 || r.header.Get("Retry-After") != "1" {
		t.Errorf("sign-in with the hashing slots taken: %d %v", r.status, r.header)
	}
	if r := h.do(t, "GET", "/api/v1/rules", "", nil); r.status != 200 {
		t.Errorf("rules with the hashing slots taken: %d", r.status)
	}
	srv.heavy.release()
	if r := h.do(t, "POST", "/api/v1/login", "", login); r.status != 401 {
		t.Errorf("sign-in after: %d %s", r.status, r.body)
	}

	// Writes take turns of their own too: with them all taken, a write is
	// shed and reads and sign-in are served.
	_, resident := h.resident(t)
	declaration := map[string]any{"temperature": 36.6, "contact_with_case": false}
	srv.writers = newShedder(1, 10*time.Millisecond)
	srv.writers.inFlight.Add(1)
	if r := h.do(t, "POST", "/api/v1/me/declarations", resident, declaration); r.status != 503 || r.header.Get("Retry-After") != "1" {
		t.Errorf("a write with the write turns taken: %d %v %s", r.status, r.header, r.body)
	}
	if r := h.do(t, "GET", "/api/v1/rules", "", nil); r.status != 200 {
		t.Errorf("rules with the write turns taken: %d", r.status)
	}
	if r := h.do(t, "POST", "/api/v1/login", "", login); r.status != 401 {
		t.Errorf("sign-in with the write turns taken: %d %s", r.status, r.body)
	}
	srv.writers.release()
	if r := h.do(t, "POST", "/api/v1/me/declarations", resident, declaration); r.status != 201 {
		t.Errorf("the write after: %d %s", r.status, r.body)
	}
}

func TestHeavyRoutesAreRoutes(t *testing.T) {
	routes := map[string]bool{}
	for _, r := range New(Config{}, Deps{}).Routes() {
		routes[r] = true
	}
	for key := range heavyRoutes {
		if !routes[key] {
			t.Errorf("heavyRoutes names %q, which is not a route", key)
		}
	}
}

// TestRateLimit signs in too often from one address.
func TestRateLimit(t *testing.T) {
	h := newHarness(t)
	h.Server.Config.Handler.(*Server).routeLimits = map[string]rateLimit{"POST /api/v1/login": {10, time.Minute}}
	// Other numbers each time: one number's lockout is TestLoginLockout's.
	n := 0
	login := func() map[string]any {
		n++
		return map[string]any{"phone": fmt.Sprintf("139%08d", n), "password": "wrong password"}
	}
	for i := range 10 {
		if r := h.do(t, "POST", "/api/v1/login", "", login()); r.status != 401 {
			t.Fatalf("sign-in %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := h.do(t, "POST", "/api/v1/login", "", login())
	// The bucket refills as the test's clock (the wall clock) runs, so on a
	// busy machine the wait is a little shorter than a full 6 s.
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); r.status != 429 || ra < 1 || ra > 7 ||
		!strings.Contains(string(r.body), "too many requests to POST /api/v1/login: at most 10 a minute") {
		t.Fatalf("the 11th sign-in in a minute: %d %v %s", r.status, r.header, r.body)
	}
	// Other routes are not limited, and the bucket refills.
	if r := h.do(t, "GET", "/api/v1/rules", "", nil); r.status != 200 {
		t.Errorf("rules: %d", r.status)
	}
	h.clock.advance(6 * time.Second)
	if r := h.do(t, "POST", "/api/v1/login", "", login()); r.status != 401 {
		t.Errorf("6 s later: %d %s", r.status, r.body)
	}
	if r := h.do(t, "POST", "/api/v1/login", "", login()); r.status != 429 {
		t.Errorf("and then again at once: %d", r.status)
	}
	if m := h.do(t, "GET", "/metrics", "", nil); !strings.Contains(string(m.body), `healthcode_http_rate_limited_total{route="POST /api/v1/login"} 2`) {
		t.Errorf("metrics do not count the refusals")
	}
}

func TestLimiter(t *testing.T) {
	var l limiter
	lim := rateLimit{n: 2, per: time.Minute} // one token every 30 s
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	steps := []struct {
		after time.Duration
		ok    bool
		wait  time.Duration
	}{
		{0, true, 0}, {0, true, 0}, {0, false, 30 * time.Second},
		{10 * time.Second, false, 20 * time.Second},
		{20 * time.Second, true, 0}, {0, false, 30 * time.Second},
		{10 * time.Minute, true, 0}, {0, true, 0}, {0, false, 30 * time.Second}, // refills to 2, not more
	}
	now := t0
	for i, s := range steps {
		now = now.Add(s.after)
		ok, wait := l.allow("k", lim, now)
		if ok != s.ok || (wait-s.wait).Abs() > time.Millisecond {
			t.Errorf("step %d: %v %v, want %v %v", i, ok, wait, s.ok, s.wait)
		}
	}
	if ok, _ := l.allow("other", lim, now); !ok {
		t.Error("another key shares the bucket")
	}
}

func TestRouteLimitsNameRoutes(t *testing.T) {
	routes := map[string]bool{}
	for _, r := range New(Config{}, Deps{}).Routes() {
		routes[r] = true
	}
	for key := range defaultRouteLimits {
		if !routes[key] {
			t.Errorf("defaultRouteLimits names %q, which is not a route", key)
		}
	}
}

func TestMetricsCountRequestsAndStatuses(t *testing.T) {
	h := newHarness(t)
	h.resident(t)
	h.do(t, "GET", "/healthz", "", nil)
	h.do(t, "GET", "/api/v1/me", "", nil) // 401
	m := string(h.do(t, "GET", "/metrics", "", nil).body)
	for _, want := range []string{
		`healthcode_http_requests_total{code="200",route="GET /healthz"} 1`,
		`healthcode_http_requests_total{code="401",route="GET /api/v1/me"} 1`,
		`healthcode_http_requests_total{code="201",route="POST /api/v1/residents"} 1`,
		`healthcode_http_request_duration_seconds_count{route="GET /healthz"} 1`,
		`healthcode_statuses{color="green"} 1`,
		`healthcode_statuses{color="red"} 0`,
		`healthcode_http_waiting 0`,
		`healthcode_appeals_overdue 0`,
		"go_goroutines",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestShedderBound: however many requests arrive at once, no more than the
// bound are served together, and with a long enough wait all are served.
func TestShedderBound(t *testing.T) {
	sh := newShedder(4, time.Minute)
	var peak, now atomic.Int64
	var wg sync.WaitGroup
	req := httptest.NewRequest("GET", "/", nil)
	for range 200 {
		wg.Go(func() {
			if !sh.acquire(req) {
				t.Error("shed with a minute to wait")
				return
			}
			n := now.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(100 * time.Microsecond)
			now.Add(-1)
			sh.release()
		})
	}
	wg.Wait()
	if peak.Load() > 4 || sh.busy() != 0 {
		t.Errorf("peak %d served at once (bound 4), %d still counted", peak.Load(), sh.busy())
	}
}

// TestLoginLockout: after five wrong passwords the sixth locks the number
// for a minute, even for the right password, and the lockout ends.
func TestLoginLockout(t *testing.T) {
	h := newHarness(t)
	e := enrollment()
	if r := h.do(t, "POST", "/api/v1/residents", "", e); r.status != 201 {
		t.Fatal(r.status)
	}
	wrong := map[string]any{"phone": e["phone"], "password": "not the password"}
	right := map[string]any{"phone": e["phone"], "password": e["password"]}
	for i := range 5 {
		if r := h.do(t, "POST", "/api/v1/login", "", wrong); r.status != 401 {
			t.Fatalf("wrong password %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := h.do(t, "POST", "/api/v1/login", "", wrong)
	if r.status != 429 || !strings.Contains(string(r.body), "sign-in is locked") || r.header.Get("Retry-After") == "" {
		t.Fatalf("the 6th wrong password: %d %v %s", r.status, r.header, r.body)
	}
	if r := h.do(t, "POST", "/api/v1/login", "", right); r.status != 429 {
		t.Errorf("the right password during the lockout: %d", r.status)
	}
	h.clock.advance(61 * time.Second)
	if r := h.do(t, "POST", "/api/v1/login", "", right); r.status != 200 {
		t.Errorf("the right password after the lockout: %d %s", r.status, r.body)
	}
	// The count starts again.
	if r := h.do(t, "POST", "/api/v1/login", "", wrong); r.status != 401 {
		t.Errorf("a wrong password after a success: %d", r.status)
	}
}

func TestHSTS(t *testing.T) {
	h := newHarness(t)
	if r := h.do(t, "GET", "/healthz", "", nil); r.header.Get("Strict-Transport-Security") != "" {
		t.Errorf("HSTS sent by default: %q", r.header.Get("Strict-Transport-Security"))
	}
	srv := h.Server.Config.Handler.(*Server)
	srv.hsts = New(Config{HSTS: 365 * 24 * time.Hour}, Deps{}).hsts
	if r := h.do(t, "GET", "/healthz", "", nil); r.header.Get("Strict-Transport-Security") != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS: %q", r.header.Get("Strict-Transport-Security"))
	}
}

// TestOverloadKeepsAcknowledgedCheckIns offers many more check-in batches
// at once than the server admits (one free turn to write, a short queue):
// some are shed with 503, and every acknowledged check-in is stored exactly
// once. The
// shed batches are then retried, as a checkpoint does, until acknowledged,
// and in the end every check-in is stored exactly once.
func TestOverloadKeepsAcknowledgedCheckIns(t *testing.T) {
	h := newHarness(t)
	v := h.venue(t, "Wulin Square station", "transit", map[string]any{"kind": "green"})
	cp := h.checkpointToken(t, v.ID)
	srv := h.Server.Config.Handler.(*Server)
	srv.writers = newShedder(2, 2*time.Millisecond)
	srv.writers.inFlight.Add(1) // one turn stays taken: the other is all there is

	const clients, batches, size = 24, 6, 40
	at := time.Now().UTC().Add(-time.Hour)
	batch := func(c, b int) map[string]any {
		items := make([]map[string]any, size)
		for i := range items {
			items[i] = map[string]any{"id": fmt.Sprintf("ov-%02d-%02d-%02d", c, b, i), "subject": fmt.Sprintf("S%02d%02d%02d", c, b, i),
				"issuer": "330100", "venue_id": v.ID, "at": at.Add(time.Duration(c*batches*size+b*size+i) * time.Millisecond).Format(time.RFC3339Nano),
				"decision": "admit", "color": "green", "mode": "checkpoint"}
		}
		return map[string]any{"checkins": items}
	}
	var acked, shed atomic.Int64
	var mu sync.Mutex
	var retry [][2]int
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for b := range batches {
				r := h.do(t, "POST", "/api/v1/checkins", cp, batch(c, b))
				switch r.status {
				case 200:
					if n := strings.Count(string(r.body), `"result":"stored"`); n != size {
						t.Errorf("batch %d/%d acknowledged with %d of %d stored: %s", c, b, n, size, r.body)
					}
					acked.Add(1)
				case 503:
					if r.header.Get("Retry-After") == "" {
						t.Errorf("503 without Retry-After")
					}
					shed.Add(1)
					mu.Lock()
					retry = append(retry, [2]int{c, b})
					mu.Unlock()
				default:
					t.Errorf("batch %d/%d: %d %s", c, b, r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	if shed.Load() == 0 {
		t.Fatalf("no batch of %d offered at once was shed: the test did not overload the server", clients*batches)
	}
	stored := func() map[string]int {
		t.Helper()
		cs, err := h.store.ListCheckInsAtVenue(context.Background(), v.ID, at.Add(-time.Minute), at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]int{}
		for _, c := range cs {
			ids[c.ID]++
		}
		return ids
	}
	ids := stored()
	if want := int(acked.Load()) * size; len(ids) != want {
		t.Errorf("%d batches acknowledged (%d check-ins), %d check-ins stored; %d batches shed", acked.Load(), want, len(ids), shed.Load())
	}
	t.Logf("%d batches acknowledged, %d shed", acked.Load(), shed.Load())

	// The checkpoints retry what was shed, with room to spare now.
	srv.writers.release()
	for _, cb := range retry {
		if r := h.do(t, "POST", "/api/v1/checkins", cp, batch(cb[0], cb[1])); r.status != 200 {
			t.Fatalf("retry of batch %v: %d %s", cb, r.status, r.body)
		}
	}
	ids = stored()
	if len(ids) != clients*batches*size {
		t.Errorf("after the retries %d check-ins are stored, want %d", len(ids), clients*batches*size)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("check-in %s stored %d times", id, n)
		}
	}
}
