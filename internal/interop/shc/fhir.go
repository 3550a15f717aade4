package shc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Code systems used on the cards this package issues and labels.
const (
	SystemCVX    = "http://hl7.org/fhir/sid/cvx"
	SystemLOINC  = "http://loinc.org"
	SystemSNOMED = "http://snomed.info/sct"
)

// resourceKinds are the FHIR resource types a health card may carry: the
// SHC vaccination and laboratory profiles, and a patient summary (IPS).
var resourceKinds = map[string]bool{
	"Patient": true, "Immunization": true, "Observation": true, "DiagnosticReport": true, "Specimen": true,
	"Condition": true, "AllergyIntolerance": true, "MedicationStatement": true, "MedicationRequest": true,
	"Medication": true, "Procedure": true, "Organization": true, "Practitioner": true, "PractitionerRole": true,
	"Location": true, "Composition": true, "Device": true, "DeviceUseStatement": true, "Encounter": true,
	"ImmunizationRecommendation": true, "CarePlan": true, "ClinicalImpression": true, "Consent": true,
	"DocumentReference": true, "FamilyMemberHistory": true, "Flag": true, "Media": true,
}

// Labels for the codes a checkpoint is most likely to see; other codes are
// shown as system and code.
var codeLabels = map[string]string{
	SystemCVX + "|207": "Moderna COVID-19 (mRNA-1273)",
	SystemCVX + "|208": "Pfizer-BioNTech COVID-19 (Comirnaty)",
	SystemCVX + "|210": "AstraZeneca COVID-19 (Vaxzevria)",
	SystemCVX + "|211": "Novavax COVID-19",
	SystemCVX + "|212": "Janssen COVID-19",
	SystemCVX + "|213": "COVID-19 vaccine, unspecified",
	SystemCVX + "|229": "Moderna COVID-19, bivalent",
	SystemCVX + "|300": "Pfizer-BioNTech COVID-19, bivalent",
	SystemCVX + "|510": "Sinopharm BIBP COVID-19 (BBIBP-CorV)",
	SystemCVX + "|511": "Sinovac COVID-19 (CoronaVac)",

	SystemLOINC + "|94500-6": "SARS-CoV-2 RNA, NAA (PCR)",
	SystemLOINC + "|94558-4": "SARS-CoV-2 antigen, rapid immunoassay",
	SystemLOINC + "|94762-2": "SARS-CoV-2 antibody, immunoassay",

	SystemSNOMED + "|10828004":  "positive",
	SystemSNOMED + "|260373001": "detected",
	SystemSNOMED + "|260385009": "negative",
	SystemSNOMED + "|260408008": "weakly positive",
	SystemSNOMED + "|260415000": "not detected",
	SystemSNOMED + "|720735008": "presumptive positive",
}

// fhirCoding, fhirConcept and fhirReference are the FHIR datatypes the
// checks and the display read, and that Issue writes.
type fhirCoding struct {
	System string `json:"system,omitempty"`
	Code   string `json:"code"`
}

type fhirConcept struct {
	Coding []fhirCoding `json:"coding"`
}

type fhirReference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

type fhirName struct {
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

// fhirResource holds the members of the resources this package shows.
type fhirResource struct {
	ResourceType string `json:"resourceType"`
	Status       string `json:"status"`

	Name      []fhirName `json:"name"`      // Patient
	BirthDate string     `json:"birthDate"` // Patient

	VaccineCode        *fhirConcept `json:"vaccineCode"` // Immunization
	OccurrenceDateTime string       `json:"occurrenceDateTime"`
	OccurrenceString   string       `json:"occurrenceString"`
	LotNumber          string       `json:"lotNumber"`

	Code                 *fhirConcept    `json:"code"` // Observation
	EffectiveDateTime    string          `json:"effectiveDateTime"`
	ValueCodeableConcept *fhirConcept    `json:"valueCodeableConcept"`
	ValueQuantity        *fhirQuantity   `json:"valueQuantity"`
	ValueString          *string         `json:"valueString"`
	ValueBoolean         *bool           `json:"valueBoolean"`
	Performer            json.RawMessage `json:"performer"` // Immunization: [{actor}], Observation: [Reference]
}

type fhirQuantity struct {
	Value      json.Number `json:"value"`
	Unit       string      `json:"unit"`
	Comparator string      `json:"comparator"`
}

// bundleView is what a card shows.
type bundleView struct {
	patient       *Patient
	immunizations []Immunization
	observations  []Observation
	counts        map[string]int
}

// checkBundle checks the shape of a card's FHIR bundle: a collection of
// entries with short resource:N URLs, each a resource of a kind health cards
// carry, whose resource: references resolve within the bundle. It returns
// what the bundle shows whenever it parses, even when its shape is wrong.
func checkBundle(raw json.RawMessage) (*bundleView, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("not a FHIR bundle: %v", err)
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("fhirBundle has resourceType %q, want Bundle", b.ResourceType)
	}
	if b.Type != "collection" {
		return nil, fmt.Errorf("bundle type %q, want collection", b.Type)
	}
	if len(b.Entry) == 0 {
		return nil, errors.New("the bundle has no entries")
	}
	view := &bundleView{counts: map[string]int{}}
	var problems []string
	urls := map[string]bool{}
	var refs []string
	for i, e := range b.Entry {
		where := fmt.Sprintf("entry %d (%s)", i, e.FullURL)
		if !resourceURL(e.FullURL) {
			problems = append(problems, fmt.Sprintf("entry %d: fullUrl %q is not resource:N", i, e.FullURL))
		} else if urls[e.FullURL] {
			problems = append(problems, fmt.Sprintf("entry %d: fullUrl %s is used twice", i, e.FullURL))
		}
		urls[e.FullURL] = true
		var res fhirResource
		if len(e.Resource) == 0 || string(e.Resource) == "null" {
			problems = append(problems, where+": no resource")
			continue
		}
		if err := json.Unmarshal(e.Resource, &res); err != nil {
			problems = append(problems, fmt.Sprintf("%s: not a FHIR resource: %v", where, err))
			continue
		}
		var generic any
		_ = json.Unmarshal(e.Resource, &generic) // it parsed above
		refs = collectReferences(generic, refs)
		view.counts[res.ResourceType]++
		if !resourceKinds[res.ResourceType] {
			problems = append(problems, fmt.Sprintf("%s: resourceType %q is not a kind health cards carry", where, res.ResourceType))
			continue
		}
		if p := view.add(&res); p != "" {
			problems = append(problems, where+": "+p)
		}
	}
	if n := view.counts["Patient"]; n > 1 {
		problems = append(problems, fmt.Sprintf("%d Patient resources: a card is about one person", n))
	}
	for _, ref := range refs {
		if !urls[ref] {
			problems = append(problems, fmt.Sprintf("reference %s does not resolve to an entry", ref))
		}
	}
	if len(problems) > 0 {
		return view, errors.New(strings.Join(problems, "; "))
	}
	return view, nil
}

