package web

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/trust"
)

// The admin's keys and trust-list pages (/admin/keys, /admin/trust). The
// keys page shows the region's keys and their state, never key material:
// secret keys appear as a fingerprint and a creation time. Rotating and
// revoking keys touch files on the servers' machines, so they stay
// commands (`healthcode keys ...`), which the page spells out. The
// trust-list page shows this region's published list and the peer regions
// it trusts; an admin adds a peer by URL (fetched and verified as
// `healthcode trust add URL` does) or removes one, both audited.

// KeyFacts describes the region's secret keys for the keys page, without
// the keys: cmd/healthcode reads them from the data directory.
type KeyFacts struct {
	DataDir            string    // --data, for the commands the page shows
	DataKeyFile        string    // --data-key-file when given, for the commands
	DataKeyID          int       // the key id written into ciphertexts
	DataKeyFingerprint string    // KeyFingerprint of the personal-data key
	DataKeyCreated     time.Time // when its file was written
	PlaceKeyCreated    time.Time // when the place-code key's file was written
}

// KeyFingerprint names a secret key without telling anything about it: 16
// hex digits of SHA-256 over a label and the key.
func KeyFingerprint(key []byte) string {
	sum := sha256.Sum256(append([]byte("healthcode key fingerprint\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// peerRefreshes remembers, per peer source, this process's last attempt to
// fetch the peer's list again and its error, for the trust-list page.
type peerRefreshes struct {
	mu sync.Mutex
	m  map[string]peerRefresh
}

type peerRefresh struct {
	At  time.Time
	Err string
}

// NotePeerRefresh records that the peer at source was fetched again at at,
// and how that went (err nil: fine, or unchanged). The periodic refresh in
// cmd/healthcode calls it.
func (s *Server) NotePeerRefresh(source string, at time.Time, err error) {
	s.refreshes.mu.Lock()
	defer s.refreshes.mu.Unlock()
	if s.refreshes.m == nil {
		s.refreshes.m = map[string]peerRefresh{}
	}
	r := peerRefresh{At: at}
	if err != nil {
		r.Err = err.Error()
	}
	s.refreshes.m[source] = r
}

func (s *Server) peerRefresh(source string) peerRefresh {
	s.refreshes.mu.Lock()
	defer s.refreshes.mu.Unlock()
	return s.refreshes.m[source]
}

// --- keys ------------------------------------------------------------------

type signingKeyView struct {
	KID, Alg, Region   string
	Created, NotAfter  string
	State              string // active, retired or revoked
	VerifiesUntil      string // retired: the latest a code it signed can still verify
	RevokedAt, Command string
}

type keysView struct {
	Signing            []signingKeyView
	TrustErr           string
	DSC                *dscView
	SHCKid             string
	PlaceFingerprint   string
	PlaceCreated       string
	DataKeyID          int
	DataFingerprint    string
	DataCreated        string
	Flags              string // --data DIR [--data-key-file FILE], for the commands
	RotateSigning      string
	RotateData         string
	PaperLifetimeDays  int
	CodeLifetime       string
	HasInterop, HasSig bool
}

type dscView struct {
	Subject, Issuer, Serial string
	Fingerprint             string // SHA-256 of the DER, hex in pairs
	NotBefore, NotAfter     string
	Expired                 bool
}

// ownTrustList is the region's published trust list, as checkpoints and
// peers read it.
func (s *Server) ownTrustList() (*trust.List, error) {
	if len(s.trustList) == 0 {
		return nil, healthcode.Errorf(healthcode.EUNAVAILABLE, "this server publishes no trust list")
	}
	return trust.Parse(s.trustList, s.clock.Now())
}

func (s *Server) keysPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "keys")
	kf := s.cfg.Keys
	flags := "--data " + shellQuote(cmpOr(kf.DataDir, "./healthcode-data"))
	if kf.DataKeyFile != "" {
		flags += " --data-key-file " + shellQuote(kf.DataKeyFile)
	}
	// A retired key's codes verify until they expire: the longest-lived
	// are paper codes.
	paperLife := healthcode.DefaultPaperCodeLifetime
	v := keysView{Flags: flags, RotateSigning: "healthcode keys rotate-signing-key " + flags,
		RotateData: "healthcode keys rotate-data-key " + flags, PaperLifetimeDays: int(paperLife.Hours() / 24),
		CodeLifetime: s.cfg.CodeLifetime.String(), DataKeyID: kf.DataKeyID, DataFingerprint: kf.DataKeyFingerprint,
		DataCreated: s.localTime(kf.DataKeyCreated), PlaceCreated: s.localTime(kf.PlaceKeyCreated)}
	if len(s.placeKey) > 0 {
		v.PlaceFingerprint = KeyFingerprint(s.placeKey)
	}
	var current string
	if s.signer != nil {
		current = hex.EncodeToString(code.KeyID(s.signer.Public()))
		v.HasSig = true
	}
	list, err := s.ownTrustList()
	if err != nil {
		v.TrustErr = p.L.Err(err)
	} else {
		for _, e := range list.Keys {
			kv := signingKeyView{KID: e.KID, Alg: e.Alg, Region: e.Region, Created: s.localTime(e.NotBefore), NotAfter: s.localTime(e.NotAfter)}
			switch {
			case e.Revoked:
				kv.State, kv.RevokedAt = "revoked", s.localTime(e.RevokedAt)
			case e.KID == current:
				kv.State = "active"
			default:
				kv.State = "retired"
				if !e.NotAfter.IsZero() {
					kv.VerifiesUntil = s.localTime(e.NotAfter.Add(paperLife))
				}
				kv.Command = "healthcode keys revoke-signing-key " + flags + " --kid " + e.KID
			}
			v.Signing = append(v.Signing, kv)
		}
		order := map[string]int{"active": 0, "retired": 1, "revoked": 2}
		sort.SliceStable(v.Signing, func(i, j int) bool { return order[v.Signing[i].State] < order[v.Signing[j].State] })
	}
	if s.interop != nil {
		v.HasInterop = true
		v.DSC = s.dscView(s.interop.dsc)
		if jwks, err := s.interop.shc.JWKS(); err == nil {
			var set struct {
				Keys []struct {
					Kid string `json:"kid"`
				} `json:"keys"`
			}
			if json.Unmarshal(jwks, &set) == nil && len(set.Keys) > 0 {
				v.SHCKid = set.Keys[0].Kid
			}
		}
	}
	p.D = v
	return s.render(w, r, http.StatusOK, "keys", p)
}

func (s *Server) dscView(c *x509.Certificate) *dscView {
	if c == nil {
		return nil
	}
	sum := sha256.Sum256(c.Raw)
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = strings.ToUpper(hex.EncodeToString([]byte{b}))
	}
	return &dscView{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.String(),
		Fingerprint: strings.Join(pairs, ":"), NotBefore: s.localTime(c.NotBefore), NotAfter: s.localTime(c.NotAfter),
		Expired: s.clock.Now().After(c.NotAfter)}
}

// shellQuote quotes a path for a command line when it needs it.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@+,") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// --- trust lists -----------------------------------------------------------

type trustEntryView struct {
	KID, Region, RegionName, Alg string
	NotBefore, NotAfter          string
	Revoked, Retired             bool // retired: its validity ended; codes it signed before may still verify
	RevokedAt                    string
}

type peerView struct {
	Source, Region, ETag  string
	FetchedAt             string // when the list held was fetched (last changed)
	CheckedAt, LastError  string // this process's last refresh
	Keys                  entriesBlock
	ListErr               string // the list held no longer validates
	IssuedAt              string
	Valid, Trusted, Fresh bool
}

type trustView struct {
	IssuedAt string
	Entries  entriesBlock
	ListErr  string
	Peers    []peerView
	Form     url.Values
	Errs     map[string]string
	CanEdit  bool
}

// entriesBlock is a table of trust-list entries, for the template that
// draws one.
type entriesBlock struct {
	L *catalog
	V []trustEntryView
}

func (s *Server) entryViews(l *catalog, es []trust.Entry) entriesBlock {
	out := make([]trustEntryView, len(es))
	now := s.clock.Now()
	for i, e := range es {
		out[i] = trustEntryView{KID: e.KID, Region: e.Region, RegionName: e.RegionName, Alg: e.Alg, NotBefore: s.localTime(e.NotBefore),
			NotAfter: s.localTime(e.NotAfter), Revoked: e.Revoked, RevokedAt: s.localTime(e.RevokedAt),
			Retired: !e.NotAfter.IsZero() && now.After(e.NotAfter)}
	}
	return entriesBlock{L: l, V: out}
}

func (s *Server) trustView(ctx context.Context, l *catalog) (trustView, error) {
	v := trustView{Form: url.Values{}, CanEdit: s.peers != nil && s.fetchPeer != nil}
	if list, err := s.ownTrustList(); err != nil {
		v.ListErr = l.Err(err)
	} else {
		v.IssuedAt, v.Entries = s.localTime(list.IssuedAt), s.entryViews(l, list.Keys)
	}
	if s.peers == nil {
		return v, nil
	}
	peers, err := s.peers.ListTrustedPeers(ctx)
	if err != nil {
		return v, err
	}
	now := s.clock.Now()
	for _, p := range peers {
		pv := peerView{Source: p.Source, Region: p.Region, ETag: p.ETag, FetchedAt: s.localTime(p.FetchedAt)}
		if ref := s.peerRefresh(p.Source); !ref.At.IsZero() {
			pv.CheckedAt, pv.LastError = s.localTime(ref.At), ref.Err
		}
		if list, err := trust.Parse(p.List, now); err != nil {
			pv.ListErr = l.Err(err)
		} else {
			pv.Valid, pv.Keys, pv.IssuedAt = true, s.entryViews(l, list.Keys), s.localTime(list.IssuedAt)
		}
		v.Peers = append(v.Peers, pv)
	}
	return v, nil
}

// reloadPeers gives this process's verifier the peers' lists as stored now,
// after an admin added or removed one; other processes pick the change up
// at their next refresh.
func (s *Server) reloadPeers(ctx context.Context) error {
	peers, err := s.peers.ListTrustedPeers(ctx)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	var lists []*trust.List
	var signed [][]byte
	for _, p := range peers {
		l, err := trust.Parse(p.List, now)
		if err != nil {
			continue // no longer valid: the page says so
		}
		lists, signed = append(lists, l), append(signed, p.List)
	}
	s.SetPeers(lists, signed)
	return nil
}

// addPeer fetches, verifies and trusts the peer whose trust list is at the
// URL raw; a problem with the URL or what it answers is a problem of the
// "url" field.
func (s *Server) addPeer(ctx context.Context, raw string) (*healthcode.TrustedPeer, error) {
	var problems healthcode.Problems
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		problems.Add("url", "is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		problems.Add("url", "must be an http or https URL, such as https://hc.example.gov.cn/.well-known/healthcode/trust-list")
	}
	if err := problems.Err("invalid peer"); err != nil {
		return nil, err
	}
	if s.peers == nil || s.fetchPeer == nil {
		return nil, healthcode.Errorf(healthcode.EUNAVAILABLE, "this server cannot add peer regions")
	}
	fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := s.fetchPeer(fctx, raw)
	switch {
	case err != nil && healthcode.ErrorCode(err) == healthcode.EINVALID:
		problems.Add("url", "the URL answered, but not with a trust list this region can use: %s", asMessage(err))
	case err != nil:
		// A network or HTTP failure: its text names the URL and the status.
		problems.Add("url", "nothing usable came from the URL (no answer, an HTTP error or not a trust list): %v", errorText(err))
	case p == nil:
		problems.Add("url", "nothing usable came from the URL (no answer, an HTTP error or not a trust list): %v", "empty")
	case p.Region == s.cfg.Region:
		problems.Add("url", "this is the trust list of this region (%s), not of a peer", p.Region)
	}
	if err := problems.Err("invalid peer"); err != nil {
		return nil, err
	}
	if err := s.peers.AddTrustedPeer(ctx, p); err != nil {
		return nil, err
	}
	s.NotePeerRefresh(p.Source, s.clock.Now(), nil)
	return p, s.reloadPeers(ctx)
}

// asMessage is err's message as an argument of another message, which a
// page translates with it.
func asMessage(err error) message {
	var e *healthcode.Error
	if !errors.As(err, &e) {
		return message{Message: err.Error()}
	}
	return message{Message: e.Message, Format: e.Format, Args: e.Args}
}

// errorText is an error's text for an admin, without the Go wrapping of
// the command line's "peer trust list SRC: ".
func errorText(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": GET "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

func (s *Server) trustPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "trust")
	status := http.StatusOK
	var form url.Values
	var errs map[string]string
	if removed := r.URL.Query().Get("removed"); removed != "" && r.Method == http.MethodGet {
		p.Notice = p.L.T("trust.removed") + " " + removed
	}
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
		peer, err := s.addPeer(r.Context(), r.PostForm.Get("url"))
		switch {
		case err == nil:
			p.Notice = strings.ReplaceAll(p.L.T("trust.added"), "{region}", peer.Region)
		case healthcode.ErrorCode(err) == healthcode.EINVALID:
			p.Error, errs, form, status = p.L.Err(err), p.L.FieldErrs(err), r.PostForm, http.StatusBadRequest
		default:
			return err
		}
	}
	v, err := s.trustView(r.Context(), p.L)
	if err != nil {
		return err
	}
	if form != nil {
		v.Form = form
	}
	v.Errs = errs
	p.D = v
	return s.render(w, r, status, "trust", p)
}

func (s *Server) trustRemovePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	if s.peers == nil {
		return healthcode.Errorf(healthcode.EUNAVAILABLE, "this server cannot add peer regions")
	}
	if err := s.peers.RemoveTrustedPeer(r.Context(), r.PostForm.Get("source")); err != nil {
		return err
	}
	if err := s.reloadPeers(r.Context()); err != nil {
		return err
	}
	return redirect(w, r, "/admin/trust?removed="+url.QueryEscape(r.PostForm.Get("source")))
}
