package healthcode

import (
	"strings"
	"testing"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// validID returns a well-formed resident ID number for the birth date and sex.
func validID(region, birth string, male bool) string {
	seq := "12"
	if male {
		seq += "3"
	} else {
		seq += "4"
	}
	first := region + strings.ReplaceAll(birth, "-", "") + seq
	return first + string(ResidentIDCheckChar(first))
}

func TestResidentIDCheckChar(t *testing.T) {
	// The worked example of GB 11643-1999 (appendix): 11010519491231002X.
	if got := ResidentIDCheckChar("11010519491231002"); got != 'X' {
		t.Errorf("check char = %c, want X", got)
	}
	if got := ResidentIDCheckChar("44052418800101001"); got != '4' {
		t.Errorf("check char = %c, want 4", got)
	}
}

func TestCheckResidentIDNumber(t *testing.T) {
	good := validID("330106", "1985-06-12", true)
	wrongCheck := good[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", good[17])+1)%11])
	tests := []struct {
		name   string
		number string
		birth  time.Time
		sex    Sex
		want   string // substring of the problem; "" = valid
	}{
		{"valid", good, date("1985-06-12"), Male, ""},
		{"valid with X", "11010519491231002X", date("1949-12-31"), Female, ""},
		{"bad check digit", wrongCheck, date("1985-06-12"), Male, "check digit"},
		{"impossible date", func() string { f := "33010619850230123"; return f + string(ResidentIDCheckChar(f)) }(), time.Time{}, "", "real birth date"},
		{"birth date mismatch", good, date("1985-06-13"), Male, "does not match birth_date"},
		{"sex mismatch", good, date("1985-06-12"), Female, "for a male person"},
		{"too short", good[:17], time.Time{}, "", "18 characters"},
		{"letters", "33010619850612ABCD", time.Time{}, "", "digits"},
		{"bad region", "0" + good[1:], time.Time{}, "", "region code"},
		{"lower-case x is not normalized here", "11010519491231002x", time.Time{}, "", "digit or X"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckResidentIDNumber(tt.number, tt.birth, tt.sex)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("CheckResidentIDNumber(%s) = %q, want %q", tt.number, got, tt.want)
			}
		})
	}
}

func TestResidentValidate(t *testing.T) {
	now := date("2026-11-23")
	base := func() Resident {
		return Resident{Name: "张三", Sex: Male, BirthDate: date("1985-06-12"), Nationality: "CHN", IDType: ResidentIDCard,
			IDNumber: validID("330106", "1985-06-12", true), Phone: "13800138000", Region: "330106", Address: "文三路 1 号"}
	}
	r := base()
	if err := r.Validate(now); err != nil {
		t.Fatalf("valid resident: %v", err)
	}
	tests := []struct {
		name   string
		change func(r *Resident)
		fields []string
	}{
		{"everything missing", func(r *Resident) { *r = Resident{} }, []string{"name", "sex", "birth_date", "nationality", "id_type", "phone", "region", "address"}},
		{"future birth", func(r *Resident) { r.BirthDate = date("2030-01-01") }, []string{"birth_date", "id_number"}},
		{"phone", func(r *Resident) { r.Phone = "12345" }, []string{"phone"}},
		{"international phone ok", func(r *Resident) { r.Phone = "+447700900123" }, nil},
		{"dependent needs no phone", func(r *Resident) { r.Phone = ""; r.GuardianID = 7 }, nil},
		{"passport", func(r *Resident) { r.IDType = Passport; r.IDNumber = "E12345678"; r.Nationality = "GBR" }, nil},
		{"passport junk", func(r *Resident) { r.IDType = Passport; r.IDNumber = "E1-23" }, []string{"id_number"}},
		{"region", func(r *Resident) { r.Region = "33010" }, []string{"region"}},
		{"nationality", func(r *Resident) { r.Nationality = "China" }, []string{"nationality"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.change(&r)
			err := r.Validate(now)
			var got []string
			if err != nil {
				if ErrorCode(err) != EINVALID {
					t.Fatalf("code %s", ErrorCode(err))
				}
				for _, f := range err.(*Error).Fields {
					got = append(got, f.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("problem fields %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
}

func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{
		"张三":             "张*",
		"张三丰":            "张*丰",
		"欧阳小明":           "欧*明",
		"王":              "王",
		"John Smith":     "J*** SMITH",
		"mary ann jones": "M*** A*** JONES",
		"Madonna":        "M***",
		"  ":             "",
	} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDeclarationValidate(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	d := Declaration{Temperature: 36.6, Symptoms: []Symptom{Fever, DryCough}, Visited: []Visit{{Region: "420100", Date: date("2026-11-20")}}}
	if err := d.Validate(now); err != nil {
		t.Fatalf("valid: %v", err)
	}
	bad := Declaration{Temperature: 50, Symptoms: []Symptom{"headache", Fever, Fever},
		Visited: []Visit{{Region: "42", Date: date("2026-11-20")}, {Region: "420100", Date: date("2026-11-30")}, {Region: "420100", Date: date("2026-10-01")}}}
	err := bad.Validate(now)
	msg := err.Error()
	for _, want := range []string{"temperature", `"headache" is not one of`, `"fever" is listed twice`, "item 0: region", "item 1: date is in the future", "item 2: date is more than 14 days ago"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestAreaRiskCovers(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	a := AreaRisk{Prefix: "4201", Level: HighRisk, From: time.Date(2026, 11, 20, 10, 0, 0, 0, loc), To: time.Date(2026, 11, 22, 0, 0, 0, 0, loc)}
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, loc) }
	for _, tt := range []struct {
		region string
		day    time.Time
		want   bool
	}{
		{"420106", day(19), false},
		{"420106", day(20), true}, // in force from 10:00 that day
		{"420106", day(21), true},
		{"420106", day(22), false}, // ended at midnight
		{"420200", day(21), false}, // another city
	} {
		if got := a.Covers(tt.region, tt.day); got != tt.want {
			t.Errorf("Covers(%s, %s) = %v, want %v", tt.region, tt.day.Format("01-02"), got, tt.want)
		}
	}
	if (&AreaRisk{Prefix: "4201", Level: HighRisk, From: day(20)}).Covers("420106", day(30)) != true {
		t.Error("open-ended designation should cover later days")
	}
}

func TestTestResultValidate(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	tr := TestResult{Type: PCR, Result: Negative, SampledAt: now.Add(-2 * time.Hour), ResultedAt: now.Add(-time.Hour), Institution: "Xihu lab"}
	if err := tr.Validate(now); err != nil {
		t.Fatal(err)
	}
	tr.ResultedAt = now.Add(-3 * time.Hour)
	tr.Type = "blood"
	err := tr.Validate(now)
	if err == nil || !strings.Contains(err.Error(), "resulted_at: is before sampled_at") || !strings.Contains(err.Error(), "type: must be") {
		t.Errorf("err = %v", err)
	}
}

func TestProblemsMerge(t *testing.T) {
	var p Problems
	p.Add("date", "is not a real date")
	p.Merge(&Error{Code: EINVALID, Fields: []FieldError{{Field: "date", Message: "is required"}, {Field: "product", Message: "is required"}}})
	if len(p) != 2 || p[0].Message != "is not a real date" || p[1].Field != "product" {
		t.Errorf("merged %+v", p)
	}
	if (Problems{}).Err("x") != nil {
		t.Error("no problems should be no error")
	}
}
