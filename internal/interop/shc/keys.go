package shc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"healthcode/internal/fetch"
)

// WellKnownJWKS is where an issuer publishes its keys, under its iss URL.
const WellKnownJWKS = "/.well-known/jwks.json"

// Size limits for what is read from an issuer.
const (
	maxJWKS = 1 << 20
	maxCRL  = 4 << 20
)

// Keys is an issuer's published signing keys (its JWKS) and the revocation
// lists read for them. It is safe for concurrent use.
type Keys struct {
	// Source is the file or URL the JWKS came from; revocation lists are
	// read next to it. Empty for keys parsed from bytes.
	Source string
	// Issuer is the iss the keys speak for: derived by LoadKeys from a URL
	// ending in /.well-known/jwks.json, or set by the caller. When empty,
	// a card's iss is not compared with anything.
	Issuer string

	keys     map[string]*issuerKey
	unusable map[string]string // kid: why the key cannot verify cards

	mu   sync.Mutex
	crls map[string]*RevocationList // by kid
}

type issuerKey struct {
	kid        string
	public     *ecdsa.PublicKey
	certs      []*x509.Certificate
	crlVersion int // 0: the issuer keeps no revocation list for this key
}

// LoadKeys reads an issuer's JWKS from a file or an http(s) URL.
func LoadKeys(ctx context.Context, src string) (*Keys, error) {
	data, err := fetch.Read(ctx, src, "application/json", maxJWKS)
	if err != nil {
		return nil, fmt.Errorf("read JWKS %s: %w", src, err)
	}
	k, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", src, err)
	}
	k.Source = src
	if isURL(src) {
		if u, err := url.Parse(src); err == nil && strings.HasSuffix(u.Path, WellKnownJWKS) && u.RawQuery == "" {
			u.Path = strings.TrimSuffix(u.Path, WellKnownJWKS)
			u.RawPath = ""
			k.Issuer = u.String()
		}
	}
	return k, nil
}

// rawJWK holds the members of a JWK this package looks at before handing
// it to go-jose.
type rawJWK struct {
	Kty        string          `json:"kty"`
	Kid        string          `json:"kid"`
	Use        string          `json:"use"`
	Alg        string          `json:"alg"`
	Crv        string          `json:"crv"`
	D          json.RawMessage `json:"d"`
	CRLVersion json.Number     `json:"crlVersion"`
}

// ParseKeys reads a JWKS. The issuer's signing keys are the EC P-256 keys
// (kty EC, use sig, alg ES256, when given); other keys are ignored, and a
// signing key that carries private material or whose kid is not its
// thumbprint is kept only to say why it cannot be used.
func ParseKeys(data []byte) (*Keys, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS: %w", err)
	}
	if set.Keys == nil {
		return nil, fmt.Errorf("not a JWKS: no keys array")
	}
	k := &Keys{keys: map[string]*issuerKey{}, unusable: map[string]string{}, crls: map[string]*RevocationList{}}
	for i, raw := range set.Keys {
		var r rawJWK
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if r.Kty != "EC" || (r.Use != "" && r.Use != "sig") || (r.Alg != "" && r.Alg != "ES256") || r.Crv != "P-256" {
			continue // not an SHC signing key
		}
		if r.Kid == "" {
			continue // cannot be named by a card
		}
		if _, dup := k.keys[r.Kid]; dup {
			continue // the spec allows one entry per certificate for the same key
		}
		if r.D != nil {
			k.unusable[r.Kid] = "the published key carries its private part (d), so it is compromised"
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			k.unusable[r.Kid] = "the published key is malformed: " + err.Error()
			continue
		}
		pub, ok := jwk.Key.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			k.unusable[r.Kid] = "the published key is not an EC P-256 public key"
			continue
		}
		if tp, err := thumbprint(&jwk); err != nil {
			k.unusable[r.Kid] = "the key's thumbprint cannot be computed: " + err.Error()
			continue
		} else if tp != r.Kid {
			k.unusable[r.Kid] = "the key's kid is not its RFC 7638 thumbprint " + tp
			continue
		}
		ik := &issuerKey{kid: r.Kid, public: pub, certs: jwk.Certificates}
		if r.CRLVersion != "" {
			v, err := strconv.Atoi(string(r.CRLVersion))
			if err != nil || v < 1 {
				k.unusable[r.Kid] = fmt.Sprintf("the key's crlVersion %s is not a positive integer", r.CRLVersion)
				continue
			}
			ik.crlVersion = v
		}
		delete(k.unusable, r.Kid)
		k.keys[r.Kid] = ik
	}
	if len(k.keys) == 0 && len(k.unusable) == 0 {
		return nil, fmt.Errorf("no EC P-256 signing keys")
	}
	return k, nil
}

