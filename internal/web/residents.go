package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"healthcode"
	"healthcode/internal/secure"
)

const (
	sessionPrefix = "hcs_"
	tokenPrefix   = "hct_"
)

type enrollRequest struct {
	Name        string `json:"name"`
	Sex         string `json:"sex"`
	BirthDate   string `json:"birth_date"`
	Nationality string `json:"nationality"`
	IDType      string `json:"id_type"`
	IDNumber    string `json:"id_number"`
	Phone       string `json:"phone"`
	Password    string `json:"password"`
	Region      string `json:"region"`
	Address     string `json:"address"`
}

type residentResponse struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	MaskedName  string `json:"masked_name"`
	Sex         string `json:"sex"`
	BirthDate   string `json:"birth_date"`
	Nationality string `json:"nationality"`
	IDType      string `json:"id_type"`
	IDNumber    string `json:"id_number"`
	Phone       string `json:"phone,omitempty"`
	Region      string `json:"region"`
	Address     string `json:"address"`
	GuardianID  int64  `json:"guardian_id,omitempty"`
	CreatedAt   string `json:"created_at"`
}

func residentJSON(r *healthcode.Resident) residentResponse {
	return residentResponse{
		ID: r.ID, Name: r.Name, MaskedName: healthcode.MaskName(r.Name), Sex: string(r.Sex),
		BirthDate: r.BirthDate.Format("2006-01-02"), Nationality: r.Nationality, IDType: string(r.IDType),
		IDNumber: r.IDNumber, Phone: r.Phone, Region: r.Region, Address: r.Address, GuardianID: r.GuardianID,
		CreatedAt: timeString(r.CreatedAt),
	}
}

// toResident validates the request and builds the resident. A guardian's
// dependent needs no password and may have no phone.
func (req *enrollRequest) toResident(now time.Time, guardianID int64) (*healthcode.Resident, error) {
	var p healthcode.Problems
	r := &healthcode.Resident{
		Name: req.Name, Sex: healthcode.Sex(req.Sex), BirthDate: parseDate(&p, "birth_date", req.BirthDate, time.UTC),
		Nationality: req.Nationality, IDType: healthcode.IDType(req.IDType), IDNumber: req.IDNumber,
		Phone: req.Phone, Region: req.Region, Address: req.Address, GuardianID: guardianID,
	}
	r.Normalize()
	p.Merge(r.Validate(now))
	switch {
	case guardianID == 0 && utf8.RuneCountInString(req.Password) < 8:
		p.Add("password", "must be at least 8 characters")
	case utf8.RuneCountInString(req.Password) > 128:
		p.Add("password", "is longer than 128 characters")
	case guardianID != 0 && req.Password != "":
		p.Add("password", "a dependent is managed by their guardian and has no password")
	}
	if err := p.Err("invalid enrollment"); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	var req enrollRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	res, err := req.toResident(s.clock.Now(), 0)
	if err != nil {
		return err
	}
	hash, err := secure.HashPassword(req.Password)
	if err != nil {
		return err
	}
	if err := s.store.CreateResident(r.Context(), res, hash); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, residentJSON(res))
	return nil
}

func (s *Server) enrollDependent(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req enrollRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	guardian, err := s.store.FindResidentByID(r.Context(), a.ResidentID)
	if err != nil {
		return err
	}
	if guardian.GuardianID != 0 {
		return healthcode.Errorf(healthcode.EFORBIDDEN, "a dependent cannot register dependents")
	}
	res, err := req.toResident(s.clock.Now(), a.ResidentID)
	if err != nil {
		return err
	}
	if err := s.store.CreateResident(r.Context(), res, ""); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, residentJSON(res))
	return nil
}

func (s *Server) listDependents(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	deps, err := s.store.ListDependents(r.Context(), a.ResidentID)
	if err != nil {
		return err
	}
	out := make([]residentResponse, len(deps))
	for i, d := range deps {
		out[i] = residentJSON(d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"dependents": out})
	return nil
}

