package dcc

import (
	"crypto/sha256"
	"encoding/base64"
	"math"
	"time"
	"unicode/utf8"
)

// The fast path reads a COSE_Sign1 whose every part has the shape a DCC
// issuer writes (definite lengths, shortest-form heads, no tags inside, no
// keys the hcert specification does not name, no key twice, a DCC that
// passes the schema) in one pass, without reflection and with one
// allocation for all its text. Anything else, however harmless, makes it
// give up and leave the payload to the general path (fxamacker/cbor and the
// JSON schema), which then decides and says why. So the fast path decides
// nothing the general path would decide otherwise: it accepts a strict
// subset of what the general path accepts and produces the same parsed
// result (TestFastPathAgreesDCC and FuzzFastPathDCC compare the two).
//
// Its schema checks are the DCC schema 1.3.0 (data/DCC.combined-schema.json)
// written out for that subset: where writing a rule out exactly would take
// more than a few lines (the version pattern, date-time), it accepts less
// than the rule and leaves the rest to the general path.

// fastReader reads CBOR data items from src.
type fastReader struct {
	src string
	i   int
}

// head reads an item's head: its major type and argument. It returns
// ok false for an indefinite length, a reserved value, a simple value or
// float (major type 7), a head not in its shortest form, or the end of
// the data.
func (r *fastReader) head() (major byte, arg uint64, ok bool) {
	if r.i >= len(r.src) {
		return 0, 0, false
	}
	b := r.src[r.i]
	major, ai := b>>5, b&0x1f
	if major == 7 {
		return 0, 0, false
	}
	r.i++
	switch {
	case ai < 24:
		return major, uint64(ai), true
	case ai > 27: // reserved, or indefinite length
		return 0, 0, false
	}
	n := 1 << (ai - 24) // 1, 2, 4 or 8 bytes
	if len(r.src)-r.i < n {
		return 0, 0, false
	}
	for k := 0; k < n; k++ {
		arg = arg<<8 | uint64(r.src[r.i+k])
	}
	r.i += n
	var least uint64 // the smallest argument that needs this many bytes
	switch n {
	case 1:
		least = 24
	case 2:
		least = 1 << 8
	case 4:
		least = 1 << 16
	case 8:
		least = 1 << 32
	}
	return major, arg, arg >= least
}

// str reads a byte string (major 2) or a text string (major 3) of valid
// UTF-8, as the given major type says.
func (r *fastReader) str(want byte) (string, bool) {
	major, n, ok := r.head()
	if !ok || major != want || n > uint64(len(r.src)-r.i) {
		return "", false
	}
	s := r.src[r.i : r.i+int(n)]
	r.i += int(n)
	if want == 3 && !utf8.ValidString(s) {
		return "", false
	}
	return s, true
}

func (r *fastReader) text() (string, bool)  { return r.str(3) }
func (r *fastReader) bytes() (string, bool) { return r.str(2) }

// container reads the head of a map (major 5) or array (major 4) of at
// most max entries.
func (r *fastReader) container(want byte, max uint64) (int, bool) {
	major, n, ok := r.head()
	if !ok || major != want || n > max {
		return 0, false
	}
	return int(n), true
}

// integer reads an unsigned or negative integer that fits an int64.
func (r *fastReader) integer() (int64, bool) {
	major, n, ok := r.head()
	if !ok || n > math.MaxInt64 {
		return 0, false
	}
	switch major {
	case 0:
		return int64(n), true
	case 1:
		return -1 - int64(n), true
	}
	return 0, false
}

// fastHeader reads a COSE header map that has at most alg (1) and kid (4),
// kid not empty.
func fastHeader(r *fastReader) (alg *int64, kid string, ok bool) {
	n, ok := r.container(5, 2)
	if !ok {
		return nil, "", false
	}
	for range n {
		key, ok := r.integer()
		if !ok {
			return nil, "", false
		}
		switch {
		case key == 1 && alg == nil:
			a, ok := r.integer()
			if !ok {
				return nil, "", false
			}
			alg = &a
		case key == 4 && kid == "":
			if kid, ok = r.bytes(); !ok || kid == "" {
				return nil, "", false
			}
		default:
			return nil, "", false
		}
	}
	return alg, kid, true
}

