package statuslist

import (
	"fmt"
	"time"

	"healthcode"
	"healthcode/internal/code"
)

// Seen combines a verdict with the status list (nil allowed) into
// healthcode.Seen, what a checkpoint decides on, at the moment now. It
// returns the verdict too, with what the list added.
//
// A phone code carries its colour, vaccinated mark and negative test, and
// the list plays no part. A paper code carries none of them: its colour is
// the list's state at its status index, filled into the verdict's Color. A
// revoked paper code is rejected (Valid false, RejectCode code.Revoked).
// If the colour cannot be known (no list, a stale list, a list of another
// region, an index beyond the list) the code stays valid with no colour
// and the verdict's Reason says "colour unknown: ... check online":
// healthcode.Decide never admits it. A rejected verdict passes through.
func Seen(v code.Verdict, list *List, now time.Time) (healthcode.Seen, code.Verdict) {
	if !v.Valid {
		return healthcode.Seen{Reject: v.Reason, RejectCode: v.RejectCode}, v
	}
	if v.Kind == code.Phone {
		s := healthcode.Seen{Valid: true, Color: v.Color, Vaccinated: v.Vaccinated}
		if v.NegativeTestAt != "" {
			// Unreadable: no test, the strict side.
			if t, err := time.Parse(time.RFC3339, v.NegativeTestAt); err == nil {
				s.NegativeTestAt = t
			}
		}
		return s, v
	}

	// A paper code (or, from a hand-made verdict, an unknown kind):
	// whatever the verdict says, it has no colour, mark or test of its own.
	v.Color, v.Vaccinated, v.NegativeTestAt = "", false, ""
	unknown := func(why string) (healthcode.Seen, code.Verdict) {
		v.Reason = "colour unknown: " + why
		return healthcode.Seen{Valid: true}, v
	}
	if v.Kind != code.Paper {
		return unknown(fmt.Sprintf("the code is of kind %q, neither phone nor paper: check online", v.Kind))
	}
	if list == nil {
		return unknown("no status list is loaded to give a paper code's colour: check online")
	}
	if list.Issuer != v.Issuer {
		return unknown(fmt.Sprintf("the status list is region %s's, but the code was issued by region %s: check online", list.Issuer, v.Issuer))
	}
	state, err := list.Lookup(v.StatusIndex, now)
	if err != nil {
		return unknown(err.Error())
	}
	switch state {
	case Green, Yellow, Red:
		v.Color = state.Color()
		v.Reason += fmt.Sprintf("; %s in the status list issued at %s", state, list.IssuedAt.UTC().Format(time.RFC3339))
		return healthcode.Seen{Valid: true, Color: v.Color}, v
	case Revoked:
		v.Valid, v.RejectCode = false, code.Revoked
		v.Reason = "revoked: this paper code was replaced by a newer one"
		return healthcode.Seen{Reject: v.Reason, RejectCode: v.RejectCode}, v
	}
	return unknown(fmt.Sprintf("status index %d has state %s: check online", v.StatusIndex, state))
}
