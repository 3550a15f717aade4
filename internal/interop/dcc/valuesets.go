package dcc

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed data/valuesets.json
var valueSetsJSON []byte

// The value sets by the name the DCC schema gives them.
const (
	setDisease      = "disease-agent-targeted"
	setVaccineType  = "vaccine-prophylaxis"
	setProduct      = "vaccine-medicinal-product"
	setManufacturer = "vaccine-mah-manf"
	setTestType     = "test-type"
	setTestResult   = "test-result"
	setTestDevice   = "test-manf"
)

// The codes Issue writes.
const (
	codeCOVID19     = "840539006"
	codeNAAT        = "LP6464-4"
	codeRAT         = "LP217198-3"
	codeNotDetected = "260415000"
	codeDetected    = "260373001"
	valueSetsFile   = "data/valuesets.json"
)

// ValueSets holds the display names of the DCC value sets and the table of
// which manufacturer and vaccine type go with each vaccine product.
type ValueSets struct {
	names    map[string]map[string]string // set -> code -> display
	products map[string]productEncoding   // product code -> its ma and vp
}

type productEncoding struct {
	Manufacturer string `json:"ma"`
	VaccineType  string `json:"vp"`
}

// LoadValueSets reads the value sets embedded in the package.
func LoadValueSets() (*ValueSets, error) {
	var raw map[string]struct {
		Values   map[string]string          `json:"values"`
		Products map[string]productEncoding `json:"products"`
	}
	if err := json.Unmarshal(valueSetsJSON, &raw); err != nil {
		return nil, fmt.Errorf("dcc: load %s: %w", valueSetsFile, err)
	}
	vs := &ValueSets{names: map[string]map[string]string{}}
	for name, set := range raw {
		if set.Products != nil {
			vs.products = set.Products
			continue
		}
		vs.names[name] = set.Values
	}
	return vs, nil
}

// Display returns the display name of code in the named value set, or ""
// when the set has no such code.
func (vs *ValueSets) Display(set, code string) string {
	return vs.names[set][code]
}

// product finds a vaccine product by its code or its display name (case
// and punctuation aside: "Comirnaty", "BBIBP-CorV", "bbibp corv",
// "EU/1/20/1528"), or by a display name that starts with name followed by a
// non-letter ("BBIBP" finds "BBIBP-CorV"), and returns its code and encoding.
func (vs *ValueSets) product(name string) (string, productEncoding, bool) {
	if enc, ok := vs.products[name]; ok {
		return name, enc, true
	}
	key := foldName(name)
	if key == "" {
		return "", productEncoding{}, false
	}
	var prefixCode string
	var prefixMatches int
	for code, display := range vs.names[setProduct] {
		enc, ok := vs.products[code]
		if !ok {
			continue // deprecated: not issued
		}
		d := foldName(strings.TrimSuffix(display, " (deprecated)"))
		if d == key || foldName(code) == key {
			return code, enc, true
		}
		if strings.HasPrefix(d, key) {
			prefixCode, prefixMatches = code, prefixMatches+1
		}
	}
	if prefixMatches == 1 {
		return prefixCode, vs.products[prefixCode], true
	}
	return "", productEncoding{}, false
}

// foldName lower-cases s and drops everything but letters and digits.
func foldName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fillNames sets the display names of c's codes.
func (vs *ValueSets) fillNames(c *Certificate) {
	for i := range c.Vaccinations {
		v := &c.Vaccinations[i]
		v.DiseaseName = vs.Display(setDisease, v.Disease)
		v.VaccineTypeName = vs.Display(setVaccineType, v.VaccineType)
		v.ProductName = vs.Display(setProduct, v.Product)
		v.ManufacturerName = vs.Display(setManufacturer, v.Manufacturer)
	}
	for i := range c.Tests {
		t := &c.Tests[i]
		t.DiseaseName = vs.Display(setDisease, t.Disease)
		t.TestTypeName = vs.Display(setTestType, t.TestType)
		t.ManufacturerName = vs.Display(setTestDevice, t.Manufacturer)
		t.ResultName = vs.Display(setTestResult, t.Result)
	}
	for i := range c.Recoveries {
		r := &c.Recoveries[i]
		r.DiseaseName = vs.Display(setDisease, r.Disease)
	}
}
