package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"healthcode"
)

// The resident pages: sign in, register, the code screen, status and
// history, declare, dependents, scanning a place code, notifications and
// the paper code. Forms post to the page routes, which call the JSON API's
// handlers (callAPI) so that validation and effects are the API's.

// forID returns the dependent a page is about (?for=ID), 0 for oneself.
func forID(r *http.Request) int64 {
	id, _ := strconv.ParseInt(r.URL.Query().Get("for"), 10, 64)
	if id < 0 {
		return 0
	}
	return id
}

// pageSubject returns who a resident page is about: the caller or, with
// ?for=ID, one of their dependents. It sets the path value the API
// handlers read.
func (s *Server) pageSubject(r *http.Request, a *healthcode.Actor) (*healthcode.Resident, error) {
	if id := forID(r); id > 0 {
		r.SetPathValue("id", strconv.FormatInt(id, 10))
	}
	return s.subject(r, a)
}

// forQuery is "?for=ID" for a dependent, "" for oneself.
func forQuery(id int64) string {
	if id == 0 {
		return ""
	}
	return "?for=" + strconv.FormatInt(id, 10)
}

// localTime formats an instant in the region's time zone.
func (s *Server) localTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.cfg.Location).Format("2006-01-02 15:04")
}

type reasonView struct {
	Color   healthcode.Color
	Mark    string
	Message string
	Since   string
	Until   string
}

func (s *Server) reasonViews(l *catalog, rs []healthcode.Reason) []reasonView {
	out := make([]reasonView, len(rs))
	for i, r := range rs {
		msg := r.Message
		if l.ZH() {
			msg = r.MessageZH
		}
		out[i] = reasonView{Color: r.Color, Mark: r.Mark, Message: msg, Since: s.localTime(r.Since), Until: s.localTime(r.Until)}
	}
	return out
}

type person struct {
	ID         int64
	MaskedName string
	For        string // ?for=ID, or "" for oneself
}

type codeView struct {
	Person     person
	Payload    string
	Color      healthcode.Color
	Vaccinated bool
	ExpiresAt  string // RFC 3339
	API        string // where the page refreshes the code
	Lifetime   int    // seconds a code lives
	TimeZone   string // the region's, for the clock
	Reasons    []reasonView
	Family     []person // oneself and dependents, to switch between
}

// homePage is the code screen for a signed-in resident and the sign-in
// form for anyone else.
func (s *Server) homePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if a == nil || a.Role != healthcode.RoleResident {
		p := s.newPage(w, r, a, "resident", "code")
		return s.render(w, r, http.StatusOK, "signin", p)
	}
	subject, err := s.pageSubject(r, a)
	if err != nil {
		return err
	}
	ic, err := s.phoneCode(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	st, err := s.store.CurrentStatus(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	p := s.newPage(w, r, a, "resident", "code")
	v := codeView{Person: person{ID: subject.ID, MaskedName: healthcode.MaskName(subject.Name), For: forQuery(forID(r))},
		Payload: ic.payload, Color: ic.color, Vaccinated: ic.vaccinated, ExpiresAt: timeString(ic.expiresAt), API: "/api/v1/me/code",
		Lifetime: int(s.cfg.CodeLifetime / time.Second), TimeZone: s.cfg.Location.String()}
	if forID(r) > 0 {
		v.API = "/api/v1/residents/" + strconv.FormatInt(subject.ID, 10) + "/code"
	}
	for _, rv := range s.reasonViews(p.L, st.Reasons) {
		if rv.Color != "" {
			v.Reasons = append(v.Reasons, rv)
		}
	}
	if v.Family, err = s.family(r, a); err != nil {
		return err
	}
	p.D = v
	return s.render(w, r, http.StatusOK, "code", p)
}

// family lists the signed-in resident and their dependents.
func (s *Server) family(r *http.Request, a *healthcode.Actor) ([]person, error) {
	me, err := s.store.FindResidentByID(r.Context(), a.ResidentID)
	if err != nil {
		return nil, err
	}
	out := []person{{ID: me.ID, MaskedName: healthcode.MaskName(me.Name)}}
	deps, err := s.store.ListDependents(r.Context(), a.ResidentID)
	if err != nil {
		return nil, err
	}
	for _, d := range deps {
		out = append(out, person{ID: d.ID, MaskedName: healthcode.MaskName(d.Name), For: forQuery(d.ID)})
	}
	return out, nil
}

type formView struct {
	Form url.Values
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	err := s.callAPI(w, r, nil, s.login, loginRequest{Phone: r.PostForm.Get("phone"), Password: r.PostForm.Get("password")}, nil)
	if err != nil {
		p := s.newPage(w, r, nil, "resident", "code")
		p.Error = p.L.Err(err)
		if healthcode.ErrorCode(err) == healthcode.EUNAUTHORIZED {
			p.Error = p.L.T("signin.wrong")
		}
		p.D = formView{Form: url.Values{"phone": {r.PostForm.Get("phone")}}}
		return s.render(w, r, statusFor(healthcode.ErrorCode(err)), "signin", p)
	}
	return redirect(w, r, "/")
}

func (s *Server) signoutPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := s.callAPI(w, r, a, s.logout, nil, nil); err != nil {
		return err
	}
	return redirect(w, r, "/")
}

