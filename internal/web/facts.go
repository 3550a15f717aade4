package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"healthcode"
)

type visitJSON struct {
	Region string `json:"region"`
	Date   string `json:"date"`
}

type declarationRequest struct {
	Temperature     *float64    `json:"temperature"`
	Symptoms        []string    `json:"symptoms"`
	Visited         []visitJSON `json:"visited"`
	ContactWithCase *bool       `json:"contact_with_case"`
}

type declarationResponse struct {
	ID              int64       `json:"id"`
	ResidentID      int64       `json:"resident_id"`
	Temperature     float64     `json:"temperature,omitempty"`
	Symptoms        []string    `json:"symptoms"`
	Visited         []visitJSON `json:"visited"`
	ContactWithCase bool        `json:"contact_with_case"`
	DeclaredAt      string      `json:"declared_at"`
}

func (s *Server) declarationJSON(d *healthcode.Declaration) declarationResponse {
	out := declarationResponse{ID: d.ID, ResidentID: d.ResidentID, Temperature: d.Temperature,
		Symptoms: make([]string, len(d.Symptoms)), Visited: make([]visitJSON, len(d.Visited)),
		ContactWithCase: d.ContactWithCase, DeclaredAt: timeString(d.DeclaredAt)}
	for i, sy := range d.Symptoms {
		out.Symptoms[i] = string(sy)
	}
	for i, v := range d.Visited {
		out.Visited[i] = visitJSON{Region: v.Region, Date: dateString(v.Date, s.cfg.Location)}
	}
	return out
}

func (s *Server) declare(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req declarationRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	var p healthcode.Problems
	if req.ContactWithCase == nil {
		p.Add("contact_with_case", "is required (true or false)")
	}
	d := &healthcode.Declaration{ResidentID: subject.ID, DeclaredAt: now, DeclaredBy: a.ResidentID}
	if req.Temperature != nil {
		d.Temperature = *req.Temperature
	}
	if req.ContactWithCase != nil {
		d.ContactWithCase = *req.ContactWithCase
	}
	for _, sy := range req.Symptoms {
		d.Symptoms = append(d.Symptoms, healthcode.Symptom(sy))
	}
	for i, v := range req.Visited {
		d.Visited = append(d.Visited, healthcode.Visit{Region: v.Region,
			Date: parseDate(&p, fmt.Sprintf("visited[%d].date", i), v.Date, s.cfg.Location)})
	}
	p.Merge(d.Validate(now))
	if err := p.Err("invalid declaration"); err != nil {
		return err
	}
	st, err := s.store.AddDeclaration(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"declaration": s.declarationJSON(d), "status": statusJSON(subject.ID, st)})
	return nil
}

func (s *Server) listDeclarations(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	ds, err := s.store.ListDeclarations(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	out := make([]declarationResponse, len(ds))
	for i := range ds {
		out[i] = s.declarationJSON(&ds[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"declarations": out})
	return nil
}

// documentRef identifies a resident by identity document, as labs and
// tracers know them.
type documentRef struct {
	IDType   string `json:"id_type"`
	IDNumber string `json:"id_number"`
}

// findByDocument looks up the resident a lab or tracer names. An unknown
// document is a problem with the request; a failing store is an error.
func (s *Server) findByDocument(r *http.Request, d documentRef, p *healthcode.Problems) (*healthcode.Resident, error) {
	t := healthcode.IDType(d.IDType)
	if !t.Valid() {
		p.Add("id_type", "must be one of resident_id, passport, hk_macao_permit, taiwan_permit")
		return nil, nil
	}
	if d.IDNumber == "" {
		p.Add("id_number", "is required")
		return nil, nil
	}
	res, err := s.store.FindResidentByDocument(r.Context(), t, normalizeDoc(d.IDNumber))
	if healthcode.ErrorCode(err) == healthcode.ENOTFOUND {
		p.Add("id_number", "no resident is enrolled with this %s number", t)
		return nil, nil
	}
	return res, err
}

func normalizeDoc(s string) string {
	r := healthcode.Resident{IDNumber: s}
	r.Normalize()
	return r.IDNumber
}

type testResultRequest struct {
	documentRef
	Type        string `json:"type"`
	Result      string `json:"result"`
	SampledAt   string `json:"sampled_at"`
	ResultedAt  string `json:"resulted_at"`
	Institution string `json:"institution"`
}

func (s *Server) addTestResult(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req testResultRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	now := s.clock.Now()
	var p healthcode.Problems
	t := &healthcode.TestResult{Type: healthcode.TestType(req.Type), Result: healthcode.TestOutcome(req.Result),
		SampledAt: parseTime(&p, "sampled_at", req.SampledAt), ResultedAt: parseTime(&p, "resulted_at", req.ResultedAt),
		Institution: req.Institution, RecordedAt: now, RecordedBy: a.Name}
	p.Merge(t.Validate(now))
	res, err := s.findByDocument(r, req.documentRef, &p)
	if err != nil {
		return err
	}
	if err := p.Err("invalid test result"); err != nil {
		return err
	}
	t.ResidentID = res.ID
	st, err := s.store.AddTestResult(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "resident_id": res.ID, "status": statusJSON(res.ID, st)})
	return nil
}

type vaccinationRequest struct {
	documentRef
	Product     string `json:"product"`
	Dose        int    `json:"dose"`
	SeriesDoses int    `json:"series_doses"`
	Date        string `json:"date"`
	Institution string `json:"institution"`
}

func (s *Server) addVaccination(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req vaccinationRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	now := s.clock.Now()
	var p healthcode.Problems
	v := &healthcode.Vaccination{Product: req.Product, Dose: req.Dose, SeriesDoses: req.SeriesDoses,
		Date: parseDate(&p, "date", req.Date, s.cfg.Location), Institution: req.Institution, RecordedAt: now}
	if v.Institution == "" {
		v.Institution = a.Name
	}
	p.Merge(v.Validate(now))
	res, err := s.findByDocument(r, req.documentRef, &p)
	if err != nil {
		return err
	}
	if err := p.Err("invalid vaccination"); err != nil {
		return err
	}
	v.ResidentID = res.ID
	st, err := s.store.AddVaccination(r.Context(), v)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": v.ID, "resident_id": res.ID, "status": statusJSON(res.ID, st)})
	return nil
}

type caseRequest struct {
	documentRef
	ConfirmedAt string `json:"confirmed_at"`
	OnsetDate   string `json:"onset_date"`
	SampleDate  string `json:"sample_date"`
	Note        string `json:"note"`
}

type caseResponse struct {
	ID           int64  `json:"id"`
	ResidentID   int64  `json:"resident_id"`
	ConfirmedAt  string `json:"confirmed_at"`
	OnsetDate    string `json:"onset_date,omitempty"`
	SampleDate   string `json:"sample_date,omitempty"`
	DischargedAt string `json:"discharged_at,omitempty"`
	Note         string `json:"note,omitempty"`
}

func (s *Server) caseJSON(c *healthcode.Case) caseResponse {
	return caseResponse{ID: c.ID, ResidentID: c.ResidentID, ConfirmedAt: timeString(c.ConfirmedAt),
		OnsetDate: dateString(c.OnsetDate, s.cfg.Location), SampleDate: dateString(c.SampleDate, s.cfg.Location),
		DischargedAt: timeString(c.DischargedAt), Note: c.Note}
}

func (s *Server) createCase(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req caseRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	now := s.clock.Now()
	var p healthcode.Problems
	c := &healthcode.Case{ConfirmedAt: parseTime(&p, "confirmed_at", req.ConfirmedAt),
		OnsetDate: parseDate(&p, "onset_date", req.OnsetDate, s.cfg.Location), SampleDate: parseDate(&p, "sample_date", req.SampleDate, s.cfg.Location),
		Note: req.Note, RecordedBy: a.Name}
	if c.ConfirmedAt.IsZero() {
		c.ConfirmedAt = now
	}
	p.Merge(c.Validate(now))
	res, err := s.findByDocument(r, req.documentRef, &p)
	if err != nil {
		return err
	}
	if err := p.Err("invalid case"); err != nil {
		return err
	}
	c.ResidentID = res.ID
	st, err := s.store.CreateCase(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"case": s.caseJSON(c), "status": statusJSON(res.ID, st)})
	return nil
}

