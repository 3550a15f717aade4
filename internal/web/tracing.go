package web

import (
	"context"
	"maps"
	"net/http"
	"time"

	"healthcode"
	"healthcode/internal/tracing"
)

type traceRequest struct {
	From             string         `json:"from"`
	To               string         `json:"to"`
	ProximityMinutes int            `json:"proximity_minutes"`
	ProximityByType  map[string]int `json:"proximity_by_type"` // venue type -> minutes
	Depth            int            `json:"depth"`
	MaxSecondDegree  int            `json:"max_second_degree"`
}

// traceOptions turns a request into options for the case, with the
// defaults of DESIGN.md section 6.
func (s *Server) traceOptions(req traceRequest, c *healthcode.Case) (healthcode.TraceOptions, error) {
	var p healthcode.Problems
	opts := healthcode.TraceOptions{Depth: req.Depth, Proximity: time.Duration(req.ProximityMinutes) * time.Minute,
		MaxSecondDegree: req.MaxSecondDegree}
	opts.From, opts.To = healthcode.InfectiousWindow(c)
	if t := parseTime(&p, "from", req.From); !t.IsZero() {
		opts.From = t
	}
	if t := parseTime(&p, "to", req.To); !t.IsZero() {
		opts.To = t
	}
	if req.Depth < 0 || req.Depth > 2 {
		p.Add("depth", "must be 1 or 2")
	}
	if req.ProximityMinutes < 0 || req.ProximityMinutes > 24*60 {
		p.Add("proximity_minutes", "must be between 1 and 1440")
	}
	if req.MaxSecondDegree < 0 || req.MaxSecondDegree > tracing.MaxSecondDegree {
		p.Add("max_second_degree", "must be between 0 (the default, %d) and %d", healthcode.DefaultMaxSecondDegree, tracing.MaxSecondDegree)
	}
	if len(req.ProximityByType) > 0 || len(s.cfg.ProximityByType) > 0 {
		opts.ProximityByType = maps.Clone(s.cfg.ProximityByType)
		if opts.ProximityByType == nil {
			opts.ProximityByType = map[healthcode.VenueType]time.Duration{}
		}
		for k, m := range req.ProximityByType {
			vt := healthcode.VenueType(k)
			if !(&healthcode.Venue{Type: vt}).ValidType() {
				p.Add("proximity_by_type", "%q is not a venue type", k)
			} else if m < 1 || m > 24*60 {
				p.Add("proximity_by_type", "%s: must be between 1 and 1440 minutes", k)
			}
			opts.ProximityByType[vt] = time.Duration(m) * time.Minute
		}
	}
	return opts, p.Err("invalid trace options")
}

