package web

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"healthcode"
	"healthcode/internal/interop/dcc"
	"healthcode/internal/interop/shc"
)

// International certificates (issue 8): a resident's EU Digital COVID
// Certificates and SMART Health Cards, issued from their records with the
// region's P-256 key, and the documents verifiers need: the SMART issuer's
// JWKS and the EU document-signer certificate.

// interop holds the issuers; nil when the server has no interop key.
type interop struct {
	dsc *x509.Certificate
	dcc *dcc.Issuer
	shc *shc.Issuer
}

func newInterop(cfg Config, key *ecdsa.PrivateKey, dsc *x509.Certificate) (*interop, error) {
	if key == nil || dsc == nil {
		return nil, nil
	}
	d, err := dcc.NewIssuer(dcc.IssuerConfig{Key: key, DSC: dsc, Country: "CN", Authority: cmp.Or(cfg.RegionName, cfg.Region) + " health authority",
		Location: cfg.Location})
	if err != nil {
		return nil, err
	}
	return &interop{dsc: dsc, dcc: d, shc: &shc.Issuer{URL: strings.TrimSuffix(cfg.PublicURL, "/"), Key: key, Location: cfg.Location}}, nil
}

func (s *Server) needInterop() error {
	if s.interop == nil {
		return healthcode.Errorf(healthcode.EUNAVAILABLE, "this server issues no international certificates (no interop key)")
	}
	return nil
}

// certificateRecords is what a certificate is issued from: the resident
// (the caller or their dependent) and their facts.
func (s *Server) certificateRecords(r *http.Request, a *healthcode.Actor) (*healthcode.Resident, *healthcode.Facts, error) {
	if err := s.needInterop(); err != nil {
		return nil, nil, err
	}
	res, err := s.subject(r, a)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.store.LoadFacts(r.Context(), res.ID)
	if err != nil {
		return nil, nil, err
	}
	return res, f, nil
}

// getJWKS serves the SMART Health Card issuer's public keys.
func (s *Server) getJWKS(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	if err := s.needInterop(); err != nil {
		return err
	}
	data, err := s.interop.shc.JWKS()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*") // the SMART Health Cards spec asks for CORS here
	_, _ = w.Write(data)
	return nil
}

// getDSC serves the EU DCC document-signer certificate (PEM).
func (s *Server) getDSC(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	if err := s.needInterop(); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Cache-Control", "public, max-age=300")
	return pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: s.interop.dsc.Raw})
}

// issueSHC issues a SMART Health Card of the resident's vaccinations
// (?kind=vaccination, the default) or test results (?kind=test).
func (s *Server) issueSHC(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	res, f, err := s.certificateRecords(r, a)
	if err != nil {
		return err
	}
	rec := shc.Records{Resident: res}
	switch kind := r.URL.Query().Get("kind"); kind {
	case "", "vaccination":
		rec.Vaccinations = f.Vaccinations
	case "test":
		rec.Tests = f.Tests
	default:
		return healthcode.Errorf(healthcode.EINVALID, "kind must be vaccination or test, not %q", kind)
	}
	if len(rec.Vaccinations)+len(rec.Tests) == 0 {
		return healthcode.Errorf(healthcode.ENOTFOUND, "no records of that kind to put on a card")
	}
	card, err := s.interop.shc.Issue(rec, s.clock.Now(), time.Time{}) // cards do not expire
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"jws": card.JWS, "qr": card.QR, "file": json.RawMessage(card.File())})
	return nil
}

// issueDCC issues an EU Digital COVID Certificate of the resident's latest
// vaccination, test or recovery (?type=); ?latin_name= gives the name as the
// passport prints it, which a Chinese name needs.
func (s *Server) issueDCC(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	res, f, err := s.certificateRecords(r, a)
	if err != nil {
		return err
	}
	h, err := dcc.HolderFor(res, r.URL.Query().Get("latin_name"))
	if err != nil {
		return err
	}
	now := s.clock.Now()
	var issued *dcc.Issued
	switch typ := r.URL.Query().Get("type"); typ {
	case "vaccination":
		if len(f.Vaccinations) == 0 {
			return healthcode.Errorf(healthcode.ENOTFOUND, "no vaccination on record")
		}
		v := slices.MaxFunc(f.Vaccinations, func(x, y healthcode.Vaccination) int { return x.Date.Compare(y.Date) })
		issued, err = s.interop.dcc.IssueVaccination(h, &v, now)
	case "test":
		if len(f.Tests) == 0 {
			return healthcode.Errorf(healthcode.ENOTFOUND, "no test result on record")
		}
		t := slices.MaxFunc(f.Tests, func(x, y healthcode.TestResult) int { return x.SampledAt.Compare(y.SampledAt) })
		issued, err = s.interop.dcc.IssueTest(h, &t, now)
	case "recovery":
		var last *healthcode.Case
		for i := range f.Cases {
			if c := &f.Cases[i]; !c.DischargedAt.IsZero() && (last == nil || c.DischargedAt.After(last.DischargedAt)) {
				last = c
			}
		}
		if last == nil {
			return healthcode.Errorf(healthcode.ENOTFOUND, "no recovery on record (a discharged case)")
		}
		issued, err = s.interop.dcc.IssueRecovery(h, last, now)
	default:
		return healthcode.Errorf(healthcode.EINVALID, "type must be vaccination, test or recovery, not %q", typ)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"payload": issued.Payload, "id": issued.ID,
		"issued_at": timeString(issued.IssuedAt), "expires_at": timeString(issued.ExpiresAt)})
	return nil
}

// dccSource is the source of the facts imported from EU DCCs.
const dccSource = "EU DCC"

// importRequest is a foreign certificate a resident presents.
type importRequest struct {
	Payload string `json:"payload"`
}