// parseFast reads data, the decompressed COSE_Sign1, and returns what it
// says, or nil when it is not of the shape the fast path reads (see
// above). buf is scratch memory for the Sig_structure.
func (v *Verifier) parseFast(data []byte, buf *[]byte) *parsed {
	r := &fastReader{src: string(data)}                        // the one allocation for all text
	if len(r.src) >= 2 && r.src[0] == 0xd8 && r.src[1] == 61 { // tag 61: CWT
		r.i = 2
	}
	if r.i < len(r.src) && r.src[r.i] == 0xd2 { // tag 18: COSE_Sign1
		r.i++
	}
	if n, ok := r.container(4, 4); !ok || n != 4 {
		return nil
	}
	protected, ok := r.bytes()
	if !ok || protected == "" {
		return nil
	}
	hr := &fastReader{src: protected}
	alg, kid, ok := fastHeader(hr)
	if !ok || hr.i != len(protected) {
		return nil
	}
	ualg, ukid, ok := fastHeader(r)
	if !ok {
		return nil
	}
	payload, ok := r.bytes()
	if !ok {
		return nil
	}
	signature, ok := r.bytes()
	if !ok || r.i != len(r.src) {
		return nil
	}
	if alg == nil {
		alg = ualg
	}
	if kid == "" {
		kid = ukid
	}

	p := &parsed{alg: alg}
	cr := &fastReader{src: payload}
	if !fastClaims(cr, p) || cr.i != len(payload) {
		return nil
	}
	if kid != "" {
		p.kid = []byte(kid)
		p.kidText = base64.StdEncoding.EncodeToString(p.kid)
	}
	p.signature = []byte(signature)
	if n := len(signature); n > 0 && n%2 == 0 {
		p.ecdsaASN1 = ecdsaSigDER(p.signature[:n/2], p.signature[n/2:])
	}
	b := append((*buf)[:0], 0x84, 0x6a)
	b = append(b, "Signature1"...)
	b = appendBstrHead(b, len(protected))
	b = append(b, protected...)
	b = append(b, 0x40)
	b = appendBstrHead(b, len(payload))
	b = append(b, payload...)
	*buf = b
	p.digest = sha256.Sum256(b)

	v.sets.fillNames(p.cert)
	p.types = p.cert.Types()
	p.typeName = string(p.types[0]) // the schema allows exactly one group
	return p
}

// fastClaims reads the CWT claims: iss (1, optional), exp (4), iat (6)
// as whole seconds, and hcert (-260) holding exactly {1: DCC}.
func fastClaims(r *fastReader, p *parsed) bool {
	n, ok := r.container(5, 4)
	if !ok {
		return false
	}
	var seen [4]bool // iss, exp, iat, hcert
	for range n {
		key, ok := r.integer()
		if !ok {
			return false
		}
		var k int
		switch key {
		case 1:
			k = 0
			p.issuer, ok = r.text()
		case 4:
			k = 1
			p.exp, ok = fastSeconds(r)
		case 6:
			k = 2
			p.iat, ok = fastSeconds(r)
		case -260:
			k = 3
			if m, mok := r.container(5, 1); !mok || m != 1 {
				return false
			}
			if one, iok := r.integer(); !iok || one != 1 {
				return false
			}
			p.cert, ok = fastDCC(r)
		default:
			return false
		}
		if !ok || seen[k] {
			return false
		}
		seen[k] = true
	}
	return seen[1] && seen[2] && seen[3]
}

// fastSeconds reads a NumericDate in whole seconds that numericDate
// accepts.
func fastSeconds(r *fastReader) (time.Time, bool) {
	major, n, ok := r.head()
	if !ok || major != 0 || n > math.MaxInt64/2 {
		return time.Time{}, false
	}
	return time.Unix(int64(n), 0).UTC(), true
}

// fastDCC reads a DCC that the schema accepts, with exactly the keys the
// schema names.
func fastDCC(r *fastReader) (*Certificate, bool) {
	n, ok := r.container(5, 4)
	if !ok {
		return nil, false
	}
	c := &Certificate{}
	var seen [4]bool // ver, nam, dob, group
	for range n {
		key, ok := r.text()
		if !ok {
			return nil, false
		}
		var k int
		switch key {
		case "ver":
			k = 0
			c.Version, ok = r.text()
			ok = ok && isVersion(c.Version)
		case "nam":
			k = 1
			ok = fastName(r, &c.Name)
		case "dob":
			k = 2
			c.DateOfBirth, ok = r.text()
			ok = ok && isSchemaDOB(c.DateOfBirth)
		case "v", "t", "r":
			k = 3 // a second group fails the schema's oneOf
			if m, aok := r.container(4, 1); !aok || m != 1 {
				return nil, false
			}
			switch key {
			case "v":
				var e VaccinationEntry
				ok = fastVaccination(r, &e)
				c.Vaccinations = []VaccinationEntry{e}
			case "t":
				var e TestEntry
				ok = fastTest(r, &e)
				c.Tests = []TestEntry{e}
			default:
				var e RecoveryEntry
				ok = fastRecovery(r, &e)
				c.Recoveries = []RecoveryEntry{e}
			}
		default:
			return nil, false
		}
		if !ok || seen[k] {
			return nil, false
		}
		seen[k] = true
	}
	return c, seen[0] && seen[1] && seen[2] && seen[3]
}

