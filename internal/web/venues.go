package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"healthcode"
	"healthcode/internal/code"
	"healthcode/internal/secure"
)

type venueRequest struct {
	Name    string            `json:"name"`
	Type    string            `json:"type"`
	Region  string            `json:"region"`
	Address string            `json:"address"`
	Policy  healthcode.Policy `json:"policy"`
}

type venueResponse struct {
	ID        int64             `json:"id"`
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Region    string            `json:"region"`
	Address   string            `json:"address"`
	Policy    healthcode.Policy `json:"policy"`
	PlaceCode string            `json:"place_code,omitempty"` // the URL the place code encodes; for its manager
	CreatedAt string            `json:"created_at"`
}

func (s *Server) venueJSON(v *healthcode.Venue, withPlaceCode bool) venueResponse {
	out := venueResponse{ID: v.ID, Name: v.Name, Type: string(v.Type), Region: v.Region, Address: v.Address,
		Policy: v.Policy, CreatedAt: timeString(v.CreatedAt)}
	if withPlaceCode {
		out.PlaceCode = s.placeCodeURL(v.ID)
	}
	return out
}

func (s *Server) createVenue(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	var req venueRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Policy.Kind == "" {
		req.Policy.Kind = healthcode.PolicyGreen
	}
	v := &healthcode.Venue{Name: strings.TrimSpace(req.Name), Type: healthcode.VenueType(req.Type), Region: req.Region,
		Address: strings.TrimSpace(req.Address), Policy: req.Policy, OwnerID: a.TokenID}
	if err := v.Validate(); err != nil {
		return err
	}
	if err := s.store.CreateVenue(r.Context(), v); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.venueJSON(v, true))
	return nil
}

func (s *Server) listVenues(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	vs, err := s.store.ListVenues(r.Context(), a.TokenID)
	if err != nil {
		return err
	}
	out := make([]venueResponse, len(vs))
	for i, v := range vs {
		out[i] = s.venueJSON(v, true)
	}
	writeJSON(w, http.StatusOK, map[string]any{"venues": out})
	return nil
}

func pathID(r *http.Request, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, healthcode.Errorf(healthcode.EINVALID, "%s id must be a positive number, not %q", what, r.PathValue("id"))
	}
	return id, nil
}

// getVenue is public: a venue's name, address and admission policy are
// posted at its door anyway, and residents and checkpoints need them.
func (s *Server) getVenue(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	id, err := pathID(r, "venue")
	if err != nil {
		return err
	}
	v, err := s.store.FindVenue(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.venueJSON(v, false))
	return nil
}

// ownVenue returns the venue named in the path if the caller's token manages it.
func (s *Server) ownVenue(r *http.Request, a *healthcode.Actor) (*healthcode.Venue, error) {
	id, err := pathID(r, "venue")
	if err != nil {
		return nil, err
	}
	v, err := s.store.FindVenue(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if v.OwnerID != a.TokenID {
		return nil, healthcode.Errorf(healthcode.EFORBIDDEN, "venue %d is managed by another venue account", id)
	}
	return v, nil
}

func (s *Server) setVenuePolicy(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	v, err := s.ownVenue(r, a)
	if err != nil {
		return err
	}
	var p healthcode.Policy
	if err := decodeJSON(w, r, &p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if v, err = s.store.UpdateVenuePolicy(r.Context(), v.ID, p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.venueJSON(v, true))
	return nil
}

type checkpointTokenRequest struct {
	Name string `json:"name"`
}

// createCheckpointToken lets a venue manager issue a token for a clerk's
// device, scoped to this venue only.
func (s *Server) createCheckpointToken(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	v, err := s.ownVenue(r, a)
	if err != nil {
		return err
	}
	var req checkpointTokenRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = fmt.Sprintf("checkpoint at venue %d", v.ID)
	}
	if len([]rune(name)) > 80 {
		return healthcode.Errorf(healthcode.EINVALID, "name is longer than 80 characters")
	}
	secret, hash, err := secure.NewSecret(tokenPrefix)
	if err != nil {
		return err
	}
	t := &healthcode.APIToken{Name: name, Role: healthcode.RoleCheckpoint, Hash: hash}
	if err := s.store.CreateAPIToken(r.Context(), t); err != nil {
		return err
	}
	if err := s.store.SetTokenVenues(r.Context(), t.ID, []int64{v.ID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": secret, "id": t.ID, "name": name, "venue_ids": []int64{v.ID}})
	return nil
}

// getCheckpoint tells a checkpoint device who it is and which venues (with
// their policies) it may record check-ins for.
func (s *Server) getCheckpoint(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	ids, err := s.store.TokenVenues(r.Context(), a.TokenID)
	if err != nil {
		return err
	}
	venues := make([]venueResponse, 0, len(ids))
	for _, id := range ids {
		v, err := s.store.FindVenue(r.Context(), id)
		if err != nil {
			return err
		}
		venues = append(venues, s.venueJSON(v, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": a.Name, "region": s.cfg.Region, "venues": venues})
	return nil
}

// Place codes: the QR posted at a venue's door encodes
// PUBLIC_URL/P/{venue}.{tag}, where tag is an HMAC of the venue id, so a
// phone's ordinary camera opens it and nobody can print a code for a venue
// that does not exist or make one venue's code point at another. The URL is
// upper-case so the QR can use alphanumeric mode (smaller, easier to scan);
// scheme and host are case-insensitive and the server answers /P/ and /p/.

var tagEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func (s *Server) placeTag(venueID int64) string {
	m := hmac.New(sha256.New, s.placeKey)
	fmt.Fprintf(m, "place code %d", venueID)
	return tagEncoding.EncodeToString(m.Sum(nil)[:10])
}

func (s *Server) placeCodeURL(venueID int64) string {
	return strings.ToUpper(fmt.Sprintf("%s/P/%d.%s", strings.TrimRight(s.cfg.PublicURL, "/"), venueID, s.placeTag(venueID)))
}

// parsePlaceCode accepts the text of a place code (the URL, or just
// "{venue}.{tag}") and returns the venue id if the tag is right.
func (s *Server) parsePlaceCode(text string) (int64, error) {
	text = strings.TrimSpace(text)
	if i := strings.LastIndex(strings.ToUpper(text), "/P/"); i >= 0 {
		text = text[i+3:]
	}
	idText, tag, ok := strings.Cut(text, ".")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !ok || err != nil || id <= 0 {
		return 0, healthcode.Errorf(healthcode.EINVALID, "this is not a place code of this region")
	}
	if !hmac.Equal([]byte(strings.ToUpper(tag)), []byte(s.placeTag(id))) {
		return 0, healthcode.Errorf(healthcode.EINVALID, "this place code is not genuine (its signature does not match)")
	}
	return id, nil
}

func (s *Server) placeCodePNG(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	return s.placeCodeImage(w, r, a, "image/png")
}

func (s *Server) placeCodeSVG(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	return s.placeCodeImage(w, r, a, "image/svg+xml")
}

func (s *Server) placeCodeImage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, mime string) error {
	v, err := s.ownVenue(r, a)
	if err != nil {
		return err
	}
	url := s.placeCodeURL(v.ID)
	var img []byte
	if mime == "image/png" {
		img, err = code.RenderPNG(url, "", 1024)
	} else {
		img, err = code.RenderSVG(url, "")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", mime)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(img)
	return nil
}
