package dcc

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/dasio/base45"
	"github.com/fxamacker/cbor/v2"
	"golang.org/x/text/unicode/norm"

	"healthcode"
)

// DefaultValidity is how long an issued certificate is valid when the
// Issuer does not say.
const DefaultValidity = 365 * 24 * time.Hour

// Issuer signs EU DCCs for a region with ES256. Build it with NewIssuer.
type Issuer struct {
	key       *ecdsa.PrivateKey
	kid       []byte
	country   string
	authority string
	location  *time.Location
	validity  time.Duration
	rand      io.Reader
	sets      *ValueSets
	enc       cbor.EncMode
}

// IssuerConfig says who issues and how.
type IssuerConfig struct {
	// Key is the region's P-256 signing key and DSC the certificate of its
	// public key, whose hash is the key id in every certificate.
	Key *ecdsa.PrivateKey
	DSC *x509.Certificate
	// Country is the ISO 3166-1 alpha-2 code of the issuing state: the
	// CWT issuer and the country of each entry, e.g. "CN".
	Country string
	// Authority is the certificate issuer named in each entry (is), e.g.
	// "Hangzhou Municipal Health Commission"; at most 80 characters.
	Authority string
	// Location is the region's time zone, in which civil dates (a
	// vaccination's date, a case's sample date) are read. Nil means UTC.
	Location *time.Location
	// Validity is how long a certificate is valid (exp - iat); zero means
	// DefaultValidity. A recovery certificate never outlives its du.
	Validity time.Duration
	// Rand is the source of randomness for signatures and certificate
	// identifiers; nil means crypto/rand.
	Rand io.Reader
}

var countryRE = regexp.MustCompile(`^[A-Z]{2}$`)

// NewIssuer checks the configuration and returns an Issuer.
func NewIssuer(c IssuerConfig) (*Issuer, error) {
	var p healthcode.Problems
	switch {
	case c.Key == nil:
		p.Add("key", "is required")
	case c.Key.Curve != elliptic.P256():
		p.Add("key", "must be a P-256 key for ES256")
	}
	if c.DSC == nil {
		p.Add("dsc", "is required")
	} else if c.Key != nil {
		if pub, ok := c.DSC.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&c.Key.PublicKey) {
			p.Add("dsc", "is not the certificate of the signing key")
		}
	}
	if !countryRE.MatchString(c.Country) {
		p.Add("country", "must be an ISO 3166-1 alpha-2 code such as CN")
	}
	if n := len([]rune(c.Authority)); n == 0 || n > 80 {
		p.Add("authority", "must be 1 to 80 characters")
	}
	if c.Validity < 0 {
		p.Add("validity", "must not be negative")
	}
	if err := p.Err("invalid EU DCC issuer"); err != nil {
		return nil, err
	}
	sets, err := LoadValueSets()
	if err != nil {
		return nil, err
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, fmt.Errorf("dcc: CBOR encoder: %w", err)
	}
	is := &Issuer{key: c.Key, kid: KeyID(c.DSC), country: c.Country, authority: c.Authority,
		location: c.Location, validity: c.Validity, rand: c.Rand, sets: sets, enc: enc}
	if is.location == nil {
		is.location = time.UTC
	}
	if is.validity == 0 {
		is.validity = DefaultValidity
	}
	if is.rand == nil {
		is.rand = rand.Reader
	}
	return is, nil
}

// Holder is the person a certificate names.
type Holder struct {
	Name        Name
	DateOfBirth string // YYYY-MM-DD
}

