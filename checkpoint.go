package healthcode

import (
	"fmt"
	"strings"
	"time"
)

// Seen is what a checkpoint learned from a verified code, offline.
type Seen struct {
	Valid          bool
	Reject         string // why the code was rejected, when not Valid
	RejectCode     string // the machine-readable reason: expired, bad_signature, ...
	Color          Color  // "" when unknown (paper code with a stale status list)
	Vaccinated     bool
	NegativeTestAt time.Time // sample time of the latest negative PCR the code vouches for; zero if none
}

// Admission is a checkpoint's decision with its reason, in both languages.
type Admission struct {
	Decision Decision `json:"decision"`
	Reason   string   `json:"reason"`
	ReasonZH string   `json:"reason_zh"`
}

// Decide applies a venue's policy to what a code shows, at now. It is pure:
// the same inputs give the same decision. A code whose colour is unknown is
// never admitted: the clerk must check online.
func Decide(p Policy, s Seen, now time.Time) Admission {
	deny := func(en, zh string) Admission { return Admission{Deny, en, zh} }
	switch {
	case !s.Valid:
		return deny("code rejected: "+s.Reject, "健康码无效："+rejectZH(s.RejectCode))
	case s.Color == "":
		return deny("colour unknown: check online", "状态未知：请联网核验")
	case s.Color != Green:
		return deny("code is "+string(s.Color)+": only green is admitted", "健康码为"+colorZH(s.Color)+"：仅绿码可进入")
	}
	switch p.Kind {
	case PolicyGreenVaccinated:
		if !s.Vaccinated {
			return deny("policy: needs the vaccinated mark", "本场所要求完成疫苗接种")
		}
		return Admission{Admit, "green and vaccinated", "绿码且已完成接种"}
	case PolicyGreenAndTest:
		limit := time.Duration(p.Hours) * time.Hour
		if s.NegativeTestAt.IsZero() || now.Sub(s.NegativeTestAt) > limit {
			return deny(fmt.Sprintf("policy: needs a negative nucleic-acid test sampled within %d h", p.Hours),
				fmt.Sprintf("本场所要求%d小时内核酸检测阴性", p.Hours))
		}
		return Admission{Admit, fmt.Sprintf("green with a negative test within %d h", p.Hours), fmt.Sprintf("绿码且%d小时内核酸阴性", p.Hours)}
	}
	return Admission{Admit, "green", "绿码"}
}

// rejectZH says in Chinese why a code was rejected, by reason code.
func rejectZH(code string) string {
	switch code {
	case "expired":
		return "已过期，请刷新"
	case "not_yet_valid":
		return "尚未生效（请检查设备时间）"
	case "bad_signature":
		return "签名无效，可能被篡改"
	case "unknown_issuer":
		return "签发地区不受信任"
	case "key_not_valid":
		return "签发密钥已失效"
	case "not_a_code":
		return "不是健康码"
	case "revoked":
		return "已作废（已补发新码）"
	}
	return "格式错误"
}

func colorZH(c Color) string {
	switch c {
	case Green:
		return "绿码"
	case Yellow:
		return "黄码"
	case Red:
		return "红码"
	}
	return string(c)
}

// Exposure is one piece of tracing evidence: the source and the contact
// were checked in at the same venue close enough in time.
type Exposure struct {
	VenueID   int64     `json:"venue_id"`
	VenueName string    `json:"venue_name"`
	SourceAt  time.Time `json:"source_at"`  // the case's (or first-degree contact's) check-in
	ContactAt time.Time `json:"contact_at"` // the contact's check-in
	Source    string    `json:"source"`     // the pseudonym of whoever the contact was exposed to
}

// Contact is a code holder tracing found, with all the evidence.
type Contact struct {
	Subject      string     `json:"subject"`
	Issuer       string     `json:"issuer"`
	Degree       int        `json:"degree"` // 1: met the case; 2: met a first-degree contact
	LastExposure time.Time  `json:"last_exposure"`
	Exposures    []Exposure `json:"exposures"`
}

// TraceOptions controls a trace.
type TraceOptions struct {
	From, To        time.Time                   // the infectious window of the case
	Proximity       time.Duration               // default window either side of a check-in
	ProximityByType map[VenueType]time.Duration // overrides per venue type
	Depth           int                         // 1 or 2
	// MaxSecondDegree bounds the second degree (0 means
	// DefaultMaxSecondDegree): a trace that finds more stops there and says
	// so. At a busy city's density the contacts of a few thousand contacts
	// are most of the population, which no tracer can act on.
	MaxSecondDegree int
}

// DefaultMaxSecondDegree is the default bound on second-degree contacts.
const DefaultMaxSecondDegree = 10_000

// DefaultProximity is how close in time two check-ins at one venue must be
// for the people to count as close contacts.
const DefaultProximity = 30 * time.Minute

// InfectiousWindow is the default tracing window of a case: from two days
// before symptom onset or sample (whichever is earlier) up to isolation
// (confirmation), and never more than 14 days.
func InfectiousWindow(c *Case) (from, to time.Time) {
	to = c.ConfirmedAt
	start := c.SampleDate
	if !c.OnsetDate.IsZero() && (start.IsZero() || c.OnsetDate.Before(start)) {
		start = c.OnsetDate
	}
	from = start.Add(-48 * time.Hour)
	if start.IsZero() || from.Before(to.Add(-14*24*time.Hour)) {
		from = to.Add(-14 * 24 * time.Hour)
	}
	return from, to
}

// ParseProximityByType reads per-venue-type proximities written as
// "transit=10m,restaurant=45m" (Go durations, each more than 0 and at most
// 24 hours). An empty string gives none.
func ParseProximityByType(s string) (map[VenueType]time.Duration, error) {
	out := map[VenueType]time.Duration{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	var p Problems
	for item := range strings.SplitSeq(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		vt := VenueType(strings.TrimSpace(name))
		d, err := time.ParseDuration(strings.TrimSpace(value))
		switch {
		case !ok:
			p.Add("proximity_by_type", "%q: write TYPE=DURATION, e.g. transit=10m", item)
		case !(&Venue{Type: vt}).ValidType():
			p.Add("proximity_by_type", "%q is not a venue type (%s)", vt, venueTypeList())
		case err != nil:
			p.Add("proximity_by_type", "%s: %q is not a duration such as 10m", vt, value)
		case d <= 0 || d > 24*time.Hour:
			p.Add("proximity_by_type", "%s: must be more than 0 and at most 24h", vt)
		case out[vt] != 0:
			p.Add("proximity_by_type", "%s is given twice", vt)
		default:
			out[vt] = d
		}
	}
	return out, p.Err("invalid proximity by venue type")
}

func venueTypeList() string {
	names := make([]string, len(VenueTypes))
	for i, vt := range VenueTypes {
		names[i] = string(vt)
	}
	return strings.Join(names, ", ")
}
