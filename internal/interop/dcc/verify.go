package dcc

import (
	"bytes"
	"cmp"
	"compress/zlib"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"healthcode"
)

// COSE algorithms a DCC may be signed with.
const (
	algES256 = -7
	algPS256 = -37
)

// MaxPayloadLen is the longest QR text Verify reads: what a version 40 QR
// code holds in alphanumeric mode.
const MaxPayloadLen = 4296

// MaxDecompressed is the largest decompressed DCC Verify reads, in bytes;
// real ones are under 2 KiB.
const MaxDecompressed = 64 << 10

// Verifier checks EU DCCs against a fixed set of trusted DSCs. Build it once
// (it parses the keys and compiles the schema) and use it for many
// certificates; it is safe for concurrent use.
type Verifier struct {
	signers  map[[KeyIDLen]byte][]*signer
	unusable map[[KeyIDLen]byte]string // key ids of given DSCs that cannot sign a DCC, and why
	schema   *jsonschema.Schema
	sets     *ValueSets
	cborDec  cbor.DecMode
	scratch  sync.Pool // of *scratch
	memo     memo
	// noFastPath sends every payload through the general path; tests
	// compare the two.
	noFastPath bool
}

// scratch is the per-verification memory a Verifier reuses.
type scratch struct {
	raw  []byte // the base45-decoded bytes
	out  []byte // the decompressed bytes
	sig  []byte // the COSE Sig_structure
	src  bytes.Reader
	zlib io.ReadCloser
}

// NewVerifier returns a Verifier that trusts certs. A DSC whose key cannot
// sign a DCC (neither RSA nor EC on a NIST curve) is kept aside: a
// certificate naming its key id fails the signature check with the reason.
func NewVerifier(certs []*x509.Certificate) (*Verifier, error) {
	schema, err := compileSchema()
	if err != nil {
		return nil, err
	}
	sets, err := LoadValueSets()
	if err != nil {
		return nil, err
	}
	dec, err := cbor.DecOptions{
		DefaultMapType:  reflect.TypeOf(map[string]any(nil)),
		MaxNestedLevels: 16,
	}.DecMode()
	if err != nil {
		return nil, fmt.Errorf("dcc: CBOR decoder: %w", err)
	}
	v := &Verifier{
		signers:  map[[KeyIDLen]byte][]*signer{},
		unusable: map[[KeyIDLen]byte]string{},
		schema:   schema,
		sets:     sets,
		cborDec:  dec,
		memo:     newMemo(DefaultMemoSize),
	}
	v.scratch.New = func() any { return &scratch{} }
	for _, c := range certs {
		kid := [KeyIDLen]byte(KeyID(c))
		s, err := newSigner(c)
		if err != nil {
			v.unusable[kid] = healthcode.ErrorMessage(err)
			continue
		}
		v.signers[kid] = append(v.signers[kid], s)
	}
	return v, nil
}

// Verify checks payload, the text of a DCC QR code, against certs at the
// given time. It builds a Verifier each time: to check many certificates,
// use NewVerifier.
func Verify(payload string, certs []*x509.Certificate, at time.Time) Result {
	v, err := NewVerifier(certs)
	if err != nil {
		var r outcome
		r.fail(CheckPrefix, "internal error: %v", err)
		return r.result()
	}
	return v.Verify(payload, at)
}

// outcome is a Result in the making: the checks in the order of Checks,
// "" for skipped, put into Result.Checks when done.
type outcome struct {
	Result
	checks [len(checkOrder)]string
}

// checkIndex returns the place of check in checkOrder.
func checkIndex(check string) int {
	switch check {
	case CheckPrefix:
		return 0
	case CheckBase45:
		return 1
	case CheckDecompress:
		return 2
	case CheckCOSE:
		return 3
	case CheckSignature:
		return 4
	case CheckExpiry:
		return 5
	case CheckKeyUsage:
		return 6
	case CheckSchema:
		return 7
	}
	panic("dcc: unknown check " + check)
}

func (r *outcome) ok(check string) { r.checks[checkIndex(check)] = OK }

func (r *outcome) fail(check, format string, args ...any) {
	why := fmt.Sprintf(format, args...)
	r.checks[checkIndex(check)] = "failed: " + why
	if r.Reason == "" {
		r.Reason = check + ": " + why
	}
}

