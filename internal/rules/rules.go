// Package rules is the CEL rule engine behind healthcode.Evaluator: it loads a
// published rule set (YAML; docs/rules.md describes the language) and turns a
// resident's facts into a status with its reasons.
package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"healthcode"
)

// MaxValidity is the longest a status stays valid without re-evaluation,
// even when no rule predicts a change.
const MaxValidity = 24 * time.Hour

// maxIDLength bounds rule ids, which appear in codes' reasons and URLs.
const maxIDLength = 64

// Engine evaluates one loaded rule set. It is immutable and safe for
// concurrent use.
type Engine struct {
	set   *healthcode.RuleSet
	loc   *time.Location
	rules []compiledRule
}

var _ healthcode.Evaluator = (*Engine)(nil)

// compiledRule is a rule ready to run.
type compiledRule struct {
	id       string
	color    healthcode.Color
	mark     string
	severity int // of the colour; -1 for a mark

	kind     *kind  // of the items each yields; nil when unknown
	direct   bool   // each is exactly facts.<list>: iterate without CEL
	directID kindID // the list, when direct
	each     cel.Program
	when     cel.Program // nil: always true
	since    cel.Program
	until    cel.Program // nil: the rule ends on an event, not a date
	en, zh   template
}

// Option configures Load.
type Option func(*Engine)

// WithLocation sets the time zone in which messages print dates
// ({since}, {until}, timestamp fields) and in which resident.age counts
// birthdays. The default is Asia/Shanghai (UTC+8).
func WithLocation(loc *time.Location) Option {
	return func(e *Engine) {
		if loc != nil {
			e.loc = loc
		}
	}
}

// defaultLocation is Asia/Shanghai, or a fixed UTC+8 zone when the system has
// no time zone database (China has no daylight saving time, so they agree).
func defaultLocation() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("UTC+8", 8*60*60)
}

// Version returns the version of a rule set source: "sha256:" and the first
// 12 hex digits of the SHA-256 of the bytes. Any change to the source, even
// to a comment, is a new version.
func Version(src []byte) string {
	sum := sha256.Sum256(src)
	return "sha256:" + hex.EncodeToString(sum[:])[:12]
}

// Parse checks a rule set source as Load does and returns the rule set it
// publishes.
func Parse(src []byte) (*healthcode.RuleSet, error) {
	e, err := Load(src)
	if err != nil {
		return nil, err
	}
	return e.RuleSet(), nil
}

// Load parses, checks and compiles a rule set. Every problem it finds (bad
// YAML, unknown key, bad id, duplicate id, colour and mark, an expression
// that does not compile or has the wrong type, an unknown placeholder) is
// reported in one *healthcode.Error with code EINVALID, each naming the rule
// and the field.
func Load(src []byte, opts ...Option) (*Engine, error) {
	e := &Engine{loc: defaultLocation()}
	for _, opt := range opts {
		opt(e)
	}
	doc, err := decode(src)
	if err != nil {
		return nil, err
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("rules: build CEL environment: %w", err)
	}

	var p healthcode.Problems
	if strings.TrimSpace(doc.Name) == "" {
		p.Add("name", "is required")
	}
	set := &healthcode.RuleSet{
		Version: Version(src),
		Name:    doc.Name,
		Rules:   make([]healthcode.Rule, 0, len(doc.Rules)),
		Source:  bytes.Clone(src),
	}
	seen := map[string]bool{}
	for i, rd := range doc.Rules {
		r, ok := compileRule(env, i, rd, seen, &p)
		if ok {
			e.rules = append(e.rules, r)
		}
		set.Rules = append(set.Rules, healthcode.Rule{
			ID:          rd.ID,
			Color:       healthcode.Color(rd.Color),
			Mark:        rd.Mark,
			Description: rd.Description,
			Each:        rd.Each,
			When:        rd.When,
			Since:       rd.Since,
			Until:       rd.Until,
			Reason:      healthcode.RuleReason{EN: rd.Reason.EN, ZH: rd.Reason.ZH},
		})
	}
	if len(p) == 0 {
		e.checkResultTypes(&p)
	}
	if len(p) > 0 {
		return nil, p.Err("invalid rule set")
	}
	e.set = set
	return e, nil
}

