package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"healthcode"
	"healthcode/internal/code"
)

type statusResponse struct {
	ResidentID     int64            `json:"resident_id"`
	Color          healthcode.Color `json:"color"`
	Vaccinated     bool             `json:"vaccinated"`
	Reasons        []reasonJSON     `json:"reasons"`
	ValidUntil     string           `json:"valid_until"`
	ComputedAt     string           `json:"computed_at"`
	RuleSetVersion string           `json:"rule_set_version"`
}

// reasonJSON is a healthcode.Reason with times in the API's one format.
type reasonJSON struct {
	Rule      string           `json:"rule"`
	Color     healthcode.Color `json:"color,omitempty"`
	Mark      string           `json:"mark,omitempty"`
	Message   string           `json:"message"`
	MessageZH string           `json:"message_zh"`
	Since     string           `json:"since"`
	Until     string           `json:"until,omitempty"` // absent: ends on an event the message names
}

func reasonsJSON(rs []healthcode.Reason) []reasonJSON {
	out := make([]reasonJSON, len(rs))
	for i, r := range rs {
		out[i] = reasonJSON{Rule: r.Rule, Color: r.Color, Mark: r.Mark, Message: r.Message, MessageZH: r.MessageZH,
			Since: timeString(r.Since), Until: timeString(r.Until)}
	}
	return out
}

func statusJSON(residentID int64, st healthcode.Status) statusResponse {
	return statusResponse{ResidentID: residentID, Color: st.Color, Vaccinated: st.Vaccinated, Reasons: reasonsJSON(st.Reasons),
		ValidUntil: timeString(st.ValidUntil), ComputedAt: timeString(st.ComputedAt), RuleSetVersion: st.RuleSetVersion}
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	st, err := s.store.CurrentStatus(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, statusJSON(subject.ID, st))
	return nil
}

