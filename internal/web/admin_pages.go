package web

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/paperpdf"
	"healthcode/internal/secure"
)

// The authority pages (/admin): an official signs in with an API token,
// which the sign-in form puts in the HttpOnly session cookie, so page
// scripts never see it. Tracers and admins get the dashboard, lookup,
// cases, tracing, areas and paper codes; venue managers get their venues.

// tokenCookieLife is how long a sign-in with a token lasts in a browser:
// a working day for officials, a season for a checkpoint device.
const (
	officialCookieLife   = 12 * time.Hour
	checkpointCookieLife = 90 * 24 * time.Hour
)

// tokenSignin checks a token typed into a sign-in form and puts it in the
// session cookie. want limits the roles accepted (none: any).
func (s *Server) tokenSignin(w http.ResponseWriter, r *http.Request, life time.Duration, want ...healthcode.Role) (*healthcode.Actor, error) {
	if err := parseForm(w, r); err != nil {
		return nil, err
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	if secret == "" {
		return nil, healthcode.Errorf(healthcode.EINVALID, "token is required")
	}
	if !strings.HasPrefix(secret, tokenPrefix) {
		return nil, healthcode.Errorf(healthcode.EUNAUTHORIZED, "an API token starts with %s", tokenPrefix)
	}
	tok, err := s.store.FindAPIToken(r.Context(), secure.HashSecret(secret))
	if err != nil {
		return nil, err
	}
	if len(want) > 0 {
		ok := false
		for _, role := range want {
			ok = ok || tok.Role == role
		}
		if !ok {
			return nil, healthcode.Errorf(healthcode.EFORBIDDEN, "a %s token cannot sign in here", tok.Role)
		}
	}
	s.setSessionCookie(w, secret, s.clock.Now().Add(life))
	return &healthcode.Actor{Role: tok.Role, TokenID: tok.ID, Name: tok.Name}, nil
}

func (s *Server) adminSignin(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	if r.Method == http.MethodGet {
		return s.render(w, r, http.StatusOK, "admin_signin", s.newPage(w, r, nil, "admin", ""))
	}
	a, err := s.tokenSignin(w, r, officialCookieLife)
	if err != nil {
		p := s.newPage(w, r, nil, "admin", "")
		p.Error = p.L.Err(err)
		return s.render(w, r, statusFor(healthcode.ErrorCode(err)), "admin_signin", p)
	}
	switch a.Role {
	case healthcode.RoleVenue:
		return redirect(w, r, "/admin/venues")
	case healthcode.RoleCheckpoint:
		return redirect(w, r, "/checkpoint")
	case healthcode.RoleReviewer:
		return redirect(w, r, "/admin/appeals")
	case healthcode.RoleAuditor:
		return redirect(w, r, "/admin/audit")
	case healthcode.RoleLab:
		return redirect(w, r, "/admin/test-results")
	}
	return redirect(w, r, "/admin")
}

func (s *Server) adminSignout(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	s.clearSessionCookie(w)
	to := "/admin/signin"
	if r.URL.Query().Get("to") == "checkpoint" {
		to = "/checkpoint"
	}
	return redirect(w, r, to)
}

// --- dashboard -------------------------------------------------------------

type dashboardView struct {
	D          *healthcode.Dashboard
	Overdue    int // open appeals past their deadline
	Colors     []colorCount
	CasesChart template.HTML
	CodesChart template.HTML
	Days       int
}

type colorCount struct {
	Color healthcode.Color
	Count int
	Pct   int
}

func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "dashboard")
	if s.dashboard == nil {
		return healthcode.Errorf(healthcode.EUNAVAILABLE, "this server has no dashboard counts")
	}
	const days = 28
	d, err := s.dashboard.Dashboard(r.Context(), days, s.cfg.Location)
	if err != nil {
		return err
	}
	v := dashboardView{D: d, Days: days}
	open, err := s.store.AppealQueue(r.Context(), healthcode.AppealOpen)
	if err != nil {
		return err
	}
	for i := range open {
		if open[i].Overdue(s.clock.Now()) {
			v.Overdue++
		}
	}
	total := 0
	for _, n := range d.ByColor {
		total += n
	}
	for _, c := range []healthcode.Color{healthcode.Green, healthcode.Yellow, healthcode.Red} {
		pct := 0
		if total > 0 {
			pct = int(math.Round(100 * float64(d.ByColor[c]) / float64(total)))
		}
		v.Colors = append(v.Colors, colorCount{c, d.ByColor[c], pct})
	}
	v.CasesChart = barChart(p.L, d.Days, []series{
		{p.L.T("dash.new_cases"), "#c62828", func(x healthcode.DashboardDay) int { return x.NewCases }},
		{p.L.T("dash.discharged"), "#1a7f37", func(x healthcode.DashboardDay) int { return x.Discharged }},
		{p.L.T("dash.designations"), "#6b4fbb", func(x healthcode.DashboardDay) int { return x.Designations }},
	})
	v.CodesChart = barChart(p.L, d.Days, []series{
		{p.L.T("dash.turned_yellow"), "#b08400", func(x healthcode.DashboardDay) int { return x.TurnedYellow }},
		{p.L.T("dash.turned_red"), "#c62828", func(x healthcode.DashboardDay) int { return x.TurnedRed }},
	})
	p.D = v
	return s.render(w, r, http.StatusOK, "dashboard", p)
}

