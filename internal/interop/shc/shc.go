// Package shc verifies and issues SMART Health Cards (SHC, spec.smarthealth.cards):
// a FHIR R4 bundle inside a W3C verifiable credential, carried as the claims
// of a compact JWS signed with ES256.
//
// # Format
//
// A card is a compact JWS whose protected header is
// {"alg":"ES256","kid":KID,"zip":"DEF"}: KID is the RFC 7638 SHA-256
// thumbprint of the issuer's P-256 key, and the payload is minified JSON
// compressed with raw DEFLATE (RFC 1951, no zlib header):
//
//	{"iss": "https://issuer.example",        // the issuer; its keys are at iss + "/.well-known/jwks.json"
//	 "nbf": 1687450764.656,                  // issued at, seconds since 1970, maybe fractional
//	 "exp": 1718986764.657,                  // optional: most cards never expire
//	 "vc": {"type": ["https://smarthealth.cards#health-card"],
//	        "credentialSubject": {"fhirVersion": "4.0.1",
//	                              "fhirBundle": {"resourceType": "Bundle", "type": "collection", "entry": [...]}},
//	        "rid": "MKyCxh7p6uQ"}}           // optional: revocation id
//
// A card travels as a .smart-health-card file ({"verifiableCredential":
// [JWS, ...]}), or as a QR code whose text is "shc:/" followed by the JWS with
// each character c written as the two digits of c-45 (so the QR can use
// numeric mode). A JWS longer than 1195 characters is split into balanced
// chunks of at most 1191, each "shc:/C/N/" + digits (chunking is deprecated by
// the spec but still read).
//
// # Verification
//
// Verify runs every check it can and reports each one in Checks as "ok",
// "failed: <why>" or "skipped"; a card is valid when none failed. The checks
// after the signature (issuer, validity window, bundle shape, revocation) run
// independently, so an expired and revoked card reports both. Nothing from a
// card is shown unless its signature verified.
//
// Keys come from the issuer's JWKS, a file or an http(s) URL (LoadKeys). The
// revocation list of a key that announces one (crlVersion) is read next to
// the JWKS, at crl/KID.json; for a JWKS at ISS/.well-known/jwks.json that is
// the spec's ISS/.well-known/crl/KID.json.
//
// X.509 chains in a key's x5c are not validated against trust anchors: trust
// in the keys comes from where the operator read the JWKS. When a key carries
// a certificate, its subject alternative name URIs must include the card's
// iss.
package shc

import (
	"fmt"
	"strings"
	"time"
)

// HealthCardType is the verifiable-credential type every SMART Health Card carries.
const HealthCardType = "https://smarthealth.cards#health-card"

// FHIRVersion is the FHIR release of the bundles this package issues.
const FHIRVersion = "4.0.1"

// Check outcomes. A failed check is "failed: " followed by why.
const (
	OK      = "ok"
	Skipped = "skipped"
	failed  = "failed: "
)

// Checks holds the outcome of each verification step, in the order they run.
type Checks struct {
	// Decode: the input (shc:/ numeric QR text, its chunks, a
	// .smart-health-card file or a compact JWS) yields a well-formed JWS.
	Decode string `json:"decode"`
	// Algorithm: the JWS header says alg ES256.
	Algorithm string `json:"alg"`
	// KeyID: the header's kid names a usable key in the issuer's JWKS.
	KeyID string `json:"kid"`
	// Signature: the ES256 signature verifies with that key.
	Signature string `json:"signature"`
	// Deflate: the header says zip DEF and the payload inflates as raw DEFLATE.
	Deflate string `json:"deflate"`
	// Payload: the claims are JSON with iss, nbf and a health-card vc.
	Payload string `json:"payload"`
	// Issuer: iss is an https URL and matches where the keys came from (and
	// the key's certificate, if any). Skipped when neither is known.
	Issuer string `json:"issuer"`
	// NotBefore: nbf is not after the verification time.
	NotBefore string `json:"not_before"`
	// Expiry: exp, if present, is after the verification time.
	Expiry string `json:"expiry"`
	// Bundle: the FHIR bundle has the shape the spec requires.
	Bundle string `json:"fhir_bundle"`
	// Revocation: the card's rid is not on its key's revocation list.
	// Skipped when the key has no list or the card no rid.
	Revocation string `json:"revocation"`
}