func caseID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, healthcode.Errorf(healthcode.EINVALID, "case id must be a positive number, not %q", r.PathValue("id"))
	}
	return id, nil
}

// getCase is a protected read: the tracer states a purpose, recorded in the
// audit log with the read.
func (s *Server) getCase(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	id, err := caseID(r)
	if err != nil {
		return err
	}
	acc, err := readAccess(r)
	if err != nil {
		return err
	}
	c, err := s.store.ReadCase(r.Context(), acc, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.caseJSON(c))
	return nil
}

type dischargeRequest struct {
	DischargedAt string `json:"discharged_at"`
}

func (s *Server) dischargeCase(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	id, err := caseID(r)
	if err != nil {
		return err
	}
	var req dischargeRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	now := s.clock.Now()
	var p healthcode.Problems
	at := parseTime(&p, "discharged_at", req.DischargedAt)
	if at.IsZero() {
		at = now
	} else if at.After(now.Add(5 * time.Minute)) {
		p.Add("discharged_at", "is in the future")
	}
	if err := p.Err("invalid discharge"); err != nil {
		return err
	}
	c, st, err := s.store.DischargeCase(r.Context(), id, at)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"case": s.caseJSON(c), "status": statusJSON(c.ResidentID, st)})
	return nil
}

type areaRequest struct {
	RegionPrefix string `json:"region_prefix"`
	Level        string `json:"level"`
	From         string `json:"from"`
	To           string `json:"to"`
}

type areaResponse struct {
	ID           int64  `json:"id"`
	RegionPrefix string `json:"region_prefix"`
	Level        string `json:"level"`
	From         string `json:"from"`
	To           string `json:"to,omitempty"`
}

func areaJSON(a *healthcode.AreaRisk) areaResponse {
	return areaResponse{ID: a.ID, RegionPrefix: a.Prefix, Level: string(a.Level), From: timeString(a.From), To: timeString(a.To)}
}

func (s *Server) addArea(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req areaRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	var p healthcode.Problems
	area := &healthcode.AreaRisk{Prefix: req.RegionPrefix, Level: healthcode.RiskLevel(req.Level),
		From: parseTime(&p, "from", req.From), To: parseTime(&p, "to", req.To), RecordedAt: s.clock.Now(), RecordedBy: a.Name}
	p.Merge(area.Validate())
	if err := p.Err("invalid area risk"); err != nil {
		return err
	}
	n, err := s.store.AddAreaRisk(r.Context(), area)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"area": areaJSON(area), "residents_reevaluated": n})
	return nil
}

func (s *Server) listAreas(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	areas, err := s.store.ListAreaRisks(r.Context())
	if err != nil {
		return err
	}
	out := make([]areaResponse, len(areas))
	for i := range areas {
		out[i] = areaJSON(&areas[i])
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, map[string]any{"areas": out})
	return nil
}