// RuleSet returns the rule set the engine runs. Callers must not modify it.
func (e *Engine) RuleSet() *healthcode.RuleSet { return e.set }

// compileRule checks and compiles rule i, adding every problem it finds to p;
// ok reports whether it found none.
func compileRule(env *cel.Env, i int, rd ruleDoc, seen map[string]bool, p *healthcode.Problems) (r compiledRule, ok bool) {
	prefix := fmt.Sprintf("rules[%d].", i)
	n := len(*p)
	switch {
	case rd.ID == "":
		p.Add(prefix+"id", "is required")
	case !validName(rd.ID) || len(rd.ID) > maxIDLength:
		p.Add(prefix+"id", "%q must be 1 to %d lower-case letters, digits and _", rd.ID, maxIDLength)
	default:
		prefix = "rules." + rd.ID + "."
		if seen[rd.ID] {
			p.Add(prefix+"id", "is used by more than one rule")
		}
		seen[rd.ID] = true
	}

	r = compiledRule{id: rd.ID, color: healthcode.Color(rd.Color), mark: rd.Mark, severity: -1}
	switch {
	case rd.Color != "" && rd.Mark != "":
		p.Add(prefix+"color", "a rule sets either a color or a mark, not both")
	case rd.Color == "" && rd.Mark == "":
		p.Add(prefix+"color", "is required (green, yellow or red), unless the rule sets mark: vaccinated")
	case rd.Color != "":
		if r.color.Severity() < 0 {
			p.Add(prefix+"color", "%q must be green, yellow or red", rd.Color)
		}
		r.severity = r.color.Severity()
	case rd.Mark != "vaccinated":
		p.Add(prefix+"mark", "%q is not a mark; the only mark is vaccinated", rd.Mark)
	}
	if strings.TrimSpace(rd.Description) == "" {
		p.Add(prefix+"description", "is required: say in plain words what the rule does")
	}

	// prog compiles and checks one expression, recording any problem.
	prog := func(field, src string, want exprKind, sc scope, noIt bool) (cel.Program, celast.Expr) {
		a, err := compile(env, src, want)
		if err != nil {
			p.Add(prefix+field, "%v", err)
			return nil, nil
		}
		expr := a.NativeRep().Expr()
		fc := fieldChecker{noIt: noIt}
		fc.check(expr, sc)
		for _, msg := range fc.problems {
			p.Add(prefix+field, "%s", msg)
		}
		pr, err := env.Program(a, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			p.Add(prefix+field, "cannot be planned: %v", err)
			return nil, nil
		}
		return pr, expr
	}

	if strings.TrimSpace(rd.Each) == "" {
		p.Add(prefix+"each", "is required, e.g. facts.tests")
	} else {
		var expr celast.Expr
		if r.each, expr = prog("each", rd.Each, wantList, scope{}, true); expr != nil {
			r.kind = eachKind(expr)
			r.directID, r.direct = factsSelect(expr)
		}
	}
	sc := scope{"it": r.kind}
	if w := strings.TrimSpace(rd.When); w != "" && w != "true" {
		r.when, _ = prog("when", rd.When, wantBool, sc, false)
	}
	if strings.TrimSpace(rd.Since) == "" {
		p.Add(prefix+"since", "is required: when the rule starts to apply, e.g. it.sampled_at")
	} else {
		r.since, _ = prog("since", rd.Since, wantTimestamp, sc, false)
	}
	if strings.TrimSpace(rd.Until) != "" {
		r.until, _ = prog("until", rd.Until, wantTimestamp, sc, false)
	}

	var err error
	for _, lang := range []struct {
		field, src string
		t          *template
	}{{"reason.en", rd.Reason.EN, &r.en}, {"reason.zh", rd.Reason.ZH, &r.zh}} {
		if strings.TrimSpace(lang.src) == "" {
			p.Add(prefix+lang.field, "is required")
			continue
		}
		if *lang.t, err = parseTemplate(lang.src); err != nil {
			p.Add(prefix+lang.field, "%v", err)
			continue
		}
		if lang.t.uses(segUntil) && strings.TrimSpace(rd.Until) == "" {
			p.Add(prefix+lang.field, "uses {until} but the rule has no until")
		}
		for _, name := range lang.t.fields() {
			if msg := checkPlaceholder(name, r.kind); msg != "" {
				p.Add(prefix+lang.field, "unknown placeholder {%s}: %s", name, msg)
			}
		}
	}
	return r, len(*p) == n
}

