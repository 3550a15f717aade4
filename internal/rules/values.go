package rules

import (
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"

	"healthcode"
)

// This file turns a resident's facts into CEL values without copying them
// into maps: every item is a small read-only view over the domain struct that
// answers field lookups on demand. Items are pointer-shaped, so handing one to
// CEL as a ref.Val does not allocate.

// fieldType is the CEL type of an item field.
type fieldType uint8

const (
	fString fieldType = iota
	fInt
	fDouble
	fBool
	fTimestamp
	fList
)

func (t fieldType) String() string {
	return [...]string{"string", "int", "double", "bool", "timestamp", "list"}[t]
}

// fieldDesc describes one item field. An optional field is absent from the
// item when unset, so rules test it with has().
type fieldDesc struct {
	name     string
	typ      fieldType
	optional bool
}

// kind describes the items of one list in facts (or a nested record).
type kind struct {
	name   string
	fields []fieldDesc
}

func (k *kind) field(name string) (fieldDesc, bool) {
	for _, f := range k.fields {
		if f.name == name {
			return f, true
		}
	}
	return fieldDesc{}, false
}

func (k *kind) fieldNames() []string {
	names := make([]string, len(k.fields))
	for i, f := range k.fields {
		names[i] = f.name
	}
	return names
}

// kindID indexes the lists of facts, in the order they are documented.
type kindID int

const (
	kDeclarations kindID = iota
	kVisits
	kTests
	kVaccinations
	kRecoveries
	kCases
	kContacts
	kAreas
	kOverrides
	numFactKinds
)

// The item kinds. These tables are constant: they are the published shape of
// the rule language (docs/rules.md lists the same fields).
var (
	declarationKind = kind{"declarations", []fieldDesc{
		{"id", fInt, false},
		{"at", fTimestamp, false},
		{"temperature", fDouble, false},
		{"symptoms", fList, false},
		{"contact_with_case", fBool, false},
		{"visited", fList, false},
	}}
	visitedKind = kind{"visited", []fieldDesc{
		{"region", fString, false},
		{"date", fTimestamp, false},
	}}
	visitKind = kind{"visits", []fieldDesc{
		{"region", fString, false},
		{"date", fTimestamp, false},
		{"declared_at", fTimestamp, false},
		{"risk", fString, false},
	}}
	testKind = kind{"tests", []fieldDesc{
		{"id", fInt, false},
		{"type", fString, false},
		{"result", fString, false},
		{"sampled_at", fTimestamp, false},
		{"resulted_at", fTimestamp, false},
		{"institution", fString, false},
	}}
	vaccinationKind = kind{"vaccinations", []fieldDesc{
		{"id", fInt, false},
		{"product", fString, false},
		{"dose", fInt, false},
		{"series_doses", fInt, false},
		{"date", fTimestamp, false},
	}}
	recoveryKind = kind{"recoveries", []fieldDesc{
		{"id", fInt, false},
		{"first_positive", fTimestamp, false},
		{"valid_from", fTimestamp, false},
		{"valid_until", fTimestamp, false},
		{"country", fString, false},
		{"issuer", fString, false},
		{"source", fString, false},
	}}
	caseKind = kind{"cases", []fieldDesc{
		{"id", fInt, false},
		{"confirmed_at", fTimestamp, false},
		{"onset_date", fTimestamp, true},
		{"sample_date", fTimestamp, true},
		{"discharged_at", fTimestamp, true},
	}}
	contactKind = kind{"contacts", []fieldDesc{
		{"id", fInt, false},
		{"case_id", fInt, false},
		{"venue", fString, false},
		{"last_exposure", fTimestamp, false},
		{"designated_at", fTimestamp, false},
	}}
	areaKind = kind{"areas", []fieldDesc{
		{"id", fInt, false},
		{"prefix", fString, false},
		{"level", fString, false},
		{"from", fTimestamp, false},
		{"to", fTimestamp, true},
	}}
	overrideKind = kind{"overrides", []fieldDesc{
		{"id", fInt, false},
		{"fact", fString, false},
		{"kind", fString, false},
		{"reason", fString, false},
		{"proposed_at", fTimestamp, false},
		{"approved_at", fTimestamp, false},
	}}
	residentKind = kind{"resident", []fieldDesc{
		{"region", fString, false},
		{"birth_date", fTimestamp, true},
		{"age", fInt, true},
	}}
	factsKind = kind{"facts", []fieldDesc{
		{"declarations", fList, false},
		{"visits", fList, false},
		{"tests", fList, false},
		{"vaccinations", fList, false},
		{"recoveries", fList, false},
		{"cases", fList, false},
		{"contacts", fList, false},
		{"areas", fList, false},
		{"overrides", fList, false},
	}}
	factKinds = [numFactKinds]*kind{&declarationKind, &visitKind, &testKind, &vaccinationKind, &recoveryKind, &caseKind, &contactKind, &areaKind, &overrideKind}
)