// HolderFor derives the holder from a resident. The DCC needs the name in
// Latin letters, transliterated as in a passport's machine-readable zone
// (ICAO 9303). A name written in Latin letters ("Jan de Vries") is split
// at its last space into given names and family name and transliterated
// here. Any other name ("张三丰") needs latin, the name as the passport
// prints it: "ZHANG, SANFENG" (family name, comma, given names), or
// "ZHANG SANFENG", which for a Chinese name is read family name first; a
// Chinese name is split into surname and given name after its first
// character, or its first two for the common two-character surnames.
func HolderFor(r *healthcode.Resident, latin string) (Holder, error) {
	var p healthcode.Problems
	name := strings.Join(strings.Fields(r.Name), " ")
	latin = strings.Join(strings.Fields(latin), " ")
	han := isHan(name)
	var fn, gn, fam, giv string // as written; in Latin letters
	switch {
	case han:
		fn, gn = splitChineseName(strings.ReplaceAll(name, " ", ""))
	case isLatin(name):
		fn, gn = splitLast(name)
	default:
		fn = name
	}
	switch {
	case strings.Contains(latin, ","):
		fam, giv, _ = strings.Cut(latin, ",")
	case latin != "" && han:
		fam, giv, _ = strings.Cut(latin, " ")
	case latin != "":
		giv, fam = splitLastGiven(latin)
	case isLatin(name):
		fam, giv = fn, gn
	default:
		p.Add("name", "is not in Latin letters: give it as the passport prints it, e.g. ZHANG, SANFENG")
	}
	h := Holder{Name: Name{FamilyName: fn, GivenName: gn,
		FamilyNameStandard: Transliterate(fam), GivenNameStandard: Transliterate(giv)}}
	if h.Name.FamilyNameStandard == "" && p == nil {
		p.Add("name", "has no family name in Latin letters")
	}
	if len([]rune(h.Name.FamilyName)) > 80 || len([]rune(h.Name.GivenName)) > 80 ||
		len(h.Name.FamilyNameStandard) > 80 || len(h.Name.GivenNameStandard) > 80 {
		p.Add("name", "is longer than the 80 characters a DCC name part may have")
	}
	if r.BirthDate.IsZero() {
		p.Add("birth_date", "is required")
	} else {
		h.DateOfBirth = r.BirthDate.Format("2006-01-02")
	}
	return h, p.Err("cannot name the resident on an EU DCC")
}

// splitLast splits a Latin name at its last space: "Jan de Vries" is
// family name "Vries", given names "Jan de".
func splitLast(name string) (family, given string) {
	given, family = splitLastGiven(name)
	return family, given
}

func splitLastGiven(name string) (given, family string) {
	i := strings.LastIndexByte(name, ' ')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// chineseCompoundSurnames are the two-character surnames common enough to
// split on; other names take one character.
var chineseCompoundSurnames = []string{"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容",
	"长孙", "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "西门", "南宫", "独孤", "万俟", "澹台", "公冶", "申屠"}

func splitChineseName(name string) (surname, given string) {
	for _, s := range chineseCompoundSurnames {
		if strings.HasPrefix(name, s) && len(name) > len(s) {
			return s, name[len(s):]
		}
	}
	rs := []rune(name)
	return string(rs[:1]), string(rs[1:])
}

func isHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func isLatin(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) && !unicode.Is(unicode.Latin, r) {
			return false
		}
	}
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}

// icaoLetters are the ICAO 9303 transliterations that are not simply the
// letter without its accent.
var icaoLetters = map[rune]string{
	'Ä': "AE", 'Å': "AA", 'Æ': "AE", 'Ö': "OE", 'Ø': "OE", 'Ü': "UE", 'ß': "SS",
	'Þ': "TH", 'Ð': "D", 'Đ': "D", 'Ħ': "H", 'Ĳ': "IJ", 'Ŀ': "L", 'Ł': "L", 'Œ': "OE", 'Ŧ': "T", 'ı': "I",
}

// Transliterate writes a name in the machine-readable form of ICAO 9303:
// upper-case A-Z, accents dropped (Ä, Ö, Ü, Å, Æ, Ø, ß and a few others
// become two letters), spaces and hyphens become "<", and everything else
// is left out: "d'Červenková Panklová" is "DCERVENKOVA<PANKLOVA".
func Transliterate(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(strings.TrimSpace(s)) {
		if t, ok := icaoLetters[r]; ok {
			b.WriteString(t)
			continue
		}
		if r == ' ' || r == '-' {
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "<") {
				b.WriteByte('<')
			}
			continue
		}
		for _, d := range norm.NFD.String(string(r)) {
			if d >= 'A' && d <= 'Z' {
				b.WriteRune(d)
			}
		}
	}
	return strings.TrimRight(b.String(), "<")
}

