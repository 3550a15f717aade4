package web

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
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
	if err := s.needInterop(); err != nil {
		return err
	}
	res, err := s.subject(r, a)
	if err != nil {
		return err
	}
	f, err := s.store.LoadFacts(r.Context(), res.ID)
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
	if err := s.needInterop(); err != nil {
		return err
	}
	res, err := s.subject(r, a)
	if err != nil {
		return err
	}
	h, err := dcc.HolderFor(res, r.URL.Query().Get("latin_name"))
	if err != nil {
		return err
	}
	f, err := s.store.LoadFacts(r.Context(), res.ID)
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
