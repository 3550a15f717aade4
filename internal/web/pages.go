package web

// The web pages: server-rendered with html/template, in Simplified Chinese
// and English, with their static assets embedded in the binary. Pages are
// routes like any other (routes.go, pageRoutes) but answer errors with a
// page instead of JSON, and refuse cross-site form posts whoever sends
// them.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"healthcode"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

//go:embed messages/*.json
var messageFS embed.FS

// pageCSP is the Content-Security-Policy of pages: scripts, styles and
// everything else from this origin only, no inline script or style
// attribute handlers, no framing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; media-src 'self' blob:; worker-src 'self'; manifest-src 'self'; form-action 'self'; " +
	"base-uri 'none'; frame-ancestors 'none'"

// asset is one static file, served at a URL that holds its content hash so
// it can be cached for ever.
type asset struct {
	url     string // /static/NAME.HASH.EXT
	mime    string
	body    []byte
	gzipped []byte // nil when compressing does not help
}

// site holds what pages need that is built once: the parsed templates,
// the message catalogues and the static assets.
type site struct {
	pages   map[string]*template.Template
	langs   map[string]*catalog
	assets  map[string]*asset // by file name, e.g. "app.css"
	byURL   map[string]*asset // by hashed URL path
	swJS    []byte            // the service worker, which lists the assets
	swGzip  []byte
	version string // a hash of every asset, for the service worker's cache
}

func newSite() (*site, error) {
	st := &site{assets: map[string]*asset{}, byURL: map[string]*asset{}}
	all := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:5])
		ext := path.Ext(name)
		a := &asset{url: "/static/" + strings.TrimSuffix(name, ext) + "." + h + ext, body: body, mime: mime.TypeByExtension(ext)}
		if ext == ".txt" {
			a.mime = "text/plain; charset=utf-8"
		}
		a.gzipped = gzipBytes(body)
		st.assets[name] = a
		st.byURL[a.url] = a
		all.Write([]byte(a.url))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load static assets: %w", err)
	}
	st.version = hex.EncodeToString(all.Sum(nil)[:6])

	if st.langs, err = loadCatalogs(); err != nil {
		return nil, err
	}

	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			a, ok := st.assets[name]
			if !ok {
				return "", fmt.Errorf("no static asset %q", name)
			}
			return a.url, nil
		},
		"colorClass": func(c healthcode.Color) string { return "c-" + string(c) },
		// part hands a partial template the page's language and one value.
		"part": func(l any, d any) map[string]any { return map[string]any{"L": l, "D": d} },
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	st.pages = map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue // parsed into every page
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		st.pages[name] = t
	}

	var urls []string
	for _, a := range st.assets {
		if !strings.HasSuffix(a.url, ".txt") {
			urls = append(urls, a.url)
		}
	}
	sort.Strings(urls)
	list, _ := json.Marshal(append([]string{"/checkpoint"}, urls...))
	sw, err := staticFS.ReadFile("static/sw.js")
	if err != nil {
		return nil, err
	}
	st.swJS = append([]byte(fmt.Sprintf("const VERSION = %q;\nconst PRECACHE = %s;\n", st.version, list)), sw...)
	st.swGzip = gzipBytes(st.swJS)
	return st, nil
}

// gzipBytes compresses b, or returns nil when that does not make it smaller.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	if buf.Len() >= len(b) {
		return nil
	}
	return buf.Bytes()
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.TrimSpace(strings.ReplaceAll(q, " ", "")) != "q=0" {
			return true
		}
	}
	return false
}

// writeBody writes body, gzipped when the client takes it and it helps.
func writeBody(w http.ResponseWriter, r *http.Request, status int, body, gzipped []byte) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if gzipped != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = gzipped
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// serveStatic serves an embedded asset by its hashed URL, cached for ever.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	a, ok := s.site.byURL[r.URL.Path]
	if !ok {
		return healthcode.Errorf(healthcode.ENOTFOUND, "no such file: %s", r.URL.Path)
	}
	h := w.Header()
	h.Set("Content-Type", a.mime)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	writeBody(w, r, http.StatusOK, a.body, a.gzipped)
	return nil
}

// serveWorker serves the checkpoint page's service worker. It must live at
// a fixed URL, so it is revalidated on every load; it names the hashed
// assets it caches.
func (s *Server) serveWorker(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'self'")
	writeBody(w, r, http.StatusOK, s.site.swJS, s.site.swGzip)
	return nil
}