// result returns the Result, valid when every check is ok.
func (r *outcome) result() Result {
	res := r.Result
	res.Checks = make(map[string]string, len(Checks))
	for i, c := range checkOrder {
		res.Checks[c] = cmp.Or(r.checks[i], Skipped)
	}
	res.Valid = res.Reason == ""
	return res
}

// coseSign1 is a COSE_Sign1 array.
type coseSign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

// coseHeader is what a DCC verifier reads from a COSE header map.
type coseHeader struct {
	Alg *int64 `cbor:"1,keyasint,omitempty"`
	KID []byte `cbor:"4,keyasint,omitempty"`
}

// cwtClaims is the CWT claims map of a DCC.
type cwtClaims struct {
	Issuer   string                    `cbor:"1,keyasint,omitempty"`
	Expires  any                       `cbor:"4,keyasint,omitempty"`
	IssuedAt any                       `cbor:"6,keyasint,omitempty"`
	HCert    map[int64]cbor.RawMessage `cbor:"-260,keyasint,omitempty"`
}

// Verify checks payload, the text of a DCC QR code, at the given time. See
// the package documentation for the checks.
func (v *Verifier) Verify(payload string, at time.Time) Result {
	var r outcome
	v.verify(&r, payload, at)
	return r.result()
}

// parsed is what a payload says, whoever checks it and whenever: the
// outcome of every step that depends on the payload alone. The signature,
// the clock and the key usage are checked on every verification.
type parsed struct {
	kid            []byte            // from the protected header, else the unprotected one
	kidText        string            // kid in standard base64
	alg            *int64            // likewise
	digest         [sha256.Size]byte // of the COSE Sig_structure
	signature      []byte
	ecdsaASN1      []byte // the signature as r||s halves in ASN.1, for ES256; nil if it has no halves
	issuer         string
	iat, exp       time.Time
	iatErr, expErr string
	cert           *Certificate // nil when the DCC could not be decoded at all
	types          []Type
	typeName       string
	schemaErr      string // "" when the DCC validates
}

