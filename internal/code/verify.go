package code

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"time"

	"github.com/veraison/go-cose"
)

// Verify checks a code read from a QR picture against the trusted keys at
// the moment now, and returns its claims and the key that signed it. Every
// error is a *VerifyError. Trailing line breaks, which some scanners add,
// are ignored. A nil keys trusts no key. Verify is safe for concurrent use
// if keys is.
func Verify(payload string, keys KeyResolver, now time.Time) (Claims, Key, error) {
	c, k, err := verify(payload, keys, now)
	if err != nil {
		return Claims{}, Key{}, err // not a typed nil
	}
	return c, k, nil
}

func verify(payload string, keys KeyResolver, now time.Time) (Claims, Key, *VerifyError) {
	payload = strings.TrimRight(payload, "\r\n")
	if err := checkPrefix(payload); err != nil {
		return Claims{}, Key{}, err
	}
	if len(payload) > MaxPayloadLen {
		return Claims{}, Key{}, rejectf(Malformed, "malformed code: it is %d characters long; a code has at most %d", len(payload), MaxPayloadLen)
	}

	text := payload[len(Prefix):]
	raw, err := decodeBase45(make([]byte, 0, len(text)/3*2+1), text, len(Prefix))
	if err != nil {
		return Claims{}, Key{}, err
	}
	parts, err := scanSign1(raw)
	if err != nil {
		return Claims{}, Key{}, err
	}
	var hdr protectedHeader
	if err := headerDecMode.Unmarshal(raw[parts.protStart:parts.protEnd], &hdr); err != nil {
		return Claims{}, Key{}, malformedAt(parts.protStart, "malformed code: bad protected header at byte %d: %v", parts.protStart, err)
	}
	if hdr.Alg == nil {
		return Claims{}, Key{}, malformedAt(parts.protStart, "malformed code: the protected header has no algorithm (label 1)")
	}
	kid := hdr.KID
	if len(kid) == 0 || len(kid) > maxKIDLen {
		return Claims{}, Key{}, malformedAt(parts.protStart, "malformed code: the protected header has no key id (label 4) of 1 to %d bytes", maxKIDLen)
	}
	// The COSE_Sign1 as go-cose would decode it. The signature check, and
	// the check that the header's algorithm is the verifier's, are
	// go-cose's; its decoding is not used because it cost about 5 µs (10% of
	// a verification, maps of any and reflection) against a target of 90%
	// of a bare ed25519.Verify, and the scan above is stricter.
	msg := cose.UntaggedSign1Message{
		Headers: cose.Headers{
			RawProtected:   raw[1:parts.protEnd],
			Protected:      protectedAlg(cose.Algorithm(*hdr.Alg)),
			RawUnprotected: raw[parts.protEnd:parts.payloadHead],
		},
		Payload:   raw[parts.payloadStart:parts.payloadEnd],
		Signature: raw[parts.sigStart:parts.sigEnd],
	}

	var candidates, revoked []Key
	if keys != nil {
		candidates = keys.LookupKey(kid)
		if r, ok := keys.(RevokedKeyResolver); ok {
			revoked = r.LookupRevokedKey(kid)
		}
	}
	if len(candidates) == 0 && len(revoked) == 0 {
		return Claims{}, Key{}, rejectf(UnknownIssuer, "unknown issuer: no trusted region has signing key %x", kid)
	}
	key, err := verifySignature(&msg, kid, candidates)
	if err != nil {
		if k, ok := signedBy(&msg, revoked); ok {
			return Claims{}, Key{}, revokedKey(kid, k)
		}
		if len(candidates) == 0 {
			return Claims{}, Key{}, rejectf(UnknownIssuer, "unknown issuer: no trusted region has signing key %x", kid)
		}
		return Claims{}, Key{}, err
	}

	if err := scanClaims(raw, parts); err != nil {
		return Claims{}, Key{}, err
	}
	var w wireClaims
	if err := claimsDecMode.Unmarshal(msg.Payload, &w); err != nil {
		return Claims{}, Key{}, malformedAt(parts.payloadStart, "malformed code: bad claims at byte %d: %v", parts.payloadStart, err)
	}
	if m := w.missing(); m != "" {
		return Claims{}, Key{}, rejectf(Malformed, "malformed code: missing claim %s", m)
	}
	if w.Iat >= maxTime || w.Exp >= maxTime {
		return Claims{}, Key{}, rejectf(Malformed, "malformed code: issue or expiry time is out of range")
	}

	iat, exp := time.Unix(int64(w.Iat), 0).UTC(), time.Unix(int64(w.Exp), 0).UTC()
	if !key.ValidAt(iat) {
		until := "with no end"
		if !key.NotAfter.IsZero() {
			until = "until " + key.NotAfter.UTC().Format(time.RFC3339)
		}
		return Claims{}, Key{}, rejectf(KeyNotValid, "issued at %s with key %x of region %s, which is valid from %s %s",
			iat.Format(time.RFC3339), kid, key.Region, key.NotBefore.UTC().Format(time.RFC3339), until)
	}
	if iat.After(now.Add(ClockSkew)) {
		return Claims{}, Key{}, rejectf(NotYetValid, "not valid until %s", iat.Format(time.RFC3339))
	}
	if !now.Before(exp) {
		return Claims{}, Key{}, rejectf(Expired, "expired at %s", exp.Format(time.RFC3339))
	}
	if problem := w.check(); problem != "" {
		return Claims{}, Key{}, rejectf(Malformed, "malformed code: %s", problem)
	}
	return w.claims(), key, nil
}

