package code

import (
	"encoding/base32"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"healthcode"
)

// Kind says how a code is carried.
type Kind string

const (
	// Phone codes are shown on a phone, carry the colour and expire within
	// minutes.
	Phone Kind = "phone"
	// Paper codes are printed, live long and carry no colour: the checkpoint
	// reads the colour from the status list at StatusIndex.
	Paper Kind = "paper"
)

// Claims is what a code says about its holder.
type Claims struct {
	Subject     string // the resident's pseudonym: 8 base32 characters (RFC 4648 alphabet, no padding)
	IssuedAt    time.Time
	ExpiresAt   time.Time
	Color       healthcode.Color // phone codes only; empty on paper codes
	Vaccinated  bool             // phone codes only
	MaskedName  string           // as made by healthcode.MaskName
	BirthYear   int
	Kind        Kind
	StatusIndex int // paper codes only: the holder's index in the status list

	// NegativeTestAt is the sample time of the holder's latest negative
	// nucleic-acid (PCR) test, zero if none; phone codes only. A code
	// carries it as whole hours before IssuedAt, rounded up, and only when
	// the test was sampled at most MaxNegativeTestHours before IssuedAt:
	// Sign leaves an older test out (and treats a sample time after
	// IssuedAt as IssuedAt). So Verify returns IssuedAt minus whole hours,
	// at or before the real sample time, never after it: a checkpoint that
	// requires a test within N hours errs on the strict side, by less than
	// an hour.
	NegativeTestAt time.Time
}

// MaxNegativeTestHours is the oldest negative test, in hours before the
// issue time, that a code vouches for.
const MaxNegativeTestHours = 255

// MaxMaskedNameLen is the longest masked name, in bytes, a code may carry.
const MaxMaskedNameLen = 200

// SubjectLen is the length of a subject pseudonym in characters.
const SubjectLen = 8

// subjectBytes is the length of a subject pseudonym on the wire.
const subjectBytes = 5

var subjectEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ValidSubject reports whether s has the form of a subject pseudonym: 8
// characters of the RFC 4648 base32 alphabet (A-Z, 2-7), no padding.
func ValidSubject(s string) bool {
	_, err := subjectFromString(s)
	return err == nil
}

func subjectFromString(s string) ([]byte, error) {
	if len(s) != SubjectLen {
		return nil, fmt.Errorf("subject %q is not %d characters", s, SubjectLen)
	}
	b, err := subjectEncoding.DecodeString(s)
	if err != nil || len(b) != subjectBytes {
		return nil, fmt.Errorf("subject %q is not base32 (A-Z, 2-7)", s)
	}
	return b, nil
}

// State bits of claim -2.
const (
	stateColorMask  = 3
	stateVaccinated = 4
)

// kindPaper is the value of claim -5 on a paper code.
const kindPaper = 1

// wireClaims is the CBOR form of Claims; the tags are the claim keys (see
// the package documentation). Optional claims are pointers so that a present
// zero differs from an absent claim.
type wireClaims struct {
	Exp         uint64  `cbor:"4,keyasint"`
	Iat         uint64  `cbor:"6,keyasint"`
	Subject     []byte  `cbor:"-1,keyasint"`
	State       *uint64 `cbor:"-2,keyasint,omitempty"`
	MaskedName  string  `cbor:"-3,keyasint"`
	BirthYear   uint64  `cbor:"-4,keyasint"`
	Kind        uint64  `cbor:"-5,keyasint,omitempty"`
	StatusIndex *uint64 `cbor:"-6,keyasint,omitempty"`
	TestHours   *uint64 `cbor:"-7,keyasint,omitempty"`
}