func (s *Server) getResident(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	res, err := s.subject(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, residentJSON(res))
	return nil
}

// subject returns the resident a resident-route request is about: the caller
// for /me routes, or a dependent the caller is guardian of for
// /residents/{id} routes. Anyone else's id is "not found", so the route does
// not reveal who is enrolled.
func (s *Server) subject(r *http.Request, a *healthcode.Actor) (*healthcode.Resident, error) {
	raw := r.PathValue("id")
	if raw == "" {
		return s.store.FindResidentByID(r.Context(), a.ResidentID)
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return nil, healthcode.Errorf(healthcode.EINVALID, "resident id must be a positive number, not %q", raw)
	}
	notYours := healthcode.Errorf(healthcode.ENOTFOUND, "resident %d is not you or one of your dependents", id)
	res, err := s.store.FindResidentByID(r.Context(), id)
	if healthcode.ErrorCode(err) == healthcode.ENOTFOUND {
		return nil, notYours
	} else if err != nil {
		return nil, err
	}
	if res.ID != a.ResidentID && res.GuardianID != a.ResidentID {
		return nil, notYours
	}
	return res, nil
}

type loginRequest struct {
	Phone    string `json:"phone"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	req.Phone = strings.TrimSpace(req.Phone)
	var p healthcode.Problems
	if req.Phone == "" {
		p.Add("phone", "is required")
	}
	if req.Password == "" {
		p.Add("password", "is required")
	}
	if err := p.Err("invalid sign-in"); err != nil {
		return err
	}
	ctx := r.Context()
	if until, err := s.store.LoginLockedUntil(ctx, req.Phone); err != nil {
		return err
	} else if wait := until.Sub(s.clock.Now()); wait > 0 {
		return lockedOut(w, wait)
	}
	wrong := func() error {
		until, err := s.store.LoginFailed(ctx, req.Phone)
		if err != nil {
			return err
		}
		if wait := until.Sub(s.clock.Now()); wait > 0 {
			return lockedOut(w, wait)
		}
		return healthcode.Errorf(healthcode.EUNAUTHORIZED, "phone number or password is wrong")
	}
	res, hash, err := s.store.FindLogin(ctx, req.Phone)
	if healthcode.ErrorCode(err) == healthcode.ENOTFOUND {
		secure.CheckPassword(s.dummyHash(), req.Password) // same work whether or not the phone exists
		return wrong()
	} else if err != nil {
		return err
	}
	if !secure.CheckPassword(hash, req.Password) {
		return wrong()
	}
	if err := s.store.LoginSucceeded(ctx, req.Phone); err != nil {
		return err
	}
	secret, sum, err := secure.NewSecret(sessionPrefix)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	sess := &healthcode.Session{ResidentID: res.ID, Hash: sum, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.store.CreateSession(r.Context(), sess); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: s.cfg.SecureCookie, SameSite: http.SameSiteLaxMode})
	writeJSON(w, http.StatusOK, map[string]any{"token": secret, "resident_id": res.ID, "expires_at": timeString(sess.ExpiresAt)})
	return nil
}

// lockedOut refuses a sign-in during a lockout (healthcode.LockoutAfter).
func lockedOut(w http.ResponseWriter, wait time.Duration) error {
	secs := int(wait.Seconds()) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return healthcode.Errorf(healthcode.ETOOMANY, "too many wrong passwords for this phone number: sign-in is locked for %d more seconds", secs)
}

// dummyHash is checked when a phone is unknown so that timing does not tell
// which phone numbers are registered.
func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy, _ = secure.HashPassword("not a real password") })
	return s.dummy
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	secret, _, err := credentials(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteSession(r.Context(), secure.HashSecret(secret)); err != nil && healthcode.ErrorCode(err) != healthcode.ENOTFOUND {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookie, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
