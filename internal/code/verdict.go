package code

import (
	"errors"
	"strings"
	"time"

	"healthcode"
)

// Verdict is what a checkpoint learns from a code: the JSON printed by
// `healthcode verify` and returned by POST /api/v1/verify. A rejected code
// has Valid false and a Reason that says why.
type Verdict struct {
	Valid          bool             `json:"valid"`
	Color          healthcode.Color `json:"color,omitempty"` // empty for a paper code until statuslist.Seen fills it from the status list
	Vaccinated     bool             `json:"vaccinated"`
	Kind           Kind             `json:"kind,omitempty"`
	Issuer         string           `json:"issuer,omitempty"` // region code of the key that signed it
	Subject        string           `json:"subject,omitempty"`
	SubjectDisplay string           `json:"subject_display,omitempty"` // masked name
	BirthYear      int              `json:"birth_year,omitempty"`
	IssuedAt       string           `json:"issued_at,omitempty"`
	ExpiresAt      string           `json:"expires_at,omitempty"`
	StatusIndex    int              `json:"status_index,omitempty"`
	// NegativeTestAt (RFC 3339, phone codes only) is the sample time of
	// the latest negative PCR the code vouches for: at or up to an hour
	// before the real sample time (see Claims.NegativeTestAt).
	NegativeTestAt string `json:"negative_test_at,omitempty"`
	RejectCode     string `json:"reject_code,omitempty"` // machine-readable reason: expired, bad_signature, ... (revoked: set by the status list)
	Reason         string `json:"reason,omitempty"`      // for people
}

// Check verifies payload at now against keys and says what a checkpoint
// should show.
func Check(payload string, keys KeyResolver, now time.Time) Verdict {
	c, k, err := Verify(payload, keys, now)
	if err != nil {
		v := Verdict{Reason: err.Error(), RejectCode: Malformed}
		var ve *VerifyError
		if errors.As(err, &ve) {
			v.RejectCode = ve.Reason
		}
		return v
	}
	v := Verdict{Valid: true, Color: c.Color, Vaccinated: c.Vaccinated, Kind: c.Kind, Issuer: k.Region,
		Subject: c.Subject, SubjectDisplay: c.MaskedName, BirthYear: c.BirthYear,
		IssuedAt: c.IssuedAt.UTC().Format(time.RFC3339), ExpiresAt: c.ExpiresAt.UTC().Format(time.RFC3339),
		StatusIndex: c.StatusIndex, Reason: "valid code issued by region " + k.Region}
	if !c.NegativeTestAt.IsZero() {
		v.NegativeTestAt = c.NegativeTestAt.UTC().Format(time.RFC3339)
	}
	return v
}

// CheckImage reads the code in a PNG or JPEG picture with DecodeImage and
// checks it like Check. A picture it cannot read is rejected as ImageVerdict
// says.
func CheckImage(data []byte, keys KeyResolver, now time.Time) Verdict {
	payload, err := DecodeImage(data)
	if err != nil {
		return ImageVerdict(err)
	}
	return Check(payload, keys, now)
}

// ImageVerdict is the verdict on a picture that DecodeImage returned err
// for: rejected with reason not_a_code, and a Reason that says whether the
// picture holds no readable QR code or a QR code with something other than
// a health code in it (a web address, plain text).
func ImageVerdict(err error) Verdict {
	var ve *VerifyError
	switch {
	case errors.As(err, &ve):
		return Verdict{RejectCode: ve.Reason, Reason: ve.Detail}
	case errors.Is(err, ErrNoQRCode):
		return Verdict{RejectCode: NotACode, Reason: "not a health code: the picture holds no readable QR code"}
	}
	return Verdict{RejectCode: NotACode, Reason: "not a health code: " + strings.TrimPrefix(err.Error(), "read picture: ")}
}
