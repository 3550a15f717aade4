package web

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/notice"
)

// Cross-region contact notices (issue 8). Sending: designate queues a
// notice per home region for the foreign contacts it is asked to designate
// (queueNotices); a worker in cmd/healthcode delivers them. Receiving: the
// federation endpoint verifies a notice against the trusted peers' trust
// lists and stores proposals; tracers confirm or dismiss them.

// peerKeys resolves keys of the trusted peers only: a notice comes from
// another region, never from this one.
type peerKeys struct{ k *keyring }

func (p peerKeys) LookupKey(kid []byte) []code.Key {
	if p.k == nil {
		return nil
	}
	if s := p.k.peers.Load(); s != nil {
		return s.LookupKey(kid)
	}
	return nil
}

func (p peerKeys) LookupRevokedKey(kid []byte) []code.Key {
	if p.k == nil {
		return nil
	}
	if s := p.k.peers.Load(); s != nil {
		return s.LookupRevokedKey(kid)
	}
	return nil
}

// receiveNotice is the federation endpoint: the body is a signed notice
// (notice.Parse says what is refused and why); its signature, not a token,
// says who sent it. A notice id seen before is answered as the first time,
// with duplicate set, and stores nothing.
func (s *Server) receiveNotice(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != notice.MediaType {
			return healthcode.Errorf(healthcode.EINVALID, "a contact notice is sent as %s (a compact JWS), not %q", notice.MediaType, ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, notice.MaxSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return healthcode.Errorf(healthcode.EINVALID, "the contact notice is larger than %d bytes", notice.MaxSize)
		}
		return healthcode.Errorf(healthcode.EINVALID, "reading the body: %v", err)
	}
	n, err := notice.Parse(body, peerKeys{s.keyring}, s.cfg.Region, s.clock.Now())
	if err != nil {
		s.log.Warn("contact notice refused", "error", healthcode.ErrorMessage(err))
		return err
	}
	peer := healthcode.Actor{Role: healthcode.RolePeer, Name: "region " + n.From}
	if n.FromName != "" {
		peer.Name += " (" + n.FromName + ")"
	}
	rc, err := s.store.ReceiveContactNotice(healthcode.ContextWithActor(r.Context(), peer), n)
	if err != nil {
		return err
	}
	if !rc.Duplicate {
		s.log.Info("contact notice received", "notice", n.ID, "from", n.From, "contacts", len(n.Contacts))
	}
	writeJSON(w, http.StatusOK, rc)
	return nil
}

// noticeID names a notice by what it says: this region, the case, the home
// region and its contacts with their last exposures, 26 characters of
// base32. A tracer who designates the same contacts again (a retry, a double
// click) makes the same notice, which the outbox already holds.
func (s *Server) noticeID(n *healthcode.ContactNotice, caseID int64) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n%s\n", s.cfg.Region, caseID, n.To)
	for _, c := range n.Contacts {
		fmt.Fprintf(h, "%s %d\n", c.Subject, c.LastExposure.UnixMicro())
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:16])
}

// queueNotices puts one notice per home region in the outbox for the
// foreign contacts chosen, in one transaction with its audit entries, and
// returns the notice id of each contact's region.
func (s *Server) queueNotices(r *http.Request, c *healthcode.Case, contacts []healthcode.Contact) (map[string]string, error) {
	byRegion := map[string]*healthcode.ContactNotice{}
	venueTypes := map[int64]string{}
	for _, ct := range contacts {
		n := byRegion[ct.Issuer]
		if n == nil {
			n = &healthcode.ContactNotice{From: s.cfg.Region, FromName: s.cfg.RegionName, To: ct.Issuer,
				CaseConfirmed: c.ConfirmedAt.UTC()}
			byRegion[ct.Issuer] = n
		}
		nc := healthcode.NoticeContact{Subject: ct.Subject, Degree: ct.Degree, LastExposure: ct.LastExposure.UTC(),
			QuarantineUntil: ct.LastExposure.Add(healthcode.DefaultContactQuarantine).UTC()}
		for _, e := range ct.Exposures {
			vt, ok := venueTypes[e.VenueID]
			if !ok {
				if v, err := s.store.FindVenue(r.Context(), e.VenueID); err == nil {
					vt = string(v.Type)
				}
				venueTypes[e.VenueID] = vt
			}
			nc.Exposures = append(nc.Exposures, healthcode.NoticeExposure{VenueName: e.VenueName, VenueType: vt,
				SourceAt: e.SourceAt.UTC(), ContactAt: e.ContactAt.UTC()})
			if len(nc.Exposures) == healthcode.MaxNoticeExposures {
				break
			}
		}
		n.Contacts = append(n.Contacts, nc)
	}
	var ns []healthcode.ContactNotice
	ids := map[string]string{}
	for region, n := range byRegion {
		slices.SortFunc(n.Contacts, func(a, b healthcode.NoticeContact) int { return cmp.Compare(a.Subject, b.Subject) })
		n.ID = s.noticeID(n, c.ID)
		ns = append(ns, *n)
		ids[region] = n.ID
	}
	slices.SortFunc(ns, func(a, b healthcode.ContactNotice) int { return cmp.Compare(a.To, b.To) })
	if err := s.store.QueueContactNotices(r.Context(), c.ID, ns); err != nil {
		return nil, err
	}
	return ids, nil
}

