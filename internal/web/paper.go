package web

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/paperpdf"
	"healthcode/internal/statuslist"
)

type paperCodeResponse struct {
	ResidentID  int64  `json:"resident_id"`
	Payload     string `json:"payload"`
	StatusIndex int    `json:"status_index"`
	IssuedAt    string `json:"issued_at"`
	ExpiresAt   string `json:"expires_at"`
	MaskedName  string `json:"masked_name"`
}

// paperPayload signs the paper code for a record. The claims are fixed by
// the record, so the same record always gives an equivalent code.
func (s *Server) paperPayload(res *healthcode.Resident, pc *healthcode.PaperCode) (string, error) {
	return s.signer.Sign(code.Claims{Subject: res.Pseudonym, IssuedAt: pc.IssuedAt.Truncate(time.Second),
		ExpiresAt: pc.ExpiresAt.Truncate(time.Second), MaskedName: healthcode.MaskName(res.Name),
		BirthYear: res.BirthDate.Year(), Kind: code.Paper, StatusIndex: pc.StatusIndex})
}

func (s *Server) paperCodeJSON(res *healthcode.Resident, pc *healthcode.PaperCode) (paperCodeResponse, error) {
	payload, err := s.paperPayload(res, pc)
	return paperCodeResponse{ResidentID: res.ID, Payload: payload, StatusIndex: pc.StatusIndex,
		IssuedAt: timeString(pc.IssuedAt), ExpiresAt: timeString(pc.ExpiresAt), MaskedName: healthcode.MaskName(res.Name)}, err
}

func (s *Server) issuePaperCodeFor(ctx context.Context, w http.ResponseWriter, res *healthcode.Resident, by string) error {
	pc, err := s.store.IssuePaperCode(ctx, res.ID, healthcode.DefaultPaperCodeLifetime, by)
	if err != nil {
		return err
	}
	s.statusList.invalidate()
	out, err := s.paperCodeJSON(res, pc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// issuePaperCode: a resident for themselves, or a guardian for a dependent.
// A new paper code revokes the previous one.
func (s *Server) issuePaperCode(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	res, err := s.subject(r, a)
	if err != nil {
		return err
	}
	by := fmt.Sprintf("resident %d", a.ResidentID)
	if res.ID != a.ResidentID {
		by = fmt.Sprintf("guardian %d", a.ResidentID)
	}
	return s.issuePaperCodeFor(r.Context(), w, res, by)
}

// issuePaperCodeOfficial: a community official prints a code for a resident
// identified by document.
func (s *Server) issuePaperCodeOfficial(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req documentRef
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	var p healthcode.Problems
	res, err := s.findByDocument(r, req, &p)
	if err != nil {
		return err
	}
	if err := p.Err("invalid paper-code request"); err != nil {
		return err
	}
	return s.issuePaperCodeFor(r.Context(), w, res, a.Name)
}

// currentPaperCode returns the subject of a resident route and their
// current paper code.
func (s *Server) currentPaperCode(r *http.Request, a *healthcode.Actor) (*healthcode.Resident, *healthcode.PaperCode, error) {
	res, err := s.subject(r, a)
	if err != nil {
		return nil, nil, err
	}
	pc, err := s.store.FindPaperCode(r.Context(), res.ID)
	return res, pc, err
}

func (s *Server) getPaperCode(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	res, pc, err := s.currentPaperCode(r, a)
	if err != nil {
		return err
	}
	out, err := s.paperCodeJSON(res, pc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getPaperCodePNG(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	res, pc, err := s.currentPaperCode(r, a)
	if err != nil {
		return err
	}
	payload, err := s.paperPayload(res, pc)
	if err != nil {
		return err
	}
	img, err := code.RenderPNG(payload, "", 1024)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(img)
	return nil
}

// paperCard is what the printed card of a paper code shows.
func (s *Server) paperCard(res *healthcode.Resident, pc *healthcode.PaperCode) (paperpdf.Card, error) {
	payload, err := s.paperPayload(res, pc)
	return paperpdf.Card{Payload: payload, MaskedName: healthcode.MaskName(res.Name), BirthYear: res.BirthDate.Year(),
		RegionName: s.cfg.RegionName, Region: s.cfg.Region, IssuedAt: pc.IssuedAt, ExpiresAt: pc.ExpiresAt}, err
}

// writePDF sends printed paper codes.
func (s *Server) writePDF(w http.ResponseWriter, cards []paperpdf.Card, filename string) error {
	pdf, err := paperpdf.Render(cards, s.cfg.CJKFont, s.cfg.Location)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", filename))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(pdf)
	return nil
}

// getPaperCodePDF prints the current paper code of the resident or their
// dependent on an A4 sheet, ready to cut out.
func (s *Server) getPaperCodePDF(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	res, pc, err := s.currentPaperCode(r, a)
	if err != nil {
		return err
	}
	card, err := s.paperCard(res, pc)
	if err != nil {
		return err
	}
	return s.writePDF(w, []paperpdf.Card{card}, "paper-code.pdf")
}

// statusListCache keeps the signed status list for a while: checkpoints
// refresh it every few minutes, and building it reads every paper code.
type statusListCache struct {
	mu      sync.Mutex
	signed  []byte
	builtAt time.Time
	stale   atomic.Bool // a rule set was published since the build
}

// statusListRefresh is how long a built list is served before it is rebuilt;
// statusListMaxAge is how old a checkpoint may let its copy get.
const (
	statusListRefresh = time.Minute
	statusListMaxAge  = 15 * time.Minute
)

// forgetStatusList rebuilds the status list at its next request after a
// publication: the colours of many paper codes may change at once.
func (s *Server) forgetStatusList(cs []healthcode.Change) {
	for _, c := range cs {
		if c.Kind == healthcode.ChangeRules || c.Kind == healthcode.ChangeReset {
			s.statusList.stale.Store(true) // not the lock: a build may hold it
			return
		}
	}
}

func (c *statusListCache) invalidate() {
	c.mu.Lock()
	c.builtAt = time.Time{}
	c.mu.Unlock()
}

func (s *Server) getStatusList(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	now := s.clock.Now()
	c := &s.statusList
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stale.Swap(false) || c.signed == nil || now.Sub(c.builtAt) >= statusListRefresh || now.Before(c.builtAt) {
		entries, err := s.store.StatusListEntries(r.Context())
		if err != nil {
			c.stale.Store(true) // still due for a rebuild
			return err
		}
		list := statuslist.Build(s.cfg.Region, now.Truncate(time.Second), statusListMaxAge, entries)
		signed, err := list.Sign(s.signingKey)
		if err != nil {
			return err
		}
		c.signed, c.builtAt = signed, now
	}
	w.Header().Set("Content-Type", "application/jose")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(c.signed)
	return nil
}
