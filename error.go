package healthcode

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Each maps to exactly one HTTP status in internal/web.
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ECONFLICT     = "conflict"
	ETOOMANY      = "too_many_requests"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
)

// Error is the application's one error type. Message is safe to show to the
// caller; Fields, when present, says what is wrong with each input field.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	// Format and Args are what Message was made from (by Errorf; for
	// Problems.Err, Format is the "what" and the fields say the rest), so
	// that a web page can say it in its own language.
	Format string
	Args   []any
}

// FieldError names one invalid input field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// Format and Args are what Message was made from, for translation.
	Format string `json:"-"`
	Args   []any  `json:"-"`
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("healthcode error: code=%s message=%s", e.Code, e.Message)
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return fmt.Sprintf("healthcode error: code=%s message=%s (%s)", e.Code, e.Message, strings.Join(parts, "; "))
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Format: format, Args: args}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-facing message of err: the *Error's message,
// or "internal error" for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Problems collects field errors during validation.
type Problems []FieldError

// Add records a problem with field.
func (p *Problems) Add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Message: fmt.Sprintf(format, args...), Format: format, Args: args})
}

// Err returns nil when there are no problems, else an EINVALID *Error that
// lists them all.
func (p Problems) Err(what string) error {
	if len(p) == 0 {
		return nil
	}
	msg := what + ": " + p[0].Field + ": " + p[0].Message
	if len(p) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(p)-1)
	}
	return &Error{Code: EINVALID, Message: msg, Fields: p, Format: what}
}

// Merge adds the field errors of err (an *Error from a Validate method) to p,
// skipping fields p already has a problem with, so that one mistake is
// reported once. Any other non-nil error is added under "request".
func (p *Problems) Merge(err error) {
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		p.Add("request", "%v", err)
		return
	}
	have := map[string]bool{}
	for _, f := range *p {
		have[f.Field] = true
	}
	for _, f := range e.Fields {
		if !have[f.Field] {
			*p = append(*p, f)
		}
	}
}
