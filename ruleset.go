package healthcode

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
)

// RuleSetPublication is one moment a rule set was put in force: its first
// publication, or a later republication of the same version (a rollback).
type RuleSetPublication struct {
	ID      int64
	Version string
	Name    string
	At      time.Time
	By      string // who published it (the actor's name), for the public history
	// Rollback is set when this version had been in force before.
	Rollback bool
	// Current is set on the latest publication: the rule set in force.
	Current bool
}

// RuleSetService publishes rule sets and says which one is in force. Every
// server process evaluates statuses with the rule set in force and follows
// each publication through the change feed (ChangeRules).
type RuleSetService interface {
	// PublishRuleSet puts rs in force and sets rs.PublishedAt to that
	// moment. Publishing the version in force again changes nothing (and
	// gives the moment it was put in force); publishing an earlier version
	// puts it back in force (a rollback). Each publication is recorded in the
	// audit log and announced as ChangeRules.
	PublishRuleSet(ctx context.Context, rs *RuleSet) error
	// RuleSetInForce returns the rule set statuses are evaluated with now,
	// with the moment it was put in force (zero if it was never published).
	RuleSetInForce(ctx context.Context) (*RuleSet, error)
	// FindRuleSet returns a published version with its source, and when it
	// was last put in force; ENOTFOUND for a version never published.
	FindRuleSet(ctx context.Context, version string) (*RuleSet, error)
	// ListRuleSetPublications returns every publication, newest first; the
	// first is Current.
	ListRuleSetPublications(ctx context.Context) ([]RuleSetPublication, error)
}

// RuleLoader parses and checks a rule set document and returns an evaluator
// that runs it; bad input is an *Error with EINVALID listing every problem.
type RuleLoader func(source []byte) (Evaluator, error)

// RuleSetDiff is what changes from one rule set to another: rules added,
// removed and changed (field by field), and the line diff of the documents.
type RuleSetDiff struct {
	From, To string // versions
	NameFrom string
	NameTo   string
	Added    []Rule
	Removed  []Rule
	Changed  []RuleChange
	// Moved lists the rules whose position changed (the order breaks ties
	// between reasons of one severity).
	Moved []string
	Lines []DiffLine // the documents' line diff, in hunks with context
}

// Empty reports whether the two rule sets have the same rules in the same
// order (their documents may still differ, e.g. in comments).
func (d RuleSetDiff) Empty() bool {
	return len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Changed) == 0 && len(d.Moved) == 0 && d.NameFrom == d.NameTo
}

// RuleChange is one rule present in both sets with different fields.
type RuleChange struct {
	ID     string
	Fields []FieldChange
}

// FieldChange is one field of a rule, before and after.
type FieldChange struct {
	Field string // as in the document: color, mark, description, each, when, since, until, reason.en, reason.zh
	Old   string
	New   string
}

// DiffLine is one line of a line diff. Op is "=" (context), "-" (only in
// the old document) or "+" (only in the new one); "@" starts a hunk, with
// Text like "@@ -3,7 +3,8 @@". OldLine and NewLine number the line in each
// document (0 where it is absent).
type DiffLine struct {
	Op      string
	Text    string
	OldLine int
	NewLine int
}

// diffContext is how many unchanged lines surround each change in a line diff.
const diffContext = 3

