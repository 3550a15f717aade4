// Package trust holds trust lists: a region's signed list of the keys that
// issue its health codes.
//
// A region publishes its list at WellKnownPath as a compact JWS (RFC 7515)
// of the list's JSON, signed with EdDSA (Ed25519) by one of the keys in the
// list, and imports its peers' lists by URL or by file. A verifier that
// holds lists resolves a code's key id with List.LookupKey, or with a Set
// of lists to trust several regions.
//
// An entry may be revoked ("revoked": true, and "revoked_at" saying when):
// its key is then never used. List.LookupKey leaves it out and
// List.LookupRevokedKey returns it, so that code.Verify rejects a code it
// signed with a reason that says the key was revoked, whatever issue time
// the code claims.
//
// A list is self-signed: Parse checks that it is intact and signed by a
// valid key it names for its own region, not that the region is who it says
// it is. Until lists are checked against pinned peer keys, that rests on
// where the list came from: an HTTPS address or a file the operator chose.
package trust

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/fetch"
	"healthcode/internal/jws"
)

// WellKnownPath is where a region publishes its trust list.
const WellKnownPath = "/.well-known/healthcode/trust-list"

// MediaType is the content type of a published (signed) trust list.
const MediaType = "application/jose"

// Type is the JWS "typ" header of a trust list; Parse refuses other JWS.
const Type = "healthcode-trust-list+jws"

// AlgEdDSA is the only key algorithm lists carry.
const AlgEdDSA = "EdDSA"

// Limits.
const (
	MaxListSize = 1 << 20 // bytes of a signed list
	MaxKeys     = 1000    // entries in one list
)

// List is a region's trust list.
type List struct {
	Issuer   string    `json:"issuer"` // the region's 6-digit code
	IssuedAt time.Time `json:"issued_at"`
	Keys     []Entry   `json:"keys"`
}

