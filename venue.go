package healthcode

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// VenueType is the kind of place a venue is; tracing may use a different
// proximity window per type.
type VenueType string

// The venue types.
const (
	Mall       VenueType = "mall"
	Restaurant VenueType = "restaurant"
	Transit    VenueType = "transit"
	Hospital   VenueType = "hospital"
	School     VenueType = "school"
	Office     VenueType = "office"
	TollGate   VenueType = "toll_gate"
	OtherVenue VenueType = "other"
)

// VenueTypes lists every venue type.
var VenueTypes = []VenueType{Mall, Restaurant, Transit, Hospital, School, Office, TollGate, OtherVenue}

// PolicyKind says what admits a person at a venue.
type PolicyKind string

// The venue policies.
const (
	PolicyGreen           PolicyKind = "green"                       // a green code
	PolicyGreenAndTest    PolicyKind = "green_and_test_within_hours" // green and a negative nucleic-acid test sampled within Hours
	PolicyGreenVaccinated PolicyKind = "green_and_vaccinated"        // green with the vaccinated mark
)

// Policy is a venue's admission rule.
type Policy struct {
	Kind  PolicyKind `json:"kind"`
	Hours int        `json:"hours,omitempty"` // for PolicyGreenAndTest: 48 and 72 were common
}

// Validate checks the policy.
func (p Policy) Validate() error {
	var pr Problems
	switch p.Kind {
	case PolicyGreen, PolicyGreenVaccinated:
		if p.Hours != 0 {
			pr.Add("policy.hours", "only applies to green_and_test_within_hours")
		}
	case PolicyGreenAndTest:
		if p.Hours < 1 || p.Hours > 240 {
			pr.Add("policy.hours", "must be between 1 and 240")
		}
	default:
		pr.Add("policy.kind", "must be green, green_and_test_within_hours or green_and_vaccinated")
	}
	return pr.Err("invalid policy")
}

// Venue is a place people check in at.
type Venue struct {
	ID        int64
	Name      string
	Type      VenueType
	Region    string
	Address   string
	Policy    Policy
	OwnerID   int64 // the venue-role token that manages it
	CreatedAt time.Time
}

// ValidType reports whether the venue's type is one of VenueTypes.
func (v *Venue) ValidType() bool { return slices.Contains(VenueTypes, v.Type) }

// Validate checks the venue.
func (v *Venue) Validate() error {
	var p Problems
	validText(&p, "name", v.Name, 1, 120)
	if !v.ValidType() {
		p.Add("type", "must be one of mall, restaurant, transit, hospital, school, office, toll_gate, other")
	}
	if !ValidRegionCode(v.Region) {
		p.Add("region", "must be a 6-digit region code such as 330106")
	}
	validText(&p, "address", v.Address, 1, 200)
	p.Merge(v.Policy.Validate())
	return p.Err("invalid venue")
}

// Decision is what a checkpoint does with a person.
type Decision string

// Checkpoint decisions.
const (
	Admit Decision = "admit"
	Deny  Decision = "deny"
)

// CheckInMode says who scanned whom.
type CheckInMode string

// Check-in modes.
const (
	ModeCheckpoint CheckInMode = "checkpoint" // the checkpoint scanned the resident's code
	ModePlaceCode  CheckInMode = "place_code" // the resident scanned the venue's place code
)

// CheckIn records that a code holder was at a venue. Its ID is made by the
// client so that a re-sent check-in is stored once.
type CheckIn struct {
	ID         string // client-generated, 8 to 64 characters of [A-Za-z0-9_-]
	Subject    string // the code's pseudonym
	Issuer     string // region code of the issuer of the code
	VenueID    int64
	Checkpoint string // the checkpoint token's name, or "place code"
	At         time.Time
	Decision   Decision
	Color      Color // the colour seen; "" when unknown (for example a stale status list)
	Mode       CheckInMode
	ReceivedAt time.Time
}

var checkInIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// MaxCheckInAge is how old a check-in may be when it is uploaded: older ones
// are past retention anyway.
const MaxCheckInAge = 28 * 24 * time.Hour

// MaxClockAhead is how far in the future a device's clock may be.
const MaxClockAhead = 5 * time.Minute

// Validate checks a check-in received at now. It does not check that the
// venue exists or that the device may record for it.
func (c *CheckIn) Validate(now time.Time) error {
	var p Problems
	if !checkInIDRE.MatchString(c.ID) {
		p.Add("id", "must be 8 to 64 letters, digits, - or _ (a UUID will do)")
	}
	if len(c.Subject) < 4 || len(c.Subject) > 64 || strings.IndexFunc(c.Subject, func(r rune) bool { return r < '!' || r > '~' }) >= 0 {
		p.Add("subject", "must be the code's pseudonym")
	}
	if !ValidRegionCode(c.Issuer) {
		p.Add("issuer", "must be the 6-digit region code of the code's issuer")
	}
	if c.VenueID <= 0 {
		p.Add("venue_id", "is required")
	}
	switch {
	case c.At.IsZero():
		p.Add("at", "is required (RFC 3339)")
	case c.At.After(now.Add(MaxClockAhead)):
		p.Add("at", "is in the future (more than 5 minutes ahead of the server): check the device clock")
	case c.At.Before(now.Add(-MaxCheckInAge)):
		p.Add("at", "is more than 28 days ago, past retention")
	}
	if c.Decision != Admit && c.Decision != Deny {
		p.Add("decision", "must be admit or deny")
	}
	if c.Color != "" && c.Color.Severity() < 0 {
		p.Add("color", "must be green, yellow, red or empty")
	}
	if c.Mode != ModeCheckpoint && c.Mode != ModePlaceCode {
		p.Add("mode", "must be checkpoint or place_code")
	}
	if utf8.RuneCountInString(c.Checkpoint) > 80 {
		p.Add("checkpoint", "is longer than 80 characters")
	}
	return p.Err("invalid check-in")
}

// CheckInResult is what happened to one item of an uploaded batch.
type CheckInResult struct {
	ID     string `json:"id"`
	Result string `json:"result"`           // "stored", "duplicate" or "rejected"
	Reason string `json:"reason,omitempty"` // why it was rejected
}

// Check-in results.
const (
	Stored    = "stored"
	Duplicate = "duplicate"
	Rejected  = "rejected"
)

// VenueService manages venues and check-ins.
type VenueService interface {
	CreateVenue(ctx context.Context, v *Venue) error
	FindVenue(ctx context.Context, id int64) (*Venue, error)
	UpdateVenuePolicy(ctx context.Context, id int64, p Policy) (*Venue, error)
	ListVenues(ctx context.Context, ownerID int64) ([]*Venue, error)
	// SetTokenVenues scopes a checkpoint token to venues (replacing its scope).
	SetTokenVenues(ctx context.Context, tokenID int64, venueIDs []int64) error
	TokenVenues(ctx context.Context, tokenID int64) ([]int64, error)
	// AddCheckIns stores the valid check-ins of a batch; a check-in whose ID
	// is already stored is a duplicate and is not stored again. Items are
	// validated by the caller; the result is in input order.
	AddCheckIns(ctx context.Context, cs []CheckIn) ([]CheckInResult, error)
	// ListCheckInsOfSubject lists a code holder's check-ins in [from, to), by time.
	ListCheckInsOfSubject(ctx context.Context, issuer, subject string, from, to time.Time) ([]CheckIn, error)
	// ListCheckInsAtVenue lists the check-ins at a venue in [from, to), by time.
	ListCheckInsAtVenue(ctx context.Context, venueID int64, from, to time.Time) ([]CheckIn, error)
}