type registerView struct {
	Form      url.Values
	Dependent bool
	Family    []person
	IDTypes   []healthcode.IDType
}

var idTypes = []healthcode.IDType{healthcode.ResidentIDCard, healthcode.Passport, healthcode.HKMacaoPermit, healthcode.TaiwanPermit}

func enrollFromForm(f url.Values) enrollRequest {
	get := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	nat := strings.ToUpper(get("nationality"))
	if nat == "" {
		nat = "CHN"
	}
	return enrollRequest{Name: get("name"), Sex: get("sex"), BirthDate: get("birth_date"), Nationality: nat,
		IDType: get("id_type"), IDNumber: get("id_number"), Phone: get("phone"), Password: f.Get("password"),
		Region: get("region"), Address: get("address")}
}

func (s *Server) registerPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "resident", "register")
	v := registerView{Form: url.Values{}, IDTypes: idTypes}
	if r.Method == http.MethodGet {
		p.D = v
		return s.render(w, r, http.StatusOK, "register", p)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	req := enrollFromForm(r.PostForm)
	err := s.callAPI(w, r, nil, s.enroll, req, nil)
	if err == nil {
		err = s.callAPI(w, r, nil, s.login, loginRequest{Phone: req.Phone, Password: req.Password}, nil)
	}
	if err != nil {
		v.Form = r.PostForm
		v.Form.Del("password")
		p.Error = p.L.Err(err)
		p.D = v
		return s.render(w, r, statusFor(healthcode.ErrorCode(err)), "register", p)
	}
	return redirect(w, r, "/")
}

func (s *Server) familyPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "resident", "family")
	v := registerView{Form: url.Values{}, Dependent: true, IDTypes: idTypes}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
		req := enrollFromForm(r.PostForm)
		req.Password = ""
		if err := s.callAPI(w, r, a, s.enrollDependent, req, nil); err != nil {
			v.Form = r.PostForm
			p.Error = p.L.Err(err)
			status = statusFor(healthcode.ErrorCode(err))
		} else {
			return redirect(w, r, "/family")
		}
	}
	var err error
	if v.Family, err = s.family(r, a); err != nil {
		return err
	}
	p.D = v
	return s.render(w, r, status, "family", p)
}

type historyView struct {
	At      string
	Color   healthcode.Color
	Vacc    bool
	Cause   string
	Reasons []reasonView
}

