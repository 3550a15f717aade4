package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/interop/dcc"
	"healthcode/internal/notice"
	"healthcode/internal/outbox"
	"healthcode/internal/secure"
	"healthcode/internal/trust"
	"healthcode/internal/web"
	"healthcode/internal/webhook"
)

// serveConfig is everything `healthcode serve` is told, validated once.
type serveConfig struct {
	storageConfig
	Retain       retentionFlags
	Addr         string
	Region       string
	RegionName   string
	Timezone     string
	CodeLifetime time.Duration
	LogLevel     string
	SecureCookie bool
	HSTS         time.Duration
	PublicURL    string

	WebhookURL     string
	WebhookSecret  string
	AppealDeadline time.Duration
	PurgeInterval  time.Duration
	MaxInFlight    int
	MaxWrites      int
	QueueTimeout   time.Duration
	ImportDSC      string // --import-dsc: a file of the foreign DSCs residents may import certificates of
	TrustRefresh   time.Duration
	NoticeRetry    time.Duration // --notice-retry: the first wait after a failed contact-notice delivery
	Proximity      string        // --proximity-by-type, parsed into proximity by validate
	proximity      map[healthcode.VenueType]time.Duration
	CJKFont        string
}

func (c *serveConfig) validate() error {
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || strings.Trim(u.Path, "/") != "" {
			return usageError("--public-url must be an http(s) URL with no path, such as https://hc.example.gov.cn, not %q (place codes are upper-cased to fit small QR codes)", c.PublicURL)
		}
	}
	if !healthcode.ValidRegionCode(c.Region) {
		return usageError("--region must be a 6-digit administrative-division code such as 330100, not %q", c.Region)
	}
	if c.CodeLifetime < 30*time.Second || c.CodeLifetime > time.Hour {
		return usageError("--code-lifetime must be between 30s and 1h, not %s", c.CodeLifetime)
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		return usageError("--timezone %q: %v", c.Timezone, err)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return usageError("--log-level must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if c.HSTS < 0 || (c.HSTS > 0 && c.HSTS < time.Hour) {
		return usageError("--hsts must be 0 (off) or at least 1h, not %s", c.HSTS)
	}
	if c.TrustRefresh < 100*time.Millisecond || c.TrustRefresh > 24*time.Hour {
		return usageError("--trust-refresh must be between 100ms and 24h, not %s", c.TrustRefresh)
	}
	if c.NoticeRetry < 100*time.Millisecond || c.NoticeRetry > time.Hour {
		return usageError("--notice-retry must be between 100ms and 1h, not %s", c.NoticeRetry)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 100_000 {
		return usageError("--max-in-flight must be between 1 and 100000, not %d", c.MaxInFlight)
	}
	if c.MaxWrites < 1 || c.MaxWrites > 10_000 {
		return usageError("--max-writes must be between 1 and 10000, not %d", c.MaxWrites)
	}
	if c.QueueTimeout < time.Millisecond || c.QueueTimeout > 10*time.Second {
		return usageError("--queue-timeout must be between 1ms and 10s, not %s", c.QueueTimeout)
	}
	var err error
	if c.proximity, err = healthcode.ParseProximityByType(c.Proximity); err != nil {
		return usageError("--proximity-by-type: %s", healthcode.ErrorMessage(err))
	}
	return c.validateAccountability()
}

// validateAccountability checks the webhook, appeal and retention settings.
func (c *serveConfig) validateAccountability() error {
	switch {
	case c.WebhookURL != "":
		u, err := url.Parse(c.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError("--webhook-url must be an http(s) URL, not %q", c.WebhookURL)
		}
		if len(c.WebhookSecret) < 16 {
			return usageError("--webhook-url needs --webhook-secret (or HEALTHCODE_WEBHOOK_SECRET_FILE) of at least 16 characters: the receiver checks each call's signature with it")
		}
	case c.WebhookSecret != "":
		return usageError("--webhook-secret is set but --webhook-url is not")
	}
	if c.AppealDeadline < time.Hour || c.AppealDeadline > 30*24*time.Hour {
		return usageError("--appeal-deadline must be between 1h and 720h, not %s", c.AppealDeadline)
	}
	if c.PurgeInterval != 0 && c.PurgeInterval < time.Minute {
		return usageError("--purge-interval must be at least 1m, or 0 to turn the retention job off, not %s", c.PurgeInterval)
	}
	return c.Retain.validate()
}

// serveGCPercent is serve's GOGC unless the environment sets one.
const serveGCPercent = 200

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.register(fs)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.Region, "region", "330100", "this region's 6-digit administrative-division code")
	fs.StringVar(&cfg.RegionName, "region-name", "Hangzhou", "this region's name, for people")
	fs.StringVar(&cfg.Timezone, "timezone", "Asia/Shanghai", "the region's time zone; civil dates are read in it")
	fs.DurationVar(&cfg.CodeLifetime, "code-lifetime", 5*time.Minute, "how long a phone code is valid")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&cfg.SecureCookie, "secure-cookie", false, "mark the session cookie Secure (set when served over HTTPS)")
	fs.DurationVar(&cfg.HSTS, "hsts", 0, "send Strict-Transport-Security with this max-age, e.g. 8760h (only when served over HTTPS for good)")
	fs.StringVar(&cfg.CJKFont, "cjk-font", "", "a TrueType font with Chinese glyphs for printed paper codes (default: look for Debian's fonts-droid-fallback)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "how phones reach this server, e.g. https://hc.example.gov.cn (default http://ADDR); place codes encode it")
	cfg.Retain.register(fs)
	fs.StringVar(&cfg.WebhookURL, "webhook-url", "", "POST every notification here (an SMS or push gateway), signed; see docs/accountability.md")
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", "", "the HMAC-SHA256 key that signs webhook calls (prefer HEALTHCODE_WEBHOOK_SECRET_FILE)")
	fs.DurationVar(&cfg.AppealDeadline, "appeal-deadline", healthcode.DefaultAppealDeadline, "how long reviewers have to decide an appeal before it is flagged overdue")
	fs.DurationVar(&cfg.PurgeInterval, "purge-interval", time.Hour, "how often the retention job runs (0: never; run healthcode purge instead)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 256, "requests served at once; past it a request waits at most --queue-timeout, then gets 503")
	fs.IntVar(&cfg.MaxWrites, "max-writes", 4, "API requests that write (check-in uploads, facts, ...) served at once; past it one waits at most --queue-timeout, then gets 503")
	fs.DurationVar(&cfg.QueueTimeout, "queue-timeout", 100*time.Millisecond, "how long a request waits for a turn before it is shed with 503")
	fs.DurationVar(&cfg.TrustRefresh, "trust-refresh", 10*time.Minute, "how often the trusted peers' trust lists are fetched again (ETag)")
	fs.DurationVar(&cfg.NoticeRetry, "notice-retry", 5*time.Second, "the first wait after a failed delivery of a contact notice to another region; it doubles up to 1h")
	fs.StringVar(&cfg.ImportDSC, "import-dsc", "", "a file of foreign EU DCC document-signer certificates (PEM or base64 DER) whose certificates residents may import")
	fs.StringVar(&cfg.Proximity, "proximity-by-type", "", "tracing proximity for venue types, e.g. transit=10m,restaurant=45m (default 30m for all)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("serve takes no arguments, got %q", fs.Args())
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	// The display cache keeps tens of megabytes live, which every garbage
	// collection marks again although little of it changes; twice Go's
	// default headroom halves how often, about 3% of a display's CPU
	// (BENCHMARKS.md, issue 7). GOGC, when set, decides, and GOMEMLIMIT caps
	// the heap (docs/operations.md).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	loc, _ := time.LoadLocation(cfg.Timezone)
	clock := healthcode.SystemClock

	cfg.outbox = cfg.WebhookURL != ""
	db, engine, err := cfg.openStore(ctx, clock, log)
	if err != nil {
		return err
	}
	defer db.Close()
	// Background work: the webhook worker and the retention job. They stop
	// before the database closes.
	bg, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer func() {
		stopBackground()
		background.Wait()
	}()
	if cfg.WebhookURL != "" {
		w := &webhook.Worker{URL: cfg.WebhookURL, Secret: []byte(cfg.WebhookSecret), Outbox: db, Settings: outbox.Settings{Clock: clock, Log: log}}
		background.Go(func() { _ = w.Run(bg) })
	}
	if cfg.PurgeInterval > 0 {
		background.Go(func() { runRetention(bg, db, cfg.Retain.Retention, cfg.PurgeInterval, log) })
	}
	background.Go(func() { runRuleCatchUp(bg, db, log) })
	key, err := cfg.loadSigningKey(clock.Now())
	if err != nil {
		return err
	}
	signer := code.NewSigner(key.priv)
	placeKey, err := cfg.loadPlaceKey()
	if err != nil {
		return err
	}
	interopKey, dsc, err := cfg.loadInteropKey(cfg.RegionName, clock.Now())
	if err != nil {
		return err
	}
	var importDSCs []*x509.Certificate
	if cfg.ImportDSC != "" {
		data, err := os.ReadFile(cfg.ImportDSC)
		if err != nil {
			return usageError("--import-dsc: %v", err)
		}
		if importDSCs, err = dcc.ParseCertificates(data); err != nil {
			return usageError("--import-dsc %s: %s", cfg.ImportDSC, healthcode.ErrorMessage(err))
		}
	}
	entries, err := cfg.trustEntries(key, cfg.Region, cfg.RegionName)
	if err != nil {
		return err
	}
	list := &trust.List{Issuer: cfg.Region, IssuedAt: clock.Now().UTC().Truncate(time.Second), Keys: entries}
	signedList, err := trust.Sign(list, key.priv)
	if err != nil {
		return fmt.Errorf("sign trust list: %w", err)
	}

	adminToken := ""
	if n, err := db.CountAPITokens(ctx, healthcode.RoleAdmin); err != nil {
		return err
	} else if n == 0 {
		secret, hash, err := secure.NewSecret("hct_")
		if err != nil {
			return err
		}
		if err := db.CreateAPIToken(healthcode.ContextWithActor(ctx, healthcode.Actor{Role: healthcode.RoleSystem, Name: "system: first start"}),
			&healthcode.APIToken{Name: "first admin", Role: healthcode.RoleAdmin, Hash: hash}); err != nil {
			return err
		}
		adminToken = secret
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
		if host, _, _ := net.SplitHostPort(cfg.Addr); host == "" || host == "0.0.0.0" || host == "::" {
			log.Warn("place codes will encode " + publicURL + ", which phones cannot reach: set --public-url")
		}
	}
	srv := web.New(web.Config{Region: cfg.Region, RegionName: cfg.RegionName, Location: loc, CodeLifetime: cfg.CodeLifetime,
		SecureCookie: cfg.SecureCookie, HSTS: cfg.HSTS, PublicURL: publicURL, AppealDeadline: cfg.AppealDeadline, ProximityByType: cfg.proximity,
		MaxInFlight: cfg.MaxInFlight, MaxWrites: cfg.MaxWrites, QueueTimeout: cfg.QueueTimeout, CJKFont: cfg.CJKFont, Keys: cfg.keyFacts()}, web.Deps{Store: db, LoadRules: loadRules, Signer: signer,
		SigningKey: key.priv, PlaceKey: placeKey, Keys: list, TrustList: signedList, Clock: clock, Logger: log, Dashboard: db,
		InteropKey: interopKey, DSC: dsc, ImportDSCs: importDSCs, Peers: db,
		FetchPeer: func(ctx context.Context, src string) (*healthcode.TrustedPeer, error) {
			return fetchPeer(ctx, src, "", clock.Now())
		}})
	// The trusted peers' keys and federation endpoints, then a refresh of
	// their lists every --trust-refresh, for as long as the server runs.
	// Contact notices to other regions go to those endpoints, signed with
	// this region's current key, retried with backoff until acknowledged.
	endpoints := &peerEndpoints{}
	refreshPeers(ctx, db, srv, endpoints, log)
	nw := &notice.Worker{Outbox: db, Key: key.priv, Endpoint: endpoints.lookup, Settings: outbox.Settings{Clock: clock, Log: log,
		MinBackoff: cfg.NoticeRetry, Poll: min(2*time.Second, cfg.NoticeRetry)}}
	background.Go(func() { _ = nw.Run(bg) })
	go func() {
		t := time.NewTicker(cfg.TrustRefresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				refreshPeers(ctx, db, srv, endpoints, log)
			}
		}
	}()
	// scripts/bench/trivial serves its baseline with the same settings.
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(stdout, "healthcode %s serving region %s (%s) at http://%s/\n", version, cfg.Region, cfg.RegionName, ln.Addr())
	if adminToken != "" {
		fmt.Fprintf(stdout, "first start: admin token (shown once, keep it safe): %s\n", adminToken)
	}
	log.Info("serving", "addr", ln.Addr().String(), "region", cfg.Region, "db", engineName(cfg.dbURL()), "rule_set", engine.RuleSet().Version)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests in flight")
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func engineName(url string) string {
	if len(url) > 8 && (url[:9] == "postgres:" || (len(url) > 11 && url[:11] == "postgresql:")) {
		return "postgres"
	}
	return "sqlite"
}