// fastFields reads a map whose keys are all among names, each at most
// once, calling read for each; it reports whether every key in required
// (a bit set over names) was there.
func fastFields(r *fastReader, names []string, required uint32, read func(i int) bool) bool {
	n, ok := r.container(5, uint64(len(names)))
	if !ok {
		return false
	}
	var seen uint32
	for range n {
		key, ok := r.text()
		if !ok {
			return false
		}
		i := 0
		for i < len(names) && names[i] != key {
			i++
		}
		if i == len(names) || seen&(1<<i) != 0 || !read(i) {
			return false
		}
		seen |= 1 << i
	}
	return seen&required == required
}

// The schema's rules for single values, for strings the reader returns.

// maxLen80 is the schema's maxLength 80, counted in characters.
func maxLen80(s string, ok bool) bool { return ok && utf8.RuneCountInString(s) <= 80 }

// isICAO is the pattern ^[A-Z<]*$ of the standardised names, with maxLength 80.
func isICAO(s string, ok bool) bool {
	if !ok || len(s) > 80 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && s[i] != '<' {
			return false
		}
	}
	return true
}

// isCountry is the country pattern [A-Z]{1,10}, which is not anchored: one
// capital letter anywhere.
func isCountry(s string, ok bool) bool {
	for i := 0; ok && i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// isVersion accepts digits.digits.digits, which the pattern
// ^\d+.\d+.\d+$ matches (it matches more: any character between).
func isVersion(s string) bool {
	groups, digits := 1, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] >= '0' && s[i] <= '9':
			digits++
		case s[i] == '.' && digits > 0 && groups < 3:
			groups, digits = groups+1, 0
		default:
			return false
		}
	}
	return groups == 3 && digits > 0
}

