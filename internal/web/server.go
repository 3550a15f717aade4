// Package web is the HTTP face of healthcode: the JSON API under /api/v1/,
// the well-known documents, and health endpoints. Every route is declared in
// routes.go together with who may call it.
package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/interop/dcc"
	"healthcode/internal/paperpdf"
	"healthcode/internal/secure"
)

// Config is what the server needs to know about its region.
type Config struct {
	Region       string         // 6-digit region code of this deployment
	RegionName   string         // for people
	Location     *time.Location // the region's time zone: civil dates are read in it
	CodeLifetime time.Duration  // how long a phone code is valid
	SessionTTL   time.Duration  // how long a resident stays signed in
	SecureCookie bool           // set the Secure flag on the session cookie
	// HSTS, when not 0, sends Strict-Transport-Security with this max-age:
	// browsers then use only HTTPS for the site. Set it only when the site is
	// served over HTTPS for good.
	HSTS      time.Duration
	PublicURL string // how phones reach this server, e.g. https://hc.example.gov.cn; place codes encode it
	// AppealDeadline is how long reviewers have to decide an appeal
	// (default healthcode.DefaultAppealDeadline).
	AppealDeadline time.Duration
	// MaxInFlight bounds the requests served at once (default 256); past it
	// a request waits at most QueueTimeout (default 100 ms) for a turn and
	// is otherwise answered 503 with Retry-After.
	MaxInFlight  int
	QueueTimeout time.Duration
	// MaxWrites bounds the API requests that write (every method but GET
	// and HEAD, sign-in and enrolment aside: they take turns for argon2)
	// served at once (default 4). The database takes one write at a time on
	// SQLite; without this bound a burst of uploads would queue behind its
	// lock for seconds instead of being answered 503 within QueueTimeout.
	MaxWrites int
	// ProximityByType is the region's default tracing proximity for the
	// venues of a type (transit is often shorter); a trace request's
	// proximity_by_type overrides it type by type.
	ProximityByType map[healthcode.VenueType]time.Duration
	CJKFont         string // a TrueType font with Chinese glyphs for printed paper codes; "" looks for an installed one
	// Keys describes the region's secret keys for the keys page, without
	// the keys themselves; cmd/healthcode fills it in.
	Keys KeyFacts
}

// Server serves the API. Make it with New.
type Server struct {
	cfg         Config
	store       healthcode.Store
	loadRules   healthcode.RuleLoader // checks a rule set before it is previewed or published
	signer      *code.Signer
	signingKey  ed25519.PrivateKey // signs the status list
	placeKey    []byte             // keys the place-code tags
	statusList  statusListCache
	keys        code.KeyResolver
	trustList   []byte // the signed trust list served at the well-known URL
	clock       healthcode.Clock
	log         *slog.Logger
	cache       *displayCache // cache.go
	shedder     *shedder      // overload.go
	heavy       *shedder      // for heavyRoutes
	writers     *shedder      // for the other API routes that write
	limits      limiter
	routeLimits map[string]rateLimit // defaultRouteLimits; tests lower them
	metrics     *serverMetrics       // metrics.go
	hsts        []string             // the Strict-Transport-Security value, if any
	interop     *interop             // certificates.go; nil without an interop key
	importer    *dcc.Verifier        // foreign certificates residents may import; nil for none
	keyring     *keyring             // keys: the region's own and the trusted peers' (peers.go)
	routes      []route
	reads       map[string]readPolicy // the protected reads, by "METHOD pattern"
	mux         *http.ServeMux
	exact       map[string][]exactRoute // routes without wildcards, by path: found before the mux
	dummyOnce   sync.Once
	dummy       string
	site        *site
	pageSet     map[string]bool // "METHOD pattern" of the routes that are pages
	dashboard   healthcode.DashboardService
	peers       healthcode.PeerService                                                 // nil: no trusted peers here
	fetchPeer   func(ctx context.Context, src string) (*healthcode.TrustedPeer, error) // keys_pages.go
	refreshes   peerRefreshes                                                          // keys_pages.go
}