type series struct {
	name  string
	color string
	value func(healthcode.DashboardDay) int
}

// barChart draws grouped daily bars as inline SVG, with presentation
// attributes only (the page's CSP allows no inline style).
func barChart(l *catalog, days []healthcode.DashboardDay, ss []series) template.HTML {
	const w, h, left, bottom, top = 640.0, 220.0, 34.0, 28.0, 26.0
	maxV := 4 // a multiple of the four grid steps, so that each is a whole number
	for _, d := range days {
		for _, s := range ss {
			maxV = max(maxV, (s.value(d)+3)/4*4)
		}
	}
	step := (w - left - 6) / float64(len(days))
	bw := step * 0.8 / float64(len(ss))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s">`, w, h, template.HTMLEscapeString(l.T("dash.chart_label")))
	plotH := h - bottom - top
	for i := 0; i <= 4; i++ { // grid lines with values
		y := top + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, w-4, y, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="11" text-anchor="end" fill="#333">%d</text>`, left-4, y+4, maxV*i/4)
	}
	for i, d := range days {
		x0 := left + float64(i)*step + step*0.1
		for j, s := range ss {
			v := s.value(d)
			bh := plotH * float64(v) / float64(maxV)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				x0+float64(j)*bw, top+plotH-bh, bw, bh, s.color, d.Day.Format("01-02"), template.HTMLEscapeString(s.name), v)
		}
		if i%7 == 0 || i == len(days)-1 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="middle" fill="#333">%s</text>`, x0+step*0.4, h-10, d.Day.Format("01-02"))
		}
	}
	x := left
	for _, s := range ss { // legend
		fmt.Fprintf(&b, `<rect x="%g" y="6" width="12" height="12" fill="%s"/><text x="%g" y="16" font-size="12" fill="#111">%s</text>`,
			x, s.color, x+16, template.HTMLEscapeString(s.name))
		x += 24 + 7*float64(len([]rune(s.name)))
		if l.ZH() {
			x += 6 * float64(len([]rune(s.name)))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// --- resident lookup -------------------------------------------------------

type lookupView struct {
	Form    url.Values
	IDTypes []healthcode.IDType
	Found   *lookupResult
}

type lookupResult struct {
	Name, MaskedName, Sex, BirthDate, Region, IDType, IDNumber string
	Color                                                      healthcode.Color
	Vaccinated                                                 bool
	Reasons                                                    []reasonView
	History                                                    []historyView
	Purpose                                                    string
}

// lookupPage shows a resident's status to an official who names them by
// document and states why. The lookup and its purpose are logged.
func (s *Server) lookupPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "lookup")
	v := lookupView{Form: url.Values{}, IDTypes: idTypes}
	if r.Method == http.MethodGet {
		p.D = v
		return s.render(w, r, http.StatusOK, "lookup", p)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	v.Form = r.PostForm
	purpose := strings.TrimSpace(r.PostForm.Get("purpose"))
	var problems healthcode.Problems
	if n := len([]rune(purpose)); n < 5 || n > 300 {
		problems.Add("purpose", "say why you look this resident up (5 to 300 characters)")
	}
	res, err := s.findByDocument(r, documentRef{IDType: r.PostForm.Get("id_type"), IDNumber: r.PostForm.Get("id_number")}, &problems)
	if err != nil {
		return err
	}
	if err := problems.Err("invalid lookup"); err != nil {
		p.Error = p.L.Err(err)
		p.D = v
		return s.render(w, r, http.StatusBadRequest, "lookup", p)
	}
	// Recorded in the audit log and the resident's access log before
	// anything of theirs is shown.
	if res, err = s.store.ReadResident(r.Context(), healthcode.Access{Actor: *a, Purpose: purpose}, res.ID); err != nil {
		return err
	}
	st, err := s.store.CurrentStatus(r.Context(), res.ID)
	if err != nil {
		return err
	}
	hist, err := s.store.StatusHistory(r.Context(), res.ID)
	if err != nil {
		return err
	}
	f := &lookupResult{Name: res.Name, MaskedName: healthcode.MaskName(res.Name), Sex: string(res.Sex), BirthDate: res.BirthDate.Format("2006-01-02"),
		Region: res.Region, IDType: string(res.IDType), IDNumber: res.IDNumber, Color: st.Color, Vaccinated: st.Vaccinated,
		Reasons: s.reasonViews(p.L, st.Reasons), Purpose: purpose}
	for i := len(hist) - 1; i >= 0 && len(f.History) < 20; i-- {
		h := hist[i]
		f.History = append(f.History, historyView{At: s.localTime(h.At), Color: h.Status.Color, Vacc: h.Status.Vaccinated,
			Cause: h.Cause, Reasons: s.reasonViews(p.L, h.Status.Reasons)})
	}
	v.Found = f
	p.D = v
	return s.render(w, r, http.StatusOK, "lookup", p)
}

// --- cases and tracing -----------------------------------------------------

func (s *Server) casesPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "cases")
	v := lookupView{Form: url.Values{}, IDTypes: idTypes}
	if r.Method == http.MethodGet {
		if id := r.URL.Query().Get("open"); id != "" {
			return redirect(w, r, "/admin/cases/"+url.PathEscape(strings.TrimSpace(id)))
		}
		p.D = v
		return s.render(w, r, http.StatusOK, "cases", p)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	req := caseRequest{documentRef: documentRef{IDType: f.Get("id_type"), IDNumber: f.Get("id_number")},
		OnsetDate: f.Get("onset_date"), SampleDate: f.Get("sample_date"), Note: strings.TrimSpace(f.Get("note"))}
	var out struct {
		Case caseResponse `json:"case"`
	}
	if err := s.callAPI(w, r, a, s.createCase, req, &out); err != nil {
		v.Form = f
		p.Error = p.L.Err(err)
		p.D = v
		return s.render(w, r, statusFor(healthcode.ErrorCode(err)), "cases", p)
	}
	return redirect(w, r, fmt.Sprintf("/admin/cases/%d", out.Case.ID))
}