// runTrace traces the case named in the path: a protected read of the case
// holder's check-ins, recorded in the audit log with the tracer's purpose in
// the transaction that reads them.
func (s *Server) runTrace(r *http.Request, req traceRequest) (*healthcode.Case, *tracing.Result, error) {
	id, err := pathID(r, "case")
	if err != nil {
		return nil, nil, err
	}
	acc, err := readAccess(r)
	if err != nil {
		return nil, nil, err
	}
	var c *healthcode.Case
	var result *tracing.Result
	err = s.store.ReadCaseMovements(r.Context(), acc, id, func(cs *healthcode.Case, pseudonym string, src healthcode.MovementReader) error {
		opts, err := s.traceOptions(req, cs)
		if err != nil {
			return err
		}
		c = cs
		result, err = tracing.Trace(r.Context(), src, s.cfg.Region, s.cfg.Region, pseudonym, opts)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return c, result, nil
}

type traceResponse struct {
	CaseID          int64                `json:"case_id"`
	Subject         string               `json:"subject"`
	From            string               `json:"from"`
	To              string               `json:"to"`
	Contacts        []healthcode.Contact `json:"contacts"`
	Foreign         []healthcode.Contact `json:"foreign_contacts"`
	CheckInsScanned int                  `json:"checkins_scanned"`
	Truncated       bool                 `json:"truncated"`
	TookMS          float64              `json:"took_ms"`
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	var req traceRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	start := time.Now()
	c, res, err := s.runTrace(r, req)
	if err != nil {
		return err
	}
	s.metrics.traces.Observe(time.Since(start).Seconds())
	writeJSON(w, http.StatusOK, traceResponse{CaseID: c.ID, Subject: res.Subject, From: timeString(res.From), To: timeString(res.To),
		Contacts: nonNil(res.Contacts), Foreign: nonNil(res.Foreign), CheckInsScanned: res.CheckInsScanned, Truncated: res.Truncated,
		TookMS: float64(time.Since(start).Microseconds()) / 1000})
	return nil
}

func nonNil(cs []healthcode.Contact) []healthcode.Contact {
	if cs == nil {
		return []healthcode.Contact{}
	}
	return cs
}

type designateRequest struct {
	traceRequest
	Subjects []string `json:"subjects"`
}

type designation struct {
	Subject      string `json:"subject"`
	Result       string `json:"result"` // "designated", "already_designated", "notified" or "rejected"
	Reason       string `json:"reason,omitempty"`
	Region       string `json:"region,omitempty"`    // the home region told, when notified
	NoticeID     string `json:"notice_id,omitempty"` // the contact notice queued for it, when notified
	ResidentID   int64  `json:"resident_id,omitempty"`
	ID           int64  `json:"designation_id,omitempty"` // the fact, for an override
	Venue        string `json:"venue,omitempty"`
	LastExposure string `json:"last_exposure,omitempty"`
}

// designate turns chosen contacts into close-contact facts. The trace is run
// again with the same options and only contacts it finds, with their
// evidence, can be designated: nobody's code turns yellow on a tracer's word
// alone.
func (s *Server) designate(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req designateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Subjects) == 0 || len(req.Subjects) > 10000 {
		return healthcode.Errorf(healthcode.EINVALID, "subjects must list 1 to 10000 contacts from the trace")
	}
	c, res, err := s.runTrace(r, req.traceRequest)
	if err != nil {
		return err
	}
	found := map[string]healthcode.Contact{}
	for _, ct := range res.Contacts {
		found[ct.Subject] = ct
	}
	foreign := map[string]healthcode.Contact{}
	for _, ct := range res.Foreign {
		foreign[ct.Subject] = ct
	}
	var notify []healthcode.Contact // foreign contacts, for their home regions
	var notifyAt []int
	out := make([]designation, len(req.Subjects))
	seen := map[string]bool{}
	for i, sub := range req.Subjects {
		d := designation{Subject: sub, Result: "rejected"}
		ct, ok := found[sub]
		fc, isForeign := foreign[sub]
		switch {
		case seen[sub]:
			d.Reason = "listed twice in this request"
		case isForeign && !ok:
			// Their home region decides: it gets a signed contact notice.
			notify, notifyAt = append(notify, fc), append(notifyAt, i)
			d = designation{Subject: sub, Result: "notified", Region: fc.Issuer, LastExposure: timeString(fc.LastExposure)}
		case !ok:
			d.Reason = "not found by tracing this case with these options"
		default:
			person, err := s.store.FindResidentByPseudonym(r.Context(), sub)
			if healthcode.ErrorCode(err) == healthcode.ENOTFOUND {
				d.Reason = "no resident holds this code any more"
				break
			} else if err != nil {
				return err
			}
			// The venue named in the reason is where the last exposure was.
			last := ct.Exposures[0]
			for _, e := range ct.Exposures {
				if latest(e).Equal(ct.LastExposure) {
					last = e
				}
			}
			if already, err := s.alreadyDesignated(r.Context(), person.ID, c.ID, ct.LastExposure); err != nil {
				return err
			} else if already {
				d = designation{Subject: sub, Result: "already_designated", ResidentID: person.ID, Venue: last.VenueName, LastExposure: timeString(ct.LastExposure)}
				break
			}
			cd := &healthcode.ContactDesignation{ResidentID: person.ID, CaseID: c.ID, Venue: last.VenueName,
				LastExposure: ct.LastExposure, DesignatedBy: a.Name}
			if _, err := s.store.AddContactDesignation(r.Context(), cd); err != nil {
				if healthcode.ErrorCode(err) == healthcode.EINTERNAL {
					return err
				}
				d.Reason = healthcode.ErrorMessage(err)
				break
			}
			d = designation{Subject: sub, Result: "designated", ResidentID: person.ID, ID: cd.ID, Venue: last.VenueName, LastExposure: timeString(ct.LastExposure)}
		}
		seen[sub] = true
		out[i] = d
	}
	if len(notify) > 0 {
		ids, err := s.queueNotices(r, c, notify)
		if err != nil {
			return err
		}
		for k, i := range notifyAt {
			out[i].NoticeID = ids[notify[k].Issuer]
			out[i].Venue = lastVenue(notify[k])
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"case_id": c.ID, "designations": out})
	return nil
}

// lastVenue is the venue of the contact's latest exposure.
func lastVenue(ct healthcode.Contact) string {
	if len(ct.Exposures) == 0 {
		return ""
	}
	last := ct.Exposures[0]
	for _, e := range ct.Exposures {
		if latest(e).Equal(ct.LastExposure) {
			last = e
		}
	}
	return last.VenueName
}

func latest(e healthcode.Exposure) time.Time {
	if e.SourceAt.After(e.ContactAt) {
		return e.SourceAt
	}
	return e.ContactAt
}

// alreadyDesignated reports whether the resident is already a designated
// contact of the case with the same last exposure, so that designating
// twice (a retry, a double click) records nothing new.
func (s *Server) alreadyDesignated(ctx context.Context, residentID, caseID int64, last time.Time) (bool, error) {
	f, err := s.store.LoadFacts(ctx, residentID)
	if err != nil {
		return false, err
	}
	for _, cd := range f.Contacts {
		if cd.CaseID == caseID && cd.LastExposure.Equal(last) {
			return true, nil
		}
	}
	return false, nil
}