var (
	claimsEncMode = func() cbor.EncMode {
		m, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
	claimsDecMode = func() cbor.DecMode {
		m, err := cbor.DecOptions{
			DupMapKey:         cbor.DupMapKeyEnforcedAPF,
			MaxNestedLevels:   4,
			MaxArrayElements:  16,
			MaxMapPairs:       16,
			IndefLength:       cbor.IndefLengthForbidden,
			TagsMd:            cbor.TagsForbidden,
			ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
			UTF8:              cbor.UTF8RejectInvalid,
		}.DecMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
)

// protectedHeader is the content of a code's protected header. Codes use
// no other header parameter.
type protectedHeader struct {
	Alg *int64 `cbor:"1,keyasint"`
	KID []byte `cbor:"4,keyasint"`
}

var headerDecMode = claimsDecMode

// toWire converts c to its CBOR form, checking every field.
func (c *Claims) toWire() (*wireClaims, error) {
	sub, err := subjectFromString(c.Subject)
	if err != nil {
		return nil, err
	}
	if c.IssuedAt.Unix() <= 0 || c.ExpiresAt.Unix() <= 0 {
		return nil, fmt.Errorf("issue and expiry times are required")
	}
	if c.BirthYear < 0 {
		return nil, fmt.Errorf("birth year %d is negative", c.BirthYear)
	}
	w := &wireClaims{
		Iat:        uint64(c.IssuedAt.Unix()),
		Exp:        uint64(c.ExpiresAt.Unix()),
		Subject:    sub,
		MaskedName: c.MaskedName,
		BirthYear:  uint64(c.BirthYear),
	}
	switch c.Kind {
	case Phone:
		if c.StatusIndex != 0 {
			return nil, fmt.Errorf("a phone code has no status index")
		}
		var state uint64
		switch c.Color {
		case healthcode.Green:
			state = 0
		case healthcode.Yellow:
			state = 1
		case healthcode.Red:
			state = 2
		default:
			return nil, fmt.Errorf("colour %q is not green, yellow or red", c.Color)
		}
		if c.Vaccinated {
			state |= stateVaccinated
		}
		w.State = &state
		w.TestHours = testHours(w.Iat, c.NegativeTestAt)
	case Paper:
		if c.Color != "" || c.Vaccinated || !c.NegativeTestAt.IsZero() {
			return nil, fmt.Errorf("a paper code carries no colour, vaccination mark or test time")
		}
		if c.StatusIndex < 0 {
			return nil, fmt.Errorf("status index %d is negative", c.StatusIndex)
		}
		idx := uint64(c.StatusIndex)
		w.Kind = kindPaper
		w.StatusIndex = &idx
	default:
		return nil, fmt.Errorf("kind %q is not phone or paper", c.Kind)
	}
	if m := w.missing(); m != "" {
		return nil, fmt.Errorf("missing %s", m)
	}
	if problem := w.check(); problem != "" {
		return nil, fmt.Errorf("%s", problem)
	}
	return w, nil
}

// testHours returns claim -7 for a negative test sampled at sample, for a
// code issued at iat (unix seconds): the whole hours from sample to iat,
// rounded up, or nil if there is no test or it is older than
// MaxNegativeTestHours. A sample after iat counts as taken at iat.
func testHours(iat uint64, sample time.Time) *uint64 {
	if sample.IsZero() {
		return nil
	}
	age := time.Unix(int64(iat), 0).Sub(sample)
	if age > MaxNegativeTestHours*time.Hour {
		return nil // also catches a sample so old that Sub saturates
	}
	h := uint64(0)
	if age > 0 {
		h = uint64((age + time.Hour - 1) / time.Hour)
	}
	return &h
}

// claims converts w, which check has accepted, to Claims.
func (w *wireClaims) claims() Claims {
	c := Claims{
		Subject:    subjectEncoding.EncodeToString(w.Subject),
		IssuedAt:   time.Unix(int64(w.Iat), 0).UTC(),
		ExpiresAt:  time.Unix(int64(w.Exp), 0).UTC(),
		MaskedName: w.MaskedName,
		BirthYear:  int(w.BirthYear),
	}
	if w.Kind == kindPaper {
		c.Kind = Paper
		c.StatusIndex = int(*w.StatusIndex)
		return c
	}
	c.Kind = Phone
	c.Color = [...]healthcode.Color{healthcode.Green, healthcode.Yellow, healthcode.Red}[*w.State&stateColorMask]
	c.Vaccinated = *w.State&stateVaccinated != 0
	if w.TestHours != nil {
		c.NegativeTestAt = c.IssuedAt.Add(-time.Duration(*w.TestHours) * time.Hour)
	}
	return c
}

// Limits on claim values, well beyond anything an issuer produces, so that
// the conversions to int and time.Time are exact.
const (
	maxTime        = 1 << 40 // about the year 36812
	maxStatusIndex = 1 << 31
	minBirthYear   = 1900
)

// missing returns the name of the first required claim w lacks, or "".
func (w *wireClaims) missing() string {
	switch {
	case w.Iat == 0:
		return "iat (6)"
	case w.Exp == 0:
		return "exp (4)"
	case w.Subject == nil:
		return "subject (-1)"
	case w.MaskedName == "":
		return "masked name (-3)"
	case w.BirthYear == 0:
		return "birth year (-4)"
	case w.Kind == 0 && w.State == nil:
		return "state (-2) of a phone code"
	case w.Kind == kindPaper && w.StatusIndex == nil:
		return "status index (-6) of a paper code"
	}
	return ""
}

// check returns what is wrong with w's values, or "" if nothing is. It
// assumes missing returned "".
func (w *wireClaims) check() string {
	if w.Iat >= maxTime || w.Exp >= maxTime {
		return "issue or expiry time is out of range"
	}
	if w.Exp <= w.Iat {
		return "expires before it is issued"
	}
	if len(w.Subject) != subjectBytes {
		return fmt.Sprintf("subject is %d bytes, not %d", len(w.Subject), subjectBytes)
	}
	if len(w.MaskedName) > MaxMaskedNameLen {
		return fmt.Sprintf("masked name is longer than %d bytes", MaxMaskedNameLen)
	}
	if !utf8.ValidString(w.MaskedName) || strings.IndexFunc(w.MaskedName, unicode.IsControl) >= 0 {
		return "masked name contains control characters or invalid UTF-8"
	}
	if iatYear := time.Unix(int64(w.Iat), 0).UTC().Year(); w.BirthYear < minBirthYear || w.BirthYear > uint64(iatYear) {
		return fmt.Sprintf("birth year %d is not between %d and %d", w.BirthYear, minBirthYear, iatYear)
	}
	switch w.Kind {
	case 0: // phone
		if s := *w.State; s > stateVaccinated|stateColorMask || s&stateColorMask == stateColorMask {
			return fmt.Sprintf("state %d is not a colour (0-2) plus 4 if vaccinated", s)
		}
		if w.StatusIndex != nil {
			return "a phone code has a status index"
		}
		if w.TestHours != nil && *w.TestHours > MaxNegativeTestHours {
			return fmt.Sprintf("negative test age %d hours is more than %d", *w.TestHours, MaxNegativeTestHours)
		}
	case kindPaper:
		if w.State != nil {
			return "a paper code carries a colour"
		}
		if w.TestHours != nil {
			return "a paper code carries a negative test (-7)"
		}
		if *w.StatusIndex >= maxStatusIndex {
			return "status index is out of range"
		}
	default:
		return fmt.Sprintf("kind %d is not 1 (paper) or absent (phone)", w.Kind)
	}
	return ""
}
