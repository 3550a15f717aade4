// Package code makes and checks the signed health code a resident shows at a
// checkpoint, and draws and reads its QR picture.
//
// # Payload
//
// A code is the text "HQ1:" followed by the base45 (RFC 9285) encoding of an
// untagged COSE_Sign1 (RFC 9052) whose payload is a CWT claims set (RFC 8392)
// in deterministic CBOR, signed with Ed25519 (COSE alg EdDSA, -8). The text
// uses only QR alphanumeric characters, so the QR uses alphanumeric mode.
//
//	COSE_Sign1 = [
//	  protected:   bstr .cbor {1: -8, 4: kid},  ; alg EdDSA, key id
//	  unprotected: {},
//	  payload:     bstr .cbor claims,
//	  signature:   bstr .size 64,
//	]
//	claims = {
//	   6: iat,            ; issued at, unix seconds
//	   4: exp,            ; expires at, unix seconds
//	  -1: bstr .size 5,   ; subject pseudonym (8 base32 characters in Claims)
//	  ? -2: uint,         ; state: colour 0 green, 1 yellow, 2 red; +4 vaccinated (phone codes only)
//	  -3: tstr,           ; masked name, e.g. "张*丰" or "J*** SMITH"
//	  -4: uint,           ; birth year
//	  ? -5: 1,            ; kind: absent for a phone code, 1 for a paper code
//	  ? -6: uint,         ; status-list index (paper codes only)
//	  ? -7: uint .le 255, ; hours from the latest negative PCR sample to iat,
//	                      ; rounded up (phone codes only, when at most 255)
//	}
//
// Claim -7 lets a checkpoint apply "green and a negative test within N
// hours" offline. Verify turns it back into a sample time, iat minus the
// hours; because the hours are rounded up, that time is at or before the
// real sample (by less than an hour), so the checkpoint errs on the strict
// side. See Claims.NegativeTestAt.
//
// The key id (kid) is the first KeyIDLen bytes of the SHA-256 of the raw
// 32-byte Ed25519 public key. It sits in the protected header, so it is
// signed. There is no iss claim: the issuing region is the region of the
// trust-list entry whose key verified the signature, which a verifier
// learns from the trusted list, not from the code. Several trusted keys may
// share a kid; Verify tries each.
//
// The HQ1 prefix names this layout. A code carrying a claim that is not
// listed above is malformed; a new layout gets a new prefix.
//
// # Size
//
// A typical phone code (three-character Chinese name, or "John Smith") is
// at most 178 characters, which fits a version 7 QR code at error-correction
// level M. KeyIDLen is 2 rather than 4 for that reason: with a 4-byte kid the
// phone code for "John Smith" is 181 characters and needs version 8. A
// shorter kid only means that more keys may share one, which Verify handles.
//
// A negative test (claim -7) adds 2 bytes under 24 hours and 3 from 24 to
// 255 hours. A phone code with a test stays within version 7-M for a
// two- or three-character Chinese name (at most 178 characters) but needs
// version 8-M for "John Smith" (181 characters under 24 hours, 183 from
// 24 hours).
//
// # Verification
//
// Verify checks, in order: the prefix, the size (at most MaxPayloadLen
// characters), base45, the CBOR and COSE_Sign1 structure, the key id
// against the caller's trusted keys, the signature (a code whose signature
// verifies only with a revoked key is rejected as such), the claims'
// encoding, the key's validity at the moment of issue, the validity window
// of the code, and the sanity of the claims. Every rejection is a
// *VerifyError whose Reason says which check failed.
package code

import (
	"crypto/ed25519"
	"crypto/sha256"
	"time"
)

// Prefix starts every health code.
const Prefix = "HQ1:"

// MaxPayloadLen is the longest code, in characters, that Verify accepts.
const MaxPayloadLen = 1024

// KeyIDLen is the length in bytes of a key id.
const KeyIDLen = 2

// ClockSkew is how far in the future a code's issue time may be before
// Verify calls it not yet valid.
const ClockSkew = 2 * time.Minute

// KeyID returns the key id of an Ed25519 public key: the first KeyIDLen
// bytes of the SHA-256 of the raw key.
func KeyID(pub ed25519.PublicKey) []byte {
	sum := sha256.Sum256(pub)
	return sum[:KeyIDLen:KeyIDLen]
}

// Key is one trusted issuer key.
type Key struct {
	KID       []byte
	Region    string // the issuing region's 6-digit code
	Public    ed25519.PublicKey
	NotBefore time.Time // codes issued before this are not accepted
	NotAfter  time.Time // codes issued after this are not accepted; zero means no end

	// RevokedAt is when the key's region revoked it, on a key that
	// RevokedKeyResolver.LookupRevokedKey returns; zero when the time is not
	// known, and on every key that LookupKey returns.
	RevokedAt time.Time
}

// ValidAt reports whether the key may sign a code issued at t.
func (k Key) ValidAt(t time.Time) bool {
	return !t.Before(k.NotBefore) && (k.NotAfter.IsZero() || !t.After(k.NotAfter))
}

// KeyResolver finds the trusted keys with a key id. It returns nothing for
// an unknown key id. Implementations must be safe for concurrent use.
type KeyResolver interface {
	LookupKey(kid []byte) []Key
}

// RevokedKeyResolver is a KeyResolver that also knows the keys its regions
// have revoked. With one, Verify rejects a code signed by a revoked key with
// a reason that says so, instead of calling its issuer unknown. Such a code
// is rejected whenever it was issued: whoever holds a leaked key can write
// any issue time.
type RevokedKeyResolver interface {
	KeyResolver
	// LookupRevokedKey returns the revoked keys with key id kid, which
	// LookupKey leaves out.
	LookupRevokedKey(kid []byte) []Key
}

// KeyResolverFunc adapts a function to KeyResolver.
type KeyResolverFunc func(kid []byte) []Key

// LookupKey calls f.
func (f KeyResolverFunc) LookupKey(kid []byte) []Key { return f(kid) }