// factKindByName returns the list of facts called name.
func factKindByName(name string) (kindID, bool) {
	for i, k := range factKinds {
		if k.name == name {
			return kindID(i), true
		}
	}
	return 0, false
}

// object is a typed view that a record exposes to CEL as a map.
type object interface {
	comparable
	kind() *kind
	get(name string) (ref.Val, bool)
}

// fieldGetter is what templates use to read a field without boxing the key.
type fieldGetter interface {
	getField(name string) (ref.Val, bool)
}

// record presents an object to CEL as a read-only map from field name to
// value. It is a single pointer, so boxing it in a ref.Val is free.
type record[P object] struct{ p P }

var (
	_ traits.Mapper = record[*declItem]{}
	_ fieldGetter   = record[*declItem]{}
)

func (r record[P]) getField(name string) (ref.Val, bool) { return r.p.get(name) }

// Find implements traits.Mapper.
func (r record[P]) Find(key ref.Val) (ref.Val, bool) {
	s, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	return r.p.get(string(s))
}

// Get implements traits.Indexer.
func (r record[P]) Get(key ref.Val) ref.Val {
	if v, ok := r.Find(key); ok {
		return v
	}
	return types.NewErr("no such key: %v", key)
}

// Contains implements traits.Container: whether key is a present field.
func (r record[P]) Contains(key ref.Val) ref.Val {
	_, ok := r.Find(key)
	return types.Bool(ok)
}

func (r record[P]) present() []string {
	var names []string
	for _, f := range r.p.kind().fields {
		if _, ok := r.p.get(f.name); ok {
			names = append(names, f.name)
		}
	}
	return names
}

// Size implements traits.Sizer: the number of present fields.
func (r record[P]) Size() ref.Val { return types.Int(len(r.present())) }

// Iterator implements traits.Iterable over the present field names.
func (r record[P]) Iterator() traits.Iterator { return &keyIterator{keys: r.present()} }

// ConvertToNative implements ref.Val; records convert to map[string]any.
func (r record[P]) ConvertToNative(typeDesc reflect.Type) (any, error) {
	m := map[string]any{}
	for _, name := range r.present() {
		v, _ := r.p.get(name)
		n, err := v.ConvertToNative(reflect.TypeFor[any]())
		if err != nil {
			return nil, err
		}
		m[name] = n
	}
	if reflect.TypeOf(m).AssignableTo(typeDesc) {
		return m, nil
	}
	return nil, fmt.Errorf("type conversion error from map to %v", typeDesc)
}

// ConvertToType implements ref.Val.
func (r record[P]) ConvertToType(t ref.Type) ref.Val {
	switch t.TypeName() {
	case types.MapType.TypeName():
		return r
	case types.TypeType.TypeName():
		return types.MapType
	}
	return types.NewErr("type conversion error from map to %s", t.TypeName())
}

// Equal implements ref.Val with CEL map equality.
func (r record[P]) Equal(other ref.Val) ref.Val {
	if o, ok := other.(record[P]); ok && o.p == r.p {
		return types.True
	}
	m, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	names := r.present()
	if m.Size() != types.Int(len(names)) {
		return types.False
	}
	for _, name := range names {
		v, _ := r.p.get(name)
		w, found := m.Find(types.String(name))
		if !found || v.Equal(w) != types.True {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (r record[P]) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (r record[P]) Value() any { return r.p }

// keyIterator iterates over a record's field names.
type keyIterator struct {
	keys []string
	i    int
}

func (it *keyIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.keys)) }
func (it *keyIterator) Next() ref.Val {
	if it.i >= len(it.keys) {
		return nil
	}
	it.i++
	return types.String(it.keys[it.i-1])
}
func (it *keyIterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion on iterators not supported")
}
func (it *keyIterator) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }
func (it *keyIterator) Equal(ref.Val) ref.Val          { return types.NewErr("no such overload") }
func (it *keyIterator) Type() ref.Type                 { return types.IteratorType }
func (it *keyIterator) Value() any                     { return nil }

