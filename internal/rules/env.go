package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// newEnv returns the CEL environment every rule expression compiles in.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("now", cel.TimestampType),
		cel.Variable("resident", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("facts", cel.MapType(cel.StringType, cel.ListType(cel.DynType))),
		cel.Variable("it", cel.DynType),
		cel.Function("days",
			cel.Overload("days_int", []*cel.Type{cel.IntType}, cel.DurationType,
				cel.UnaryBinding(durationFunc("days", 24*time.Hour)))),
		cel.Function("hours",
			cel.Overload("hours_int", []*cel.Type{cel.IntType}, cel.DurationType,
				cel.UnaryBinding(durationFunc("hours", time.Hour)))),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
	)
}

// maxDurationUnits keeps days(n) and hours(n) far from time.Duration's
// overflow (about 292 years).
const maxDurationUnits = 100_000

func durationFunc(name string, unit time.Duration) func(ref.Val) ref.Val {
	return func(v ref.Val) ref.Val {
		n, ok := v.(types.Int)
		if !ok {
			return types.MaybeNoSuchOverloadErr(v)
		}
		if n < -maxDurationUnits || n > maxDurationUnits {
			return types.NewErr("%s(%d) is out of range (at most %d)", name, int64(n), maxDurationUnits)
		}
		return types.Duration{Duration: time.Duration(n) * unit}
	}
}

// exprKind says what type an expression must produce.
type exprKind uint8

const (
	wantList exprKind = iota
	wantBool
	wantTimestamp
)

func (k exprKind) String() string {
	return [...]string{"a list", "a bool", "a timestamp"}[k]
}

// accepts reports whether the checked output type t may produce k. A dyn
// result is accepted here and checked again at run time.
func (k exprKind) accepts(t *cel.Type) bool {
	switch t.Kind() {
	case types.DynKind:
		return true
	case types.ListKind:
		return k == wantList
	case types.BoolKind:
		return k == wantBool
	case types.TimestampKind:
		return k == wantTimestamp
	}
	return false
}

// matches reports whether a run-time value has kind k.
func (k exprKind) matches(v ref.Val) bool {
	switch k {
	case wantBool:
		_, ok := v.(types.Bool)
		return ok
	case wantTimestamp:
		_, ok := v.(types.Timestamp)
		return ok
	}
	_, ok := v.(traits.Lister)
	return ok
}

// compile parses and type-checks one expression.
func compile(env *cel.Env, src string, want exprKind) (*cel.Ast, error) {
	a, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("does not compile: %s", strings.ReplaceAll(iss.Err().Error(), "<input>:", ""))
	}
	if !want.accepts(a.OutputType()) {
		return nil, fmt.Errorf("must be %s, but is %s", want, typeName(a.OutputType().String()))
	}
	return a, nil
}

// factsSelect reports whether e is exactly facts.<name> for a known list.
func factsSelect(e celast.Expr) (kindID, bool) {
	if e.Kind() != celast.SelectKind {
		return 0, false
	}
	sel := e.AsSelect()
	if sel.IsTestOnly() || sel.Operand().Kind() != celast.IdentKind || sel.Operand().AsIdent() != "facts" {
		return 0, false
	}
	return factKindByName(sel.FieldName())
}

// eachKind infers the kind of item an `each` expression yields: the one list
// of facts it reads, when it reads exactly one (facts.tests,
// facts.tests.filter(t, ...)). It returns nil when it cannot tell.
func eachKind(e celast.Expr) *kind {
	var found *kind
	ambiguous := false
	celast.PostOrderVisit(e, celast.NewExprVisitor(func(x celast.Expr) {
		if id, ok := factsSelect(x); ok {
			if found != nil && found != factKinds[id] {
				ambiguous = true
			}
			found = factKinds[id]
		}
	}))
	if ambiguous {
		return nil
	}
	return found
}

// fieldChecker reports selections of fields that do not exist, such as
// it.temprature, facts.test or resident.city, at load time rather than as a
// run-time "no such key" on the first resident who has such an item.
type fieldChecker struct {
	noIt     bool // it is not bound (in each)
	problems []string
}

// scope maps a variable to the kind of record it holds; a nil kind means a
// local variable of unknown shape (it hides any global of the same name).
type scope map[string]*kind

func (c *fieldChecker) check(e celast.Expr, sc scope) {
	switch e.Kind() {
	case celast.IdentKind:
		if _, local := sc["it"]; c.noIt && !local && e.AsIdent() == "it" {
			c.problems = append(c.problems, "cannot use it: it is bound to each item that each returns")
		}
	case celast.SelectKind:
		sel := e.AsSelect()
		if op := sel.Operand(); op.Kind() == celast.IdentKind {
			c.checkField(op.AsIdent(), sel.FieldName(), sc)
		}
		c.check(sel.Operand(), sc)
	case celast.CallKind:
		call := e.AsCall()
		if call.IsMemberFunction() {
			c.check(call.Target(), sc)
		}
		for _, a := range call.Args() {
			c.check(a, sc)
		}
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			c.check(el, sc)
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			if en.Kind() == celast.MapEntryKind {
				c.check(en.AsMapEntry().Key(), sc)
				c.check(en.AsMapEntry().Value(), sc)
			}
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			if f.Kind() == celast.StructFieldKind {
				c.check(f.AsStructField().Value(), sc)
			}
		}
	case celast.ComprehensionKind:
		comp := e.AsComprehension()
		c.check(comp.IterRange(), sc)
		c.check(comp.AccuInit(), sc)
		inner := make(scope, len(sc)+3)
		for k, v := range sc {
			inner[k] = v
		}
		inner[comp.IterVar()] = rangeKind(comp.IterRange(), sc)
		if comp.HasIterVar2() {
			inner[comp.IterVar2()] = nil
		}
		inner[comp.AccuVar()] = nil
		c.check(comp.LoopCondition(), inner)
		c.check(comp.LoopStep(), inner)
		c.check(comp.Result(), inner)
	}
}

func (c *fieldChecker) checkField(variable, field string, sc scope) {
	k, local := sc[variable]
	if !local {
		switch variable {
		case "facts":
			k = &factsKind
		case "resident":
			k = &residentKind
		}
	}
	if k == nil {
		return
	}
	if _, ok := k.field(field); !ok {
		var whose string
		switch k {
		case &factsKind, &residentKind:
			whose = k.name + " has"
		case &visitedKind:
			whose = "entries of a declaration's visited list have"
		default:
			whose = "items of facts." + k.name + " have"
		}
		c.problems = append(c.problems, fmt.Sprintf("%s has no field %q (%s %s)",
			variable, field, whose, strings.Join(k.fieldNames(), ", ")))
	}
}

// rangeKind is the kind of the elements of a comprehension's range, when
// known: facts.<list>, or the visited list of a declaration.
func rangeKind(e celast.Expr, sc scope) *kind {
	if e.Kind() != celast.SelectKind {
		return nil
	}
	sel := e.AsSelect()
	if sel.Operand().Kind() != celast.IdentKind {
		return nil
	}
	name := sel.Operand().AsIdent()
	k, local := sc[name]
	switch {
	case !local && name == "facts":
		if id, ok := factKindByName(sel.FieldName()); ok {
			return factKinds[id]
		}
	case k == &declarationKind && sel.FieldName() == "visited":
		return &visitedKind
	}
	return nil
}

// typeName is the CEL name of a type as rule authors write it.
func typeName(name string) string {
	switch name {
	case "google.protobuf.Timestamp":
		return "timestamp"
	case "google.protobuf.Duration":
		return "duration"
	}
	return name
}