// KeyIDs lists the kids of the usable keys.
func (k *Keys) KeyIDs() []string {
	out := make([]string, 0, len(k.keys))
	for kid := range k.keys {
		out = append(out, kid)
	}
	return out
}

// lookup finds the key a card names, or says why there is none.
func (k *Keys) lookup(kid string) (*issuerKey, string) {
	if ik, ok := k.keys[kid]; ok {
		return ik, ""
	}
	if why, ok := k.unusable[kid]; ok {
		return nil, fmt.Sprintf("key %s cannot be used: %s", kid, why)
	}
	return nil, fmt.Sprintf("kid %s is not in the issuer's JWKS", kid)
}

// KeyID returns the kid the spec requires for pub: the base64url SHA-256
// JWK thumbprint (RFC 7638).
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	return thumbprint(&jose.JSONWebKey{Key: pub})
}

func thumbprint(jwk *jose.JSONWebKey) (string, error) {
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// JWKS returns the JSON Web Key Set that publishes pubs as SHC signing keys,
// for serving at ISS/.well-known/jwks.json. An old key stays in the set as
// long as cards it signed are in use.
func JWKS(pubs ...*ecdsa.PublicKey) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(pubs))}
	for _, pub := range pubs {
		if pub == nil || pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("shc: JWKS: SMART Health Card keys are EC P-256")
		}
		kid, err := KeyID(pub)
		if err != nil {
			return nil, fmt.Errorf("shc: JWKS: %w", err)
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Use: "sig", Algorithm: string(jose.ES256)})
	}
	data, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("shc: JWKS: %w", err)
	}
	return data, nil
}

// RevocationList is an issuer's card revocation list for one key (the
// spec's CRL, method "rid").
type RevocationList struct {
	KeyID   string
	Counter int // ctr: how many times the list was updated
	// revoked maps each rid to the times before which cards are revoked;
	// a zero time revokes every card with that rid.
	revoked map[string][]time.Time
}

