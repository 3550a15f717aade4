package web

import (
	"cmp"
	"crypto/x509"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/interop/dcc"
)

// The certificates page (issue 8): the resident's own EU DCCs and SMART
// Health Cards as QR codes, and the form that imports a traveller's
// foreign EU DCC. Both go through the JSON API's handlers (callAPI), so
// the page issues and imports exactly as the API does.

// certEntry is one line of what a certificate certifies.
type certEntry struct {
	Label, Value string
}

// certView is one certificate shown as a QR code.
type certView struct {
	Kind    string // "vaccination", "test" or "recovery"
	QR      template.HTML
	ID      string
	Expires string
	Entries []certEntry
}

type certificatesView struct {
	Person    person
	Available bool   // the server issues certificates
	LatinName string // the name as the passport prints it, for the DCC
	NeedLatin bool   // the name is not in Latin letters
	Nothing   bool   // the records hold nothing to certify
	DCCError  string // why no DCC could be issued, in the page's language
	DCC       []certView
	SHC       []certView
	CanImport bool
	Payload   string    // the import form's text
	Imported  *certView // what an import recorded
	Family    []person  // to switch between
}

// certificatesPage shows the certificates and imports a foreign one (POST).
func (s *Server) certificatesPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.pageSubject(r, a)
	if err != nil {
		return err
	}
	p := s.newPage(w, r, a, "resident", "certificates")
	v := certificatesView{Person: person{ID: subject.ID, MaskedName: healthcode.MaskName(subject.Name), For: forQuery(forID(r))},
		Available: s.interop != nil, CanImport: s.importer != nil,
		LatinName: strings.TrimSpace(r.URL.Query().Get("latin_name"))}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
		v.Payload = strings.TrimSpace(r.PostForm.Get("payload"))
		if v.LatinName == "" {
			v.LatinName = strings.TrimSpace(r.PostForm.Get("latin_name"))
		}
		imp, err := s.importFromPage(w, r, a, v.Payload, p.L)
		if err != nil {
			p.Error = s.importErrorText(p.L, err)
			status = statusFor(healthcode.ErrorCode(err))
		} else {
			v.Imported, v.Payload = imp, ""
			p.Notice = p.L.T("certs.imported." + imp.Kind)
		}
	}
	if v.Available {
		if _, err := dcc.HolderFor(subject, ""); err != nil {
			v.NeedLatin = true
		}
		if err := s.ownCertificates(w, r, a, &v, p.L); err != nil {
			return err
		}
	}
	if v.Family, err = s.family(r, a); err != nil {
		return err
	}
	p.D = v
	return s.render(w, r, status, "certificates", p)
}

// apiRequest is r with its query replaced, for calling an API handler
// that reads its parameters from the query.
func apiRequest(r *http.Request, q url.Values) *http.Request {
	req := r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = q.Encode()
	req.URL = &u
	return req
}

// ownCertificates issues the subject's DCCs (the latest vaccination, test
// and recovery) and SMART Health Cards (vaccinations, tests) through the
// API's handlers; a kind with nothing on record is left out.
func (s *Server) ownCertificates(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, v *certificatesView, l *catalog) error {
	facts, err := s.store.LoadFacts(r.Context(), v.Person.ID)
	if err != nil {
		return err
	}
	recovered := slices.ContainsFunc(facts.Cases, func(c healthcode.Case) bool { return c.Discharged() })
	v.Nothing = len(facts.Vaccinations)+len(facts.Tests) == 0 && !recovered
	if v.Nothing {
		return nil
	}
	for _, typ := range []string{"vaccination", "test", "recovery"} {
		if v.NeedLatin && v.LatinName == "" {
			break // the form asks for it first
		}
		var out struct {
			Payload   string `json:"payload"`
			ID        string `json:"id"`
			ExpiresAt string `json:"expires_at"`
		}
		q := url.Values{"type": {typ}}
		if v.LatinName != "" {
			q.Set("latin_name", v.LatinName)
		}
		err := s.callAPI(w, apiRequest(r, q), a, s.issueDCC, nil, &out)
		switch {
		case healthcode.ErrorCode(err) == healthcode.ENOTFOUND:
			continue
		case healthcode.ErrorCode(err) == healthcode.EINVALID:
			if v.DCCError == "" {
				v.DCCError = l.Err(err)
			}
			continue
		case err != nil:
			return err
		}
		svg, err := code.RenderTextSVG(out.Payload)
		if err != nil {
			return err
		}
		// Read back, for the value sets' display names of what it certifies.
		cv := s.describeDCC(l, dcc.Verify(out.Payload, []*x509.Certificate{s.interop.dsc}, s.clock.Now()).Certificate)
		cv.QR, cv.ID = template.HTML(svg), out.ID
		if t, err := time.Parse(time.RFC3339, out.ExpiresAt); err == nil {
			cv.Expires = s.localTime(t)
		}
		v.DCC = append(v.DCC, *cv)
	}
	for _, kind := range []string{"vaccination", "test"} {
		var out struct {
			QR []string `json:"qr"`
		}
		err := s.callAPI(w, apiRequest(r, url.Values{"kind": {kind}}), a, s.issueSHC, nil, &out)
		if healthcode.ErrorCode(err) == healthcode.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		if len(out.QR) != 1 {
			continue // a card too large for one QR code is not shown
		}
		svg, err := code.RenderTextSVG(out.QR[0])
		if err != nil {
			return err
		}
		cv := certView{Kind: kind, QR: template.HTML(svg)}
		if kind == "vaccination" {
			for _, x := range facts.Vaccinations {
				cv.Entries = append(cv.Entries, certEntry{s.localDate(x.Date), x.Product + " · " + l.T("certs.dose") + " " +
					strconv.Itoa(x.Dose) + "/" + strconv.Itoa(x.SeriesDoses)})
			}
		} else {
			for _, x := range facts.Tests {
				cv.Entries = append(cv.Entries, certEntry{s.localTime(x.SampledAt), l.T("ttype."+string(x.Type)) + " · " + l.T("tresult."+string(x.Result))})
			}
		}
		v.SHC = append(v.SHC, cv)
	}
	return nil
}