// catalog is the messages of one language.
type catalog struct {
	Code string // "zh-CN" or "en"
	msgs map[string]string
	errs map[string]string // error formats in this language, by the English format (errtext.go); nil for English
}

// T returns the message for key; a missing key shows as itself, so a
// mistake is visible rather than blank (the catalogue test prevents it).
func (c *catalog) T(key string) string {
	if m, ok := c.msgs[key]; ok {
		return m
	}
	return key
}

// ZH reports whether the catalogue is Chinese, for data that comes in both
// languages (reasons, notifications).
func (c *catalog) ZH() bool { return c.Code == "zh-CN" }

// Fact names a record in the catalogue's language: "Case 7", "病例 7".
func (c *catalog) Fact(f healthcode.FactRef) string {
	if f.IsZero() {
		return ""
	}
	return c.T("fact."+string(f.Kind)) + " " + strconv.FormatInt(f.ID, 10)
}

func loadCatalogs() (map[string]*catalog, error) {
	out := map[string]*catalog{}
	for code, file := range map[string]string{"zh-CN": "messages/zh.json", "en": "messages/en.json"} {
		data, err := messageFS.ReadFile(file)
		if err != nil {
			return nil, err
		}
		c := &catalog{Code: code}
		if err := json.Unmarshal(data, &c.msgs); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out[code] = c
	}
	errs, err := loadErrorCatalog()
	if err != nil {
		return nil, err
	}
	out["zh-CN"].errs = errs
	return out, nil
}

const langCookie = "hc_lang"

// language picks the page language: ?lang= (remembered in a cookie), then
// the cookie, then Accept-Language; Chinese when nothing says otherwise.
func (s *Server) language(w http.ResponseWriter, r *http.Request) *catalog {
	pick := func(v string) string {
		v = strings.ToLower(strings.TrimSpace(v))
		switch {
		case strings.HasPrefix(v, "zh"):
			return "zh-CN"
		case strings.HasPrefix(v, "en"):
			return "en"
		}
		return ""
	}
	if q := pick(r.URL.Query().Get("lang")); q != "" {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, Secure: s.cfg.SecureCookie})
		return s.site.langs[q]
	}
	if c, err := r.Cookie(langCookie); err == nil {
		if l := pick(c.Value); l != "" {
			return s.site.langs[l]
		}
	}
	best, bestQ := "", -1.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				q = 0
			}
		}
		if l := pick(tag); l != "" && q > bestQ {
			best, bestQ = l, q
		}
	}
	if best == "" {
		best = "zh-CN"
	}
	return s.site.langs[best]
}

// page is what every template gets.
type page struct {
	L       *catalog
	Title   string
	Section string // "resident", "admin" or "checkpoint": which navigation to show
	Nav     string // the current navigation item
	Actor   *healthcode.Actor
	Error   string
	Notice  string
	Other   string // the URL of this page in the other language
	Region  string
	D       any // the page's own data
}

// Resident reports whether a resident is signed in.
func (p *page) Resident() bool { return p.Actor != nil && p.Actor.Role == healthcode.RoleResident }

// Official reports whether an authority token is signed in.
func (p *page) Official() bool { return p.Actor != nil && p.Actor.Role != healthcode.RoleResident }

// AdminHome is the first authority page the signed-in role may open.
func (p *page) AdminHome() string {
	switch p.Role() {
	case string(healthcode.RoleReviewer):
		return "/admin/appeals"
	case string(healthcode.RoleAuditor):
		return "/admin/audit"
	case string(healthcode.RoleVenue):
		return "/admin/venues"
	case string(healthcode.RoleLab):
		return "/admin/test-results"
	}
	return "/admin"
}

// Role is the signed-in role, "" when nobody is.
func (p *page) Role() string {
	if p.Actor == nil {
		return ""
	}
	return string(p.Actor.Role)
}

// newPage starts the data of a page for this request.
func (s *Server) newPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, section, nav string) *page {
	l := s.language(w, r)
	other := "en"
	if l.Code == "en" {
		other = "zh"
	}
	u := *r.URL
	q := u.Query()
	q.Set("lang", other)
	u.RawQuery = q.Encode()
	if r.Method != http.MethodGet {
		// A form's answer: its URL takes no GET, so switch on the section's start page.
		u = url.URL{Path: map[string]string{"admin": "/admin", "checkpoint": "/checkpoint"}[section], RawQuery: url.Values{"lang": {other}}.Encode()}
		if u.Path == "" {
			u.Path = "/"
		}
	}
	return &page{L: l, Section: section, Nav: nav, Actor: a, Other: u.RequestURI(), Region: s.cfg.RegionName}
}