func (v *Verifier) verify(r *outcome, payload string, at time.Time) {
	for len(payload) > 0 && (payload[len(payload)-1] == '\n' || payload[len(payload)-1] == '\r') {
		payload = payload[:len(payload)-1]
	}
	key := v.memo.key(payload)
	p := v.memo.get(key, payload)
	if p == nil {
		if p = v.parse(r, payload); p == nil {
			return
		}
		v.memo.put(key, payload, p)
	} else {
		r.ok(CheckPrefix)
		r.ok(CheckBase45)
		r.ok(CheckDecompress)
		r.ok(CheckCOSE)
	}
	r.Issuer, r.Type = p.issuer, p.typeName
	if p.cert != nil {
		c := *p.cert // the memo's copy stays as it is
		c.Vaccinations = slices.Clone(c.Vaccinations)
		c.Tests = slices.Clone(c.Tests)
		c.Recoveries = slices.Clone(c.Recoveries)
		r.Certificate = &c
	}

	signer := v.checkSignature(r, p)
	r.KeyID = p.kidText
	if signer != nil {
		r.Signer = signer.subject
	}

	switch {
	case p.iatErr != "":
		r.fail(CheckExpiry, "%s", p.iatErr)
	case p.expErr != "":
		r.fail(CheckExpiry, "%s", p.expErr)
	default:
		r.IssuedAt, r.ExpiresAt = p.iat, p.exp
		switch {
		case at.Before(p.iat):
			r.fail(CheckExpiry, "not yet valid: issued at %s, after the clock %s", p.iat.Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		case at.After(p.exp):
			r.fail(CheckExpiry, "expired at %s (the clock is %s)", p.exp.Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		default:
			r.ok(CheckExpiry)
		}
	}

	switch {
	case signer == nil:
		// key_usage stays skipped: no DSC to read it from.
	case len(p.types) == 0 && signer.types != nil:
		r.fail(CheckKeyUsage, "the certificate has no vaccination, test or recovery group, and the DSC may sign only %s", typeList(signer.types))
	default:
		ok := true
		for _, t := range p.types {
			if !signer.allows(t) {
				r.fail(CheckKeyUsage, "the DSC may sign %s certificates, not %s", typeList(signer.types), t)
				ok = false
				break
			}
		}
		if ok {
			r.ok(CheckKeyUsage)
		}
	}

	if p.schemaErr != "" {
		r.fail(CheckSchema, "%s", p.schemaErr)
	} else {
		r.ok(CheckSchema)
	}
}

// parse runs the checks from the prefix to the COSE structure, recording
// each in r, and on success reads the rest of what the payload says. It
// returns nil when a check failed.
func (v *Verifier) parse(r *outcome, payload string) *parsed {
	if !strings.HasPrefix(payload, Prefix) {
		head := payload[:min(len(payload), 8)]
		switch {
		case payload == "":
			r.fail(CheckPrefix, "the text is empty")
		case len(payload) >= 4 && payload[3] == ':':
			r.fail(CheckPrefix, "it starts with %q; an EU DCC starts with %q", payload[:4], Prefix)
		default:
			r.fail(CheckPrefix, "it starts with %q, not %q", head, Prefix)
		}
		return nil
	}
	r.ok(CheckPrefix)

	s := v.scratch.Get().(*scratch)
	defer v.scratch.Put(s)

	if len(payload) > MaxPayloadLen {
		r.fail(CheckBase45, "the text is %d characters, more than a QR code holds (%d)", len(payload), MaxPayloadLen)
		return nil
	}
	var err error
	if s.raw, err = decodeBase45(s.raw[:0], payload[len(Prefix):]); err != nil {
		r.fail(CheckBase45, "%v", err)
		return nil
	}
	r.ok(CheckBase45)

	data, err := s.inflate(s.raw)
	if err != nil {
		r.fail(CheckDecompress, "%v", err)
		return nil
	}
	r.ok(CheckDecompress)

	if !v.noFastPath {
		if p := v.parseFast(data, &s.sig); p != nil {
			r.ok(CheckCOSE)
			return p
		}
	}
	msg, err := v.parseSign1(data)
	if err != nil {
		r.fail(CheckCOSE, "%v", err)
		return nil
	}
	var claims cwtClaims
	if err := v.cborDec.Unmarshal(msg.Payload, &claims); err != nil {
		r.fail(CheckCOSE, "the payload is not a CWT claims map: %v", err)
		return nil
	}
	dccRaw, ok := claims.HCert[1]
	if !ok {
		r.fail(CheckCOSE, "the CWT has no health certificate (claim -260, key 1)")
		return nil
	}
	if len(dccRaw) == 0 || dccRaw[0]>>5 != 5 {
		r.fail(CheckCOSE, "the health certificate (claim -260, key 1) is not a CBOR map")
		return nil
	}
	r.ok(CheckCOSE)

	p := &parsed{kid: msg.protected.KID, alg: msg.protected.Alg, issuer: claims.Issuer,
		digest: sigStructureDigest(msg.Protected, msg.Payload), signature: slices.Clone(msg.Signature)}
	if p.kid == nil {
		p.kid = msg.unprotected.KID
	}
	if p.alg == nil {
		p.alg = msg.unprotected.Alg
	}
	p.kid = slices.Clone(p.kid)
	if len(p.kid) > 0 {
		p.kidText = base64.StdEncoding.EncodeToString(p.kid)
	}
	if n := len(p.signature); n > 0 && n%2 == 0 {
		half := n / 2
		p.ecdsaASN1, _ = asn1.Marshal(struct{ R, S *big.Int }{
			new(big.Int).SetBytes(p.signature[:half]), new(big.Int).SetBytes(p.signature[half:])})
	}
	if p.iat, err = numericDate(claims.IssuedAt, "issued-at (iat, claim 6)"); err != nil {
		p.iatErr = err.Error()
	}
	if p.exp, err = numericDate(claims.Expires, "expiry (exp, claim 4)"); err != nil {
		p.expErr = err.Error()
	}

	// The DCC: generic for the schema, then typed for display.
	var doc any
	if err := v.cborDec.Unmarshal(dccRaw, &doc); err != nil {
		p.schemaErr = fmt.Sprintf("the certificate is not JSON-shaped data: %v", err)
		var cert Certificate
		if v.cborDec.Unmarshal(dccRaw, &cert) == nil {
			p.cert = &cert
		}
	} else {
		if err := v.schema.Validate(doc); err != nil {
			p.schemaErr = describeSchemaError(err)
		}
		p.cert = certificateOf(doc)
	}
	if p.cert != nil {
		v.sets.fillNames(p.cert)
		p.types = p.cert.Types()
	}
	if m, ok := doc.(map[string]any); ok {
		p.types = docTypes(m)
	}
	names := make([]string, len(p.types))
	for i, t := range p.types {
		names[i] = string(t)
	}
	p.typeName = strings.Join(names, ",")
	return p
}

// inflate decompresses the zlib data in raw into s.out.
func (s *scratch) inflate(raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0]&0x0f != 8 || (uint(raw[0])<<8|uint(raw[1]))%31 != 0 {
		if len(raw) > 0 && (raw[0] == 0xd2 || raw[0] == 0xd8 || raw[0] == 0x84) {
			return nil, errors.New("the data is not zlib-compressed: it is a bare COSE structure")
		}
		return nil, fmt.Errorf("the data is not zlib-compressed (it starts with %x)", raw[:min(len(raw), 2)])
	}
	s.src.Reset(raw)
	if s.zlib == nil {
		zr, err := zlib.NewReader(&s.src)
		if err != nil {
			return nil, fmt.Errorf("zlib: %w", err)
		}
		s.zlib = zr
	} else if err := s.zlib.(zlib.Resetter).Reset(&s.src, nil); err != nil {
		return nil, fmt.Errorf("zlib: %w", err)
	}
	out := s.out[:0]
	for {
		if len(out) == cap(out) {
			if cap(out) >= MaxDecompressed {
				return nil, fmt.Errorf("the data decompresses to more than %d bytes", MaxDecompressed)
			}
			out = append(out, 0)[:len(out)]
		}
		n, err := s.zlib.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			s.out = out
			return nil, fmt.Errorf("zlib: %w", err)
		}
	}
	s.out = out
	return out, nil
}