func timestamp(t time.Time) ref.Val { return types.Timestamp{Time: t} }

// optionalTime returns t, or nothing when t is zero (the field is absent).
func optionalTime(t time.Time) (ref.Val, bool) {
	if t.IsZero() {
		return nil, false
	}
	return types.Timestamp{Time: t}, true
}

// declItem is a declaration seen by rules.
type declItem healthcode.Declaration

func (d *declItem) kind() *kind { return &declarationKind }
func (d *declItem) get(name string) (ref.Val, bool) {
	switch name {
	case "id":
		return types.Int(d.ID), true
	case "at":
		return timestamp(d.DeclaredAt), true
	case "temperature":
		return types.Double(d.Temperature), true
	case "symptoms":
		return symptomList{&d.Symptoms}, true
	case "contact_with_case":
		return types.Bool(d.ContactWithCase), true
	case "visited":
		elems := make([]ref.Val, len(d.Visited))
		for i := range d.Visited {
			elems[i] = record[*visitedItem]{(*visitedItem)(&d.Visited[i])}
		}
		return types.NewRefValList(types.DefaultTypeAdapter, elems), true
	}
	return nil, false
}

// symptomList is a declaration's symptoms as a CEL list of strings. size()
// and "in", which rules use on every declaration, run without allocating;
// anything else goes through a full list.
type symptomList struct{ p *[]healthcode.Symptom }

var _ traits.Lister = symptomList{}

func (l symptomList) full() traits.Lister {
	elems := make([]ref.Val, len(*l.p))
	for i, s := range *l.p {
		elems[i] = types.String(s)
	}
	return types.NewRefValList(types.DefaultTypeAdapter, elems)
}

func (l symptomList) Size() ref.Val { return types.Int(len(*l.p)) }
func (l symptomList) Contains(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return l.full().Contains(v)
	}
	for _, x := range *l.p {
		if string(x) == string(s) {
			return types.True
		}
	}
	return types.False
}
func (l symptomList) Add(o ref.Val) ref.Val            { return l.full().Add(o) }
func (l symptomList) Get(i ref.Val) ref.Val            { return l.full().Get(i) }
func (l symptomList) Iterator() traits.Iterator        { return l.full().Iterator() }
func (l symptomList) Equal(o ref.Val) ref.Val          { return l.full().Equal(o) }
func (l symptomList) ConvertToType(t ref.Type) ref.Val { return l.full().ConvertToType(t) }
func (l symptomList) ConvertToNative(t reflect.Type) (any, error) {
	return l.full().ConvertToNative(t)
}
func (l symptomList) Type() ref.Type { return types.ListType }
func (l symptomList) Value() any     { return *l.p }

// visitedItem is one entry of a declaration's visited list.
type visitedItem healthcode.Visit

func (v *visitedItem) kind() *kind { return &visitedKind }
func (v *visitedItem) get(name string) (ref.Val, bool) {
	switch name {
	case "region":
		return types.String(v.Region), true
	case "date":
		return timestamp(v.Date), true
	}
	return nil, false
}

// visit is one declared visit, flattened out of its declaration and joined
// with the area designations that cover it.
type visit struct {
	region     string
	date       time.Time
	declaredAt time.Time
	risk       healthcode.RiskLevel
}

type visitItem visit

func (v *visitItem) kind() *kind { return &visitKind }
func (v *visitItem) get(name string) (ref.Val, bool) {
	switch name {
	case "region":
		return types.String(v.region), true
	case "date":
		return timestamp(v.date), true
	case "declared_at":
		return timestamp(v.declaredAt), true
	case "risk":
		return types.String(v.risk), true
	}
	return nil, false
}

// riskRank orders risk levels; unknown levels rank with none.
func riskRank(l healthcode.RiskLevel) int {
	switch l {
	case healthcode.LowRisk:
		return 1
	case healthcode.MediumRisk:
		return 2
	case healthcode.HighRisk:
		return 3
	}
	return 0
}

// flattenVisits lists every declared visit with the highest risk level of the
// areas covering it on the day of the visit.
func flattenVisits(f *healthcode.Facts) []visit {
	n := 0
	for i := range f.Declarations {
		n += len(f.Declarations[i].Visited)
	}
	if n == 0 {
		return nil
	}
	visits := make([]visit, 0, n)
	for i := range f.Declarations {
		d := &f.Declarations[i]
		for _, v := range d.Visited {
			var risk healthcode.RiskLevel
			for j := range f.Areas {
				a := &f.Areas[j]
				if riskRank(a.Level) > riskRank(risk) && a.Covers(v.Region, v.Date) {
					risk = a.Level
				}
			}
			visits = append(visits, visit{region: v.Region, date: v.Date, declaredAt: d.DeclaredAt, risk: risk})
		}
	}
	return visits
}

