package shc

import (
	"bytes"
	"cmp"
	"compress/flate"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"healthcode"
)

// FileMediaType is the media type of a .smart-health-card file.
const FileMediaType = "application/smart-health-card"

// Issuer signs SMART Health Cards for a region.
type Issuer struct {
	// URL is the cards' iss: an https URL without a trailing slash, under
	// which the JWKS is served at /.well-known/jwks.json.
	URL string
	// Key signs the cards with ES256; it must be an EC P-256 key.
	Key *ecdsa.PrivateKey
	// Location is the region's time zone, in which vaccination dates are
	// civil dates. UTC when nil.
	Location *time.Location
	// RevocationSecret, when set, gives every card a rid, so that the
	// issuer can revoke a resident's cards: the base64url of the first 64
	// bits of HMAC-SHA-256 keyed with the secret followed by the kid, over
	// the resident's pseudonym, as the spec recommends. It does not reveal
	// who the resident is.
	RevocationSecret []byte
}

// Records is what goes on one card: a resident and their vaccinations or
// test results. The spec asks issuers to keep immunizations and lab results
// on separate cards, so give one kind per card.
type Records struct {
	Resident     *healthcode.Resident
	Vaccinations []healthcode.Vaccination
	Tests        []healthcode.TestResult
}

// Card is an issued SMART Health Card.
type Card struct {
	JWS string
	// Payload is the minified JSON of the claims, as compressed and signed.
	Payload []byte
	// QR is the text of the card's QR codes: one "shc:/" numeric text, or
	// the chunks "shc:/C/N/..." of a card too long for one code.
	QR []string
}

// File returns the card as a .smart-health-card file, to be served with
// FileMediaType.
func (c *Card) File() []byte {
	data, _ := json.Marshal(struct {
		VerifiableCredential []string `json:"verifiableCredential"`
	}{[]string{c.JWS}})
	return data
}

// JWKS returns the JSON Web Key Set of the issuer's key, for serving at
// URL + /.well-known/jwks.json.
func (is *Issuer) JWKS() ([]byte, error) {
	if is.Key == nil {
		return nil, fmt.Errorf("shc: JWKS: no key")
	}
	return JWKS(&is.Key.PublicKey)
}

// Issue makes and signs a card of rec, issued at now (its nbf). A non-zero
// expires sets the card's exp; most cards should not expire.
func (is *Issuer) Issue(rec Records, now, expires time.Time) (*Card, error) {
	if err := validIssuerURL(is.URL); err != nil {
		return nil, fmt.Errorf("shc: issue: %w", err)
	}
	if is.Key == nil || is.Key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("shc: issue: the signing key must be EC P-256")
	}
	kid, err := KeyID(&is.Key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("shc: issue: %w", err)
	}
	bundle, err := is.bundle(rec)
	if err != nil {
		return nil, err
	}
	claims := cardClaims{Iss: is.URL, Nbf: now.Unix()}
	if !expires.IsZero() {
		if !expires.After(now) {
			return nil, healthcode.Errorf(healthcode.EINVALID, "a card's expiry must be after its issue time")
		}
		claims.Exp = expires.Unix()
	}
	claims.VC.Type = []string{HealthCardType}
	claims.VC.CredentialSubject.FHIRVersion = FHIRVersion
	claims.VC.CredentialSubject.FHIRBundle = bundle
	if len(is.RevocationSecret) > 0 {
		claims.VC.RID = revocationID(is.RevocationSecret, kid, rec.Resident)
	}
	payload, err := minified(claims)
	if err != nil {
		return nil, fmt.Errorf("shc: issue: %w", err)
	}
	var z bytes.Buffer
	zw, err := flate.NewWriter(&z, flate.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("shc: issue: %w", err)
	}
	if _, err := zw.Write(payload); err != nil {
		return nil, fmt.Errorf("shc: issue: deflate: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("shc: issue: deflate: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: is.Key, KeyID: kid}},
		(&jose.SignerOptions{}).WithHeader("zip", "DEF"))
	if err != nil {
		return nil, fmt.Errorf("shc: issue: %w", err)
	}
	obj, err := signer.Sign(z.Bytes())
	if err != nil {
		return nil, fmt.Errorf("shc: issue: sign: %w", err)
	}
	jws, err := obj.CompactSerialize()
	if err != nil {
		return nil, fmt.Errorf("shc: issue: %w", err)
	}
	return &Card{JWS: jws, Payload: payload, QR: EncodeQR(jws)}, nil
}