// Deps are the server's collaborators, wired by cmd/healthcode.
type Deps struct {
	Store healthcode.Store
	// LoadRules checks and compiles a rule set document, for the preview and
	// publication of a new rule set; nil refuses both.
	LoadRules  healthcode.RuleLoader
	Signer     *code.Signer
	SigningKey ed25519.PrivateKey // the region's key: signs the status list
	PlaceKey   []byte             // secret for place-code tags (at least 32 bytes)
	Keys       code.KeyResolver   // the keys codes are verified against
	TrustList  []byte
	Clock      healthcode.Clock
	Logger     *slog.Logger
	Dashboard  healthcode.DashboardService // counts for the authority dashboard; nil shows none
	// InteropKey and DSC issue the international certificates (EU DCC and
	// SMART Health Cards); nil for none.
	InteropKey *ecdsa.PrivateKey
	DSC        *x509.Certificate
	// ImportDSCs are the foreign document signers whose EU DCCs residents
	// may import into their records; none for no import.
	ImportDSCs []*x509.Certificate
	// Peers keeps the trusted peer regions, for the trust-list page; nil
	// shows none.
	Peers healthcode.PeerService
	// FetchPeer reads and checks a peer's trust list from src, as
	// `healthcode trust add SRC` does, for the trust-list page's form.
	FetchPeer func(ctx context.Context, src string) (*healthcode.TrustedPeer, error)
}

