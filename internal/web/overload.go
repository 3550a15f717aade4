package web

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"healthcode"
)

// Overload: past capacity the server answers 503 with Retry-After at once
// instead of queueing without bound (issue 7), and expensive routes are
// rate-limited per client.

// Defaults of Config.MaxInFlight and Config.QueueTimeout.
const (
	defaultMaxInFlight  = 256
	defaultQueueTimeout = 100 * time.Millisecond
	defaultMaxWrites    = 4
)

// heavyRoutes hash a password with argon2id: tens of milliseconds of CPU
// each. They take turns in a shedder of their own with one slot per CPU, so
// that a crowd signing in at 8 a.m. waits at most the queue timeout and is
// otherwise shed, instead of slowing every request on the server.
var heavyRoutes = map[string]bool{
	"POST /api/v1/login":         true,
	"POST /api/v1/residents":     true,
	"POST /api/v1/me/dependents": true,
}

// shedder lets at most cap(slots) requests be served at once; a request
// that finds none free waits up to timeout for one, then is shed.
//
// The fast path is one atomic add; only a request that finds the server
// full takes the channel, which then hands out the slots that free up.
type shedder struct {
	max      int64
	inFlight atomic.Int64
	freed    chan struct{} // a slot freed while someone waited
	timeout  time.Duration
	waiting  atomic.Int64
}

func newShedder(maxInFlight int, timeout time.Duration) *shedder {
	return &shedder{max: int64(maxInFlight), freed: make(chan struct{}, maxInFlight), timeout: timeout}
}

// acquire reports whether the request got a slot; release it with release.
func (sh *shedder) acquire(r *http.Request) bool {
	if sh.inFlight.Add(1) <= sh.max {
		return true
	}
	sh.inFlight.Add(-1)
	sh.waiting.Add(1) // from now on every release signals
	defer sh.waiting.Add(-1)
	t := time.NewTimer(sh.timeout)
	defer t.Stop()
	for {
		if sh.inFlight.Add(1) <= sh.max {
			return true
		}
		sh.inFlight.Add(-1)
		select {
		case <-sh.freed:
		case <-t.C:
			return false
		case <-r.Context().Done():
			return false
		}
	}
}

func (sh *shedder) release() {
	sh.inFlight.Add(-1)
	if sh.waiting.Load() > 0 {
		select {
		case sh.freed <- struct{}{}:
		default:
		}
	}
}

// busy says how many requests are being served.
func (sh *shedder) busy() int64 { return sh.inFlight.Load() }

// unshed are the routes served even when the server sheds load: an
// operator must be able to see what is happening.
var unshed = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// shed answers 503 at once.
func (s *Server) shed(w http.ResponseWriter, r *http.Request) {
	s.metrics.shed.Inc()
	w.Header().Set("Retry-After", "1")
	s.writeError(w, r, healthcode.Errorf(healthcode.EUNAVAILABLE, "the server is busy: try again in a second"))
}

// rateLimit is a token bucket: n requests, refilled over per.
type rateLimit struct {
	n   float64
	per time.Duration
}

// defaultRouteLimits are the expensive routes and how often one client may
// call each: password hashing (argon2id, tens of milliseconds of CPU),
// tracing, and the whole-record export. A client is the token or resident
// calling, or the address of an anonymous caller; addresses are shared
// (a family's router, a carrier's NAT, a community centre enrolling its
// elderly), so the anonymous limits only stop one source from flooding:
// the shedder protects capacity, and sign-in has its own per-account
// lockout.
var defaultRouteLimits = map[string]rateLimit{
	"POST /api/v1/login":                              {120, time.Minute},
	"POST /api/v1/residents":                          {60, time.Minute},
	"POST /api/v1/me/dependents":                      {10, time.Minute},
	"POST /api/v1/cases/{id}/trace":                   {60, time.Minute},
	"POST /api/v1/cases/{id}/designate":               {60, time.Minute},
	"GET /api/v1/me/export":                           {10, time.Minute},
	"GET /api/v1/residents/{id}/export":               {10, time.Minute},
	"GET /api/v1/audit/verify":                        {10, time.Minute},
	"GET /api/v1/me/certificates/shc":                 {30, time.Minute},
	"GET /api/v1/me/certificates/dcc":                 {30, time.Minute},
	"GET /api/v1/residents/{id}/certificates/shc":     {30, time.Minute},
	"GET /api/v1/residents/{id}/certificates/dcc":     {30, time.Minute},
	"POST /api/v1/me/certificates/import":             {30, time.Minute},
	"POST /api/v1/residents/{id}/certificates/import": {30, time.Minute},
	"POST /api/v1/verify":                             {600, time.Minute},
	"POST /api/v1/federation/contact-notices":         {120, time.Minute},
	"GET /api/v1/venues/{id}/place-code.png":          {120, time.Minute},
}

type bucket struct {
	tokens float64
	at     time.Time
}

// limiter keeps a bucket per route and client.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

// allow takes a token from the client's bucket for the route; when there
// is none it says how long until there is.
func (l *limiter) allow(key string, lim rateLimit, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	refill := lim.n / lim.per.Seconds() // tokens a second
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= 100_000 { // forget full buckets rather than grow
			for k, old := range l.buckets {
				if old.tokens+now.Sub(old.at).Seconds()*refill >= lim.n {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: lim.n, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(lim.n, b.tokens+now.Sub(b.at).Seconds()*refill)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / refill * float64(time.Second))
}

// clientKey names who is calling, for rate limits.
func clientKey(r *http.Request, a *healthcode.Actor) string {
	switch {
	case a == nil:
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return "ip:" + host
	case a.TokenID != 0:
		return "token:" + strconv.FormatInt(a.TokenID, 10)
	default:
		return "resident:" + strconv.FormatInt(a.ResidentID, 10)
	}
}

// rateLimited answers 429 if the client has used up the limit of the route
// key ("METHOD pattern", made once per route: this runs on every request).
func (s *Server) rateLimited(w http.ResponseWriter, key string, r *http.Request, a *healthcode.Actor) bool {
	lim, ok := s.routeLimits[key]
	if !ok {
		return false
	}
	allowed, wait := s.limits.allow(key+" "+clientKey(r, a), lim, s.clock.Now())
	if allowed {
		return false
	}
	s.metrics.limited.WithLabelValues(key).Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
	per := lim.per.String()
	if lim.per == time.Minute {
		per = "minute"
	}
	s.writeError(w, r, healthcode.Errorf(healthcode.ETOOMANY, "too many requests to %s: at most %g a %s; try again in %d s",
		key, lim.n, per, int(wait/time.Second)+1))
	return true
}