type caseView struct {
	ID          int64
	MaskedName  string
	ConfirmedAt string
	OnsetDate   string
	SampleDate  string
	Discharged  string
	Note        string
	From, To    string
}

func (s *Server) caseView(r *http.Request, a *healthcode.Actor) (*caseView, error) {
	id, err := caseID(r)
	if err != nil {
		return nil, err
	}
	// Opening a case is a read of its resident's health data: recorded.
	c, err := s.store.ReadCase(r.Context(), healthcode.Access{Actor: *a, Purpose: "case page: follow-up of the case"}, id)
	if err != nil {
		return nil, err
	}
	res, err := s.store.FindResidentByID(r.Context(), c.ResidentID)
	if err != nil {
		return nil, err
	}
	from, to := healthcode.InfectiousWindow(c)
	return &caseView{ID: c.ID, MaskedName: healthcode.MaskName(res.Name), ConfirmedAt: s.localTime(c.ConfirmedAt),
		OnsetDate: dateString(c.OnsetDate, s.cfg.Location), SampleDate: dateString(c.SampleDate, s.cfg.Location),
		Discharged: s.localTime(c.DischargedAt), Note: c.Note, From: s.localTime(from), To: s.localTime(to)}, nil
}

func (s *Server) casePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	cv, err := s.caseView(r, a)
	if err != nil {
		return err
	}
	p := s.newPage(w, r, a, "admin", "cases")
	p.D = struct{ Case *caseView }{cv}
	return s.render(w, r, http.StatusOK, "case", p)
}

