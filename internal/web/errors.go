package web

import (
	"log/slog"
	"net/http"

	"healthcode"
)

// statusFor maps an error code to its HTTP status. It is the one place that
// does so.
func statusFor(code string) int {
	switch code {
	case healthcode.EINVALID:
		return http.StatusBadRequest
	case healthcode.ENOTFOUND:
		return http.StatusNotFound
	case healthcode.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case healthcode.EFORBIDDEN:
		return http.StatusForbidden
	case healthcode.ECONFLICT:
		return http.StatusConflict
	case healthcode.ETOOMANY:
		return http.StatusTooManyRequests
	case healthcode.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string                  `json:"code"`
	Message string                  `json:"message"`
	Fields  []healthcode.FieldError `json:"fields,omitempty"`
}

// writeError sends err as {"error": {...}}. Our own failures are logged and
// shown as "internal error"; the caller's mistakes are shown as they are.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := healthcode.ErrorCode(err)
	if code == healthcode.EINTERNAL {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	body := errorBody{Error: errorDetail{Code: code, Message: healthcode.ErrorMessage(err)}}
	if e, ok := err.(*healthcode.Error); ok {
		body.Error.Fields = e.Fields
	}
	switch code {
	case healthcode.EUNAUTHORIZED:
		w.Header().Set("WWW-Authenticate", `Bearer realm="healthcode"`)
	case healthcode.EUNAVAILABLE, healthcode.ETOOMANY:
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "5")
		}
	}
	w.Header().Del("Cache-Control") // an error is never cached
	writeJSON(w, statusFor(code), body)
}