type noticeExposureJSON struct {
	VenueName string `json:"venue_name"`
	VenueType string `json:"venue_type"`
	SourceAt  string `json:"source_at"`
	ContactAt string `json:"contact_at"`
}

type proposalJSON struct {
	ID              int64                `json:"id"`
	NoticeID        string               `json:"notice_id"`
	FromRegion      string               `json:"from_region"`
	FromName        string               `json:"from_name"`
	ResidentID      int64                `json:"resident_id"`
	Subject         string               `json:"subject"`
	Degree          int                  `json:"degree"`
	Venue           string               `json:"venue"`
	VenueType       string               `json:"venue_type"`
	LastExposure    string               `json:"last_exposure"`
	CaseConfirmedAt string               `json:"case_confirmed_at"`
	QuarantineUntil string               `json:"quarantine_until"`
	Exposures       []noticeExposureJSON `json:"exposures"`
	ReceivedAt      string               `json:"received_at"`
	State           string               `json:"state"`
	DecidedAt       string               `json:"decided_at,omitempty"`
	DecidedBy       string               `json:"decided_by,omitempty"`
	DecisionReason  string               `json:"decision_reason,omitempty"`
	DesignationID   int64                `json:"designation_id,omitempty"`
}

func proposalJSONOf(p *healthcode.ContactProposal) proposalJSON {
	out := proposalJSON{ID: p.ID, NoticeID: p.NoticeID, FromRegion: p.FromRegion, FromName: p.FromName, ResidentID: p.ResidentID,
		Subject: p.Subject, Degree: p.Degree, Venue: p.Venue, VenueType: p.VenueType, LastExposure: timeString(p.LastExposure),
		CaseConfirmedAt: timeString(p.CaseConfirmed), QuarantineUntil: timeString(p.QuarantineUntil), ReceivedAt: timeString(p.ReceivedAt),
		State: string(p.State), DecidedAt: timeString(p.DecidedAt), DecidedBy: p.DecidedBy, DecisionReason: p.DecisionReason,
		DesignationID: p.DesignationID, Exposures: []noticeExposureJSON{}}
	for _, e := range p.Exposures {
		out.Exposures = append(out.Exposures, noticeExposureJSON{VenueName: e.VenueName, VenueType: e.VenueType,
			SourceAt: timeString(e.SourceAt), ContactAt: timeString(e.ContactAt)})
	}
	return out
}

func proposalState(r *http.Request) (healthcode.ProposalState, error) {
	switch st := healthcode.ProposalState(r.URL.Query().Get("state")); st {
	case "":
		return healthcode.ProposalOpen, nil
	case healthcode.ProposalOpen, healthcode.ProposalConfirmed, healthcode.ProposalDismissed:
		return st, nil
	case "all":
		return "", nil
	default:
		return "", healthcode.Errorf(healthcode.EINVALID, "state must be proposed, confirmed, dismissed or all")
	}
}

func (s *Server) listProposals(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	st, err := proposalState(r)
	if err != nil {
		return err
	}
	acc, err := readAccess(r)
	if err != nil {
		return err
	}
	ps, err := s.store.ReadContactProposals(r.Context(), acc, st)
	if err != nil {
		return err
	}
	out := make([]proposalJSON, len(ps))
	for i := range ps {
		out[i] = proposalJSONOf(&ps[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"proposals": out})
	return nil
}

type proposalDecision struct {
	Proposal proposalJSON    `json:"proposal"`
	Status   *statusResponse `json:"status,omitempty"` // the resident's status after a confirmation
}

func (s *Server) confirmProposal(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	id, err := pathID(r, "contact proposal")
	if err != nil {
		return err
	}
	if err := decodeOptionalJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	p, st, err := s.store.ConfirmContactProposal(r.Context(), id, a.Name)
	if err != nil {
		return err
	}
	resp := statusJSON(p.ResidentID, st)
	writeJSON(w, http.StatusOK, proposalDecision{Proposal: proposalJSONOf(p), Status: &resp})
	return nil
}

type dismissRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) dismissProposal(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	id, err := pathID(r, "contact proposal")
	if err != nil {
		return err
	}
	var req dismissRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := s.store.DismissContactProposal(r.Context(), id, a.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proposalDecision{Proposal: proposalJSONOf(p)})
	return nil
}

type outgoingNoticeJSON struct {
	NoticeID    string `json:"notice_id"`
	To          string `json:"to"`
	CaseID      int64  `json:"case_id"`
	Contacts    int    `json:"contacts"`
	QueuedAt    string `json:"queued_at"`
	Attempts    int    `json:"attempts"`
	LastError   string `json:"last_error,omitempty"`
	State       string `json:"state"` // pending, delivered or refused
	DeliveredAt string `json:"delivered_at,omitempty"`
	RefusedAt   string `json:"refused_at,omitempty"`
}