type testItem healthcode.TestResult

func (t *testItem) kind() *kind { return &testKind }
func (t *testItem) get(name string) (ref.Val, bool) {
	switch name {
	case "id":
		return types.Int(t.ID), true
	case "type":
		return types.String(t.Type), true
	case "result":
		return types.String(t.Result), true
	case "sampled_at":
		return timestamp(t.SampledAt), true
	case "resulted_at":
		return timestamp(t.ResultedAt), true
	case "institution":
		return types.String(t.Institution), true
	}
	return nil, false
}

type vaccinationItem healthcode.Vaccination

func (v *vaccinationItem) kind() *kind { return &vaccinationKind }
func (v *vaccinationItem) get(name string) (ref.Val, bool) {
	switch name {
	case "id":
		return types.Int(v.ID), true
	case "product":
		return types.String(v.Product), true
	case "dose":
		return types.Int(v.Dose), true
	case "series_doses":
		return types.Int(v.SeriesDoses), true
	case "date":
		return timestamp(v.Date), true
	}
	return nil, false
}

type recoveryItem healthcode.Recovery

func (r *recoveryItem) kind() *kind { return &recoveryKind }
func (r *recoveryItem) get(name string) (ref.Val, bool) {
	switch name {
	case "id":
		return types.Int(r.ID), true
	case "first_positive":
		return timestamp(r.FirstPositive), true
	case "valid_from":
		return timestamp(r.ValidFrom), true
	case "valid_until":
		return timestamp(r.ValidUntil), true
	case "country":
		return types.String(r.Country), true
	case "issuer":
		return types.String(r.Issuer), true
	case "source":
		return types.String(r.Source), true
	}
	return nil, false
}

type caseItem healthcode.Case

func (c *caseItem) kind() *kind { return &caseKind }
func (c *caseItem) get(name string) (ref.Val, bool) {
	switch name {
	case "id":
		return types.Int(c.ID), true
	case "confirmed_at":
		return timestamp(c.ConfirmedAt), true
	case "onset_date":
		return optionalTime(c.OnsetDate)
	case "sample_date":
		return optionalTime(c.SampleDate)
	case "discharged_at":
		return optionalTime(c.DischargedAt)
	}
	return nil, false
}

type contactItem healthcode.ContactDesignation

func (c *contactItem) kind() *kind { return &contactKind }
func (c *contactItem) get(name string) (ref.Val, bool) {
	switch name {
	case "id":
		return types.Int(c.ID), true
	case "case_id":
		return types.Int(c.CaseID), true
	case "venue":
		return types.String(c.Venue), true
	case "last_exposure":
		return timestamp(c.LastExposure), true
	case "designated_at":
		return timestamp(c.DesignatedAt), true
	}
	return nil, false
}

type areaItem healthcode.AreaRisk

func (a *areaItem) kind() *kind { return &areaKind }
func (a *areaItem) get(name string) (ref.Val, bool) {
	switch name {
	case "id":
		return types.Int(a.ID), true
	case "prefix":
		return types.String(a.Prefix), true
	case "level":
		return types.String(a.Level), true
	case "from":
		return timestamp(a.From), true
	case "to":
		return optionalTime(a.To)
	}
	return nil, false
}

// overrideItem is an approved override: a fact withdrawn with a reason.
type overrideItem healthcode.Override

func (o *overrideItem) kind() *kind { return &overrideKind }
func (o *overrideItem) get(name string) (ref.Val, bool) {
	switch name {
	case "id":
		return types.Int(o.ID), true
	case "fact":
		return types.String(o.Fact.String()), true
	case "kind":
		return types.String(o.Kind), true
	case "reason":
		return types.String(o.Reason), true
	case "proposed_at":
		return timestamp(o.ProposedAt), true
	case "approved_at":
		return timestamp(o.DecidedAt), true
	}
	return nil, false
}

// evalState is one evaluation: the facts, the moment, the current item. It
// is also the CEL activation, so binding a new item costs one assignment.
type evalState struct {
	facts     *healthcode.Facts
	now       time.Time
	nowVal    ref.Val
	loc       *time.Location
	it        ref.Val
	visits    []visit
	visitsSet bool
	lists     [numFactKinds]ref.Val
}