func (s *Server) dischargePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := s.callAPI(w, r, a, s.dischargeCase, nil, nil); err != nil {
		return err
	}
	return redirect(w, r, "/admin/cases/"+r.PathValue("id"))
}

// traceForm reads the trace options a page posts.
func traceForm(f url.Values) traceRequest {
	depth, _ := strconv.Atoi(f.Get("depth"))
	minutes, _ := strconv.Atoi(f.Get("proximity_minutes"))
	return traceRequest{Depth: depth, ProximityMinutes: minutes}
}

type contactView struct {
	Subject      string
	Issuer       string
	Degree       int
	LastExposure string
	Venues       string
	Exposures    int
}

type traceView struct {
	Case         *caseView
	Depth        int
	Proximity    int
	Purpose      string
	Scanned      int
	Contacts     []contactView
	Foreign      []contactView
	Graph        template.HTML
	Designations []designation
}

func (s *Server) contactViews(cs []healthcode.Contact) []contactView {
	out := make([]contactView, len(cs))
	for i, c := range cs {
		var venues []string
		seen := map[string]bool{}
		for _, e := range c.Exposures {
			if !seen[e.VenueName] {
				seen[e.VenueName] = true
				venues = append(venues, e.VenueName)
			}
		}
		out[i] = contactView{Subject: c.Subject, Issuer: c.Issuer, Degree: c.Degree, LastExposure: s.localTime(c.LastExposure),
			Venues: strings.Join(venues, ", "), Exposures: len(c.Exposures)}
	}
	return out
}

func (s *Server) tracePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	cv, err := s.caseView(r, a)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	req := traceForm(r.PostForm)
	r, err = withFormPurpose(r, a)
	if err != nil {
		return err
	}
	var out traceResponse
	if err := s.callAPI(w, r, a, s.trace, req, &out); err != nil {
		return err
	}
	p := s.newPage(w, r, a, "admin", "cases")
	v := traceView{Case: cv, Depth: req.Depth, Proximity: req.ProximityMinutes, Purpose: r.PostForm.Get("purpose"), Scanned: out.CheckInsScanned,
		Contacts: s.contactViews(out.Contacts), Foreign: s.contactViews(out.Foreign), Graph: contactGraph(p.L, out.Subject, out.Contacts)}
	p.D = v
	return s.render(w, r, http.StatusOK, "trace", p)
}

func (s *Server) designatePage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	cv, err := s.caseView(r, a)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	req := designateRequest{traceRequest: traceForm(r.PostForm), Subjects: r.PostForm["subject"]}
	r, err = withFormPurpose(r, a)
	if err != nil {
		return err
	}
	var out struct {
		Designations []designation `json:"designations"`
	}
	if err := s.callAPI(w, r, a, s.designate, req, &out); err != nil {
		return err
	}
	p := s.newPage(w, r, a, "admin", "cases")
	for i, d := range out.Designations { // why one was not designated, in the page's language
		out.Designations[i].Reason = p.L.errText(d.Reason, nil, d.Reason)
	}
	p.Notice = p.L.T("trace.designated")
	p.D = traceView{Case: cv, Designations: out.Designations}
	return s.render(w, r, http.StatusOK, "trace", p)
}