// RevocationID returns the rid the issuer gives the cards of resident r
// signed with the key kid, or "" when it gives none. An issuer revokes a
// resident's cards by listing this rid in the key's revocation list.
func (is *Issuer) RevocationID(kid string, r *healthcode.Resident) string {
	if len(is.RevocationSecret) == 0 || r == nil {
		return ""
	}
	return revocationID(is.RevocationSecret, kid, r)
}

func revocationID(secret []byte, kid string, r *healthcode.Resident) string {
	user := r.Pseudonym
	if user == "" {
		user = "resident:" + strconv.FormatInt(r.ID, 10)
	}
	m := hmac.New(sha256.New, append(slices.Clip(secret), kid...))
	m.Write([]byte(user))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:8])
}

// cardClaims is the JWT claims set of a card, in the spec's member order.
type cardClaims struct {
	Iss string `json:"iss"`
	Nbf int64  `json:"nbf"`
	Exp int64  `json:"exp,omitempty"`
	VC  struct {
		Type              []string `json:"type"`
		CredentialSubject struct {
			FHIRVersion string     `json:"fhirVersion"`
			FHIRBundle  fhirBundle `json:"fhirBundle"`
		} `json:"credentialSubject"`
		RID string `json:"rid,omitempty"`
	} `json:"vc"`
}

type fhirBundle struct {
	ResourceType string      `json:"resourceType"`
	Type         string      `json:"type"`
	Entry        []fhirEntry `json:"entry"`
}

type fhirEntry struct {
	FullURL  string `json:"fullUrl"`
	Resource any    `json:"resource"`
}

type patientResource struct {
	ResourceType string     `json:"resourceType"`
	Name         []fhirName `json:"name,omitempty"`
	BirthDate    string     `json:"birthDate,omitempty"`
}

type immunizationResource struct {
	ResourceType       string        `json:"resourceType"`
	Status             string        `json:"status"`
	VaccineCode        fhirConcept   `json:"vaccineCode"`
	Patient            fhirReference `json:"patient"`
	OccurrenceDateTime string        `json:"occurrenceDateTime"`
	Performer          []performer   `json:"performer,omitempty"`
}

type performer struct {
	Actor fhirReference `json:"actor"`
}

type observationResource struct {
	ResourceType         string          `json:"resourceType"`
	Status               string          `json:"status"`
	Code                 fhirConcept     `json:"code"`
	Subject              fhirReference   `json:"subject"`
	EffectiveDateTime    string          `json:"effectiveDateTime"`
	Performer            []fhirReference `json:"performer,omitempty"`
	ValueCodeableConcept fhirConcept     `json:"valueCodeableConcept"`
}