// isSchemaDOB is the pattern ^((19|20)\d\d(-\d\d){0,2}){0,1}$.
func isSchemaDOB(s string) bool {
	switch len(s) {
	case 0:
		return true
	case 4, 7, 10:
	default:
		return false
	}
	if s[:2] != "19" && s[:2] != "20" {
		return false
	}
	for i := 2; i < len(s); i++ {
		if i == 4 || i == 7 {
			if s[i] != '-' {
				return false
			}
		} else if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isDate is the format "date" as the schema validator asserts it.
func isDate(s string, ok bool) bool {
	if !ok {
		return false
	}
	_, err := time.Parse("2006-01-02", s)
	return err == nil
}

// isDateTime accepts the RFC 3339 date-times YYYY-MM-DDThh:mm:ss, an
// optional fraction, then Z or ±hh:mm, with a real date, hours to 23,
// minutes and seconds to 59 and offsets to 23:59: all of which the format
// "date-time" accepts (it accepts more: a leap second, a lower-case t or z).
func isDateTime(s string, ok bool) bool {
	if !ok || len(s) < 20 || s[10] != 'T' || !isDate(s[:10], true) {
		return false
	}
	t := s[11:]
	if !twoDigits(t[0:2], 23) || t[2] != ':' || !twoDigits(t[3:5], 59) || t[5] != ':' || !twoDigits(t[6:8], 59) {
		return false
	}
	t = t[8:]
	if len(t) > 0 && t[0] == '.' {
		k := 1
		for k < len(t) && t[k] >= '0' && t[k] <= '9' {
			k++
		}
		if k == 1 {
			return false
		}
		t = t[k:]
	}
	if t == "Z" {
		return true
	}
	return len(t) == 6 && (t[0] == '+' || t[0] == '-') && twoDigits(t[1:3], 23) && t[3] == ':' && twoDigits(t[4:6], 59)
}

func twoDigits(s string, max int) bool {
	return len(s) == 2 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && int(s[0]-'0')*10+int(s[1]-'0') <= max
}

// dose reads the schema's dose_posint (an integer of at least 1) that
// fits the int the certificate holds it in.
func dose(r *fastReader, into *int) bool {
	major, n, ok := r.head()
	if !ok || major != 0 || n < 1 || n > math.MaxInt32 {
		return false
	}
	*into = int(n)
	return true
}

var nameFields = []string{"fn", "fnt", "gn", "gnt"}

func fastName(r *fastReader, n *Name) bool {
	return fastFields(r, nameFields, 1<<1, func(i int) bool {
		var ok bool
		switch i {
		case 0:
			n.FamilyName, ok = r.text()
			return maxLen80(n.FamilyName, ok)
		case 1:
			n.FamilyNameStandard, ok = r.text()
			return isICAO(n.FamilyNameStandard, ok)
		case 2:
			n.GivenName, ok = r.text()
			return maxLen80(n.GivenName, ok)
		default:
			n.GivenNameStandard, ok = r.text()
			return isICAO(n.GivenNameStandard, ok)
		}
	})
}

var vaccinationFields = []string{"tg", "vp", "mp", "ma", "dn", "sd", "dt", "co", "is", "ci"}

func fastVaccination(r *fastReader, e *VaccinationEntry) bool {
	return fastFields(r, vaccinationFields, 1<<10-1, func(i int) bool {
		var ok bool
		switch i {
		case 0:
			e.Disease, ok = r.text()
		case 1:
			e.VaccineType, ok = r.text()
		case 2:
			e.Product, ok = r.text()
		case 3:
			e.Manufacturer, ok = r.text()
		case 4:
			return dose(r, &e.DoseNumber)
		case 5:
			return dose(r, &e.SeriesDoses)
		case 6:
			e.Date, ok = r.text()
			return isDate(e.Date, ok)
		case 7:
			e.Country, ok = r.text()
			return isCountry(e.Country, ok)
		case 8:
			e.Issuer, ok = r.text()
			return maxLen80(e.Issuer, ok)
		default:
			e.ID, ok = r.text()
			return maxLen80(e.ID, ok)
		}
		return ok
	})
}

// testFields: nm (8) and ma (9) are optional.
var testFields = []string{"tg", "tt", "sc", "tr", "tc", "co", "is", "ci", "nm", "ma"}

func fastTest(r *fastReader, e *TestEntry) bool {
	return fastFields(r, testFields, 1<<8-1, func(i int) bool {
		var ok bool
		switch i {
		case 0:
			e.Disease, ok = r.text()
		case 1:
			e.TestType, ok = r.text()
		case 2:
			e.SampledAt, ok = r.text()
			return isDateTime(e.SampledAt, ok)
		case 3:
			e.Result, ok = r.text()
		case 4:
			e.Centre, ok = r.text()
			return maxLen80(e.Centre, ok)
		case 5:
			e.Country, ok = r.text()
			return isCountry(e.Country, ok)
		case 6:
			e.Issuer, ok = r.text()
			return maxLen80(e.Issuer, ok)
		case 7:
			e.ID, ok = r.text()
			return maxLen80(e.ID, ok)
		case 8:
			e.TestName, ok = r.text()
			return maxLen80(e.TestName, ok)
		default:
			e.Manufacturer, ok = r.text()
		}
		return ok
	})
}

var recoveryFields = []string{"tg", "fr", "co", "is", "df", "du", "ci"}

func fastRecovery(r *fastReader, e *RecoveryEntry) bool {
	return fastFields(r, recoveryFields, 1<<7-1, func(i int) bool {
		var ok bool
		switch i {
		case 0:
			e.Disease, ok = r.text()
			return ok
		case 1:
			e.FirstPositive, ok = r.text()
			return isDate(e.FirstPositive, ok)
		case 2:
			e.Country, ok = r.text()
			return isCountry(e.Country, ok)
		case 3:
			e.Issuer, ok = r.text()
			return maxLen80(e.Issuer, ok)
		case 4:
			e.ValidFrom, ok = r.text()
			return isDate(e.ValidFrom, ok)
		case 5:
			e.ValidUntil, ok = r.text()
			return isDate(e.ValidUntil, ok)
		default:
			e.ID, ok = r.text()
			return maxLen80(e.ID, ok)
		}
	})
}

// ecdsaSigDER returns the ASN.1 DER SEQUENCE of the INTEGERs r and s (big
// endian, unsigned), as asn1.Marshal writes it for big.Ints.
func ecdsaSigDER(r, s []byte) []byte {
	ri, si := derUint(r), derUint(s)
	n := 2 + derLenSize(len(ri)) + len(ri) + 2 + derLenSize(len(si)) + len(si)
	out := make([]byte, 0, 1+1+derLenSize(n)+n)
	out = append(out, 0x30)
	out = appendDERLen(out, n)
	for _, v := range [][]byte{ri, si} {
		out = append(out, 0x02)
		out = appendDERLen(out, len(v))
		out = append(out, v...)
	}
	return out
}

// derUint returns the content octets of an INTEGER holding the unsigned
// big-endian b: no leading zero bytes, and one added where the first bit
// is set; zero is one zero byte.
func derUint(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) == 0 || b[0]&0x80 != 0 {
		return append([]byte{0}, b...)
	}
	return b
}

// derLenSize is how many bytes beyond the first a DER length n takes.
func derLenSize(n int) int {
	switch {
	case n < 0x80:
		return 0
	case n <= 0xff:
		return 1
	case n <= 0xffff:
		return 2
	}
	return 3
}

func appendDERLen(b []byte, n int) []byte {
	switch derLenSize(n) {
	case 0:
		return append(b, byte(n))
	case 1:
		return append(b, 0x81, byte(n))
	case 2:
		return append(b, 0x82, byte(n>>8), byte(n))
	}
	return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
}