// Issued is a signed certificate.
type Issued struct {
	Payload   string // the QR text, "HC1:..."
	ID        string // the unique certificate identifier (UVCI)
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// IssueVaccination issues a vaccination certificate for one dose.
func (is *Issuer) IssueVaccination(h Holder, v *healthcode.Vaccination, now time.Time) (*Issued, error) {
	code, enc, ok := is.sets.product(v.Product)
	if !ok {
		return nil, healthcode.Errorf(healthcode.EINVALID, "vaccine product %q has no EU DCC code (use a name such as Comirnaty, CoronaVac or BBIBP-CorV, or its EU code)", v.Product)
	}
	if v.Dose < 1 || v.SeriesDoses < 1 {
		return nil, healthcode.Errorf(healthcode.EINVALID, "a vaccination certificate needs a dose and series of at least 1")
	}
	if v.Date.IsZero() {
		return nil, healthcode.Errorf(healthcode.EINVALID, "the vaccination has no date")
	}
	id, err := is.newID()
	if err != nil {
		return nil, err
	}
	c := is.certificate(h)
	c.Vaccinations = []VaccinationEntry{{Disease: codeCOVID19, VaccineType: enc.VaccineType, Product: code,
		Manufacturer: enc.Manufacturer, DoseNumber: v.Dose, SeriesDoses: v.SeriesDoses,
		Date: v.Date.In(is.location).Format("2006-01-02"), Country: is.country, Issuer: is.authority, ID: id}}
	return is.sign(c, id, now, time.Time{})
}

// IssueTest issues a test certificate. Antibody tests have none in the DCC.
func (is *Issuer) IssueTest(h Holder, t *healthcode.TestResult, now time.Time) (*Issued, error) {
	var e TestEntry
	switch t.Type {
	case healthcode.PCR:
		e.TestType = codeNAAT
	case healthcode.Antigen:
		e.TestType = codeRAT
	default:
		return nil, healthcode.Errorf(healthcode.EINVALID, "an EU DCC records PCR and antigen tests, not %q", t.Type)
	}
	switch t.Result {
	case healthcode.Negative:
		e.Result = codeNotDetected
	case healthcode.Positive:
		e.Result = codeDetected
	default:
		return nil, healthcode.Errorf(healthcode.EINVALID, "the test result %q is neither positive nor negative", t.Result)
	}
	if t.SampledAt.IsZero() {
		return nil, healthcode.Errorf(healthcode.EINVALID, "the test has no sample time")
	}
	id, err := is.newID()
	if err != nil {
		return nil, err
	}
	e.Disease = codeCOVID19
	e.SampledAt = t.SampledAt.UTC().Format(time.RFC3339)
	e.Centre = truncateRunes(t.Institution, 80)
	e.Country, e.Issuer, e.ID = is.country, is.authority, id
	c := is.certificate(h)
	c.Tests = []TestEntry{e}
	return is.sign(c, id, now, time.Time{})
}

// Recovery certificates are valid from RecoveryValidFrom after the first
// positive test until RecoveryValidFor after it, as in the EU's rules.
const (
	RecoveryValidFrom = 11 * 24 * time.Hour
	RecoveryValidFor  = 180 * 24 * time.Hour
)

// IssueRecovery issues a recovery certificate for a discharged case. The
// first positive test is the case's sample date, else its onset date.
func (is *Issuer) IssueRecovery(h Holder, c *healthcode.Case, now time.Time) (*Issued, error) {
	if !c.Discharged() {
		return nil, healthcode.Errorf(healthcode.EINVALID, "the case is not discharged: no recovery certificate yet")
	}
	first := c.SampleDate
	if first.IsZero() {
		first = c.OnsetDate
	}
	if first.IsZero() {
		return nil, healthcode.Errorf(healthcode.EINVALID, "the case has no sample or onset date")
	}
	first = first.In(is.location)
	day := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, is.location)
	from, until := day.Add(RecoveryValidFrom), day.Add(RecoveryValidFor)
	if !now.Before(until) {
		return nil, healthcode.Errorf(healthcode.EINVALID, "a recovery certificate for a first positive test on %s ended on %s", day.Format("2006-01-02"), until.Format("2006-01-02"))
	}
	id, err := is.newID()
	if err != nil {
		return nil, err
	}
	cert := is.certificate(h)
	cert.Recoveries = []RecoveryEntry{{Disease: codeCOVID19, FirstPositive: day.Format("2006-01-02"),
		Country: is.country, Issuer: is.authority, ValidFrom: from.Format("2006-01-02"),
		ValidUntil: until.Format("2006-01-02"), ID: id}}
	return is.sign(cert, id, now, until.Add(24*time.Hour))
}

