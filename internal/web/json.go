package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"healthcode"
)

// maxBody is the largest request body the JSON API reads.
const maxBody = 1 << 20

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decodeJSON reads the body strictly: one JSON object, no unknown fields, at
// most maxBody bytes. Every failure is an EINVALID that says what is wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return healthcode.Errorf(healthcode.EINVALID, "request body must be application/json, not %s", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return healthcode.Errorf(healthcode.EINVALID, "request body must hold a single JSON object")
	}
	return nil
}

// decodeOptionalJSON is decodeJSON for routes whose body may be left out:
// an empty body leaves dst as it is.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return jsonError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return decodeJSON(w, r, dst)
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return healthcode.Errorf(healthcode.EINVALID, "request body is empty; a JSON object is required")
	case errors.As(err, &syn):
		return healthcode.Errorf(healthcode.EINVALID, "request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return healthcode.Errorf(healthcode.EINVALID, "request body is truncated JSON")
	case errors.As(err, &typ):
		if typ.Field != "" {
			return healthcode.Errorf(healthcode.EINVALID, "field %s must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return healthcode.Errorf(healthcode.EINVALID, "request body must be a JSON object, not %s", typ.Value)
	case errors.As(err, &tooBig):
		return healthcode.Errorf(healthcode.EINVALID, "request body is larger than %d bytes", maxBody)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return healthcode.Errorf(healthcode.EINVALID, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return healthcode.Errorf(healthcode.EINVALID, "request body: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "float64", "int", "int64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	return "a " + k
}

// parseDate reads an optional civil date (YYYY-MM-DD) as midnight in loc,
// recording a problem for field when it is malformed.
func parseDate(p *healthcode.Problems, field, s string, loc *time.Location) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.ParseInLocation("2006-01-02", s, loc)
	if err != nil {
		p.Add(field, "%q is not a real date in the form YYYY-MM-DD", s)
		return time.Time{}
	}
	return t
}

// parseTime reads an optional RFC 3339 time, recording a problem for field
// when it is malformed.
func parseTime(p *healthcode.Problems, field, s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		p.Add(field, "%q is not an RFC 3339 time such as 2026-11-20T09:30:00+08:00", s)
		return time.Time{}
	}
	return t
}

func dateString(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("2006-01-02")
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