// listOutgoingNotices shows the outbox: what an operator checks when a
// region seems not to receive notices.
func (s *Server) listOutgoingNotices(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	ns, err := s.store.ListOutgoingNotices(r.Context(), 500)
	if err != nil {
		return err
	}
	out := make([]outgoingNoticeJSON, len(ns))
	for i, o := range ns {
		st := "pending"
		switch {
		case !o.DeliveredAt.IsZero():
			st = "delivered"
		case !o.RefusedAt.IsZero():
			st = "refused"
		}
		out[i] = outgoingNoticeJSON{NoticeID: o.Notice.ID, To: o.Notice.To, CaseID: o.CaseID, Contacts: len(o.Notice.Contacts),
			QueuedAt: timeString(o.QueuedAt), Attempts: o.Attempts, LastError: o.LastError, State: st,
			DeliveredAt: timeString(o.DeliveredAt), RefusedAt: timeString(o.RefusedAt)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"notices": out})
	return nil
}

// --- pages -------------------------------------------------------------------

type proposalView struct {
	ID                                   int64
	From, Venue, VenueType, LastExposure string
	CaseConfirmed, QuarantineUntil       string
	Received, State, Decided, DecidedBy  string
	Reason, Subject                      string
	ResidentID, DesignationID            int64
	Degree                               int
}

type outgoingView struct {
	ID, To, Queued, State, Error string
	CaseID                       int64
	Contacts, Attempts           int
}

// noticesPage lists the proposals waiting for this region's tracer, the
// decided ones, and the notices this region sent, with their delivery.
// noticesPagePurpose is the purpose the contact-notices page records for
// its reads of the residents its proposals name.
const noticesPagePurpose = "contact notices page: deciding proposals from other regions"

func (s *Server) noticesPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	return s.renderNotices(w, r, a, s.newPage(w, r, a, "admin", "notices"), http.StatusOK)
}

func (s *Server) renderNotices(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, p *page, status int) error {
	ps, err := s.store.ReadContactProposals(r.Context(), healthcode.Access{Actor: *a, Purpose: noticesPagePurpose}, "")
	if err != nil {
		return err
	}
	var open, decided []proposalView
	for i := len(ps) - 1; i >= 0; i-- {
		pr := ps[i]
		from := pr.FromRegion
		if pr.FromName != "" {
			from = pr.FromName + " (" + pr.FromRegion + ")"
		}
		v := proposalView{ID: pr.ID, From: from, Venue: pr.Venue, VenueType: pr.VenueType, LastExposure: s.localTime(pr.LastExposure),
			CaseConfirmed: s.localTime(pr.CaseConfirmed), QuarantineUntil: s.localTime(pr.QuarantineUntil), Received: s.localTime(pr.ReceivedAt),
			State: string(pr.State), Decided: s.localTime(pr.DecidedAt), DecidedBy: pr.DecidedBy, Reason: pr.DecisionReason,
			Subject: pr.Subject, ResidentID: pr.ResidentID, DesignationID: pr.DesignationID, Degree: pr.Degree}
		if pr.State == healthcode.ProposalOpen {
			open = append(open, v)
		} else {
			decided = append(decided, v)
		}
	}
	ns, err := s.store.ListOutgoingNotices(r.Context(), 100)
	if err != nil {
		return err
	}
	var sent []outgoingView
	for _, o := range ns {
		st := "pending"
		switch {
		case !o.DeliveredAt.IsZero():
			st = "delivered"
		case !o.RefusedAt.IsZero():
			st = "refused"
		}
		sent = append(sent, outgoingView{ID: o.Notice.ID, To: o.Notice.To, Queued: s.localTime(o.QueuedAt), State: st, Error: o.LastError,
			CaseID: o.CaseID, Contacts: len(o.Notice.Contacts), Attempts: o.Attempts})
	}
	p.D = struct {
		Open, Decided []proposalView
		Sent          []outgoingView
	}{open, decided, sent}
	return s.render(w, r, status, "notices", p)
}

func (s *Server) confirmProposalPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id, err := pathID(r, "contact proposal")
	if err == nil {
		_, _, err = s.store.ConfirmContactProposal(healthcode.ContextWithActor(r.Context(), *a), id, a.Name)
	}
	return s.afterDecision(w, r, a, err)
}

func (s *Server) dismissProposalPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id, err := pathID(r, "contact proposal")
	if err == nil {
		_, err = s.store.DismissContactProposal(healthcode.ContextWithActor(r.Context(), *a), id, a.Name, r.PostForm.Get("reason"))
	}
	return s.afterDecision(w, r, a, err)
}

func (s *Server) afterDecision(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, err error) error {
	if err == nil {
		return redirect(w, r, "/admin/contact-notices")
	}
	if healthcode.ErrorCode(err) == healthcode.EINTERNAL {
		return err
	}
	p := s.newPage(w, r, a, "admin", "notices")
	p.Error = healthcode.ErrorMessage(err)
	return s.renderNotices(w, r, a, p, statusFor(healthcode.ErrorCode(err)))
}