// render writes a page. Pages are never cached: they show personal data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) error {
	t, ok := s.site.pages[name]
	if !ok {
		return fmt.Errorf("render: no template %q", name)
	}
	if p.Title == "" {
		p.Title = p.L.T("title." + name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Content-Language", p.L.Code)
	writeBody(w, r, status, buf.Bytes(), gzipBytes(buf.Bytes()))
	return nil
}

// redirect answers a form post by sending the browser to a page (303, so
// a reload does not post again).
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// handlePage wraps a page route: cross-site posts are refused before
// anything else, and errors are pages, not JSON.
func (s *Server) handlePage(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var actor *healthcode.Actor
		var err error
		if r.Method == http.MethodPost && !sameOrigin(r) {
			err = healthcode.Errorf(healthcode.EFORBIDDEN, "cross-site form post refused")
		} else {
			actor, err = s.authenticate(r)
			if err != nil && rt.access == public {
				actor, err = nil, nil // a stale cookie is the same as none here
			}
		}
		if err == nil {
			err = authorize(rt, actor, r)
		}
		if err == nil {
			// The store records who acts in the audit log, as for the API.
			err = rt.h(w, r.WithContext(actorContext(r.Context(), actor)), actor)
		}
		if err != nil {
			s.pageError(w, r, rt, actor, err)
		}
	})
}

// pageError shows an error as a page. A visitor who must sign in gets the
// sign-in form of the part of the site they asked for.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, rt route, a *healthcode.Actor, err error) {
	code := healthcode.ErrorCode(err)
	if code == healthcode.EINTERNAL {
		s.log.LogAttrs(r.Context(), slog.LevelError, "page failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	if strings.HasPrefix(rt.pattern, "/static/") || rt.pattern == "/sw.js" {
		http.Error(w, healthcode.ErrorMessage(err), statusFor(code))
		return
	}
	admin := strings.HasPrefix(rt.pattern, "/admin")
	section := "resident"
	if admin {
		section = "admin"
	}
	p := s.newPage(w, r, nil, section, "")
	p.Error = p.L.Err(err)
	name := "error"
	if code == healthcode.EUNAUTHORIZED {
		// A stale cookie: forget it so the next sign-in starts clean.
		if _, fromCookie, _ := credentials(r); fromCookie {
			s.clearSessionCookie(w)
		}
		name, p.Error = "signin", p.L.T("signin.needed")
		if admin {
			name = "admin_signin"
		}
	} else {
		p.Actor = a
	}
	if rerr := s.render(w, r, statusFor(code), name, p); rerr != nil {
		s.log.Error("render error page", "error", rerr.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.SecureCookie, SameSite: http.SameSiteLaxMode})
}

func (s *Server) setSessionCookie(w http.ResponseWriter, secret string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.cfg.SecureCookie, SameSite: http.SameSiteLaxMode})
}

// maxForm is the largest form a page reads.
const maxForm = 64 << 10

func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return healthcode.Errorf(healthcode.EINVALID, "the form could not be read: %v", err)
	}
	return nil
}

// bufferWriter collects what an API handler writes, for a page that calls it.
type bufferWriter struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.h }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(status int)      { b.status = status }

// callAPI runs a JSON API handler on behalf of a page, so forms get the
// same validation and effects as the API: body becomes the JSON request,
// the JSON answer is decoded into out (when not nil), and the cookies it
// sets are passed on to w. Path values of r carry over.
func (s *Server) callAPI(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, h handlerFunc, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req := r.Clone(r.Context())
	req.Method = http.MethodPost
	req.Body = io.NopCloser(bytes.NewReader(data))
	req.ContentLength = int64(len(data))
	req.Header = r.Header.Clone()
	req.Header.Set("Content-Type", "application/json")
	bw := &bufferWriter{h: http.Header{}}
	if err := h(bw, req, a); err != nil {
		return err
	}
	for _, c := range bw.h.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", c)
	}
	if out != nil {
		if err := json.Unmarshal(bw.buf.Bytes(), out); err != nil {
			return fmt.Errorf("decode API answer: %w", err)
		}
	}
	return nil
}
