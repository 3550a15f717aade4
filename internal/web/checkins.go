package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"healthcode"
)

// maxBatch is the most check-ins one upload may carry.
const maxBatch = 5000

type checkInJSON struct {
	ID       string `json:"id"`
	Subject  string `json:"subject"`
	Issuer   string `json:"issuer"`
	VenueID  int64  `json:"venue_id"`
	At       string `json:"at"`
	Decision string `json:"decision"`
	Color    string `json:"color"`
	Mode     string `json:"mode"`
}

type checkInBatch struct {
	CheckIns []checkInJSON `json:"checkins"`
}

// uploadCheckIns stores a checkpoint's batch. Each item is judged on its
// own: valid ones are stored even when others are rejected, a re-sent id is
// reported as a duplicate and never stored twice, and offline check-ins keep
// their original time. The batch is acknowledged only after it is committed.
func (s *Server) uploadCheckIns(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req checkInBatch
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.CheckIns == nil {
		return healthcode.Errorf(healthcode.EINVALID, "checkins is required: a list of check-ins")
	}
	if len(req.CheckIns) > maxBatch {
		return healthcode.Errorf(healthcode.EINVALID, "a batch holds at most %d check-ins, this one has %d: split it", maxBatch, len(req.CheckIns))
	}
	scope, err := s.store.TokenVenues(r.Context(), a.TokenID)
	if err != nil {
		return err
	}
	allowed := map[int64]bool{}
	for _, id := range scope {
		allowed[id] = true
	}
	now := s.clock.Now()
	results := make([]healthcode.CheckInResult, len(req.CheckIns))
	var valid []healthcode.CheckIn
	var where []int
	for i, in := range req.CheckIns {
		var p healthcode.Problems
		c := healthcode.CheckIn{ID: in.ID, Subject: in.Subject, Issuer: in.Issuer, VenueID: in.VenueID,
			Checkpoint: a.Name, At: parseTime(&p, "at", in.At), Decision: healthcode.Decision(in.Decision),
			Color: healthcode.Color(in.Color), Mode: healthcode.ModeCheckpoint}
		if in.Mode != "" && in.Mode != string(healthcode.ModeCheckpoint) {
			p.Add("mode", "a checkpoint uploads only check-ins it scanned (mode checkpoint)")
		}
		p.Merge(c.Validate(now))
		if len(p) == 0 && !allowed[c.VenueID] {
			p.Add("venue_id", "this checkpoint may not record check-ins for venue %d", c.VenueID)
		}
		if len(p) > 0 {
			results[i] = healthcode.CheckInResult{ID: in.ID, Result: healthcode.Rejected, Reason: p.Err("invalid check-in").(*healthcode.Error).Message}
			continue
		}
		valid = append(valid, c)
		where = append(where, i)
	}
	if len(valid) > 0 {
		stored, err := s.store.AddCheckIns(r.Context(), valid)
		if err != nil {
			return err
		}
		for j, res := range stored {
			results[where[j]] = res
		}
	}
	counts := map[string]int{healthcode.Stored: 0, healthcode.Duplicate: 0, healthcode.Rejected: 0}
	for _, res := range results {
		counts[res.Result]++
	}
	s.metrics.checkIns.WithLabelValues("checkpoint").Add(float64(counts[healthcode.Stored]))
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "stored": counts[healthcode.Stored],
		"duplicates": counts[healthcode.Duplicate], "rejected": counts[healthcode.Rejected]})
	return nil
}

type placeCheckInRequest struct {
	PlaceCode string `json:"place_code"`
}

type placeCheckInResponse struct {
	CheckInID  string           `json:"checkin_id"`
	VenueID    int64            `json:"venue_id"`
	VenueName  string           `json:"venue_name"`
	At         string           `json:"at"`
	Color      healthcode.Color `json:"color"`
	Vaccinated bool             `json:"vaccinated"`
	Decision   string           `json:"decision"`
	Reason     string           `json:"reason"`
	ReasonZH   string           `json:"reason_zh"`
	MaskedName string           `json:"masked_name"`
}

