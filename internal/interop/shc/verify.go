package shc

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxPayload bounds the inflated claims of one card; the spec's largest
// example (a patient summary) is about 20 kB.
const maxPayload = 1 << 20

// Verify checks the SMART Health Cards in input at now against keys. input
// is the text of one shc:/ QR code, the texts of all the chunks of a
// chunked one (in any order), the contents of a .smart-health-card file,
// or a compact JWS. It returns a Result per card, since a file may hold
// several; input that does not decode gives one Result whose decode check
// failed.
func Verify(ctx context.Context, keys *Keys, now time.Time, input ...string) []*Result {
	jwss, err := Decode(input...)
	if err != nil {
		r := &Result{Checks: skippedChecks()}
		r.Checks.Decode = fail("%v", err)
		r.finish()
		return []*Result{r}
	}
	out := make([]*Result, len(jwss))
	for i, j := range jwss {
		out[i] = VerifyJWS(ctx, keys, now, j)
	}
	return out
}

// Decode returns the compact JWSs in input, which is as for Verify.
func Decode(input ...string) ([]string, error) {
	if len(input) == 0 {
		return nil, errors.New("nothing to verify")
	}
	first := strings.TrimSpace(input[0])
	switch {
	case len(first) >= len(qrScheme) && strings.EqualFold(first[:len(qrScheme)], qrScheme):
		jws, err := DecodeQR(input...)
		if err != nil {
			return nil, err
		}
		return []string{jws}, nil
	case len(input) > 1:
		return nil, fmt.Errorf("%d inputs given: only the chunks of one shc:/ QR code come in several parts", len(input))
	case strings.HasPrefix(first, "{"):
		var file struct {
			VerifiableCredential []string `json:"verifiableCredential"`
		}
		if err := json.Unmarshal([]byte(first), &file); err != nil {
			return nil, fmt.Errorf("not a .smart-health-card file: %w", err)
		}
		if len(file.VerifiableCredential) == 0 {
			return nil, errors.New(".smart-health-card file without verifiableCredential")
		}
		return file.VerifiableCredential, nil
	}
	return []string{first}, nil
}

// VerifyJWS checks one card given as a compact JWS at now against keys.
func VerifyJWS(ctx context.Context, keys *Keys, now time.Time, jws string) *Result {
	jws = strings.TrimSpace(jws)
	r := &Result{Checks: skippedChecks(), JWS: jws}
	defer r.finish()
	c := &r.Checks

	// The JWS and its header.
	if n := strings.Count(jws, ".") + 1; n != 3 {
		c.Decode = fail("a compact JWS has 3 parts separated by dots, this has %d", n)
		return r
	}
	obj, err := jose.ParseSignedCompact(jws, []jose.SignatureAlgorithm{jose.ES256})
	var algErr *jose.ErrUnexpectedSignatureAlgorithm
	if errors.As(err, &algErr) {
		c.Decode = OK
		c.Algorithm = fail("alg is %q, SMART Health Cards use ES256", algErr.Got)
		return r
	} else if err != nil {
		c.Decode = fail("not a compact JWS: %v", err)
		return r
	}
	c.Decode, c.Algorithm = OK, OK
	header := obj.Signatures[0].Protected

	// The key and the signature.
	r.KeyID = header.KeyID
	if header.KeyID == "" {
		c.KeyID = fail("the JWS header has no kid")
		return r
	}
	key, why := keys.lookup(header.KeyID)
	if key == nil {
		c.KeyID = fail("%s", why)
		return r
	}
	c.KeyID = OK
	compressed, err := obj.Verify(key.public)
	if err != nil {
		c.Signature = fail("the ES256 signature does not verify with key %s", key.kid)
		return r
	}
	c.Signature = OK

	// The payload.
	if zip, _ := header.ExtraHeaders["zip"].(string); zip != "DEF" {
		c.Deflate = fail("the header has zip %q, want DEF (raw DEFLATE)", zip)
		return r
	}
	payload, err := inflate(compressed)
	if err != nil {
		c.Deflate = fail("the payload is not raw DEFLATE: %v", err)
		return r
	}
	c.Deflate = OK
	r.Payload = payload
	cl, err := parseClaims(payload)
	if err != nil {
		c.Payload = fail("%v", err)
		return r
	}
	c.Payload = OK
	r.Issuer, r.IssuedAt, r.ExpiresAt, r.RevocationID, r.Types = cl.iss, cl.nbf, cl.exp, cl.rid, cl.types

	// What the payload says, each check on its own.
	c.Issuer = checkIssuer(r, keys, key)
	if r.IssuedAt.After(now) {
		c.NotBefore = fail("not valid before %s (nbf)", r.IssuedAt.Format(time.RFC3339Nano))
	} else {
		c.NotBefore = OK
	}
	switch {
	case r.ExpiresAt.IsZero():
		r.note("expiry: the card has no exp; SMART Health Cards generally do not expire")
	case !now.Before(r.ExpiresAt):
		c.Expiry = fail("expired at %s (exp)", r.ExpiresAt.Format(time.RFC3339Nano))
	default:
		c.Expiry = OK
	}
	view, err := checkBundle(cl.bundle)
	if err != nil {
		c.Bundle = fail("%v", err)
	} else {
		c.Bundle = OK
	}
	if view != nil {
		r.Patient, r.Immunizations, r.Observations, r.Resources = view.patient, view.immunizations, view.observations, view.counts
	}
	c.Revocation = checkRevocation(ctx, r, keys, key)
	return r
}

