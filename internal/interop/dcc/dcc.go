// Package dcc reads and writes EU Digital COVID Certificates (DCC, the
// "HC1:" QR codes of the eHealth Network's hcert specification).
//
// # Verification
//
// A Verifier takes the document signer certificates (DSCs) it trusts and
// checks a QR text through every layer, in order:
//
//	prefix      the text starts with "HC1:"
//	base45      the rest is strict base45 (RFC 9285)
//	decompress  which holds zlib (RFC 1950) data
//	cose        which holds a COSE_Sign1 (RFC 9052; tag 18, optionally inside
//	            the CWT tag 61, or untagged) whose payload is a CWT claims map
//	            (RFC 8392) with iss (1), iat (6), exp (4) and hcert (-260) {1: DCC}
//	signature   the key id (protected header, else unprotected) names a trusted
//	            DSC (first 8 bytes of the SHA-256 of its DER), and its key
//	            verifies the signature: ES256 (P-256, r||s) or PS256 (RSA-PSS,
//	            salt length 32), and the DSC was valid when the certificate
//	            was issued (iat)
//	expiry      iat <= the clock <= exp
//	key_usage   a DSC whose extended key usage names DCC types (the OIDs
//	            1.3.6.1.4.1.1847.2021.1.1 test, .2 vaccination, .3 recovery, and
//	            the same under 1.3.6.1.4.1.0.1847.2021.1) may sign only those;
//	            one naming none may sign any
//	schema      the DCC validates against the EU DCC JSON schema (1.3.0)
//
// A COSE_Sign1 written the usual way (definite lengths, shortest-form
// heads, only the keys the specification names) is read in one pass and
// its DCC checked against the schema's rules written out in Go; anything
// else goes through a general CBOR decoder and the JSON schema validator,
// which also say what is wrong with a DCC the fast check rejects. Both give
// the same result for every payload (see fastpath.go).
//
// Each check ends "ok", "failed: <why>" or "skipped" (an earlier check
// failed, so this one cannot run). A certificate is valid when every check
// is ok. The decoded certificate is returned whenever the CWT could be read,
// with the value-set codes translated into names for display.
//
// # Issuing
//
// An Issuer turns a resident's vaccination, test result or recovered case
// into a DCC signed with ES256, and NewDSC makes a self-signed DSC for a
// key, with the extended key usage of the DCC types it may sign, for tests
// and for regions that are their own trust anchor.
package dcc

import (
	"time"
)

// Prefix starts every EU DCC QR text: health certificate, version 1.
const Prefix = "HC1:"

// The checks a verification runs, in order. These are the keys of
// Result.Checks.
const (
	CheckPrefix     = "prefix"
	CheckBase45     = "base45"
	CheckDecompress = "decompress"
	CheckCOSE       = "cose"
	CheckSignature  = "signature"
	CheckExpiry     = "expiry"
	CheckKeyUsage   = "key_usage"
	CheckSchema     = "schema"
)

// checkOrder is every check in the order Verify runs them.
var checkOrder = [...]string{CheckPrefix, CheckBase45, CheckDecompress, CheckCOSE, CheckSignature, CheckExpiry, CheckKeyUsage, CheckSchema}

// Checks lists every check in the order Verify runs them.
var Checks = checkOrder[:]

// Outcomes of a check other than "failed: <why>".
const (
	OK      = "ok"
	Skipped = "skipped"
)

// Type is the kind of certificate: the DCC group it carries.
type Type string

// Certificate types, named as in the DSC extended key usage.
const (
	Vaccination Type = "vaccination"
	Test        Type = "test"
	Recovery    Type = "recovery"
)