type historyEntry struct {
	At         string           `json:"at"`
	Color      healthcode.Color `json:"color"`
	Vaccinated bool             `json:"vaccinated"`
	Reasons    []reasonJSON     `json:"reasons"`
	Cause      string           `json:"cause"`
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	// Bring the cached status up to date first, so that a change caused by
	// the passing of time is in the history.
	if _, err := s.store.CurrentStatus(r.Context(), subject.ID); err != nil {
		return err
	}
	hist, err := s.store.StatusHistory(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	out := make([]historyEntry, len(hist))
	for i, h := range hist {
		out[i] = historyEntry{At: timeString(h.At), Color: h.Status.Color, Vaccinated: h.Status.Vaccinated,
			Reasons: reasonsJSON(h.Status.Reasons), Cause: h.Cause}
	}
	writeJSON(w, http.StatusOK, map[string]any{"resident_id": subject.ID, "changes": out})
	return nil
}

// issuedCode is a signed phone code kept for reuse.
type issuedCode struct {
	payload    string
	color      healthcode.Color
	vaccinated bool
	computedAt time.Time // of the status it shows: any new fact recomputes the status
	expiresAt  time.Time
	body       []byte // GET /me/code's answer, made once: displays repeat it
	holder     codeHolder
}

// codeHolder is what a code says of the resident it names. A resident's
// record never changes, so the next code is signed from the last one's
// holder without reading the record again.
type codeHolder struct {
	pseudonym, maskedName string
	birthYear             int
}

// phoneCode returns the resident's current phone code, signing a new one
// only when the cached one is stale. The display cache keeps each
// resident's code while it is usable (a fifth of its life left) and its
// status stands: the change feed forgets the code when the status changes,
// so a hit reads neither the status nor the resident (issue 7). A new code
// takes its holder from the last one; only a resident's first code, or the
// first after a status change, reads the record.
func (s *Server) phoneCode(ctx context.Context, residentID int64) (issuedCode, error) {
	c, now := s.cache, s.clock.Now()
	if ic, ok := c.codes.Get(residentID, now); ok {
		return ic, nil
	}
	began := c.codes.Begin()
	st, err := s.store.CurrentStatus(ctx, residentID)
	if err != nil {
		return issuedCode{}, err
	}
	// The status may be shown until the feed says it changed, or it is due
	// to change (ValidUntil), or cacheMaxAge has passed.
	stUntil := until(now, st.ValidUntil)
	usable := func(ic issuedCode) time.Time {
		u := ic.expiresAt.Add(-s.cfg.CodeLifetime / 5)
		if stUntil.Before(u) {
			return stUntil
		}
		return u
	}
	// The code made for the same status is reused while it has a useful
	// part of its life left: a display costs no signature.
	last, hasLast := c.codes.Last(residentID)
	if hasLast && last.computedAt.Equal(st.ComputedAt) && now.Before(usable(last)) {
		c.codes.Put(residentID, last, usable(last), began, now)
		return last, nil
	}
	holder := last.holder
	if !hasLast {
		res, err := s.store.FindResidentByID(ctx, residentID)
		if err != nil {
			return issuedCode{}, err
		}
		holder = codeHolder{res.Pseudonym, healthcode.MaskName(res.Name), res.BirthDate.Year()}
	}
	iat := now.Truncate(time.Second)
	exp := iat.Add(s.cfg.CodeLifetime)
	// A code never shows a colour past the moment the status is due to change.
	if !st.ValidUntil.IsZero() && st.ValidUntil.Before(exp) && st.ValidUntil.After(iat.Add(30*time.Second)) {
		exp = st.ValidUntil.Truncate(time.Second)
	}
	// The code vouches for the latest negative PCR, so that venues requiring
	// a recent test can decide offline.
	negative, err := s.latestNegativePCR(ctx, residentID)
	if err != nil {
		return issuedCode{}, err
	}
	payload, err := s.signer.Sign(code.Claims{Subject: holder.pseudonym, IssuedAt: iat, ExpiresAt: exp, Color: st.Color,
		Vaccinated: st.Vaccinated, MaskedName: holder.maskedName, BirthYear: holder.birthYear, Kind: code.Phone,
		NegativeTestAt: negative})
	if err != nil {
		return issuedCode{}, err
	}
	ic := issuedCode{payload: payload, color: st.Color, vaccinated: st.Vaccinated, computedAt: st.ComputedAt, expiresAt: exp, holder: holder}
	ic.body, err = json.Marshal(codeResponse{Payload: payload, ExpiresAt: timeString(exp), Color: st.Color, Vaccinated: st.Vaccinated,
		MaskedName: holder.maskedName})
	if err != nil {
		return issuedCode{}, err
	}
	ic.body = append(ic.body, '\n')
	c.codes.Put(residentID, ic, usable(ic), began, now)
	return ic, nil
}

// codeSubject is the resident whose code a request asks for: the caller,
// or on /residents/{id}/... one of their dependents. The caller's own id
// needs no lookup: the display path reads the code cache alone.
func (s *Server) codeSubject(r *http.Request, a *healthcode.Actor) (int64, error) {
	if r.PathValue("id") == "" {
		return a.ResidentID, nil
	}
	res, err := s.subject(r, a)
	if err != nil {
		return 0, err
	}
	return res.ID, nil
}

func (s *Server) getCode(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	id, err := s.codeSubject(r, a)
	if err != nil {
		return err
	}
	ic, err := s.phoneCode(r.Context(), id)
	if err != nil {
		return err
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	_, _ = w.Write(ic.body)
	return nil
}

// codeResponse is GET /me/code's answer.
type codeResponse struct {
	Payload    string           `json:"payload"`
	ExpiresAt  string           `json:"expires_at"`
	Color      healthcode.Color `json:"color"`
	Vaccinated bool             `json:"vaccinated"`
	MaskedName string           `json:"masked_name"`
}

// Header values of the display path, allocated once.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noStore         = []string{"no-store"}
)

func (s *Server) getCodePNG(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	return s.codeImage(w, r, a, "image/png")
}

func (s *Server) getCodeSVG(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	return s.codeImage(w, r, a, "image/svg+xml")
}

func (s *Server) codeImage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, mime string) error {
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	size := 512
	if v := r.URL.Query().Get("size"); v != "" && mime == "image/png" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 128 || n > 2048 {
			return healthcode.Errorf(healthcode.EINVALID, "size must be a whole number of pixels from 128 to 2048")
		}
		size = n
	}
	ic, err := s.phoneCode(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	var img []byte
	if mime == "image/png" {
		img, err = code.RenderPNG(ic.payload, ic.color, size)
	} else {
		img, err = code.RenderSVG(ic.payload, ic.color)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", mime)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Code-Expires-At", timeString(ic.expiresAt))
	_, _ = w.Write(img)
	return nil
}

// maxImage is the largest picture POST /api/v1/verify reads.
const maxImage = 8 << 20

type verifyRequest struct {
	Payload string `json:"payload"`
	Image   string `json:"image"` // base64 PNG or JPEG of the QR
	At      string `json:"at"`
}