// New returns a server ready to serve.
func New(cfg Config, d Deps) *Server {
	if cfg.CodeLifetime <= 0 {
		cfg.CodeLifetime = 5 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.AppealDeadline <= 0 {
		cfg.AppealDeadline = healthcode.DefaultAppealDeadline
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = defaultMaxInFlight
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = defaultQueueTimeout
	}
	if cfg.MaxWrites <= 0 {
		cfg.MaxWrites = defaultMaxWrites
	}
	if cfg.CJKFont == "" {
		cfg.CJKFont = paperpdf.FindCJKFont()
	}
	if d.Clock == nil {
		d.Clock = healthcode.SystemClock
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, store: d.Store, loadRules: d.LoadRules, signer: d.Signer, signingKey: d.SigningKey, placeKey: d.PlaceKey, keys: d.Keys,
		trustList: d.TrustList, clock: d.Clock, log: d.Logger, cache: newDisplayCache(),
		shedder: newShedder(cfg.MaxInFlight, cfg.QueueTimeout), heavy: newShedder(runtime.GOMAXPROCS(0), cfg.QueueTimeout),
		writers:     newShedder(cfg.MaxWrites, cfg.QueueTimeout),
		routeLimits: defaultRouteLimits, dashboard: d.Dashboard, peers: d.Peers, fetchPeer: d.FetchPeer}
	if s.keys != nil {
		s.keyring = &keyring{own: s.keys}
		s.keys = s.keyring
	}
	s.metrics = newMetrics(s)
	if cfg.HSTS > 0 {
		s.hsts = []string{fmt.Sprintf("max-age=%d; includeSubDomains", int64(cfg.HSTS.Seconds()))}
	}
	if d.Store != nil { // the OpenAPI tests make a server without one
		d.Store.Subscribe(s.cache.apply)
		d.Store.Subscribe(s.forgetStatusList)
	}
	var err error
	if s.interop, err = newInterop(cfg, d.InteropKey, d.DSC); err != nil {
		panic(err) // wired by cmd/healthcode from keys it made: a mistake there is a bug
	}
	if len(d.ImportDSCs) > 0 {
		if s.importer, err = dcc.NewVerifier(d.ImportDSCs); err != nil {
			panic(err) // cmd/healthcode parsed them: a mistake there is a bug
		}
	}
	site, err := newSite()
	if err != nil {
		panic(err) // the templates and assets are embedded: a mistake in them is a bug
	}
	s.site = site
	s.mux = http.NewServeMux()
	s.exact = map[string][]exactRoute{}
	s.pageSet = map[string]bool{}
	register := func(rt route, h http.Handler) {
		s.routes = append(s.routes, rt)
		s.mux.Handle(rt.method+" "+rt.pattern, h)
		if !strings.ContainsAny(rt.pattern, "{") && !strings.HasSuffix(rt.pattern, "/") {
			s.exact[rt.pattern] = append(s.exact[rt.pattern], exactRoute{rt.method, h})
		}
	}
	for _, rt := range s.routeTable() {
		register(rt, s.handle(rt))
	}
	for _, rt := range s.pageRoutes() {
		s.pageSet[rt.method+" "+rt.pattern] = true
		register(rt, s.handlePage(rt))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, healthcode.Errorf(healthcode.ENOTFOUND, "no such route: %s %s", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range securityHeaders {
		h[k] = v
	}
	if s.hsts != nil {
		h["Strict-Transport-Security"] = s.hsts
	}
	if !unshed[r.URL.Path] {
		if !s.shedder.acquire(r) {
			s.shed(w, r)
			return
		}
		defer s.shedder.release()
	}
	if h := s.exactHandler(r); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// exactRoute is the handler of a route without wildcards.
type exactRoute struct {
	method string
	h      http.Handler
}

// exactHandler finds the handler of a request for a route without
// wildcards by its path alone, which costs a map lookup where the mux
// matches patterns segment by segment (a tenth of the display path's own
// time, issue 7). It gives the handler the mux would choose, a pattern
// without wildcards being the most specific for its path, or nil when the
// mux must decide: another method (the mux answers HEAD from GET, and 405),
// or an escaped path (the mux matches the escaped segments).
func (s *Server) exactHandler(r *http.Request) http.Handler {
	if r.URL.RawPath != "" {
		return nil
	}
	for _, e := range s.exact[r.URL.Path] {
		if e.method == r.Method {
			return e.h
		}
	}
	return nil
}

// securityHeaders go on every answer. The keys are in canonical form and the
// values shared (no handler changes them), which keeps them off the
// display path's allocations.
var securityHeaders = http.Header{
	"X-Content-Type-Options":  {"nosniff"},
	"X-Frame-Options":         {"DENY"},
	"Referrer-Policy":         {"no-referrer"},
	"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
}

// PublicKey is the server's signing key as published.
func (s *Server) PublicKey() ed25519.PublicKey { return s.signer.Public() }

// access says who may call a route.
type access int

const (
	public   access = iota // anyone, signed in or not
	resident               // a signed-in resident (acting for themselves or a dependent)
	roles                  // a token with one of route.roles
)

type handlerFunc func(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error

type route struct {
	method, pattern string
	access          access
	roles           []healthcode.Role
	summary         string
	h               handlerFunc
}

// IsPage reports whether "METHOD pattern" is a web page or one of its
// assets rather than part of the JSON API.
func (s *Server) IsPage(route string) bool { return s.pageSet[route] }

// Routes lists "METHOD pattern" for every registered route, for the
// OpenAPI and authorization tests.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.method + " " + rt.pattern
	}
	return out
}

func (s *Server) handle(rt route) http.Handler {
	name := rt.method + " " + rt.pattern
	heavy := heavyRoutes[name]
	writes := !heavy && rt.method != http.MethodGet && rt.method != http.MethodHead
	obs := s.metrics.forRoute(name)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := statusWriters.Get().(*statusWriter)
		w.ResponseWriter, w.code = rw, 0
		defer func() {
			obs.observe(w.code, time.Since(start))
			w.ResponseWriter = nil
			statusWriters.Put(w)
		}()
		actor, err := s.authenticate(r)
		if err != nil && rt.access == public {
			// A stale cookie must not stop anyone from signing in again or
			// reading public documents.
			actor, err = nil, nil
		}
		if err == nil {
			err = authorize(rt, actor, r)
		}
		if err == nil && s.rateLimited(w, name, r, actor) {
			return
		}
		if err == nil && heavy {
			if !s.heavy.acquire(r) {
				s.shed(w, r)
				return
			}
			defer s.heavy.release()
		}
		if err == nil && writes {
			if !s.writers.acquire(r) {
				s.shed(w, r)
				return
			}
			defer s.writers.release()
		}
		if err == nil {
			// The store records who acts in the audit log.
			err = rt.h(w, r.WithContext(actorContext(r.Context(), actor)), actor)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// anonymous is the actor of requests without credentials.
var anonymous = &healthcode.Actor{Role: healthcode.RoleAnonymous, Name: "anonymous"}

// actorContext is ctx carrying a, or anonymous, for the store's audit log.
// a is shared with other requests (a session's actor is cached) and is
// never changed.
func actorContext(ctx context.Context, a *healthcode.Actor) context.Context {
	if a == nil {
		a = anonymous
	}
	return healthcode.ContextWithActorRef(ctx, a)
}

const sessionCookie = "hc_session"

// authenticate finds the actor behind a bearer token or session cookie. No
// credentials give a nil actor; bad credentials are an error.
func (s *Server) authenticate(r *http.Request) (*healthcode.Actor, error) {
	secret, fromCookie, err := credentials(r)
	if err != nil || secret == "" {
		return nil, err
	}
	ctx := r.Context()
	switch {
	case fromCookie && !sameOrigin(r):
		// The cookie holds a resident's session or, on the authority and
		// checkpoint pages, an API token: either way a browser sent it.
		return nil, healthcode.Errorf(healthcode.EFORBIDDEN, "cross-site request refused")
	case strings.HasPrefix(secret, sessionPrefix):
		// The session's actor, shared by its requests: it must not be changed.
		return s.session(ctx, secure.SecretDigest(secret))
	case strings.HasPrefix(secret, tokenPrefix):
		tok, err := s.apiToken(ctx, secure.SecretDigest(secret))
		if err != nil {
			return nil, err
		}
		return &healthcode.Actor{Role: tok.Role, TokenID: tok.ID, Name: tok.Name}, nil
	}
	return nil, healthcode.Errorf(healthcode.EUNAUTHORIZED, "unknown kind of token")
}

// credentials returns the bearer secret of a request, from the
// Authorization header or else the session cookie; "" when there is none.
func credentials(r *http.Request) (secret string, fromCookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", false, healthcode.Errorf(healthcode.EUNAUTHORIZED, "Authorization header must be \"Bearer <token>\"")
		}
		return tok, false, nil
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		return c.Value, true, nil
	}
	return "", false, nil
}

// sameOrigin refuses cookie-authenticated writes from other sites (CSRF):
// browsers send Sec-Fetch-Site or Origin on such requests.
func sameOrigin(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" {
		return sfs == "same-origin" || sfs == "none"
	}
	if o := r.Header.Get("Origin"); o != "" {
		return strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://") == r.Host
	}
	return true // not a browser
}

func authorize(rt route, a *healthcode.Actor, r *http.Request) error {
	switch rt.access {
	case public:
		return nil
	case resident:
		if a == nil {
			return healthcode.Errorf(healthcode.EUNAUTHORIZED, "sign in first")
		}
		if a.Role != healthcode.RoleResident {
			return healthcode.Errorf(healthcode.EFORBIDDEN, "this route is for residents; a %s token may not use it", a.Role)
		}
		return nil
	case roles:
		if a == nil {
			return healthcode.Errorf(healthcode.EUNAUTHORIZED, "an API token is required")
		}
		for _, role := range rt.roles {
			if a.Role == role {
				return nil
			}
		}
		return healthcode.Errorf(healthcode.EFORBIDDEN, "the %s role may not %s %s", a.Role, r.Method, rt.pattern)
	}
	return healthcode.Errorf(healthcode.EFORBIDDEN, "forbidden")
}

// ready reports whether the store answers and the keys are loaded.
func (s *Server) ready(ctx context.Context) error {
	if s.signer == nil {
		return healthcode.Errorf(healthcode.EUNAVAILABLE, "signing key not loaded")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness: database does not answer", "error", err.Error())
		return healthcode.Errorf(healthcode.EUNAVAILABLE, "database is not reachable")
	}
	return nil
}