// sign1 is a parsed COSE_Sign1 with its headers read.
type sign1 struct {
	coseSign1
	protected   coseHeader
	unprotected coseHeader
}

// parseSign1 reads a COSE_Sign1: tagged 18, tagged 61 then 18 (a CWT), or
// untagged.
func (v *Verifier) parseSign1(data []byte) (*sign1, error) {
	body := data
	if len(body) >= 2 && body[0] == 0xd8 && body[1] == 61 { // tag 61: CWT
		body = body[2:]
	}
	switch {
	case len(body) == 0:
		return nil, errors.New("no CBOR data")
	case body[0] == 0xd2: // tag 18: COSE_Sign1
		body = body[1:]
	case body[0] == 0x84: // an untagged array of 4
	case body[0]>>5 == 6:
		return nil, fmt.Errorf("the CBOR tag at the start (%x) is not COSE_Sign1 (18) or CWT (61)", body[:min(len(body), 3)])
	default:
		return nil, fmt.Errorf("not a COSE_Sign1: the CBOR data starts with %x, not an array of 4", body[:1])
	}
	var m sign1
	if err := v.cborDec.Unmarshal(body, &m.coseSign1); err != nil {
		return nil, fmt.Errorf("not a COSE_Sign1: %v", err)
	}
	if len(m.Protected) > 0 {
		if err := v.cborDec.Unmarshal(m.Protected, &m.protected); err != nil {
			return nil, fmt.Errorf("protected header: %v", err)
		}
	}
	if len(m.Unprotected) > 0 {
		if err := v.cborDec.Unmarshal(m.Unprotected, &m.unprotected); err != nil {
			return nil, fmt.Errorf("unprotected header: %v", err)
		}
	}
	if m.Payload == nil {
		return nil, errors.New("the COSE_Sign1 has no payload")
	}
	return &m, nil
}

