package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"healthcode"
)

// The lab pages (/admin/test-results, /admin/vaccinations): a lab clerk,
// signed in with a lab token, reports a test result or a vaccination for a
// resident named by identity document. The forms post to the same handlers
// as the JSON API (POST /api/v1/test-results, /api/v1/vaccinations), so
// they validate alike; each field's problem is shown next to the field, in
// the page's language. The confirmation repeats what was recorded, and
// nothing of the resident's that the clerk did not type: a lab writes
// facts, it does not read records.

// labView is a lab form, its problems and, after a post, what was recorded.
type labView struct {
	Form      url.Values
	Errs      map[string]string // a problem per field, in the page's language
	IDTypes   []healthcode.IDType
	TestTypes []string
	Done      *labRecord
}

// labRecord is the confirmation of a recorded fact: label keys and values.
type labRecord struct {
	ID    int64
	Lines []labLine
}

type labLine struct {
	Label string // a catalogue key
	Value string
	Key   bool // the value is a catalogue key too
}

// labProblems merges the problems an API handler found into those the page
// found itself (one per field); any other error is returned.
func labProblems(p *healthcode.Problems, err error) error {
	if err == nil || healthcode.ErrorCode(err) != healthcode.EINVALID {
		return err
	}
	p.Merge(err)
	if len(*p) == 0 { // an EINVALID without fields, e.g. an unreadable form
		p.Add("request", "%v", err)
	}
	return nil
}

// maskDocument shows the ends of a document number a clerk typed, for the
// confirmation: enough to check, not all of it.
func maskDocument(n string) string {
	r := []rune(strings.TrimSpace(n))
	keep := 4
	if len(r) <= 8 {
		keep = len(r) / 4
	}
	return string(r[:keep]) + strings.Repeat("*", len(r)-2*keep) + string(r[len(r)-keep:])
}

func (s *Server) testResultsPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "test_results")
	now := s.clock.Now().In(s.cfg.Location).Format("2006-01-02T15:04")
	v := labView{Form: url.Values{"sampled_at": {now}, "resulted_at": {now}, "institution": {a.Name}, "type": {"pcr"}}, IDTypes: idTypes,
		TestTypes: []string{string(healthcode.PCR), string(healthcode.Antigen), string(healthcode.Antibody)}}
	if r.Method == http.MethodGet {
		p.D = v
		return s.render(w, r, http.StatusOK, "lab_test", p)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	var problems healthcode.Problems
	req := testResultRequest{documentRef: documentRef{IDType: f.Get("id_type"), IDNumber: strings.TrimSpace(f.Get("id_number"))},
		Type: f.Get("type"), Result: f.Get("result"), Institution: strings.TrimSpace(f.Get("institution")),
		SampledAt: s.localInput(&problems, "sampled_at", f.Get("sampled_at")), ResultedAt: s.localInput(&problems, "resulted_at", f.Get("resulted_at"))}
	var out struct {
		ID int64 `json:"id"`
	}
	if err := labProblems(&problems, s.callAPI(w, r, a, s.addTestResult, req, &out)); err != nil {
		return err
	}
	v.Form = f
	if err := problems.Err("invalid test result"); err != nil {
		p.Error, v.Errs = p.L.Err(err), p.L.FieldErrs(err)
		p.D = v
		return s.render(w, r, http.StatusBadRequest, "lab_test", p)
	}
	v.Done = &labRecord{ID: out.ID, Lines: []labLine{
		{"field.id_type", "idtype." + req.IDType, true},
		{"field.id_number", maskDocument(req.IDNumber), false},
		{"field.test_type", "ttype." + req.Type, true},
		{"field.result", "tresult." + req.Result, true},
		{"field.sampled_at", strings.Replace(f.Get("sampled_at"), "T", " ", 1), false},
		{"field.resulted_at", strings.Replace(f.Get("resulted_at"), "T", " ", 1), false},
		{"field.institution", req.Institution, false},
	}}
	// A fresh form for the next sample, keeping what a clerk repeats.
	v.Form = url.Values{"sampled_at": {f.Get("sampled_at")}, "resulted_at": {f.Get("resulted_at")}, "institution": {req.Institution},
		"type": {req.Type}, "id_type": {req.IDType}}
	p.D = v
	return s.render(w, r, http.StatusCreated, "lab_test", p)
}

func (s *Server) vaccinationsPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "vaccinations")
	today := s.clock.Now().In(s.cfg.Location).Format("2006-01-02")
	v := labView{Form: url.Values{"date": {today}, "institution": {a.Name}, "dose": {"1"}, "series_doses": {"2"}}, IDTypes: idTypes}
	if r.Method == http.MethodGet {
		p.D = v
		return s.render(w, r, http.StatusOK, "lab_vaccination", p)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	var problems healthcode.Problems
	number := func(field string) int {
		raw := strings.TrimSpace(f.Get(field))
		n, err := strconv.Atoi(raw)
		if err != nil && raw != "" {
			problems.Add(field, "%q is not a number", raw)
		}
		return n
	}
	req := vaccinationRequest{documentRef: documentRef{IDType: f.Get("id_type"), IDNumber: strings.TrimSpace(f.Get("id_number"))},
		Product: strings.TrimSpace(f.Get("product")), Dose: number("dose"), SeriesDoses: number("series_doses"),
		Date: strings.TrimSpace(f.Get("date")), Institution: strings.TrimSpace(f.Get("institution"))}
	var out struct {
		ID int64 `json:"id"`
	}
	if err := labProblems(&problems, s.callAPI(w, r, a, s.addVaccination, req, &out)); err != nil {
		return err
	}
	v.Form = f
	if err := problems.Err("invalid vaccination"); err != nil {
		p.Error, v.Errs = p.L.Err(err), p.L.FieldErrs(err)
		p.D = v
		return s.render(w, r, http.StatusBadRequest, "lab_vaccination", p)
	}
	institution := req.Institution
	if institution == "" {
		institution = a.Name
	}
	v.Done = &labRecord{ID: out.ID, Lines: []labLine{
		{"field.id_type", "idtype." + req.IDType, true},
		{"field.id_number", maskDocument(req.IDNumber), false},
		{"field.product", req.Product, false},
		{"field.dose", strconv.Itoa(req.Dose) + " / " + strconv.Itoa(req.SeriesDoses), false},
		{"field.vaccination_date", req.Date, false},
		{"field.institution", institution, false},
	}}
	v.Form = url.Values{"date": {req.Date}, "institution": {req.Institution}, "product": {req.Product}, "id_type": {req.IDType},
		"dose": {f.Get("dose")}, "series_doses": {f.Get("series_doses")}}
	p.D = v
	return s.render(w, r, http.StatusCreated, "lab_vaccination", p)
}
