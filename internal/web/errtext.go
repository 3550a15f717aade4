package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"healthcode"
)

// Error messages in the page's language. The domain, the store and the API
// say what is wrong in English (the JSON API keeps English); a page shows
// the same message in its own language. Each *healthcode.Error keeps the
// format it was made from and its arguments (Errorf, Problems.Add), so a
// page looks the format up in messages/errors.zh.json (English format ->
// Chinese format with the same verbs) and formats the arguments again.
// Anything without a translation is shown in English, as before.
// TestErrorMessagesTranslated finds every format a page can show in the
// sources and fails when one has no Chinese.

// loadErrorCatalog reads the Chinese error formats.
func loadErrorCatalog() (map[string]string, error) {
	data, err := messageFS.ReadFile("messages/errors.zh.json")
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("messages/errors.zh.json: %w", err)
	}
	return m, nil
}

// Err returns err's message for a person reading this catalogue's
// language: every field's problem, each after the field's name.
func (c *catalog) Err(err error) string {
	if err == nil {
		return ""
	}
	var e *healthcode.Error
	if !errors.As(err, &e) {
		return c.errText("internal error", nil, "internal error")
	}
	if len(e.Fields) == 0 {
		return c.errText(e.Format, e.Args, e.Message)
	}
	what := e.Format
	if what == "" {
		what, _, _ = strings.Cut(e.Message, ": ")
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = c.FieldName(f.Field) + c.sep() + c.fieldText(f)
	}
	list := "; "
	if c.ZH() {
		list = "；"
	}
	return c.errText(what, nil, what) + c.sep() + strings.Join(parts, list)
}

// FieldErrs returns the problem with each field of err, in this language,
// by field name; nil when err names no field.
func (c *catalog) FieldErrs(err error) map[string]string {
	var e *healthcode.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, f := range e.Fields {
		if _, ok := out[f.Field]; !ok {
			out[f.Field] = c.fieldText(f)
		}
	}
	return out
}

func (c *catalog) fieldText(f healthcode.FieldError) string {
	return c.errText(f.Format, f.Args, f.Message)
}

func (c *catalog) sep() string {
	if c.ZH() {
		return "："
	}
	return ": "
}

// message is a message used as an argument of another message: it prints
// as its English text, and a page translates it with the message it is in.
type message healthcode.FieldError

func (m message) String() string { return m.Message }

var fieldIndex = regexp.MustCompile(`\[\d+\]`)

// FieldName names an input field as the form labels it: field.NAME in the
// catalogue, then the name without its list index ("visited[0].date" is
// visited.date, then date), else the name itself.
func (c *catalog) FieldName(field string) string {
	for _, k := range []string{field, fieldIndex.ReplaceAllString(field, ""), field[strings.LastIndex(field, ".")+1:]} {
		if m, ok := c.msgs["field."+k]; ok {
			return m
		}
	}
	return field
}

// errText formats a message in this language from its English format and
// arguments; english is the message to fall back on.
func (c *catalog) errText(format string, args []any, english string) string {
	if c.errs == nil || format == "" {
		return english
	}
	tr, ok := c.errs[format]
	if !ok {
		return english
	}
	targs := make([]any, len(args))
	for i, a := range args {
		targs[i] = c.errArg(a)
	}
	return fmt.Sprintf(tr, targs...)
}

// errArg translates an argument of a message that is itself a message (a
// field error, an error) or a word the catalogue knows (an ID type, a
// role, a field name); anything else stays as it is.
func (c *catalog) errArg(a any) any {
	switch v := a.(type) {
	case message:
		return c.fieldText(healthcode.FieldError(v))
	case healthcode.FieldError:
		return c.fieldText(v)
	case *healthcode.Error:
		return c.Err(v)
	}
	rv := reflect.ValueOf(a)
	if !rv.IsValid() || rv.Kind() != reflect.String {
		return a
	}
	s := rv.String()
	if t, ok := c.errs[s]; ok {
		return t
	}
	if t, ok := c.msgs["field."+s]; ok {
		return t
	}
	return a
}