type statusView struct {
	Person     person
	Color      healthcode.Color
	Vaccinated bool
	Reasons    []reasonView
	ValidUntil string
	RuleSet    string
	History    []historyView
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.pageSubject(r, a)
	if err != nil {
		return err
	}
	st, err := s.store.CurrentStatus(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	hist, err := s.store.StatusHistory(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	p := s.newPage(w, r, a, "resident", "status")
	v := statusView{Person: person{ID: subject.ID, MaskedName: healthcode.MaskName(subject.Name), For: forQuery(forID(r))},
		Color: st.Color, Vaccinated: st.Vaccinated, Reasons: s.reasonViews(p.L, st.Reasons), ValidUntil: s.localTime(st.ValidUntil),
		RuleSet: st.RuleSetVersion}
	for i := len(hist) - 1; i >= 0; i-- { // newest first
		h := hist[i]
		v.History = append(v.History, historyView{At: s.localTime(h.At), Color: h.Status.Color, Vacc: h.Status.Vaccinated,
			Cause: h.Cause, Reasons: s.reasonViews(p.L, h.Status.Reasons)})
	}
	p.D = v
	return s.render(w, r, http.StatusOK, "status", p)
}

type declareView struct {
	Person   person
	Symptoms []healthcode.Symptom
	Form     url.Values
	Today    string
}

func (s *Server) declarePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.pageSubject(r, a)
	if err != nil {
		return err
	}
	p := s.newPage(w, r, a, "resident", "declare")
	v := declareView{Person: person{ID: subject.ID, MaskedName: healthcode.MaskName(subject.Name), For: forQuery(forID(r))},
		Symptoms: healthcode.Symptoms, Form: url.Values{"temperature": {"36.5"}, "contact_with_case": {"false"}},
		Today: s.clock.Now().In(s.cfg.Location).Format("2006-01-02")}
	if r.Method == http.MethodGet {
		p.D = v
		return s.render(w, r, http.StatusOK, "declare", p)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	var req declarationRequest
	var problems healthcode.Problems
	if t := strings.TrimSpace(f.Get("temperature")); t != "" {
		if temp, err := strconv.ParseFloat(t, 64); err != nil {
			problems.Add("temperature", "%q is not a number", t)
		} else {
			req.Temperature = &temp
		}
	}
	req.Symptoms = f["symptom"]
	for i := range 3 {
		region, date := strings.TrimSpace(f.Get("visit_region_"+strconv.Itoa(i))), strings.TrimSpace(f.Get("visit_date_"+strconv.Itoa(i)))
		if region != "" || date != "" {
			req.Visited = append(req.Visited, visitJSON{Region: region, Date: date})
		}
	}
	contact := f.Get("contact_with_case") == "true"
	req.ContactWithCase = &contact
	err = problems.Err("invalid declaration")
	if err == nil {
		err = s.callAPI(w, r, a, s.declare, req, nil)
	}
	if err != nil {
		v.Form = f
		p.Error = p.L.Err(err)
		p.D = v
		return s.render(w, r, statusFor(healthcode.ErrorCode(err)), "declare", p)
	}
	return redirect(w, r, "/"+forQuery(forID(r)))
}

func (s *Server) scanPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "resident", "scan")
	return s.render(w, r, http.StatusOK, "scan", p)
}

type notificationView struct {
	At      string
	Message string
}

func (s *Server) notificationsPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.pageSubject(r, a)
	if err != nil {
		return err
	}
	var resp notificationsResponse
	if err := s.callAPI(w, r, a, s.getNotifications, nil, &resp); err != nil {
		return err
	}
	p := s.newPage(w, r, a, "resident", "notifications")
	var out []notificationView
	for i := len(resp.Notifications) - 1; i >= 0; i-- {
		n := resp.Notifications[i]
		msg := n.Message
		if p.L.ZH() {
			msg = n.MessageZH
		}
		at, _ := time.Parse(time.RFC3339, n.At)
		out = append(out, notificationView{At: s.localTime(at), Message: msg})
	}
	p.D = struct {
		Person        person
		Notifications []notificationView
	}{person{ID: subject.ID, MaskedName: healthcode.MaskName(subject.Name), For: forQuery(forID(r))}, out}
	return s.render(w, r, http.StatusOK, "notifications", p)
}

type paperView struct {
	Person    person
	Has       bool
	IssuedAt  string
	ExpiresAt string
	PNG, PDF  string
}

func (s *Server) paperPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.pageSubject(r, a)
	if err != nil {
		return err
	}
	if r.Method == http.MethodPost {
		if err := s.callAPI(w, r, a, s.issuePaperCode, nil, nil); err != nil {
			return err
		}
		return redirect(w, r, "/paper"+forQuery(forID(r)))
	}
	p := s.newPage(w, r, a, "resident", "paper")
	base := "/api/v1/me/paper-code"
	if forID(r) > 0 {
		base = "/api/v1/residents/" + strconv.FormatInt(subject.ID, 10) + "/paper-code"
	}
	v := paperView{Person: person{ID: subject.ID, MaskedName: healthcode.MaskName(subject.Name), For: forQuery(forID(r))},
		PNG: base + ".png", PDF: base + ".pdf"}
	pc, err := s.store.FindPaperCode(r.Context(), subject.ID)
	switch {
	case err == nil:
		v.Has, v.IssuedAt, v.ExpiresAt = true, s.localTime(pc.IssuedAt), s.localTime(pc.ExpiresAt)
	case healthcode.ErrorCode(err) != healthcode.ENOTFOUND:
		return err
	}
	p.D = v
	return s.render(w, r, http.StatusOK, "paper", p)
}