// DiffRuleSets compares two rule sets rule by rule (by id) and line by line.
// Either may be nil, standing for an empty rule set.
func DiffRuleSets(from, to *RuleSet) RuleSetDiff {
	if from == nil {
		from = &RuleSet{}
	}
	if to == nil {
		to = &RuleSet{}
	}
	d := RuleSetDiff{From: from.Version, To: to.Version, NameFrom: from.Name, NameTo: to.Name}
	index := func(rs []Rule) map[string]int {
		m := make(map[string]int, len(rs))
		for i, r := range rs {
			m[r.ID] = i
		}
		return m
	}
	old, next := index(from.Rules), index(to.Rules)
	for _, r := range from.Rules {
		if _, ok := next[r.ID]; !ok {
			d.Removed = append(d.Removed, r)
		}
	}
	var keptOld, keptNew []string
	for _, r := range from.Rules {
		if _, ok := next[r.ID]; ok {
			keptOld = append(keptOld, r.ID)
		}
	}
	for _, r := range to.Rules {
		i, ok := old[r.ID]
		if !ok {
			d.Added = append(d.Added, r)
			continue
		}
		keptNew = append(keptNew, r.ID)
		if fs := diffRule(from.Rules[i], r); len(fs) > 0 {
			d.Changed = append(d.Changed, RuleChange{ID: r.ID, Fields: fs})
		}
	}
	// A rule moved when its place among the rules both sets have differs.
	for i, id := range keptNew {
		if keptOld[i] != id {
			d.Moved = append(d.Moved, id)
		}
	}
	d.Lines = LineDiff(string(from.Source), string(to.Source))
	return d
}

func diffRule(a, b Rule) []FieldChange {
	var fs []FieldChange
	for _, f := range []struct{ name, old, new string }{
		{"color", string(a.Color), string(b.Color)},
		{"mark", a.Mark, b.Mark},
		{"description", a.Description, b.Description},
		{"each", a.Each, b.Each},
		{"when", a.When, b.When},
		{"since", a.Since, b.Since},
		{"until", a.Until, b.Until},
		{"reason.en", a.Reason.EN, b.Reason.EN},
		{"reason.zh", a.Reason.ZH, b.Reason.ZH},
	} {
		if f.old != f.new {
			fs = append(fs, FieldChange{Field: f.name, Old: f.old, New: f.new})
		}
	}
	return fs
}

// LineDiff returns the line diff of two documents in unified form (hunks
// with diffContext lines of context); nothing when they are equal.
func LineDiff(from, to string) []DiffLine {
	if from == to {
		return nil
	}
	// The library compares lines; a last line without a newline would read
	// as changed when a line is added after it.
	if from != "" && !strings.HasSuffix(from, "\n") {
		from += "\n"
	}
	if to != "" && !strings.HasSuffix(to, "\n") {
		to += "\n"
	}
	u, err := udiff.ToUnifiedDiff("from", "to", from, udiff.Lines(from, to), diffContext)
	if err != nil { // only for edits that do not fit the text, which Lines never makes
		return []DiffLine{{Op: "@", Text: "the documents differ: " + err.Error()}}
	}
	var out []DiffLine
	for _, h := range u.Hunks {
		oldN, newN := 0, 0
		for _, l := range h.Lines {
			if l.Kind != udiff.Insert {
				oldN++
			}
			if l.Kind != udiff.Delete {
				newN++
			}
		}
		out = append(out, DiffLine{Op: "@", Text: hunkHeader(h.FromLine, oldN, h.ToLine, newN)})
		o, n := h.FromLine, h.ToLine
		for _, l := range h.Lines {
			text := strings.TrimSuffix(l.Content, "\n")
			switch l.Kind {
			case udiff.Delete:
				out = append(out, DiffLine{Op: "-", Text: text, OldLine: o})
				o++
			case udiff.Insert:
				out = append(out, DiffLine{Op: "+", Text: text, NewLine: n})
				n++
			default:
				out = append(out, DiffLine{Op: "=", Text: text, OldLine: o, NewLine: n})
				o++
				n++
			}
		}
	}
	return out
}

func hunkHeader(from, fromN, to, toN int) string {
	return "@@ -" + lineRange(from, fromN) + " +" + lineRange(to, toN) + " @@"
}

// lineRange writes a hunk's range as diff(1) does: "start,count", "start"
// for one line, and the line before for none.
func lineRange(start, n int) string {
	switch n {
	case 0:
		return strconv.Itoa(start-1) + ",0"
	case 1:
		return strconv.Itoa(start)
	}
	return strconv.Itoa(start) + "," + strconv.Itoa(n)
}