// ParseRevocationList reads a revocation list:
// {"kid": KID, "method": "rid", "ctr": N, "rids": ["rid", "rid.TIMESTAMP", ...]}.
func ParseRevocationList(data []byte) (*RevocationList, error) {
	var raw struct {
		Kid    string          `json:"kid"`
		Method string          `json:"method"`
		Ctr    json.RawMessage `json:"ctr"`
		Rids   []string        `json:"rids"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a revocation list: %w", err)
	}
	if raw.Kid == "" {
		return nil, fmt.Errorf("revocation list without kid")
	}
	if raw.Method != "rid" {
		return nil, fmt.Errorf("revocation method %q, want rid", raw.Method)
	}
	// ctr is a number, though the spec's template quotes it.
	ctr, err := strconv.Atoi(string(bytes.Trim(raw.Ctr, `"`)))
	if err != nil || ctr < 1 {
		return nil, fmt.Errorf("revocation list ctr %s is not a positive integer", raw.Ctr)
	}
	l := &RevocationList{KeyID: raw.Kid, Counter: ctr, revoked: map[string][]time.Time{}}
	for _, e := range raw.Rids {
		rid, ts, hasTS := strings.Cut(e, ".")
		if !validRID(rid) {
			return nil, fmt.Errorf("revocation list entry %q is not a rid", e)
		}
		var before time.Time
		if hasTS {
			if before, err = numericDate(ts); err != nil {
				return nil, fmt.Errorf("revocation list entry %q: timestamp: %w", e, err)
			}
		}
		l.revoked[rid] = append(l.revoked[rid], before)
	}
	return l, nil
}

// Revoked reports whether the card with rid, issued at nbf, is on the list.
func (l *RevocationList) Revoked(rid string, nbf time.Time) (bool, time.Time) {
	for _, before := range l.revoked[rid] {
		if before.IsZero() || nbf.Before(before) {
			return true, before
		}
	}
	return false, time.Time{}
}

// AddRevocationList gives k the revocation list of one of its keys, as a
// verifier that works offline would from its own copy; it is used instead of
// reading the list from next to the JWKS.
func (k *Keys) AddRevocationList(l *RevocationList) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.crls[l.KeyID] = l
}

// revocationList returns the list for key, reading it next to the JWKS the
// first time and again when the key's crlVersion is newer than the copy.
func (k *Keys) revocationList(ctx context.Context, key *issuerKey) (*RevocationList, error) {
	k.mu.Lock()
	l := k.crls[key.kid]
	k.mu.Unlock()
	if l != nil && l.Counter >= key.crlVersion {
		return l, nil
	}
	src, err := k.crlSource(key.kid)
	if err != nil {
		return nil, err
	}
	data, err := fetch.Read(ctx, src, "application/json", maxCRL)
	if err != nil {
		return nil, fmt.Errorf("read revocation list: %w", err)
	}
	l, err = ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("revocation list %s: %w", src, err)
	}
	if l.KeyID != key.kid {
		return nil, fmt.Errorf("revocation list %s is for kid %s", src, l.KeyID)
	}
	if l.Counter < key.crlVersion {
		return nil, fmt.Errorf("revocation list %s has ctr %d, older than the key's crlVersion %d", src, l.Counter, key.crlVersion)
	}
	k.AddRevocationList(l)
	return l, nil
}

// crlSource is where the list of key kid lives: crl/KID.json next to the
// JWKS.
func (k *Keys) crlSource(kid string) (string, error) {
	if k.Source == "" {
		return "", fmt.Errorf("no revocation list for kid %s: the keys were not read from a file or URL", kid)
	}
	for i := 0; i < len(kid); i++ {
		if !jwsChar(kid[i]) || kid[i] == '.' {
			return "", fmt.Errorf("kid %q is not base64url", kid)
		}
	}
	if !isURL(k.Source) {
		return filepath.Join(filepath.Dir(k.Source), "crl", kid+".json"), nil
	}
	base, err := url.Parse(k.Source)
	if err != nil {
		return "", err
	}
	return base.ResolveReference(&url.URL{Path: "crl/" + kid + ".json"}).String(), nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// validRID reports whether rid has the spec's form: at most 24 characters
// of the base64url alphabet.
func validRID(rid string) bool {
	if rid == "" || len(rid) > 24 {
		return false
	}
	for i := 0; i < len(rid); i++ {
		if !jwsChar(rid[i]) || rid[i] == '.' {
			return false
		}
	}
	return true
}

// validIssuerURL checks the form the spec requires of iss: an https URL
// without a trailing slash. Plain http is accepted for loopback hosts, for
// development and tests.
func validIssuerURL(iss string) error {
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("iss %q is not an absolute URL", iss)
	}
	if strings.HasSuffix(iss, "/") {
		return fmt.Errorf("iss %q ends with a slash", iss)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
	}
	return fmt.Errorf("iss %q is not an https URL", iss)
}