func (c *Checks) all() []struct{ name, outcome string } {
	return []struct{ name, outcome string }{
		{"decode", c.Decode}, {"alg", c.Algorithm}, {"kid", c.KeyID}, {"signature", c.Signature},
		{"deflate", c.Deflate}, {"payload", c.Payload}, {"issuer", c.Issuer}, {"not_before", c.NotBefore},
		{"expiry", c.Expiry}, {"fhir_bundle", c.Bundle}, {"revocation", c.Revocation},
	}
}

// Failed lists the checks that failed, as "name: failed: why".
func (c *Checks) Failed() []string {
	var out []string
	for _, ch := range c.all() {
		if strings.HasPrefix(ch.outcome, failed) {
			out = append(out, ch.name+": "+ch.outcome)
		}
	}
	return out
}

func skippedChecks() Checks {
	return Checks{Skipped, Skipped, Skipped, Skipped, Skipped, Skipped, Skipped, Skipped, Skipped, Skipped, Skipped}
}

func fail(format string, args ...any) string {
	return failed + fmt.Sprintf(format, args...)
}

// Result is what verifying one card found: whether it is valid, each
// check's outcome, and, once the signature verified, what the card says.
type Result struct {
	Valid  bool   `json:"valid"`
	Reason string `json:"reason"` // for people: the failures, or what made it valid
	Checks Checks `json:"checks"`
	// Notes explain skipped checks and what was not checked.
	Notes []string `json:"notes,omitempty"`

	Issuer       string    `json:"iss,omitempty"`
	KeyID        string    `json:"kid,omitempty"`
	IssuedAt     time.Time `json:"issued_at,omitzero"`  // nbf
	ExpiresAt    time.Time `json:"expires_at,omitzero"` // exp; zero when the card does not expire
	RevocationID string    `json:"rid,omitempty"`
	Types        []string  `json:"types,omitempty"`

	Patient       *Patient       `json:"patient,omitempty"`
	Immunizations []Immunization `json:"immunizations,omitempty"`
	Observations  []Observation  `json:"observations,omitempty"`
	// Resources counts the bundle's resources by type, including those
	// not shown above (DiagnosticReport, Specimen, ...).
	Resources map[string]int `json:"resources,omitempty"`

	// JWS is the compact JWS that was checked, and Payload its inflated
	// claims (set once the signature verified), as the issuer signed them.
	JWS     string `json:"-"`
	Payload []byte `json:"-"`
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// finish sets Valid and Reason from the checks.
func (r *Result) finish() {
	f := r.Checks.Failed()
	r.Valid = len(f) == 0
	if r.Valid {
		r.Reason = "valid SMART Health Card issued by " + r.Issuer
		return
	}
	r.Reason = strings.Join(f, "; ")
}

// Patient is who a card is about.
type Patient struct {
	Name      string `json:"name,omitempty"`
	BirthDate string `json:"birth_date,omitempty"` // as written: YYYY, YYYY-MM or YYYY-MM-DD
}

// Coding is a code from a code system, with a label when this package knows it.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Immunization is a vaccine dose a card records.
type Immunization struct {
	Date      string `json:"date,omitempty"` // occurrenceDateTime as written
	Status    string `json:"status,omitempty"`
	Vaccine   Coding `json:"vaccine"`
	LotNumber string `json:"lot_number,omitempty"`
	Performer string `json:"performer,omitempty"`
}

// Observation is a test result or other observation a card records.
type Observation struct {
	Date      string  `json:"date,omitempty"` // effectiveDateTime as written
	Status    string  `json:"status,omitempty"`
	Code      Coding  `json:"code"`
	Result    *Coding `json:"result,omitempty"` // a coded value, e.g. SNOMED negative
	Value     string  `json:"value,omitempty"`  // a quantity, string or other value, as text
	Performer string  `json:"performer,omitempty"`
}
