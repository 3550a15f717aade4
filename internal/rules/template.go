package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// A template is a reason message with placeholders: {since}, {until}, and
// {field} for a top-level string, int or timestamp field of the item.
// Timestamps render as YYYY-MM-DD in the engine's time zone.
type template struct {
	segs []segment
	size int // length of the literal text, to size the output
}

type segKind uint8

const (
	segText segKind = iota
	segSince
	segUntil
	segField
)

type segment struct {
	kind segKind
	text string // literal text, or the field name
}

// parseTemplate splits src into text and placeholders. Every "{" opens a
// placeholder "{name}" with name in [a-z0-9_]+; a "}" on its own is text.
func parseTemplate(src string) (template, error) {
	var t template
	for len(src) > 0 {
		i := strings.IndexByte(src, '{')
		if i < 0 {
			t.segs = append(t.segs, segment{segText, src})
			t.size += len(src)
			break
		}
		if i > 0 {
			t.segs = append(t.segs, segment{segText, src[:i]})
			t.size += i
		}
		src = src[i+1:]
		j := strings.IndexByte(src, '}')
		if j < 0 || strings.IndexByte(src[:j], '{') >= 0 {
			return template{}, fmt.Errorf("a { is not closed by }")
		}
		name := src[:j]
		src = src[j+1:]
		if !validName(name) {
			return template{}, fmt.Errorf("placeholder {%s} must be a field name (lower-case letters, digits, _)", name)
		}
		switch name {
		case "since":
			t.segs = append(t.segs, segment{segSince, ""})
		case "until":
			t.segs = append(t.segs, segment{segUntil, ""})
		default:
			t.segs = append(t.segs, segment{segField, name})
		}
	}
	return t, nil
}

// fields returns the item fields the template names, in order.
func (t template) fields() []string {
	var names []string
	for _, s := range t.segs {
		if s.kind == segField {
			names = append(names, s.text)
		}
	}
	return names
}

func (t template) uses(k segKind) bool {
	for _, s := range t.segs {
		if s.kind == k {
			return true
		}
	}
	return false
}

// render fills the template for item it. An absent field renders as "".
func (t template) render(it ref.Val, since, until time.Time, loc *time.Location) string {
	if len(t.segs) == 1 && t.segs[0].kind == segText {
		return t.segs[0].text
	}
	var b strings.Builder
	b.Grow(t.size + 16*len(t.segs))
	for _, s := range t.segs {
		switch s.kind {
		case segText:
			b.WriteString(s.text)
		case segSince:
			b.WriteString(since.In(loc).Format(time.DateOnly))
		case segUntil:
			if !until.IsZero() {
				b.WriteString(until.In(loc).Format(time.DateOnly))
			}
		case segField:
			if v, ok := lookupField(it, s.text); ok {
				b.WriteString(formatValue(v, loc))
			}
		}
	}
	return b.String()
}

func lookupField(it ref.Val, name string) (ref.Val, bool) {
	switch it := it.(type) {
	case fieldGetter:
		return it.getField(name)
	case traits.Mapper:
		v, ok := it.Find(types.String(name))
		if ok && types.IsError(v) {
			return nil, false
		}
		return v, ok
	}
	return nil, false
}

// validName reports whether s is a rule id or placeholder name: [a-z0-9_]+.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
