package web

import (
	"net/http"

	"healthcode"
)

// The checkpoint page (/checkpoint) is one static page and its scripts:
// everything that depends on the device (its venue, the trust list, the
// status list, the queue of check-ins) is fetched by the page and kept in
// the browser, so a service worker can serve the page while the server is
// down. The device's token sits in the HttpOnly session cookie.

func (s *Server) checkpointPage(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	p := s.newPage(w, r, nil, "checkpoint", "")
	return s.render(w, r, http.StatusOK, "checkpoint", p)
}

func (s *Server) checkpointSignin(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	if _, err := s.tokenSignin(w, r, checkpointCookieLife, healthcode.RoleCheckpoint); err != nil {
		p := s.newPage(w, r, nil, "checkpoint", "")
		p.Error = p.L.Err(err)
		return s.render(w, r, statusFor(healthcode.ErrorCode(err)), "checkpoint", p)
	}
	return redirect(w, r, "/checkpoint")
}