var _ interpreter.Activation = (*evalState)(nil)

// ResolveName implements interpreter.Activation.
func (s *evalState) ResolveName(name string) (any, bool) {
	switch name {
	case "it":
		return s.it, s.it != nil
	case "now":
		return s.nowVal, true
	case "facts":
		return record[*factsView]{(*factsView)(s)}, true
	case "resident":
		return record[*residentView]{(*residentView)(s)}, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (s *evalState) Parent() interpreter.Activation { return nil }

func (s *evalState) flatVisits() []visit {
	if !s.visitsSet {
		s.visits = flattenVisits(s.facts)
		s.visitsSet = true
	}
	return s.visits
}

// count returns the number of items in a list of facts.
func (s *evalState) count(k kindID) int {
	f := s.facts
	switch k {
	case kDeclarations:
		return len(f.Declarations)
	case kVisits:
		return len(s.flatVisits())
	case kTests:
		return len(f.Tests)
	case kVaccinations:
		return len(f.Vaccinations)
	case kRecoveries:
		return len(f.Recoveries)
	case kCases:
		return len(f.Cases)
	case kContacts:
		return len(f.Contacts)
	case kAreas:
		return len(f.Areas)
	case kOverrides:
		return len(f.Overrides)
	}
	return 0
}

// item returns item i of a list of facts.
func (s *evalState) item(k kindID, i int) ref.Val {
	f := s.facts
	switch k {
	case kDeclarations:
		return record[*declItem]{(*declItem)(&f.Declarations[i])}
	case kVisits:
		return record[*visitItem]{(*visitItem)(&s.flatVisits()[i])}
	case kTests:
		return record[*testItem]{(*testItem)(&f.Tests[i])}
	case kVaccinations:
		return record[*vaccinationItem]{(*vaccinationItem)(&f.Vaccinations[i])}
	case kRecoveries:
		return record[*recoveryItem]{(*recoveryItem)(&f.Recoveries[i])}
	case kCases:
		return record[*caseItem]{(*caseItem)(&f.Cases[i])}
	case kContacts:
		return record[*contactItem]{(*contactItem)(&f.Contacts[i])}
	case kAreas:
		return record[*areaItem]{(*areaItem)(&f.Areas[i])}
	case kOverrides:
		return record[*overrideItem]{(*overrideItem)(&f.Overrides[i])}
	}
	panic("rules: unknown kind")
}

// list returns a list of facts as a CEL list, built on first use.
func (s *evalState) list(k kindID) ref.Val {
	if l := s.lists[k]; l != nil {
		return l
	}
	n := s.count(k)
	elems := make([]ref.Val, n)
	for i := range n {
		elems[i] = s.item(k, i)
	}
	l := types.NewRefValList(types.DefaultTypeAdapter, elems)
	s.lists[k] = l
	return l
}

// factsView is the facts variable.
type factsView evalState

func (v *factsView) kind() *kind { return &factsKind }
func (v *factsView) get(name string) (ref.Val, bool) {
	k, ok := factKindByName(name)
	if !ok {
		return nil, false
	}
	return (*evalState)(v).list(k), true
}

// residentView is the resident variable.
type residentView evalState

func (v *residentView) kind() *kind { return &residentKind }
func (v *residentView) get(name string) (ref.Val, bool) {
	r := &v.facts.Resident
	switch name {
	case "region":
		return types.String(r.Region), true
	case "birth_date":
		return optionalTime(r.BirthDate)
	case "age":
		if r.BirthDate.IsZero() {
			return nil, false
		}
		return types.Int(age(r.BirthDate, v.now.In(v.loc))), true
	}
	return nil, false
}

// age returns the whole years between a civil birth date (midnight UTC) and
// the civil date of now in now's location.
func age(birth, now time.Time) int {
	by, bm, bd := birth.UTC().Date()
	y, m, d := now.Date()
	a := y - by
	if m < bm || (m == bm && d < bd) {
		a--
	}
	return a
}

// formatValue renders a field value for a message template.
func formatValue(v ref.Val, loc *time.Location) string {
	switch v := v.(type) {
	case types.String:
		return string(v)
	case types.Int:
		return strconv.FormatInt(int64(v), 10)
	case types.Double:
		return strconv.FormatFloat(float64(v), 'f', -1, 64)
	case types.Timestamp:
		return v.In(loc).Format(time.DateOnly)
	case types.Bool:
		return strconv.FormatBool(bool(v))
	}
	return fmt.Sprint(v.Value())
}