// importCertificate verifies a foreign EU DCC against the DSCs this region
// trusts (Config.ImportDSCs) and adds its vaccination, test or recovery to
// the resident's record, marked with its source and issuer, so that the
// rules can use it. The certificate's date of birth must be the resident's.
// A certificate is imported once: the same one again is a conflict.
func (s *Server) importCertificate(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req importRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	res, err := s.subject(r, a)
	if err != nil {
		return err
	}
	if s.importer == nil {
		return healthcode.Errorf(healthcode.EUNAVAILABLE, "this region trusts no foreign certificate issuers yet (--import-dsc)")
	}
	payload := strings.TrimSpace(req.Payload)
	if !strings.HasPrefix(payload, dcc.Prefix) {
		return healthcode.Errorf(healthcode.EINVALID, "payload must be an EU Digital COVID Certificate (HC1:...)")
	}
	now := s.clock.Now()
	v := s.importer.Verify(payload, now)
	if !v.Valid {
		return healthcode.Errorf(healthcode.EINVALID, "the certificate did not verify: %s", v.Reason)
	}
	c := v.Certificate
	if c.DateOfBirth != res.BirthDate.Format("2006-01-02") {
		return healthcode.Errorf(healthcode.EINVALID, "the certificate's date of birth (%s) is not the resident's", c.DateOfBirth)
	}
	facts, err := s.store.LoadFacts(r.Context(), res.ID)
	if err != nil {
		return err
	}
	source := func(country, issuer, id string) string {
		return truncate(fmt.Sprintf("EU DCC %s, %s, %s", id, country, issuer), 120)
	}
	var st healthcode.Status
	var kind string
	switch {
	case len(c.Vaccinations) == 1:
		e := c.Vaccinations[0]
		day, err := time.ParseInLocation("2006-01-02", e.Date, s.cfg.Location)
		if err != nil {
			return healthcode.Errorf(healthcode.EINVALID, "the vaccination date %q is not a date", e.Date)
		}
		inst := source(e.Country, e.Issuer, e.ID)
		for _, old := range facts.Vaccinations {
			if old.Institution == inst {
				return healthcode.Errorf(healthcode.ECONFLICT, "this certificate (%s) is already imported", e.ID)
			}
		}
		vac := &healthcode.Vaccination{ResidentID: res.ID, Product: cmp.Or(e.ProductName, e.Product), Dose: e.DoseNumber,
			SeriesDoses: e.SeriesDoses, Date: day, Institution: inst, RecordedAt: now}
		if err := vac.Validate(now); err != nil {
			return err
		}
		kind = "vaccination"
		st, err = s.store.AddVaccination(r.Context(), vac)
		if err != nil {
			return err
		}
	case len(c.Tests) == 1:
		e := c.Tests[0]
		sampled, err := time.Parse(time.RFC3339, e.SampledAt)
		if err != nil {
			return healthcode.Errorf(healthcode.EINVALID, "the sample time %q is not a time", e.SampledAt)
		}
		t := &healthcode.TestResult{ResidentID: res.ID, SampledAt: sampled, ResultedAt: sampled,
			Institution: source(e.Country, e.Issuer, e.ID), RecordedAt: now, RecordedBy: "import by " + a.Name}
		switch e.TestType {
		case "LP6464-4":
			t.Type = healthcode.PCR
		case "LP217198-3":
			t.Type = healthcode.Antigen
		default:
			return healthcode.Errorf(healthcode.EINVALID, "test type %q cannot be imported", e.TestType)
		}
		switch e.Result {
		case "260415000":
			t.Result = healthcode.Negative
		case "260373001":
			t.Result = healthcode.Positive
		default:
			return healthcode.Errorf(healthcode.EINVALID, "test result %q cannot be imported", e.Result)
		}
		for _, old := range facts.Tests {
			if old.Institution == t.Institution {
				return healthcode.Errorf(healthcode.ECONFLICT, "this certificate (%s) is already imported", e.ID)
			}
		}
		if err := t.Validate(now); err != nil {
			return err
		}
		kind = "test"
		if st, err = s.store.AddTestResult(r.Context(), t); err != nil {
			return err
		}
	case len(c.Recoveries) == 1:
		e := c.Recoveries[0]
		rec := &healthcode.Recovery{ResidentID: res.ID, Country: e.Country, Issuer: e.Issuer, CertificateID: e.ID,
			Source: dccSource, RecordedAt: now, RecordedBy: "import by " + a.Name}
		for _, d := range []struct {
			field, value string
			into         *time.Time
		}{{"first positive test (fr)", e.FirstPositive, &rec.FirstPositive}, {"valid-from date (df)", e.ValidFrom, &rec.ValidFrom},
			{"valid-until date (du)", e.ValidUntil, &rec.ValidUntil}} {
			if *d.into, err = time.ParseInLocation("2006-01-02", d.value, s.cfg.Location); err != nil {
				return healthcode.Errorf(healthcode.EINVALID, "the recovery's %s %q is not a date", d.field, d.value)
			}
		}
		for _, old := range facts.Recoveries {
			if old.Source == rec.Source && old.CertificateID == rec.CertificateID {
				return healthcode.Errorf(healthcode.ECONFLICT, "this certificate (%s) is already imported", e.ID)
			}
		}
		if err := rec.Validate(now); err != nil {
			return err
		}
		kind = "recovery"
		if st, err = s.store.AddRecovery(r.Context(), rec); err != nil {
			return err
		}
	default:
		return healthcode.Errorf(healthcode.EINVALID, "only a certificate of one vaccination, one test or one recovery can be imported")
	}
	writeJSON(w, http.StatusCreated, map[string]any{"imported": kind, "issuer": v.Issuer, "status": statusJSON(res.ID, st)})
	return nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