// checkSignature finds the DSC by key id and checks the signature with it.
// It returns the DSC when one has the key id.
func (v *Verifier) checkSignature(r *outcome, p *parsed) *signer {
	kid := p.kid
	if len(kid) == 0 {
		r.fail(CheckSignature, "the COSE headers have no key id (kid)")
		return nil
	}
	if len(kid) != KeyIDLen {
		r.fail(CheckSignature, "the key id %x is %d bytes; a DCC key id is %d", kid, len(kid), KeyIDLen)
		return nil
	}
	key := [KeyIDLen]byte(kid)
	candidates := v.signers[key]
	if len(candidates) == 0 {
		if why, ok := v.unusable[key]; ok {
			r.fail(CheckSignature, "the DSC with key id %s cannot verify a DCC: %s", p.kidText, why)
		} else {
			r.fail(CheckSignature, "no trusted DSC has key id %s (hex %s)", p.kidText, hex.EncodeToString(kid))
		}
		return nil
	}
	if p.alg == nil {
		r.fail(CheckSignature, "the COSE headers name no algorithm")
		return candidates[0]
	}
	var why string
	for _, s := range candidates {
		if why = s.verify(*p.alg, p); why != "" {
			continue
		}
		// The DSC must have been valid when it signed.
		if p.iatErr == "" && (p.iat.Before(s.cert.NotBefore) || p.iat.After(s.cert.NotAfter)) {
			why = fmt.Sprintf("the certificate was issued at %s, when its DSC was not valid (%s to %s)", p.iat.Format(time.RFC3339),
				s.cert.NotBefore.UTC().Format(time.RFC3339), s.cert.NotAfter.UTC().Format(time.RFC3339))
			continue
		}
		r.ok(CheckSignature)
		return s
	}
	r.fail(CheckSignature, "%s", why)
	return candidates[0]
}

// sigStructureDigest returns the SHA-256 of the COSE Sig_structure
// ["Signature1", protected, h”, payload] (RFC 9052 section 4.4).
func sigStructureDigest(protected, payload []byte) [sha256.Size]byte {
	buf := make([]byte, 0, 32+len(protected)+len(payload))
	buf = append(buf, 0x84, 0x6a)
	buf = append(buf, "Signature1"...)
	buf = appendBstrHead(buf, len(protected))
	buf = append(buf, protected...)
	buf = append(buf, 0x40)
	buf = appendBstrHead(buf, len(payload))
	buf = append(buf, payload...)
	return sha256.Sum256(buf)
}

// appendBstrHead appends the CBOR head of a byte string of length n.
func appendBstrHead(b []byte, n int) []byte {
	switch {
	case n < 24:
		return append(b, 0x40|byte(n))
	case n <= math.MaxUint8:
		return append(b, 0x58, byte(n))
	case n <= math.MaxUint16:
		return append(b, 0x59, byte(n>>8), byte(n))
	default:
		return append(b, 0x5a, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// verify checks the signature over p's digest with the DSC's key and
// returns "" when it holds, else why not.
func (s *signer) verify(alg int64, p *parsed) string {
	digest, sig := p.digest[:], p.signature
	switch alg {
	case algES256:
		if s.ec == nil {
			return "the certificate is signed with ES256 but the DSC's key is RSA"
		}
		size := (s.ec.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return fmt.Sprintf("an ES256 signature with this DSC's key is %d bytes (r||s), this one is %d", 2*size, len(sig))
		}
		if p.ecdsaASN1 == nil || !ecdsa.VerifyASN1(s.ec, digest, p.ecdsaASN1) {
			return "the ES256 signature does not match the DSC's key"
		}
		return ""
	case algPS256:
		if s.rsa == nil {
			return "the certificate is signed with PS256 but the DSC's key is EC"
		}
		if err := rsa.VerifyPSS(s.rsa, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			return "the PS256 signature does not match the DSC's key"
		}
		return ""
	}
	return fmt.Sprintf("algorithm %d is neither ES256 (-7) nor PS256 (-37)", alg)
}

// numericDate reads a CWT NumericDate: seconds since 1970, an integer or a
// float.
func numericDate(v any, what string) (time.Time, error) {
	switch n := v.(type) {
	case nil:
		return time.Time{}, fmt.Errorf("the CWT has no %s", what)
	case uint64:
		if n > math.MaxInt64/2 {
			return time.Time{}, fmt.Errorf("the %s %d is out of range", what, n)
		}
		return time.Unix(int64(n), 0).UTC(), nil
	case int64:
		return time.Unix(n, 0).UTC(), nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > 1e15 {
			return time.Time{}, fmt.Errorf("the %s %v is out of range", what, n)
		}
		sec, frac := math.Modf(n)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("the %s is a %T, not a number of seconds", what, v)
}

// docTypes returns the groups a generic DCC carries.
func docTypes(m map[string]any) []Type {
	var ts []Type
	for _, g := range []struct {
		key string
		t   Type
	}{{"v", Vaccination}, {"t", Test}, {"r", Recovery}} {
		if _, ok := m[g.key]; ok {
			ts = append(ts, g.t)
		}
	}
	return ts
}

func typeList(ts []Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, " and ")
}
