package dcc

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	"healthcode"
)

// KeyIDLen is the length of a DCC key id: the first 8 bytes of the SHA-256
// of the DSC's DER encoding.
const KeyIDLen = 8

// KeyID returns the DCC key id of a DSC.
func KeyID(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return sum[:KeyIDLen]
}

// The extended key usage OIDs that restrict a DSC to DCC types, in the arc
// the hcert specification gives and in the arc some early DSCs used.
var (
	oidTest        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 1}
	oidVaccination = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 2}
	oidRecovery    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 3}
	oidTestAlt     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 1}
	oidVaccAlt     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 2}
	oidRecAlt      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 3}
)

// usageOID returns the extended key usage OID that allows a DSC to sign
// certificates of type t.
func usageOID(t Type) asn1.ObjectIdentifier {
	switch t {
	case Test:
		return oidTest
	case Vaccination:
		return oidVaccination
	case Recovery:
		return oidRecovery
	}
	return nil
}

// typeOfOID returns the DCC type an extended key usage OID allows, or "".
func typeOfOID(oid asn1.ObjectIdentifier) Type {
	switch {
	case oid.Equal(oidTest), oid.Equal(oidTestAlt):
		return Test
	case oid.Equal(oidVaccination), oid.Equal(oidVaccAlt):
		return Vaccination
	case oid.Equal(oidRecovery), oid.Equal(oidRecAlt):
		return Recovery
	}
	return ""
}

// signer is a trusted DSC, parsed once.
type signer struct {
	cert    *x509.Certificate
	subject string
	ec      *ecdsa.PublicKey // P-256, for ES256
	rsa     *rsa.PublicKey   // for PS256
	types   []Type           // the DCC types its extended key usage allows; nil: all
}

func newSigner(cert *x509.Certificate) (*signer, error) {
	s := &signer{cert: cert, subject: cert.Subject.String()}
	switch k := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		// The hcert specification signs ES256 with P-256; RFC 8152 does
		// not tie ES256 to a curve, and one member state's test DSCs use
		// P-384 with it, so the other NIST curves are accepted too.
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return nil, healthcode.Errorf(healthcode.EINVALID, "DSC %q: its EC key is on %s; ES256 needs a NIST curve such as P-256", cert.Subject, k.Curve.Params().Name)
		}
		s.ec = k
	case *rsa.PublicKey:
		s.rsa = k
	default:
		return nil, healthcode.Errorf(healthcode.EINVALID, "DSC %q: a %T key cannot sign an EU DCC (ES256 or PS256)", cert.Subject, cert.PublicKey)
	}
	for _, oid := range cert.UnknownExtKeyUsage {
		if t := typeOfOID(oid); t != "" && !containsType(s.types, t) {
			s.types = append(s.types, t)
		}
	}
	return s, nil
}

func containsType(ts []Type, t Type) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// allows reports whether the DSC may sign a certificate of type t.
func (s *signer) allows(t Type) bool { return s.types == nil || containsType(s.types, t) }

// ParseCertificates reads DSCs from text or bytes: PEM (any number of
// CERTIFICATE blocks), base64 DER (standard or URL alphabet, any number
// separated by white space or commas), or one raw DER certificate.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if len(data) > 0 && data[0] == 0x30 { // an ASN.1 SEQUENCE: raw DER
		// Before trimming: its last bytes may well be ones that look like
		// white space. A file that has a line end appended is read trimmed.
		c, err := x509.ParseCertificate(data)
		if err != nil {
			c, err = x509.ParseCertificate(bytes.TrimRight(data, " \t\r\n"))
		}
		if err != nil {
			return nil, healthcode.Errorf(healthcode.EINVALID, "DER certificate: %v", err)
		}
		return []*x509.Certificate{c}, nil
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, healthcode.Errorf(healthcode.EINVALID, "no certificate given")
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		var certs []*x509.Certificate
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, healthcode.Errorf(healthcode.EINVALID, "PEM certificate %d: %v", len(certs)+1, err)
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			return nil, healthcode.Errorf(healthcode.EINVALID, "no CERTIFICATE block in the PEM text")
		}
		return certs, nil
	}
	var certs []*x509.Certificate
	for i, field := range strings.FieldsFunc(string(data), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		der, err := decodeBase64(field)
		if err != nil {
			return nil, healthcode.Errorf(healthcode.EINVALID, "certificate %d is neither PEM nor base64 DER: %v", i+1, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, healthcode.Errorf(healthcode.EINVALID, "certificate %d: %v", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	return b, nil
}