// checkPlaceholder says what is wrong with {name} for items of kind k (nil:
// unknown kind, so any printable field of any list is accepted).
func checkPlaceholder(name string, k *kind) string {
	printable := func(k *kind) []string {
		var names []string
		for _, f := range k.fields {
			if f.typ == fString || f.typ == fInt || f.typ == fTimestamp {
				names = append(names, "{"+f.name+"}")
			}
		}
		return names
	}
	if k != nil {
		f, ok := k.field(name)
		if ok && (f.typ == fString || f.typ == fInt || f.typ == fTimestamp) {
			return ""
		}
		return fmt.Sprintf("the placeholders for %s are {since}, {until}, %s", k.name, strings.Join(printable(k), ", "))
	}
	for _, k := range factKinds {
		if f, ok := k.field(name); ok && (f.typ == fString || f.typ == fInt || f.typ == fTimestamp) {
			return ""
		}
	}
	return "it is not {since}, {until} or a string, int or timestamp field of any list in facts"
}

// checkResultTypes runs every rule against a sample resident with one item
// of every kind (all optional fields set) and reports expressions that
// produce a value of the wrong type. This catches what type-checking cannot
// see through dyn values: since: it.dose, when: it.venue.
func (e *Engine) checkResultTypes(p *healthcode.Problems) {
	f := sampleFacts()
	s := &evalState{facts: f, now: sampleNow, nowVal: types.Timestamp{Time: sampleNow}, loc: e.loc}
	for i := range e.rules {
		r := &e.rules[i]
		prefix := "rules." + r.id + "."
		var items []ref.Val
		if r.direct {
			for j := range s.count(r.directID) {
				items = append(items, s.item(r.directID, j))
			}
		} else {
			s.it = nil
			v, _, err := r.each.Eval(s)
			if err != nil {
				continue
			}
			l, ok := v.(traits.Lister)
			if !ok {
				p.Add(prefix+"each", "must return a list, but returned %s", typeName(v.Type().TypeName()))
				continue
			}
			for it := l.Iterator(); it.HasNext() == types.True; {
				items = append(items, it.Next())
			}
		}
		bad := map[string]bool{}
		for _, it := range items {
			s.it = it
			for _, x := range []struct {
				field string
				prg   cel.Program
				want  exprKind
			}{{"when", r.when, wantBool}, {"since", r.since, wantTimestamp}, {"until", r.until, wantTimestamp}} {
				if x.prg == nil || bad[x.field] {
					continue
				}
				v, _, err := x.prg.Eval(s)
				if err == nil && !x.want.matches(v) {
					p.Add(prefix+x.field, "must be %s, but is %s", x.want, typeName(v.Type().TypeName()))
					bad[x.field] = true
				}
			}
		}
	}
}

var sampleNow = time.Date(2022, 1, 15, 12, 0, 0, 0, time.UTC)

func sampleFacts() *healthcode.Facts {
	day := func(d int) time.Time { return sampleNow.AddDate(0, 0, d) }
	return &healthcode.Facts{
		Resident: healthcode.Resident{ID: 1, Region: "420106", BirthDate: time.Date(1990, 5, 1, 0, 0, 0, 0, time.UTC)},
		Declarations: []healthcode.Declaration{{
			ID: 1, Temperature: 38.2, Symptoms: []healthcode.Symptom{healthcode.Fever, healthcode.DryCough},
			Visited:         []healthcode.Visit{{Region: "420106", Date: day(-3)}},
			ContactWithCase: true, DeclaredAt: day(-1),
		}},
		Tests: []healthcode.TestResult{{ID: 1, Type: healthcode.PCR, Result: healthcode.Positive,
			SampledAt: day(-2), ResultedAt: day(-1), Institution: "Sample Lab"}},
		Vaccinations: []healthcode.Vaccination{{ID: 1, Product: "Sample", Dose: 2, SeriesDoses: 2, Date: day(-30)}},
		Recoveries: []healthcode.Recovery{{ID: 1, FirstPositive: day(-40), ValidFrom: day(-29), ValidUntil: day(140),
			Country: "DE", Issuer: "Sample Issuer", CertificateID: "URN:UVCI:01:DE:SAMPLE", Source: "EU DCC"}},
		Cases: []healthcode.Case{{ID: 1, ConfirmedAt: day(-10), OnsetDate: day(-12), SampleDate: day(-11), DischargedAt: day(-1)}},
		Contacts: []healthcode.ContactDesignation{{ID: 1, CaseID: 1, Venue: "Sample Venue",
			LastExposure: day(-4), DesignatedAt: day(-2)}},
		Areas: []healthcode.AreaRisk{{ID: 1, Prefix: "4201", Level: healthcode.HighRisk, From: day(-7), To: day(7)}},
		Overrides: []healthcode.Override{{ID: 1, Fact: healthcode.FactRef{Kind: healthcode.FactContactDesignation, ID: 1},
			Kind: healthcode.OverrideEndedEarly, Reason: "Sample reason", ProposedAt: day(-2), DecidedAt: day(-1),
			State: healthcode.OverrideApproved}},
	}
}