// maxKIDLen is the longest key id Verify looks up.
const maxKIDLen = 16

// eddsaHeader is the decoded protected header of every genuine code, as far
// as go-cose looks at it when verifying. go-cose only reads it, so it is
// shared rather than allocated for each code.
var eddsaHeader = cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA}

func protectedAlg(alg cose.Algorithm) cose.ProtectedHeader {
	if alg == cose.AlgorithmEdDSA {
		return eddsaHeader
	}
	return cose.ProtectedHeader{cose.HeaderLabelAlgorithm: alg}
}

// verifySignature returns the first candidate key whose signature check
// passes.
func verifySignature(msg *cose.UntaggedSign1Message, kid []byte, candidates []Key) (Key, *VerifyError) {
	for _, k := range candidates {
		if len(k.Public) != ed25519.PublicKeySize {
			continue
		}
		v, err := cose.NewVerifier(cose.AlgorithmEdDSA, k.Public)
		if err != nil {
			continue
		}
		err = msg.Verify(nil, v)
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, cose.ErrVerification) {
			alg, _ := msg.Headers.Protected.Algorithm()
			if errors.Is(err, cose.ErrAlgorithmMismatch) {
				return Key{}, rejectf(BadSignature, "bad signature: the code is signed with algorithm %v; only EdDSA is accepted", alg)
			}
			return Key{}, rejectf(BadSignature, "bad signature: %v", err)
		}
	}
	return Key{}, rejectf(BadSignature, "bad signature: the code was altered, or was not signed by the trusted key %x", kid)
}

// signedBy returns the first of keys whose signature check passes.
func signedBy(msg *cose.UntaggedSign1Message, keys []Key) (Key, bool) {
	for _, k := range keys {
		if len(k.Public) != ed25519.PublicKeySize {
			continue
		}
		if v, err := cose.NewVerifier(cose.AlgorithmEdDSA, k.Public); err == nil && msg.Verify(nil, v) == nil {
			return k, true
		}
	}
	return Key{}, false
}

// revokedKey is the rejection of a code signed by a revoked key.
func revokedKey(kid []byte, k Key) *VerifyError {
	when := "has revoked it"
	if !k.RevokedAt.IsZero() {
		when = "revoked it on " + k.RevokedAt.UTC().Format(time.RFC3339)
	}
	return rejectf(KeyNotValid, "key revoked: the code is signed with key %x of region %s, and the region %s; no code signed with that key is accepted any more", kid, k.Region, when)
}

// checkPrefix rejects text that is not a health code, saying what it looks
// like instead.
func checkPrefix(s string) *VerifyError {
	if strings.HasPrefix(s, Prefix) {
		return nil
	}
	head := strings.ToUpper(s[:min(len(s), 8)])
	switch {
	case s == "":
		return rejectf(NotACode, "not a health code: the text is empty")
	case strings.HasPrefix(head, "HTTP://"), strings.HasPrefix(head, "HTTPS://"):
		return rejectf(NotACode, "not a health code: it is a web address (%q)", truncate(s, 60))
	case strings.HasPrefix(head, "HC1:"):
		return rejectf(NotACode, "not a health code: it is an EU Digital COVID Certificate (HC1:), which this system does not accept")
	case strings.HasPrefix(head, "SHC:/"):
		return rejectf(NotACode, "not a health code: it is a SMART Health Card (shc:/), which this system does not accept")
	case len(s) >= 4 && head[:2] == "HQ" && head[2] >= '0' && head[2] <= '9' && head[3] == ':':
		return rejectf(NotACode, "not a health code of a supported version: it starts with %s, this system reads %s", s[:4], Prefix)
	}
	return rejectf(NotACode, "not a health code: it does not start with %s", Prefix)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