// Entry is one issuer key in a list.
type Entry struct {
	KID        string    `json:"kid"` // lower-case hex of code.KeyID(public key)
	Region     string    `json:"region"`
	RegionName string    `json:"region_name"`
	Alg        string    `json:"alg"`        // "EdDSA"
	PublicKey  string    `json:"public_key"` // base64url (no padding) of the raw 32-byte key
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after,omitzero"` // zero: no end

	// Revoked withdraws the key: no code it signed is accepted any more,
	// whatever its issue time, and a list or status list it signed is
	// refused. RevokedAt says when, for people; it may be set only together
	// with Revoked, so that a verifier that knows only "revoked" reads the
	// list the same way. Lists written before RevokedAt existed have none.
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Revoke marks e revoked at t.
func (e *Entry) Revoke(t time.Time) {
	e.Revoked, e.RevokedAt = true, t.UTC()
}

// NewEntry returns the entry for an Ed25519 public key.
func NewEntry(pub ed25519.PublicKey, region, regionName string, notBefore, notAfter time.Time) Entry {
	return Entry{
		KID:        hex.EncodeToString(code.KeyID(pub)),
		Region:     region,
		RegionName: regionName,
		Alg:        AlgEdDSA,
		PublicKey:  base64.RawURLEncoding.EncodeToString(pub),
		NotBefore:  notBefore.UTC(),
		NotAfter:   notAfter.UTC(),
	}
}

// publicKey decodes e's key, checking that it matches e's key id.
func (e *Entry) publicKey() (ed25519.PublicKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(e.PublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public_key is not the base64url encoding of a %d-byte Ed25519 key", ed25519.PublicKeySize)
	}
	if want := hex.EncodeToString(code.KeyID(raw)); e.KID != want {
		return nil, fmt.Errorf("kid %q does not match the public key, whose kid is %q", e.KID, want)
	}
	return raw, nil
}

// ValidAt reports whether the key may sign at t.
func (e *Entry) ValidAt(t time.Time) bool {
	return !t.Before(e.NotBefore) && (e.NotAfter.IsZero() || !t.After(e.NotAfter))
}

// Validate checks the list's form: the issuer's region code, and for each
// entry its algorithm, key, key id, region (the issuer's: a list speaks only
// for its own region) and validity period. It returns an EINVALID
// *healthcode.Error listing the problems.
func (l *List) Validate() error {
	var p healthcode.Problems
	if !healthcode.ValidRegionCode(l.Issuer) {
		p.Add("issuer", "must be a 6-digit region code such as 330106")
	}
	if l.IssuedAt.IsZero() {
		p.Add("issued_at", "is required")
	}
	switch {
	case len(l.Keys) == 0:
		p.Add("keys", "is empty")
	case len(l.Keys) > MaxKeys:
		p.Add("keys", "has more than %d entries", MaxKeys)
	}
	seen := make(map[string]int)
	for i := range l.Keys {
		e := &l.Keys[i]
		field := fmt.Sprintf("keys[%d]", i)
		if e.Alg != AlgEdDSA {
			p.Add(field+".alg", "is %q; only %s is supported", e.Alg, AlgEdDSA)
		}
		if _, err := e.publicKey(); err != nil {
			p.Add(field, "%v", err)
		} else if j, dup := seen[e.PublicKey]; dup {
			p.Add(field, "has the same key as keys[%d]", j)
		} else {
			seen[e.PublicKey] = i
		}
		if e.Region != l.Issuer {
			p.Add(field+".region", "is %q; a list lists only keys of its issuer, %q", e.Region, l.Issuer)
		}
		if e.NotBefore.IsZero() {
			p.Add(field+".not_before", "is required")
		} else if !e.NotAfter.IsZero() && !e.NotAfter.After(e.NotBefore) {
			p.Add(field+".not_after", "is not after not_before")
		}
		if !e.RevokedAt.IsZero() && !e.Revoked {
			p.Add(field+".revoked_at", "is set but revoked is not true; a revoked key needs both")
		}
	}
	return p.Err("invalid trust list")
}

// Sign validates l and returns it as a compact JWS signed with priv, whose
// public key must be a valid, unrevoked entry of l.
func Sign(l *List, priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign trust list: the private key is %d bytes, not %d", len(priv), ed25519.PrivateKeySize)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	kid := hex.EncodeToString(code.KeyID(pub))
	signerIn := false
	for i := range l.Keys {
		if e := &l.Keys[i]; e.PublicKey == base64.RawURLEncoding.EncodeToString(pub) && !e.Revoked {
			signerIn = true
		}
	}
	if !signerIn {
		return nil, healthcode.Errorf(healthcode.EINVALID, "sign trust list: the signing key %s is not an unrevoked entry of the list", kid)
	}
	payload, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("sign trust list: %w", err)
	}
	signed, err := jws.Sign(payload, priv, Type, kid)
	if err != nil {
		return nil, fmt.Errorf("sign trust list: %w", err)
	}
	return signed, nil
}

func invalid(format string, args ...any) error {
	return healthcode.Errorf(healthcode.EINVALID, "trust list: "+format, args...)
}

// Parse checks a signed trust list at the moment now and returns it. The
// list must be a compact JWS with "typ" Type, signed with EdDSA by the
// entry whose kid is in the JWS header; that entry must be of the list's
// own region, unrevoked and valid at now, and the list must pass Validate
// and not be issued in the future. Every failure is an EINVALID
// *healthcode.Error that says what is wrong.
func Parse(data []byte, now time.Time) (*List, error) {
	sig, hdr, err := jws.Open(data, MaxListSize, Type, invalid)
	if err != nil {
		return nil, err
	}
	kid := hdr.KeyID
	if kid == "" {
		return nil, invalid("the JWS header has no key id (kid)")
	}

	// Find the signing key in the (not yet verified) list, then verify.
	var l List
	if err := json.Unmarshal(sig.UnsafePayloadWithoutVerification(), &l); err != nil {
		return nil, invalid("the signed content is not a trust list: %v", err)
	}
	if len(l.Keys) > MaxKeys {
		return nil, invalid("it has %d keys; the limit is %d", len(l.Keys), MaxKeys)
	}
	var signer, revoked *Entry
	var found int
	tried := make(map[string]bool) // each key is checked once, however often it is listed
	for i := range l.Keys {
		e := &l.Keys[i]
		if e.KID != kid {
			continue
		}
		found++
		if e.Revoked {
			revoked = e
			continue
		}
		if tried[e.PublicKey] {
			continue
		}
		tried[e.PublicKey] = true
		pub, err := e.publicKey()
		if err != nil {
			continue
		}
		if _, err := sig.Verify(pub); err == nil {
			signer = e
			break
		}
	}
	switch {
	case signer != nil:
	case found == 0:
		return nil, invalid("signed by key %s, which is not in the list", kid)
	case revoked != nil && len(tried) == 0:
		if !revoked.RevokedAt.IsZero() {
			return nil, invalid("signed by key %s, which the list marks as revoked on %s", kid, revoked.RevokedAt.UTC().Format(time.RFC3339))
		}
		return nil, invalid("signed by key %s, which the list marks as revoked", kid)
	default:
		return nil, invalid("the signature does not verify with key %s: the list was altered or not signed by that key", kid)
	}

	if err := l.Validate(); err != nil {
		return nil, err
	}
	if signer.Region != l.Issuer {
		return nil, invalid("signed by key %s of region %s, not of the issuer %s", kid, signer.Region, l.Issuer)
	}
	if !signer.ValidAt(now) {
		return nil, invalid("signed by key %s, which is not valid now (%s)", kid, validity(signer))
	}
	if l.IssuedAt.After(now.Add(code.ClockSkew)) {
		return nil, invalid("issued in the future, at %s", l.IssuedAt.UTC().Format(time.RFC3339))
	}
	return &l, nil
}