// match is the outcome of one rule for one item.
type match uint8

const (
	notMatched match = iota // when is false, or the item's window has passed
	pending                 // when is true but since is still in the future
	applies
)

// Evaluate runs the rule set over the facts at now, as docs/rules.md
// describes. It is deterministic: the same facts at the same moment give the
// same status, whatever the order of items within each list of facts.
// Reasons is never nil. Evaluate fails only when a rule fails at run time (for
// example it reads an absent field without has()); the error names the rule
// and is not an *healthcode.Error, since a broken rule is not the caller's
// mistake.
func (e *Engine) Evaluate(f *healthcode.Facts, now time.Time) (healthcode.Status, error) {
	s := &evalState{facts: f, now: now, nowVal: types.Timestamp{Time: now}, loc: e.loc}
	st := healthcode.Status{
		Color:          healthcode.Green,
		ComputedAt:     now,
		ValidUntil:     now.Add(MaxValidity),
		RuleSetVersion: e.set.Version,
		Reasons:        []healthcode.Reason{},
	}
	for i := range e.rules {
		r := &e.rules[i]
		var best candidate
		if r.direct {
			for j := range s.count(r.directID) {
				if err := e.consider(s, r, s.item(r.directID, j), &best, &st.ValidUntil); err != nil {
					return healthcode.Status{}, err
				}
			}
		} else {
			s.it = nil
			v, _, err := r.each.Eval(s)
			if err != nil {
				return healthcode.Status{}, fmt.Errorf("rules: rule %s: each: %w", r.id, err)
			}
			l, ok := v.(traits.Lister)
			if !ok {
				return healthcode.Status{}, fmt.Errorf("rules: rule %s: each: returned %s, want a list", r.id, typeName(v.Type().TypeName()))
			}
			for it := l.Iterator(); it.HasNext() == types.True; {
				if err := e.consider(s, r, it.Next(), &best, &st.ValidUntil); err != nil {
					return healthcode.Status{}, err
				}
			}
		}
		for j := range f.Retained {
			if kept := &f.Retained[j].Reason; kept.Rule == r.id {
				e.considerRetained(s.now, r, kept, &best, &st.ValidUntil)
			}
		}
		if best.item == nil && best.kept == nil {
			continue
		}
		en, zh := e.messages(r, best)
		st.Reasons = append(st.Reasons, healthcode.Reason{
			Rule:      r.id,
			Color:     r.color,
			Mark:      r.mark,
			Message:   en,
			MessageZH: zh,
			Since:     best.since,
			Until:     best.until,
		})
		if !best.until.IsZero() && best.until.Before(st.ValidUntil) {
			st.ValidUntil = best.until
		}
		if r.mark == "vaccinated" {
			st.Vaccinated = true
		} else if r.severity > st.Color.Severity() {
			st.Color = r.color
		}
	}
	// Rules are visited in file order, so a stable sort by severity gives
	// "most severe first, then file order". Marks sort last.
	slices.SortStableFunc(st.Reasons, func(a, b healthcode.Reason) int {
		return severity(b) - severity(a)
	})
	return st, nil
}

func severity(r healthcode.Reason) int {
	if r.Color == "" {
		return -1
	}
	return r.Color.Severity()
}