// bundle builds the card's FHIR bundle, minimised as the spec requires of
// cards shown as QR codes: no ids, meta, narrative or display texts, and
// short resource:N references. It never carries an ID document number,
// phone or address.
func (is *Issuer) bundle(rec Records) (fhirBundle, error) {
	r := rec.Resident
	if r == nil {
		return fhirBundle{}, fmt.Errorf("shc: issue: no resident")
	}
	if len(rec.Vaccinations) == 0 && len(rec.Tests) == 0 {
		return fhirBundle{}, healthcode.Errorf(healthcode.EINVALID, "nothing to put on the card: no vaccinations or test results")
	}
	loc := is.Location
	if loc == nil {
		loc = time.UTC
	}
	patient := patientResource{ResourceType: "Patient", Name: []fhirName{humanName(r.Name)}}
	if !r.BirthDate.IsZero() {
		patient.BirthDate = r.BirthDate.UTC().Format(time.DateOnly)
	}
	b := fhirBundle{ResourceType: "Bundle", Type: "collection", Entry: []fhirEntry{{FullURL: "resource:0", Resource: patient}}}
	subject := fhirReference{Reference: "resource:0"}
	add := func(res any) {
		b.Entry = append(b.Entry, fhirEntry{FullURL: "resource:" + strconv.Itoa(len(b.Entry)), Resource: res})
	}

	vs := slices.Clone(rec.Vaccinations)
	slices.SortStableFunc(vs, func(x, y healthcode.Vaccination) int {
		return cmp.Or(x.Date.Compare(y.Date), cmp.Compare(x.Dose, y.Dose))
	})
	for _, v := range vs {
		if v.Date.IsZero() {
			return fhirBundle{}, healthcode.Errorf(healthcode.EINVALID, "vaccination %d has no date", v.ID)
		}
		imm := immunizationResource{ResourceType: "Immunization", Status: "completed",
			VaccineCode: fhirConcept{Coding: []fhirCoding{{System: SystemCVX, Code: VaccineCVX(v.Product)}}},
			Patient:     subject, OccurrenceDateTime: v.Date.In(loc).Format(time.DateOnly)}
		if v.Institution != "" {
			imm.Performer = []performer{{Actor: fhirReference{Display: v.Institution}}}
		}
		add(imm)
	}

	ts := slices.Clone(rec.Tests)
	slices.SortStableFunc(ts, func(x, y healthcode.TestResult) int { return x.SampledAt.Compare(y.SampledAt) })
	for _, t := range ts {
		code, ok := testLOINC[t.Type]
		if !ok {
			return fhirBundle{}, healthcode.Errorf(healthcode.EINVALID, "test result %d has unknown type %q", t.ID, t.Type)
		}
		value, ok := outcomeSNOMED[t.Result]
		if !ok {
			return fhirBundle{}, healthcode.Errorf(healthcode.EINVALID, "test result %d has unknown result %q", t.ID, t.Result)
		}
		if t.SampledAt.IsZero() {
			return fhirBundle{}, healthcode.Errorf(healthcode.EINVALID, "test result %d has no sample time", t.ID)
		}
		obs := observationResource{ResourceType: "Observation", Status: "final",
			Code:    fhirConcept{Coding: []fhirCoding{{System: SystemLOINC, Code: code}}},
			Subject: subject, EffectiveDateTime: t.SampledAt.UTC().Format(time.RFC3339),
			ValueCodeableConcept: fhirConcept{Coding: []fhirCoding{{System: SystemSNOMED, Code: value}}}}
		if t.Institution != "" {
			obs.Performer = []fhirReference{{Display: t.Institution}}
		}
		add(obs)
	}
	return b, nil
}

// humanName writes a resident's name as a FHIR HumanName. A name with spaces
// ("John Smith") is given names then a family name; any other (张三) is kept
// whole as text, since its family name cannot be told apart reliably.
func humanName(name string) fhirName {
	name = strings.TrimSpace(name)
	parts := strings.Fields(name)
	if len(parts) < 2 {
		return fhirName{Text: name}
	}
	return fhirName{Family: parts[len(parts)-1], Given: parts[:len(parts)-1]}
}

// VaccineCVX returns the CDC CVX code of a vaccine product as labs name it,
// or 213 (SARS-CoV-2 vaccine, unspecified) for a product it does not know.
func VaccineCVX(product string) string {
	p := strings.ToLower(product)
	for _, m := range productCVX {
		for _, name := range m.names {
			if strings.Contains(p, name) {
				return m.cvx
			}
		}
	}
	return "213"
}

var productCVX = []struct {
	cvx   string
	names []string
}{
	{"511", []string{"coronavac", "sinovac"}},
	{"510", []string{"bbibp", "bibp"}},
	{"208", []string{"comirnaty", "pfizer", "biontech"}},
	{"207", []string{"spikevax", "moderna", "mrna-1273"}},
	{"210", []string{"vaxzevria", "astrazeneca"}},
	{"212", []string{"janssen", "jcovden", "johnson"}},
	{"211", []string{"nuvaxovid", "novavax"}},
}

// testLOINC and outcomeSNOMED code test results as the SHC laboratory
// profile does: the LOINC test, the SNOMED CT result.
var (
	testLOINC = map[healthcode.TestType]string{
		healthcode.PCR:      "94500-6",
		healthcode.Antigen:  "94558-4",
		healthcode.Antibody: "94762-2",
	}
	outcomeSNOMED = map[healthcode.TestOutcome]string{
		healthcode.Positive: "10828004",
		healthcode.Negative: "260385009",
	}
)

// minified writes v as JSON without optional whitespace or HTML escaping.
func minified(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