// resourceURL reports whether s is a short resource-scheme URI, resource:N.
func resourceURL(s string) bool {
	n, ok := strings.CutPrefix(s, "resource:")
	if !ok || n == "" || (len(n) > 1 && n[0] == '0') {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 32)
	return err == nil
}

// collectReferences appends every Reference.reference in v that uses the
// resource: scheme; other references (Organization/1) point outside the card.
func collectReferences(v any, out []string) []string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "reference" && strings.HasPrefix(s, "resource:") {
				out = append(out, s)
			} else {
				out = collectReferences(x, out)
			}
		}
	case []any:
		for _, x := range v {
			out = collectReferences(x, out)
		}
	}
	return out
}

// add records what a resource shows and returns what is wrong with it.
func (v *bundleView) add(res *fhirResource) string {
	switch res.ResourceType {
	case "Patient":
		if v.patient == nil {
			v.patient = &Patient{Name: displayName(res.Name), BirthDate: res.BirthDate}
		}
	case "Immunization":
		imm := Immunization{Date: res.OccurrenceDateTime, Status: res.Status, LotNumber: res.LotNumber}
		if imm.Date == "" {
			imm.Date = res.OccurrenceString
		}
		var perf []struct {
			Actor fhirReference `json:"actor"`
		}
		if json.Unmarshal(res.Performer, &perf) == nil && len(perf) > 0 {
			imm.Performer = perf[0].Actor.Display
		}
		if res.VaccineCode == nil || len(res.VaccineCode.Coding) == 0 {
			v.immunizations = append(v.immunizations, imm)
			return "an Immunization without a vaccineCode coding"
		}
		imm.Vaccine = coding(res.VaccineCode.Coding[0])
		v.immunizations = append(v.immunizations, imm)
		if imm.Date == "" {
			return "an Immunization without occurrenceDateTime"
		}
	case "Observation":
		obs := Observation{Date: res.EffectiveDateTime, Status: res.Status}
		var perf []fhirReference
		if json.Unmarshal(res.Performer, &perf) == nil && len(perf) > 0 {
			obs.Performer = perf[0].Display
		}
		switch {
		case res.ValueCodeableConcept != nil && len(res.ValueCodeableConcept.Coding) > 0:
			c := coding(res.ValueCodeableConcept.Coding[0])
			obs.Result = &c
		case res.ValueQuantity != nil:
			obs.Value = strings.TrimSpace(res.ValueQuantity.Comparator + string(res.ValueQuantity.Value) + " " + res.ValueQuantity.Unit)
		case res.ValueString != nil:
			obs.Value = *res.ValueString
		case res.ValueBoolean != nil:
			obs.Value = strconv.FormatBool(*res.ValueBoolean)
		}
		if res.Code == nil || len(res.Code.Coding) == 0 {
			v.observations = append(v.observations, obs)
			return "an Observation without a code coding"
		}
		obs.Code = coding(res.Code.Coding[0])
		v.observations = append(v.observations, obs)
	}
	return ""
}

func coding(c fhirCoding) Coding {
	return Coding{System: c.System, Code: c.Code, Display: codeLabels[c.System+"|"+c.Code]}
}

// displayName writes a FHIR HumanName for people: its text, else the given
// names and the family name.
func displayName(names []fhirName) string {
	if len(names) == 0 {
		return ""
	}
	n := names[0]
	if n.Text != "" {
		return n.Text
	}
	return strings.TrimSpace(strings.Join(append(append([]string{}, n.Given...), n.Family), " "))
}