// contactGraph draws the case in the middle, first-degree contacts on a
// ring around it and second-degree contacts on an outer ring, each joined
// to whom they were exposed to.
func contactGraph(l *catalog, caseSubject string, cs []healthcode.Contact) template.HTML {
	const c = 260.0
	pos := map[string][2]float64{caseSubject: {c, c}}
	var first, second []healthcode.Contact
	for _, ct := range cs {
		if ct.Degree <= 1 {
			first = append(first, ct)
		} else {
			second = append(second, ct)
		}
	}
	place := func(list []healthcode.Contact, radius float64) {
		for i, ct := range list {
			angle := 2*math.Pi*float64(i)/float64(len(list)) - math.Pi/2
			pos[ct.Subject] = [2]float64{c + radius*math.Cos(angle), c + radius*math.Sin(angle)}
		}
	}
	r1 := 130.0
	if len(second) == 0 {
		r1 = 90 + 12*math.Min(float64(len(first)), 10)
	}
	place(first, r1)
	place(second, r1+95)
	// The picture is cut to the nodes, with room for their labels.
	minX, minY, maxX, maxY := c, c, c, c
	for _, p := range pos {
		minX, minY, maxX, maxY = math.Min(minX, p[0]), math.Min(minY, p[1]), math.Max(maxX, p[0]), math.Max(maxY, p[1])
	}
	const pad, least = 40.0, 360.0
	w, h := math.Max(maxX-minX+2*pad, least), math.Max(maxY-minY+2*pad+10, least)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="graph" viewBox="%.0f %.0f %.0f %.0f" role="img" aria-label="%s">`, (minX+maxX)/2-w/2, (minY+maxY)/2-h/2, w, h,
		template.HTMLEscapeString(l.T("trace.graph")))
	for _, ct := range cs {
		to := pos[ct.Subject]
		sources := map[string]bool{}
		for _, e := range ct.Exposures {
			sources[e.Source] = true
		}
		for src := range sources {
			from, ok := pos[src]
			if !ok {
				from = pos[caseSubject]
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-width="1.5"/>`, from[0], from[1], to[0], to[1])
		}
	}
	node := func(subject, fill, label string) {
		p := pos[subject]
		fmt.Fprintf(&b, `<g><title>%s</title><circle cx="%.1f" cy="%.1f" r="16" fill="%s" stroke="#111"/>`+
			`<text x="%.1f" y="%.1f" font-size="13" text-anchor="middle" fill="#111">%s</text></g>`,
			template.HTMLEscapeString(subject), p[0], p[1], fill, p[0], p[1]+32, template.HTMLEscapeString(label))
	}
	node(caseSubject, "#c62828", l.T("trace.case"))
	for _, ct := range first {
		node(ct.Subject, "#f2c200", ct.Subject[:min(4, len(ct.Subject))])
	}
	for _, ct := range second {
		node(ct.Subject, "#ffe98a", ct.Subject[:min(4, len(ct.Subject))])
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// --- areas -----------------------------------------------------------------

type areaView struct {
	Prefix, Level, From, To string
}

// localInput reads a datetime-local form value in the region's time zone
// as RFC 3339; "" stays "".
func (s *Server) localInput(p *healthcode.Problems, field, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	t, err := time.ParseInLocation("2006-01-02T15:04", v, s.cfg.Location)
	if err != nil {
		p.Add(field, "%q is not a date and time", v)
		return ""
	}
	return t.Format(time.RFC3339)
}

func (s *Server) areasPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "areas")
	status := http.StatusOK
	form := url.Values{"from": {s.clock.Now().In(s.cfg.Location).Format("2006-01-02T15:04")}}
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
		f := r.PostForm
		var problems healthcode.Problems
		req := areaRequest{RegionPrefix: strings.TrimSpace(f.Get("region_prefix")), Level: f.Get("level"),
			From: s.localInput(&problems, "from", f.Get("from")), To: s.localInput(&problems, "to", f.Get("to"))}
		err := problems.Err("invalid area risk")
		if err == nil {
			err = s.callAPI(w, r, a, s.addArea, req, nil)
		}
		if err == nil {
			return redirect(w, r, "/admin/areas")
		}
		p.Error, status, form = p.L.Err(err), statusFor(healthcode.ErrorCode(err)), f
	}
	areas, err := s.store.ListAreaRisks(r.Context())
	if err != nil {
		return err
	}
	var out []areaView
	for i := len(areas) - 1; i >= 0; i-- {
		ar := areas[i]
		out = append(out, areaView{Prefix: ar.Prefix, Level: string(ar.Level), From: s.localTime(ar.From), To: s.localTime(ar.To)})
	}
	p.D = struct {
		Areas []areaView
		Form  url.Values
	}{out, form}
	return s.render(w, r, status, "areas", p)
}

