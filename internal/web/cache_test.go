package web

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/code"
)

// TestCodeCacheFollowsStatus checks the display path's code cache: a code
// is shown again without a new signature while it lives and its status
// stands, its status read again meanwhile; a new fact shows at once in
// the server that took it and within the change feed's delay in another
// process; and a code near its end is replaced.
func TestCodeCacheFollowsStatus(t *testing.T) {
	h := newHarness(t)
	// Codes that live an hour are usable for 48 minutes, past the caches'
	// entries, as a phone that keeps its page open sees them.
	h.Server.Config.Handler.(*Server).cfg.CodeLifetime = time.Hour
	other := h.secondServer(t)
	_, tok := h.resident(t)
	type shown struct {
		Payload string
		Color   healthcode.Color
	}
	display := func(srv *harness) shown {
		t.Helper()
		var c shown
		r := srv.do(t, "GET", "/api/v1/me/code", tok, nil)
		if r.status != 200 {
			t.Fatalf("code: %d %s", r.status, r.body)
		}
		r.json(t, &c)
		return c
	}
	// holder is what a code says of its resident.
	holder := func(payload string) [3]string {
		t.Helper()
		c, _, err := code.Verify(payload, h.trust, h.clock.Now())
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		return [3]string{c.Subject, c.MaskedName, strconv.Itoa(c.BirthYear)}
	}
	first := display(h)
	if first.Color != healthcode.Green {
		t.Fatalf("new resident: %s, want green", first.Color)
	}
	who := holder(first.Payload)
	if who[0] == "" || who[1] == "" || who[2] == "0" {
		t.Fatalf("the first code names %q", who)
	}
	if again := display(h); again.Payload != first.Payload {
		t.Error("the code was signed again while it lives")
	}
	// Past cacheMaxAge the status is read again; it stands, so the code does.
	h.clock.advance(cacheMaxAge + 30*time.Second)
	if again := display(h); again.Payload != first.Payload {
		t.Error("the code was signed again when its status was read again unchanged")
	}
	if c := display(other); c.Color != healthcode.Green { // the other process caches it too
		t.Fatalf("other server: %s, want green", c.Color)
	}

	if r := h.do(t, "POST", "/api/v1/me/declarations", tok, map[string]any{"temperature": 38.4, "symptoms": []string{}, "visited": []any{},
		"contact_with_case": false}); r.status != 201 {
		t.Fatalf("declare: %d %s", r.status, r.body)
	}
	yellow := display(h)
	if yellow.Color != healthcode.Yellow || yellow.Payload == first.Payload {
		t.Fatalf("right after a fever is declared, the code shows %s (same code: %v), want a new yellow code",
			yellow.Color, yellow.Payload == first.Payload)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c := display(other); c.Color != healthcode.Yellow; c = display(other) {
		if time.Now().After(deadline) {
			t.Fatalf("the other server still shows %s", c.Color)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if got := holder(yellow.Payload); got != who {
		t.Errorf("the code after the status changed names %q, want %q", got, who)
	}

	// A code with less than a fifth of its life left is replaced, naming
	// the same resident (taken from the last code, not read again).
	h.clock.advance(50 * time.Minute)
	c := display(h)
	if c.Payload == yellow.Payload || c.Color != healthcode.Yellow {
		t.Errorf("a code near its end: same code %v, colour %s; want a new yellow code", c.Payload == yellow.Payload, c.Color)
	}
	if got := holder(c.Payload); got != who {
		t.Errorf("the replacing code names %q, want %q", got, who)
	}
}

// discardWriter is a ResponseWriter that keeps nothing but the headers.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// TestDisplayAllocations holds the display path (a cached code for a
// signed-in resident) to what it allocates now: the request with the
// actor in its context, for the store's audit log. Every allocation is
// paid again in garbage collection at the morning peak; net/http's own are
// not counted here.
func TestDisplayAllocations(t *testing.T) {
	h := newHarness(t)
	_, tok := h.resident(t)
	srv := h.Server.Config.Handler
	req := httptest.NewRequest("GET", "/api/v1/me/code", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := &discardWriter{h: http.Header{}}
	srv.ServeHTTP(w, req) // fills the caches
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		srv.ServeHTTP(w, req)
	})
	if w.h.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("not a code: %v", w.h)
	}
	if allocs > 2 {
		t.Errorf("a display allocates %v times, want at most 2", allocs)
	}
}
