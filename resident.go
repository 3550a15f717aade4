package healthcode

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sex as written on the identity document.
type Sex string

const (
	Male   Sex = "male"
	Female Sex = "female"
)

// IDType is the kind of identity document a resident enrolls with.
type IDType string

const (
	ResidentIDCard IDType = "resident_id"     // PRC resident identity card, 18 characters (GB 11643)
	Passport       IDType = "passport"        // any passport
	HKMacaoPermit  IDType = "hk_macao_permit" // Mainland travel permit for Hong Kong and Macao residents
	TaiwanPermit   IDType = "taiwan_permit"   // Mainland travel permit for Taiwan residents
)

// Valid reports whether t is a known document type.
func (t IDType) Valid() bool {
	switch t {
	case ResidentIDCard, Passport, HKMacaoPermit, TaiwanPermit:
		return true
	}
	return false
}

// Resident is a person enrolled in the region. Name, IDNumber, Phone and
// Address are personal data: the store encrypts them at rest.
type Resident struct {
	ID          int64
	Name        string
	Sex         Sex
	BirthDate   time.Time // a civil date: midnight UTC
	Nationality string    // ISO 3166-1 alpha-3, e.g. CHN
	IDType      IDType
	IDNumber    string
	Phone       string // empty for a dependent without a phone
	Region      string // home region, 6-digit administrative-division code
	Address     string
	GuardianID  int64  // the resident who manages this one; 0 if self-managed
	Pseudonym   string // random per resident per region; the only identifier a code carries
	CreatedAt   time.Time
}

var (
	phoneRE      = regexp.MustCompile(`^(1[3-9][0-9]{9}|\+[1-9][0-9]{6,14})$`)
	nationRE     = regexp.MustCompile(`^[A-Z]{3}$`)
	docNumberRE  = regexp.MustCompile(`^[A-Z0-9]{5,20}$`)
	regionCodeRE = regexp.MustCompile(`^[1-9][0-9]{5}$`)
)

// ValidRegionCode reports whether s has the shape of a 6-digit
// administrative-division code (GB/T 2260).
func ValidRegionCode(s string) bool { return regionCodeRE.MatchString(s) }

// Normalize trims and upper-cases what the documents print in upper case.
func (r *Resident) Normalize() {
	r.Name = strings.TrimSpace(r.Name)
	r.Nationality = strings.ToUpper(strings.TrimSpace(r.Nationality))
	r.IDNumber = strings.ToUpper(strings.TrimSpace(r.IDNumber))
	r.Phone = strings.TrimSpace(r.Phone)
	r.Region = strings.TrimSpace(r.Region)
	r.Address = strings.TrimSpace(r.Address)
}

// Validate checks every field and returns an EINVALID error listing each
// problem. A dependent (GuardianID != 0) may have no phone.
func (r *Resident) Validate(now time.Time) error {
	var p Problems
	if n := utf8.RuneCountInString(r.Name); n == 0 {
		p.Add("name", "is required")
	} else if n > 64 {
		p.Add("name", "is longer than 64 characters")
	} else if strings.IndexFunc(r.Name, unicode.IsControl) >= 0 {
		p.Add("name", "contains control characters")
	}
	if r.Sex != Male && r.Sex != Female {
		p.Add("sex", "must be male or female")
	}
	switch {
	case r.BirthDate.IsZero():
		p.Add("birth_date", "is required (YYYY-MM-DD)")
	case r.BirthDate.After(now):
		p.Add("birth_date", "is in the future")
	case r.BirthDate.Year() < 1900:
		p.Add("birth_date", "is before 1900")
	}
	if !nationRE.MatchString(r.Nationality) {
		p.Add("nationality", "must be a 3-letter ISO 3166 country code such as CHN")
	}
	switch {
	case !r.IDType.Valid():
		p.Add("id_type", "must be one of resident_id, passport, hk_macao_permit, taiwan_permit")
	case r.IDType == ResidentIDCard:
		if err := CheckResidentIDNumber(r.IDNumber, r.BirthDate, r.Sex); err != "" {
			p.Add("id_number", "%s", err)
		}
	default:
		if !docNumberRE.MatchString(r.IDNumber) {
			p.Add("id_number", "must be 5 to 20 letters and digits")
		}
	}
	if r.Phone == "" {
		if r.GuardianID == 0 {
			p.Add("phone", "is required")
		}
	} else if !phoneRE.MatchString(r.Phone) {
		p.Add("phone", "must be an 11-digit mainland mobile number or +country code and number")
	}
	if !ValidRegionCode(r.Region) {
		p.Add("region", "must be a 6-digit region code such as 330106")
	}
	if n := utf8.RuneCountInString(r.Address); n == 0 {
		p.Add("address", "is required")
	} else if n > 200 {
		p.Add("address", "is longer than 200 characters")
	}
	return p.Err("invalid resident")
}

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheckChars = "10X98765432"

// ResidentIDCheckChar computes the GB 11643 check character of the first 17
// digits of a resident ID number.
func ResidentIDCheckChar(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return idCheckChars[sum%11]
}

// CheckResidentIDNumber validates an 18-character resident ID number against
// GB 11643 (region code, real birth date, check character) and, when given,
// the birth date and sex on the form. It returns "" when the number is valid,
// else what is wrong.
func CheckResidentIDNumber(n string, birth time.Time, sex Sex) string {
	if len(n) != 18 {
		return "must be 18 characters"
	}
	for i := 0; i < 17; i++ {
		if n[i] < '0' || n[i] > '9' {
			return "the first 17 characters must be digits"
		}
	}
	if c := n[17]; (c < '0' || c > '9') && c != 'X' {
		return "the last character must be a digit or X"
	}
	if !ValidRegionCode(n[:6]) {
		return "does not start with a valid region code"
	}
	d, err := time.Parse("20060102", n[6:14])
	if err != nil || d.Year() < 1900 {
		return "does not contain a real birth date"
	}
	if want := ResidentIDCheckChar(n[:17]); n[17] != want {
		return "check digit is wrong (the number has a typing error)"
	}
	if !birth.IsZero() && !d.Equal(time.Date(birth.Year(), birth.Month(), birth.Day(), 0, 0, 0, 0, time.UTC)) {
		return "birth date in the number (" + d.Format("2006-01-02") + ") does not match birth_date"
	}
	if sex != "" {
		numSex := Female
		if (n[16]-'0')%2 == 1 {
			numSex = Male
		}
		if numSex != sex {
			return "the number is for a " + string(numSex) + " person but sex is " + string(sex)
		}
	}
	return ""
}

// MaskName returns the form of a name shown on codes and to checkpoints:
// Chinese names keep their first and last characters (张三丰 -> 张*丰,
// 张三 -> 张*); Latin names keep the first letter of each given name and the
// whole surname, upper-cased (John Smith -> J*** SMITH).
func MaskName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return ""
	}
	runes := []rune(name)
	if unicode.Is(unicode.Han, runes[0]) {
		switch len(runes) {
		case 1:
			return string(runes)
		case 2:
			return string(runes[0]) + "*"
		default:
			return string(runes[0]) + "*" + string(runes[len(runes)-1])
		}
	}
	words := strings.Fields(strings.ToUpper(name))
	if len(words) == 1 {
		r := []rune(words[0])
		return string(r[0]) + "***"
	}
	for i := 0; i < len(words)-1; i++ {
		r := []rune(words[i])
		words[i] = string(r[0]) + "***"
	}
	return strings.Join(words, " ")
}