// candidate is the item a rule reports: the one whose window ends last.
// It is an item of facts, or a reason retained after a purge (kept).
type candidate struct {
	item         ref.Val
	kept         *healthcode.Reason
	since, until time.Time
}

// messages renders the candidate's reason, or returns the retained text.
func (e *Engine) messages(r *compiledRule, c candidate) (en, zh string) {
	if c.kept != nil {
		return c.kept.Message, c.kept.MessageZH
	}
	return r.en.render(c.item, c.since, c.until, e.loc), r.zh.render(c.item, c.since, c.until, e.loc)
}

// considerRetained treats a reason retained after a purge as an item of its
// rule with its own start, end and text: it applies from its since until its
// until, and lowers validUntil to its start while pending.
func (e *Engine) considerRetained(now time.Time, r *compiledRule, kept *healthcode.Reason, best *candidate, validUntil *time.Time) {
	since, until := kept.Since, kept.Until
	switch {
	case !until.IsZero() && (!until.After(since) || !now.Before(until)):
		return
	case since.After(now):
		if since.Before(*validUntil) {
			*validUntil = since
		}
		return
	}
	c := candidate{kept: kept, since: since, until: until}
	if (best.item == nil && best.kept == nil) || e.better(r, c, *best) {
		*best = c
	}
}

// consider evaluates rule r for item it, keeps it in best if it applies and
// ends later than the best so far, and lowers validUntil to its start if it
// will apply in the future.
func (e *Engine) consider(s *evalState, r *compiledRule, it ref.Val, best *candidate, validUntil *time.Time) error {
	s.it = it
	m, since, until, err := e.match(s, r)
	if err != nil {
		return fmt.Errorf("rules: rule %s: %w", r.id, err)
	}
	switch m {
	case pending:
		if since.Before(*validUntil) {
			*validUntil = since
		}
	case applies:
		c := candidate{item: it, since: since, until: until}
		if (best.item == nil && best.kept == nil) || e.better(r, c, *best) {
			*best = c
		}
	}
	return nil
}

// match evaluates when, then since, then until, for the item bound in s.
func (e *Engine) match(s *evalState, r *compiledRule) (m match, since, until time.Time, err error) {
	if r.when != nil {
		v, _, err := r.when.Eval(s)
		if err != nil {
			return notMatched, since, until, fmt.Errorf("when: %w", err)
		}
		b, ok := v.(types.Bool)
		if !ok {
			return notMatched, since, until, fmt.Errorf("when: returned %s, want a bool", typeName(v.Type().TypeName()))
		}
		if !b {
			return notMatched, since, until, nil
		}
	}
	if since, err = evalTime(r.since, s); err != nil {
		return notMatched, since, until, fmt.Errorf("since: %w", err)
	}
	if r.until != nil {
		if until, err = evalTime(r.until, s); err != nil {
			return notMatched, since, until, fmt.Errorf("until: %w", err)
		}
		if !until.After(since) {
			return notMatched, since, until, nil // an empty window never applies
		}
		if !s.now.Before(until) {
			return notMatched, since, until, nil
		}
	}
	if since.After(s.now) {
		return pending, since, until, nil
	}
	return applies, since, until, nil
}

// better reports whether a should be reported instead of b: it ends later
// (no end counts as latest), or ends at the same time and started earlier,
// or failing that its English message sorts first, so that the choice never
// depends on the order of the facts.
func (e *Engine) better(r *compiledRule, a, b candidate) bool {
	switch {
	case a.until.IsZero() != b.until.IsZero():
		return a.until.IsZero()
	case !a.until.Equal(b.until):
		return a.until.After(b.until)
	case !a.since.Equal(b.since):
		return a.since.Before(b.since)
	}
	aen, azh := e.messages(r, a)
	ben, bzh := e.messages(r, b)
	return aen+"\x00"+azh < ben+"\x00"+bzh
}

func evalTime(p cel.Program, s *evalState) (time.Time, error) {
	v, _, err := p.Eval(s)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := v.(types.Timestamp)
	if !ok {
		return time.Time{}, fmt.Errorf("returned %s, want a timestamp", typeName(v.Type().TypeName()))
	}
	return t.Time, nil
}