func validity(e *Entry) string {
	s := "from " + e.NotBefore.UTC().Format(time.RFC3339)
	if !e.NotAfter.IsZero() {
		s += " until " + e.NotAfter.UTC().Format(time.RFC3339)
	}
	return s
}

// LookupKey returns the unrevoked keys of the list with key id kid. It
// implements code.KeyResolver.
func (l *List) LookupKey(kid []byte) []code.Key { return l.lookup(kid, false) }

// LookupRevokedKey returns the revoked keys of the list with key id kid,
// with their revocation times. It implements code.RevokedKeyResolver.
func (l *List) LookupRevokedKey(kid []byte) []code.Key { return l.lookup(kid, true) }

func (l *List) lookup(kid []byte, revoked bool) []code.Key {
	var buf [32]byte
	if l == nil || len(kid) == 0 || 2*len(kid) > len(buf) {
		return nil
	}
	hexKID := buf[:hex.Encode(buf[:], kid)]
	var keys []code.Key
	for i := range l.Keys {
		e := &l.Keys[i]
		if e.Revoked != revoked || e.KID != string(hexKID) {
			continue
		}
		pub, err := e.publicKey()
		if err != nil {
			continue
		}
		k := code.Key{
			KID:       bytes.Clone(kid),
			Region:    e.Region,
			Public:    pub,
			NotBefore: e.NotBefore,
			NotAfter:  e.NotAfter,
		}
		if revoked {
			k.RevokedAt = e.RevokedAt
		}
		keys = append(keys, k)
	}
	return keys
}

// Set is several trust lists, such as a region's own and its peers'. It
// implements code.KeyResolver.
type Set []*List

// LookupKey returns the unrevoked keys with key id kid from every list.
func (s Set) LookupKey(kid []byte) []code.Key {
	var keys []code.Key
	for _, l := range s {
		keys = append(keys, l.LookupKey(kid)...)
	}
	return keys
}

// LookupRevokedKey returns the revoked keys with key id kid from every
// list. It implements code.RevokedKeyResolver.
func (s Set) LookupRevokedKey(kid []byte) []code.Key {
	var keys []code.Key
	for _, l := range s {
		keys = append(keys, l.LookupRevokedKey(kid)...)
	}
	return keys
}

// LoadTimeout bounds fetching a list over HTTP.
const LoadTimeout = fetch.Timeout

// Load reads a signed trust list from src, a file path or an http(s) URL, and
// parses it.
func Load(ctx context.Context, src string, now time.Time) (*List, error) {
	data, err := fetch.Read(ctx, src, MediaType, MaxListSize)
	if err != nil {
		return nil, fmt.Errorf("load trust list %s: %w", src, err)
	}
	l, err := Parse(data, now)
	if err != nil {
		return nil, fmt.Errorf("load trust list %s: %w", src, err)
	}
	return l, nil
}