func (is *Issuer) certificate(h Holder) *Certificate {
	return &Certificate{Version: SchemaVersion, Name: h.Name, DateOfBirth: h.DateOfBirth}
}

// newID returns a unique certificate identifier (UVCI, eHealth Network
// guidelines annex 2, version 01, without the optional checksum).
func (is *Issuer) newID() (string, error) {
	b := make([]byte, 15)
	if _, err := io.ReadFull(is.rand, b); err != nil {
		return "", fmt.Errorf("dcc: certificate id: %w", err)
	}
	return "URN:UVCI:01:" + is.country + ":" + base32.StdEncoding.EncodeToString(b), nil
}

// sign encodes c as a CWT, signs it, compresses it and returns the QR text.
// A non-zero notAfter caps the expiry.
func (is *Issuer) sign(c *Certificate, id string, now time.Time, notAfter time.Time) (*Issued, error) {
	iat := now.Truncate(time.Second)
	exp := iat.Add(is.validity)
	if !notAfter.IsZero() && exp.After(notAfter) {
		exp = notAfter
	}
	claims := map[int]any{
		1:    is.country,
		6:    iat.Unix(),
		4:    exp.Unix(),
		-260: map[int]any{1: c},
	}
	payload, err := is.enc.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("dcc: encode the CWT: %w", err)
	}
	msg, err := is.sign1(payload)
	if err != nil {
		return nil, err
	}
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("dcc: compress: %w", err)
	}
	if _, err := zw.Write(msg); err != nil {
		return nil, fmt.Errorf("dcc: compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("dcc: compress: %w", err)
	}
	return &Issued{Payload: Prefix + base45.EncodeToString(z.Bytes()), ID: id, IssuedAt: iat.UTC(), ExpiresAt: exp.UTC()}, nil
}

// sign1 returns the COSE_Sign1 (tag 18) of payload, signed with ES256
// under the key id in the protected header. (Built here rather than with
// go-cose, so that the package does not depend on it and builds beside
// other versions of it, as in bench/coronaqr.)
func (is *Issuer) sign1(payload []byte) ([]byte, error) {
	protected, err := is.enc.Marshal(map[int]any{1: algES256, 4: is.kid})
	if err != nil {
		return nil, fmt.Errorf("dcc: encode the COSE header: %w", err)
	}
	digest := sigStructureDigest(protected, payload)
	r, s, err := ecdsa.Sign(is.rand, is.key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("dcc: sign: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	msg, err := is.enc.Marshal(cbor.Tag{Number: 18, Content: []any{protected, map[int]any{}, payload, sig}})
	if err != nil {
		return nil, fmt.Errorf("dcc: encode the COSE_Sign1: %w", err)
	}
	return msg, nil
}

func truncateRunes(s string, n int) string {
	s = strings.TrimSpace(s)
	if rs := []rune(s); len(rs) > n {
		return string(rs[:n])
	}
	return s
}

// NewDSC makes a self-signed document signer certificate for key, valid
// from notBefore to notAfter, whose extended key usage allows it to sign
// the given types (none: every type). It is for tests and for a region that
// is its own trust anchor; an EU member state's DSC is signed by its CSCA.
func NewDSC(key *ecdsa.PrivateKey, subject pkix.Name, notBefore, notAfter time.Time, types ...Type) (*x509.Certificate, error) {
	if key == nil {
		return nil, healthcode.Errorf(healthcode.EINVALID, "a DSC needs a key")
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("dcc: DSC serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	for _, t := range types {
		oid := usageOID(t)
		if oid == nil {
			return nil, healthcode.Errorf(healthcode.EINVALID, "%q is not a DCC type (vaccination, test, recovery)", t)
		}
		tmpl.UnknownExtKeyUsage = append(tmpl.UnknownExtKeyUsage, oid)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("dcc: create DSC: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("dcc: parse DSC: %w", err)
	}
	return cert, nil
}