// inflate undoes raw DEFLATE, refusing more than maxPayload bytes.
func inflate(data []byte) ([]byte, error) {
	in := bytes.NewReader(data)
	zr := flate.NewReader(in)
	out, err := io.ReadAll(io.LimitReader(zr, maxPayload+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxPayload {
		return nil, fmt.Errorf("inflates to more than %d bytes", maxPayload)
	}
	if in.Len() > 0 {
		return nil, fmt.Errorf("%d bytes after the end of the DEFLATE stream", in.Len())
	}
	return out, nil
}

type claims struct {
	iss      string
	nbf, exp time.Time
	rid      string
	types    []string
	bundle   json.RawMessage
}

// parseClaims reads the JWT claims of a card and checks their shape.
func parseClaims(payload []byte) (*claims, error) {
	var raw struct {
		Iss string      `json:"iss"`
		Nbf json.Number `json:"nbf"`
		Exp json.Number `json:"exp"`
		VC  *struct {
			Type              []string `json:"type"`
			CredentialSubject *struct {
				FHIRBundle json.RawMessage `json:"fhirBundle"`
			} `json:"credentialSubject"`
			RID *string `json:"rid"`
		} `json:"vc"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("the claims are not the JSON of a health card: %v", err)
	}
	cl := &claims{iss: raw.Iss}
	if raw.Iss == "" {
		return nil, errors.New("no iss claim")
	}
	if raw.Nbf == "" {
		return nil, errors.New("no nbf claim")
	}
	var err error
	if cl.nbf, err = numericDate(string(raw.Nbf)); err != nil {
		return nil, fmt.Errorf("nbf: %w", err)
	}
	if raw.Exp != "" {
		if cl.exp, err = numericDate(string(raw.Exp)); err != nil {
			return nil, fmt.Errorf("exp: %w", err)
		}
	}
	if raw.VC == nil {
		return nil, errors.New("no vc claim")
	}
	if !slices.Contains(raw.VC.Type, HealthCardType) {
		return nil, fmt.Errorf("vc.type %q does not include %s", raw.VC.Type, HealthCardType)
	}
	cl.types = raw.VC.Type
	if raw.VC.CredentialSubject == nil || len(raw.VC.CredentialSubject.FHIRBundle) == 0 {
		return nil, errors.New("no vc.credentialSubject.fhirBundle")
	}
	cl.bundle = raw.VC.CredentialSubject.FHIRBundle
	if raw.VC.RID != nil {
		if !validRID(*raw.VC.RID) {
			return nil, fmt.Errorf("vc.rid %q is not up to 24 base64url characters", *raw.VC.RID)
		}
		cl.rid = *raw.VC.RID
	}
	return cl, nil
}

// numericDate reads a JWT NumericDate: seconds since 1970, maybe with a
// fraction (the spec's examples have milliseconds).
func numericDate(s string) (time.Time, error) {
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > 1e11 {
			return time.Time{}, fmt.Errorf("%q is not a time in seconds since 1970", s)
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec < 0 || sec > 1e11 || strings.Trim(frac, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("%q is not a time in seconds since 1970", s)
	}
	frac = (frac + "000000000")[:9]
	nsec, _ := strconv.ParseInt(frac, 10, 64)
	return time.Unix(sec, nsec).UTC(), nil
}

// checkIssuer compares iss with where the keys came from and with the
// key's certificate.
func checkIssuer(r *Result, keys *Keys, key *issuerKey) string {
	if err := validIssuerURL(r.Issuer); err != nil {
		return fail("%v", err)
	}
	checked := false
	if keys.Issuer != "" {
		if r.Issuer != keys.Issuer {
			return fail("iss %s is not %s, the issuer of the JWKS that verified it", r.Issuer, keys.Issuer)
		}
		checked = true
	}
	if len(key.certs) > 0 {
		if !slices.ContainsFunc(key.certs[0].URIs, func(u *url.URL) bool { return u.String() == r.Issuer }) {
			return fail("iss %s is not a URI in the subject alternative names of key %s's certificate", r.Issuer, key.kid)
		}
		r.note("issuer: the certificate chain (x5c) of key %s was not validated against trust anchors", key.kid)
		checked = true
	}
	if !checked {
		r.note("issuer: iss %s was not compared with anything: the keys' issuer is unknown (a JWKS read from a file)", r.Issuer)
		return Skipped
	}
	return OK
}

// checkRevocation looks the card's rid up in its key's revocation list.
func checkRevocation(ctx context.Context, r *Result, keys *Keys, key *issuerKey) string {
	var l *RevocationList
	if key.crlVersion == 0 {
		keys.mu.Lock()
		l = keys.crls[key.kid]
		keys.mu.Unlock()
		if l == nil {
			r.note("revocation: the issuer keeps no revocation list for key %s (no crlVersion)", key.kid)
			return Skipped
		}
	}
	if r.RevocationID == "" {
		r.note("revocation: the card has no rid, so it cannot be revoked on its own")
		return Skipped
	}
	if l == nil {
		var err error
		if l, err = keys.revocationList(ctx, key); err != nil {
			return fail("cannot check the revocation list: %v", err)
		}
	}
	revoked, before := l.Revoked(r.RevocationID, r.IssuedAt)
	switch {
	case !revoked:
		return OK
	case before.IsZero():
		return fail("rid %s is on the issuer's revocation list (ctr %d)", r.RevocationID, l.Counter)
	}
	return fail("rid %s is on the issuer's revocation list (ctr %d) for cards issued before %s",
		r.RevocationID, l.Counter, before.Format(time.RFC3339))
}