// Result is the outcome of a verification: the JSON that
// `healthcode verify --dsc` prints.
type Result struct {
	Valid bool `json:"valid"`
	// Reason is the first failed check, for people; empty when valid.
	Reason string `json:"reason,omitempty"`
	// Checks has exactly the keys listed in Checks.
	Checks map[string]string `json:"checks"`
	// Type is the certificate's group (several, comma-separated, in a
	// malformed DCC that has more than one).
	Type string `json:"type,omitempty"`
	// Issuer is the CWT iss claim: the issuing country.
	Issuer    string    `json:"issuer,omitempty"`
	IssuedAt  time.Time `json:"issued_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// KeyID is the COSE kid, in standard base64 as the EU gateway lists it.
	KeyID string `json:"kid,omitempty"`
	// Signer is the subject of the DSC whose key verified the signature.
	Signer string `json:"signer,omitempty"`
	// Certificate is the decoded DCC, present once the CWT could be read,
	// even when a check failed (it is then not to be trusted).
	Certificate *Certificate `json:"certificate,omitempty"`
}

// Certificate is a decoded DCC payload (schema 1.3). Fields named ...Name
// are the value-set display names of the codes beside them; they are not
// part of the DCC and are never encoded.
type Certificate struct {
	Version      string             `json:"ver" cbor:"ver"`
	Name         Name               `json:"nam" cbor:"nam"`
	DateOfBirth  string             `json:"dob" cbor:"dob"`
	Vaccinations []VaccinationEntry `json:"v,omitempty" cbor:"v,omitempty"`
	Tests        []TestEntry        `json:"t,omitempty" cbor:"t,omitempty"`
	Recoveries   []RecoveryEntry    `json:"r,omitempty" cbor:"r,omitempty"`
}

// Name is the holder's name as written and as transliterated (ICAO 9303).
type Name struct {
	FamilyName         string `json:"fn,omitempty" cbor:"fn,omitempty"`
	FamilyNameStandard string `json:"fnt" cbor:"fnt"`
	GivenName          string `json:"gn,omitempty" cbor:"gn,omitempty"`
	GivenNameStandard  string `json:"gnt,omitempty" cbor:"gnt,omitempty"`
}

// VaccinationEntry is one dose.
type VaccinationEntry struct {
	Disease          string `json:"tg" cbor:"tg"`
	DiseaseName      string `json:"tg_name,omitempty" cbor:"-"`
	VaccineType      string `json:"vp" cbor:"vp"`
	VaccineTypeName  string `json:"vp_name,omitempty" cbor:"-"`
	Product          string `json:"mp" cbor:"mp"`
	ProductName      string `json:"mp_name,omitempty" cbor:"-"`
	Manufacturer     string `json:"ma" cbor:"ma"`
	ManufacturerName string `json:"ma_name,omitempty" cbor:"-"`
	DoseNumber       int    `json:"dn" cbor:"dn"`
	SeriesDoses      int    `json:"sd" cbor:"sd"`
	Date             string `json:"dt" cbor:"dt"`
	Country          string `json:"co" cbor:"co"`
	Issuer           string `json:"is" cbor:"is"`
	ID               string `json:"ci" cbor:"ci"`
}

// TestEntry is one test.
type TestEntry struct {
	Disease          string `json:"tg" cbor:"tg"`
	DiseaseName      string `json:"tg_name,omitempty" cbor:"-"`
	TestType         string `json:"tt" cbor:"tt"`
	TestTypeName     string `json:"tt_name,omitempty" cbor:"-"`
	TestName         string `json:"nm,omitempty" cbor:"nm,omitempty"`
	Manufacturer     string `json:"ma,omitempty" cbor:"ma,omitempty"`
	ManufacturerName string `json:"ma_name,omitempty" cbor:"-"`
	SampledAt        string `json:"sc" cbor:"sc"`
	Result           string `json:"tr" cbor:"tr"`
	ResultName       string `json:"tr_name,omitempty" cbor:"-"`
	Centre           string `json:"tc,omitempty" cbor:"tc,omitempty"`
	Country          string `json:"co" cbor:"co"`
	Issuer           string `json:"is" cbor:"is"`
	ID               string `json:"ci" cbor:"ci"`
}

// RecoveryEntry is one recovery: the first positive test and the span the
// certificate is valid for.
type RecoveryEntry struct {
	Disease       string `json:"tg" cbor:"tg"`
	DiseaseName   string `json:"tg_name,omitempty" cbor:"-"`
	FirstPositive string `json:"fr" cbor:"fr"`
	Country       string `json:"co" cbor:"co"`
	Issuer        string `json:"is" cbor:"is"`
	ValidFrom     string `json:"df" cbor:"df"`
	ValidUntil    string `json:"du" cbor:"du"`
	ID            string `json:"ci" cbor:"ci"`
}

// Types returns the groups the certificate carries, in the order v, t, r.
func (c *Certificate) Types() []Type {
	var ts []Type
	if len(c.Vaccinations) > 0 {
		ts = append(ts, Vaccination)
	}
	if len(c.Tests) > 0 {
		ts = append(ts, Test)
	}
	if len(c.Recoveries) > 0 {
		ts = append(ts, Recovery)
	}
	return ts
}