func (s *Server) placeCheckIn(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req placeCheckInRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.PlaceCode == "" {
		return (&healthcode.Problems{{Field: "place_code", Message: "is required: the text of the venue's QR code"}}).Err("invalid check-in")
	}
	res, err := s.checkInAtPlace(r.Context(), a.ResidentID, req.PlaceCode)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// checkInAtPlace records a resident's scan of a place code and decides by
// the venue's policy, the way a checkpoint would.
func (s *Server) checkInAtPlace(ctx context.Context, residentID int64, placeCode string) (*placeCheckInResponse, error) {
	venueID, err := s.parsePlaceCode(placeCode)
	if err != nil {
		return nil, err
	}
	v, err := s.store.FindVenue(ctx, venueID)
	if err != nil {
		return nil, err
	}
	res, err := s.store.FindResidentByID(ctx, residentID)
	if err != nil {
		return nil, err
	}
	st, err := s.store.CurrentStatus(ctx, residentID)
	if err != nil {
		return nil, err
	}
	negative, err := s.latestNegativePCR(ctx, residentID)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	adm := healthcode.Decide(v.Policy, healthcode.Seen{Valid: true, Color: st.Color, Vaccinated: st.Vaccinated, NegativeTestAt: negative}, now)
	c := healthcode.CheckIn{ID: newCheckInID(), Subject: res.Pseudonym, Issuer: s.cfg.Region, VenueID: v.ID,
		Checkpoint: "place code", At: now, Decision: adm.Decision, Color: st.Color, Mode: healthcode.ModePlaceCode}
	results, err := s.store.AddCheckIns(ctx, []healthcode.CheckIn{c})
	if err != nil {
		return nil, err
	}
	if results[0].Result == healthcode.Rejected {
		return nil, healthcode.Errorf(healthcode.EINVALID, "check-in refused: %s", results[0].Reason)
	}
	s.metrics.checkIns.WithLabelValues("place_code").Inc()
	return &placeCheckInResponse{CheckInID: c.ID, VenueID: v.ID, VenueName: v.Name, At: timeString(now), Color: st.Color,
		Vaccinated: st.Vaccinated, Decision: string(adm.Decision), Reason: adm.Reason, ReasonZH: adm.ReasonZH,
		MaskedName: healthcode.MaskName(res.Name)}, nil
}

// latestNegativePCR returns the sample time of the resident's latest
// negative PCR, zero if none.
func (s *Server) latestNegativePCR(ctx context.Context, residentID int64) (time.Time, error) {
	return s.store.LatestTest(ctx, residentID, healthcode.PCR, healthcode.Negative)
}

func newCheckInID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// The place-code page: what a phone's camera opens. GET shows the venue and
// a button; POST (same-origin only, like every cookie write) records the
// check-in and shows the result for the clerk to look at. A GET never
// records anything, so a link or an image elsewhere cannot check anyone in.

type placePageData struct {
	Venue    string
	SignedIn bool
	Result   *placeCheckInResponse
	At       string // the check-in's time in the region's zone
	Back     string // the signed-out visitor's way to sign in and come back
}

func (s *Server) placePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "resident", "scan")
	data := placePageData{SignedIn: a != nil && a.Role == healthcode.RoleResident}
	status := http.StatusOK
	// A phone that opened this page gets a page, also when something is wrong.
	fail := func(err error) {
		if healthcode.ErrorCode(err) == healthcode.EINTERNAL {
			s.log.Error("place page", "error", err.Error())
		}
		p.Error, status = p.L.Err(err), statusFor(healthcode.ErrorCode(err))
	}
	if id, err := s.parsePlaceCode(r.PathValue("code")); err != nil {
		fail(err)
	} else if v, err := s.store.FindVenue(r.Context(), id); err != nil {
		fail(err)
	} else {
		p.Title, data.Venue = v.Name, v.Name
		if r.Method == http.MethodPost {
			if res, err := s.checkInAtPlace(r.Context(), a.ResidentID, r.PathValue("code")); err != nil {
				fail(err)
			} else {
				data.Result, status = res, http.StatusCreated
				at, _ := time.Parse(time.RFC3339, res.At)
				data.At = s.localTime(at)
			}
		}
	}
	if p.Title == "" {
		p.Title = p.L.T("title.place")
	}
	p.D = data
	return s.render(w, r, status, "place", p)
}