func (s *Server) localDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.cfg.Location).Format("2006-01-02")
}

// describeDCC says what a decoded DCC certifies: its kind and its entry,
// with the value sets' display names.
func (s *Server) describeDCC(l *catalog, c *dcc.Certificate) *certView {
	cv := &certView{}
	if c == nil {
		return cv
	}
	add := func(key, value string) {
		if value != "" {
			cv.Entries = append(cv.Entries, certEntry{l.T("certs.field." + key), value})
		}
	}
	add("name", strings.TrimSpace(c.Name.FamilyNameStandard+", "+c.Name.GivenNameStandard))
	add("dob", c.DateOfBirth)
	switch {
	case len(c.Vaccinations) > 0:
		e := c.Vaccinations[0]
		cv.Kind = "vaccination"
		add("date", e.Date)
		add("disease", cmp.Or(e.DiseaseName, e.Disease))
		add("product", cmp.Or(e.ProductName, e.Product))
		add("vaccine_type", cmp.Or(e.VaccineTypeName, e.VaccineType))
		add("manufacturer", cmp.Or(e.ManufacturerName, e.Manufacturer))
		add("dose", strconv.Itoa(e.DoseNumber)+"/"+strconv.Itoa(e.SeriesDoses))
		add("issuer", e.Issuer+" ("+e.Country+")")
		add("id", e.ID)
	case len(c.Tests) > 0:
		e := c.Tests[0]
		cv.Kind = "test"
		sampled := e.SampledAt
		if t, err := time.Parse(time.RFC3339, e.SampledAt); err == nil {
			sampled = s.localTime(t)
		}
		add("sampled", sampled)
		add("disease", cmp.Or(e.DiseaseName, e.Disease))
		add("test_type", cmp.Or(e.TestTypeName, e.TestType))
		add("result", cmp.Or(e.ResultName, e.Result))
		add("centre", e.Centre)
		add("issuer", e.Issuer+" ("+e.Country+")")
		add("id", e.ID)
	case len(c.Recoveries) > 0:
		e := c.Recoveries[0]
		cv.Kind = "recovery"
		add("first_positive", e.FirstPositive)
		add("disease", cmp.Or(e.DiseaseName, e.Disease))
		add("valid", e.ValidFrom+" – "+e.ValidUntil)
		add("issuer", e.Issuer+" ("+e.Country+")")
		add("id", e.ID)
	}
	return cv
}

// importFromPage imports a foreign DCC through the API's handler and
// describes what it recorded.
func (s *Server) importFromPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, payload string, l *catalog) (*certView, error) {
	if payload == "" {
		return nil, healthcode.Errorf(healthcode.EINVALID, "payload must be an EU Digital COVID Certificate (HC1:...)")
	}
	var out struct {
		Imported string `json:"imported"`
		Issuer   string `json:"issuer"`
	}
	if err := s.callAPI(w, r, a, s.importCertificate, importRequest{Payload: payload}, &out); err != nil {
		return nil, err
	}
	res := s.importer.Verify(payload, s.clock.Now())
	cv := s.describeDCC(l, res.Certificate)
	cv.Kind = out.Imported
	cv.Entries = append(cv.Entries, certEntry{l.T("certs.field.source"), strings.Join(slices.DeleteFunc([]string{dccSource, out.Issuer, res.Signer},
		func(s string) bool { return s == "" }), " · ")})
	return cv, nil
}

// importErrorText says why an import failed: a certificate that did not
// verify is explained by its first failed check (not from a trusted
// issuer, expired, not a certificate) before the verifier's own words.
func (s *Server) importErrorText(l *catalog, err error) string {
	msg := l.Err(err)
	var e *healthcode.Error
	if !errors.As(err, &e) || e.Format != "the certificate did not verify: %s" || len(e.Args) != 1 {
		return msg
	}
	reason, _ := e.Args[0].(string)
	check, _, _ := strings.Cut(reason, ":")
	key := map[string]string{
		dcc.CheckPrefix: "not_certificate", dcc.CheckBase45: "not_certificate", dcc.CheckDecompress: "not_certificate",
		dcc.CheckCOSE: "not_certificate", dcc.CheckSignature: "untrusted", dcc.CheckExpiry: "expired",
		dcc.CheckKeyUsage: "untrusted", dcc.CheckSchema: "not_certificate",
	}[check]
	if key == "" {
		return msg
	}
	return l.T("certs.error."+key) + " (" + reason + ")"
}