// verify checks a code against the keys this server trusts. It accepts a
// JSON body, or a PNG/JPEG picture of the QR as the body.
func (s *Server) verify(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	now := s.clock.Now()
	var payload string
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if ct == "image/png" || ct == "image/jpeg" {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImage))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return healthcode.Errorf(healthcode.EINVALID, "image is larger than %d MiB", maxImage>>20)
		} else if err != nil {
			return healthcode.Errorf(healthcode.EINVALID, "could not read the image: %v", err)
		}
		if payload, err = code.DecodeImage(data); err != nil {
			writeJSON(w, http.StatusOK, code.Verdict{RejectCode: code.NotACode, Reason: "no readable QR code in the image: " + err.Error()})
			return nil
		}
	} else {
		var req verifyRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		var p healthcode.Problems
		if at := parseTime(&p, "at", req.At); !at.IsZero() {
			now = at
		}
		switch {
		case req.Payload != "" && req.Image != "":
			p.Add("payload", "give either payload or image, not both")
		case req.Payload != "":
			payload = req.Payload
		case req.Image != "":
			data, err := base64.StdEncoding.DecodeString(req.Image)
			if err != nil {
				p.Add("image", "must be base64 of a PNG or JPEG picture")
			} else if payload, err = code.DecodeImage(data); err != nil {
				writeJSON(w, http.StatusOK, code.Verdict{RejectCode: code.NotACode, Reason: "no readable QR code in the image: " + err.Error()})
				return nil
			}
		default:
			p.Add("payload", "is required (or image)")
		}
		if err := p.Err("invalid verification request"); err != nil {
			return err
		}
	}
	v := code.Check(payload, s.keys, now)
	if v.Valid && v.Kind == code.Paper && v.Issuer == s.cfg.Region {
		if err := s.paperColor(r.Context(), &v); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// paperColor fills in the colour of one of this region's paper codes from
// the live records, as the status list would: a code replaced by a newer one
// is revoked.
func (s *Server) paperColor(ctx context.Context, v *code.Verdict) error {
	res, err := s.store.FindResidentByPseudonym(ctx, v.Subject)
	if healthcode.ErrorCode(err) == healthcode.ENOTFOUND {
		*v = code.Verdict{Kind: code.Paper, RejectCode: code.Revoked, Reason: "revoked: nobody holds this paper code any more"}
		return nil
	} else if err != nil {
		return err
	}
	pc, err := s.store.FindPaperCode(ctx, res.ID)
	if healthcode.ErrorCode(err) == healthcode.ENOTFOUND || (err == nil && pc.StatusIndex != v.StatusIndex) {
		v.Valid, v.RejectCode, v.Reason = false, code.Revoked, "revoked: this paper code was replaced by a newer one"
		return nil
	} else if err != nil {
		return err
	}
	st, err := s.store.CurrentStatus(ctx, res.ID)
	if err != nil {
		return err
	}
	v.Color = st.Color
	return nil
}

func (s *Server) getTrustList(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	w.Header().Set("Content-Type", "application/jose")
	w.Header().Set("Cache-Control", "public, max-age=300")
	// Peers refresh the list periodically: an ETag lets them ask whether it
	// changed (fetch.ReadIfChanged) without downloading it.
	sum := sha256.Sum256(s.trustList)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	_, _ = w.Write(s.trustList)
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	if err := s.ready(r.Context()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

type notificationJSON struct {
	ID        int64  `json:"id"`
	At        string `json:"at"`
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	MessageZH string `json:"message_zh"`
}

type notificationsResponse struct {
	ResidentID    int64              `json:"resident_id"`
	Notifications []notificationJSON `json:"notifications"`
}

func (s *Server) getNotifications(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	subject, err := s.subject(r, a)
	if err != nil {
		return err
	}
	// Bring the status up to date first, so that a change caused by the
	// passing of time is notified too.
	if _, err := s.store.CurrentStatus(r.Context(), subject.ID); err != nil {
		return err
	}
	ns, err := s.store.ListNotifications(r.Context(), subject.ID)
	if err != nil {
		return err
	}
	out := notificationsResponse{ResidentID: subject.ID, Notifications: make([]notificationJSON, len(ns))}
	for i, n := range ns {
		out.Notifications[i] = notificationJSON{ID: n.ID, At: timeString(n.At), Kind: n.Kind, Message: n.Message, MessageZH: n.MessageZH}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
