package dcc

import "math"

// certificateOf reads the typed certificate from a DCC decoded into maps
// and slices. A field of the wrong type is left empty; the schema check
// says what is wrong. It returns nil when doc is not a map.
func certificateOf(doc any) *Certificate {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil
	}
	c := &Certificate{Version: str(m["ver"]), DateOfBirth: str(m["dob"])}
	if n, ok := m["nam"].(map[string]any); ok {
		c.Name = Name{FamilyName: str(n["fn"]), FamilyNameStandard: str(n["fnt"]),
			GivenName: str(n["gn"]), GivenNameStandard: str(n["gnt"])}
	}
	for _, e := range entries(m["v"]) {
		c.Vaccinations = append(c.Vaccinations, VaccinationEntry{Disease: str(e["tg"]), VaccineType: str(e["vp"]),
			Product: str(e["mp"]), Manufacturer: str(e["ma"]), DoseNumber: integer(e["dn"]), SeriesDoses: integer(e["sd"]),
			Date: str(e["dt"]), Country: str(e["co"]), Issuer: str(e["is"]), ID: str(e["ci"])})
	}
	for _, e := range entries(m["t"]) {
		c.Tests = append(c.Tests, TestEntry{Disease: str(e["tg"]), TestType: str(e["tt"]), TestName: str(e["nm"]),
			Manufacturer: str(e["ma"]), SampledAt: str(e["sc"]), Result: str(e["tr"]), Centre: str(e["tc"]),
			Country: str(e["co"]), Issuer: str(e["is"]), ID: str(e["ci"])})
	}
	for _, e := range entries(m["r"]) {
		c.Recoveries = append(c.Recoveries, RecoveryEntry{Disease: str(e["tg"]), FirstPositive: str(e["fr"]),
			Country: str(e["co"]), Issuer: str(e["is"]), ValidFrom: str(e["df"]), ValidUntil: str(e["du"]), ID: str(e["ci"])})
	}
	return c
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// integer returns a whole number that fits an int32, else 0.
func integer(v any) int {
	switch n := v.(type) {
	case uint64:
		if n <= math.MaxInt32 {
			return int(n)
		}
	case int64:
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return int(n)
		}
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt32 && n <= math.MaxInt32 {
			return int(n)
		}
	}
	return 0
}

// entries returns the maps in a group's array, skipping anything else.
func entries(v any) []map[string]any {
	arr, _ := v.([]any)
	var out []map[string]any
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