// --- venues ----------------------------------------------------------------

type venueView struct {
	ID                      int64
	Name, Type, Address     string
	Region, Policy          string
	Hours                   int
	PlaceCode               string
	NewToken, NewTokenName  string
	PolicyKinds, VenueTypes []string
}

var policyKinds = []string{string(healthcode.PolicyGreen), string(healthcode.PolicyGreenAndTest), string(healthcode.PolicyGreenVaccinated)}

func venueTypes() []string {
	out := make([]string, len(healthcode.VenueTypes))
	for i, t := range healthcode.VenueTypes {
		out[i] = string(t)
	}
	return out
}

func (s *Server) venuesPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "venues")
	status := http.StatusOK
	form := url.Values{"region": {s.cfg.Region}, "hours": {"48"}}
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
		f := r.PostForm
		hours, _ := strconv.Atoi(f.Get("hours"))
		pol := healthcode.Policy{Kind: healthcode.PolicyKind(f.Get("policy"))}
		if pol.Kind == healthcode.PolicyGreenAndTest {
			pol.Hours = hours
		}
		req := venueRequest{Name: f.Get("name"), Type: f.Get("type"), Region: strings.TrimSpace(f.Get("region")), Address: f.Get("address"), Policy: pol}
		if err := s.callAPI(w, r, a, s.createVenue, req, nil); err == nil {
			return redirect(w, r, "/admin/venues")
		} else {
			p.Error, status, form = p.L.Err(err), statusFor(healthcode.ErrorCode(err)), f
		}
	}
	vs, err := s.store.ListVenues(r.Context(), a.TokenID)
	if err != nil {
		return err
	}
	var out []venueView
	for _, v := range vs {
		out = append(out, venueView{ID: v.ID, Name: v.Name, Type: string(v.Type), Address: v.Address, Region: v.Region,
			Policy: string(v.Policy.Kind), Hours: v.Policy.Hours, PlaceCode: s.placeCodeURL(v.ID), PolicyKinds: policyKinds})
	}
	p.D = struct {
		Venues      []venueView
		Form        url.Values
		PolicyKinds []string
		VenueTypes  []string
	}{out, form, policyKinds, venueTypes()}
	return s.render(w, r, status, "venues", p)
}

func (s *Server) venuePolicyPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	hours, _ := strconv.Atoi(r.PostForm.Get("hours"))
	pol := healthcode.Policy{Kind: healthcode.PolicyKind(r.PostForm.Get("policy"))}
	if pol.Kind == healthcode.PolicyGreenAndTest {
		pol.Hours = hours
	}
	if err := s.callAPI(w, r, a, s.setVenuePolicy, pol, nil); err != nil {
		return err
	}
	return redirect(w, r, "/admin/venues")
}

func (s *Server) venueTokenPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	v, err := s.ownVenue(r, a)
	if err != nil {
		return err
	}
	var out struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	}
	if err := s.callAPI(w, r, a, s.createCheckpointToken, checkpointTokenRequest{Name: r.PostForm.Get("name")}, &out); err != nil {
		return err
	}
	p := s.newPage(w, r, a, "admin", "venues")
	p.D = venueView{ID: v.ID, Name: v.Name, NewToken: out.Token, NewTokenName: out.Name}
	return s.render(w, r, http.StatusCreated, "venue_token", p)
}

func (s *Server) venuePrintPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	v, err := s.ownVenue(r, a)
	if err != nil {
		return err
	}
	svg, err := code.RenderSVG(s.placeCodeURL(v.ID), "")
	if err != nil {
		return err
	}
	p := s.newPage(w, r, a, "admin", "venues")
	p.Title = v.Name
	p.D = struct {
		Name, Address, Policy string
		Hours                 int
		SVG                   template.HTML
	}{v.Name, v.Address, string(v.Policy.Kind), v.Policy.Hours, template.HTML(svg)}
	return s.render(w, r, http.StatusOK, "venue_print", p)
}

// --- paper codes by officials ----------------------------------------------

// paperCodesPage issues paper codes for residents named by document, one
// per line ("TYPE NUMBER" or just a resident-ID number), and prints them.
func (s *Server) paperCodesPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "paper")
	if r.Method == http.MethodGet {
		p.D = formView{Form: url.Values{}}
		return s.render(w, r, http.StatusOK, "paper_codes", p)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	var refs []documentRef
	var problems healthcode.Problems
	for i, line := range strings.Split(r.PostForm.Get("documents"), "\n") {
		fields := strings.Fields(line)
		switch len(fields) {
		case 0:
			continue
		case 1:
			refs = append(refs, documentRef{IDType: string(healthcode.ResidentIDCard), IDNumber: fields[0]})
		case 2:
			refs = append(refs, documentRef{IDType: fields[0], IDNumber: fields[1]})
		default:
			problems.Add("documents", "line %d: write TYPE NUMBER or just a resident ID number", i+1)
		}
	}
	switch {
	case len(refs) == 0 && len(problems) == 0:
		problems.Add("documents", "name at least one resident")
	case len(refs) > 200:
		problems.Add("documents", "at most 200 residents at once")
	}
	// Check every document before issuing any code, so a typo does not
	// leave half a batch revoked and reissued.
	var residents []*healthcode.Resident
	for i, ref := range refs {
		var pp healthcode.Problems
		res, err := s.findByDocument(r, ref, &pp)
		if err != nil {
			return err
		}
		for _, fe := range pp {
			problems.Add("documents", "line %d: %s %s", i+1, fe.Field, message(fe))
		}
		residents = append(residents, res)
	}
	if err := problems.Err("invalid paper-code batch"); err != nil {
		p.Error = p.L.Err(err) // every line's problem
		p.D = formView{Form: r.PostForm}
		return s.render(w, r, http.StatusBadRequest, "paper_codes", p)
	}
	var cards []paperpdf.Card
	for _, res := range residents {
		pc, err := s.store.IssuePaperCode(r.Context(), res.ID, healthcode.DefaultPaperCodeLifetime, a.Name)
		if err != nil {
			return err
		}
		card, err := s.paperCard(res, pc)
		if err != nil {
			return err
		}
		cards = append(cards, card)
	}
	s.statusList.invalidate()
	return s.writePDF(w, cards, "paper-codes.pdf")
}

// withFormPurpose gives a page's form post the access of a protected read
// (accountability.go): the purpose the official typed into the form, which
// the audit log records and the resident sees.
func withFormPurpose(r *http.Request, a *healthcode.Actor) (*http.Request, error) {
	acc := healthcode.Access{Actor: *a, Purpose: strings.TrimSpace(r.PostForm.Get("purpose"))}
	if err := acc.Validate(); err != nil {
		return nil, err
	}
	return r.WithContext(context.WithValue(r.Context(), accessKey{}, acc)), nil
}
