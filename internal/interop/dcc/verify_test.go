package dcc_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dasio/base45"
	"github.com/google/go-cmp/cmp"

	"healthcode"
	"healthcode/internal/interop/dcc"
)

// TestVerifyLayersDCC breaks each layer of an issued certificate and checks
// that the layer's check fails with a clear reason and later ones are
// skipped.
func TestVerifyLayersDCC(t *testing.T) {
	key := testKey(t)
	dsc := testDSC(t, key)
	good := issueAll(t, testIssuer(t, key, dsc))[dcc.Vaccination].Payload
	cose := func(f func([]byte) []byte) string { return rewrap(t, good, f) }
	v := verifier(t, dsc)

	for _, tc := range []struct {
		name    string
		payload string
		failed  string // the check that fails; "" for valid
		why     string // in its reason
	}{
		{"valid", good, "", ""},
		{"trailing newline", good + "\r\n", "", ""},
		{"tag 61 around tag 18", cose(func(b []byte) []byte { return append([]byte{0xd8, 61}, b...) }), "", ""},
		{"untagged", cose(func(b []byte) []byte { return b[1:] }), "", ""},
		{"empty", "", dcc.CheckPrefix, "the text is empty"},
		{"other context", "HC2:" + good[4:], dcc.CheckPrefix, `it starts with "HC2:"; an EU DCC starts with "HC1:"`},
		{"no prefix", good[4:], dcc.CheckPrefix, "not \"HC1:\""},
		{"lower case", "HC1:" + strings.ToLower(good[4:]), dcc.CheckBase45, "is not a base45 character"},
		{"cut short", cutShort(good), dcc.CheckBase45, "ends with a single character"},
		{"too long", good + strings.Repeat("A", dcc.MaxPayloadLen), dcc.CheckBase45, "more than a QR code holds"},
		{"not compressed", dcc.Prefix + base45.EncodeToString([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40}), dcc.CheckDecompress, "bare COSE"},
		{"broken zlib", dcc.Prefix + base45.EncodeToString(append(compress(t, []byte("hello world"))[:6], 0, 0, 0, 0)), dcc.CheckDecompress, "zlib"},
		{"not COSE", dcc.Prefix + base45.EncodeToString(compress(t, []byte{0xa1, 0x01, 0x02})), dcc.CheckCOSE, "not an array of 4"},
		{"other tag", cose(func(b []byte) []byte { return append([]byte{0xd8, 98}, b[1:]...) }), dcc.CheckCOSE, "is not COSE_Sign1"},
	} {
		r := v.Verify(tc.payload, issueNow)
		if tc.failed == "" {
			if !r.Valid {
				t.Errorf("%s: %s", tc.name, r.Reason)
			}
			continue
		}
		if r.Valid || !strings.HasPrefix(r.Checks[tc.failed], "failed: ") || !strings.Contains(r.Checks[tc.failed], tc.why) ||
			!strings.HasPrefix(r.Reason, tc.failed+": ") {
			t.Errorf("%s: %s is %q (reason %q), want a failure with %q", tc.name, tc.failed, r.Checks[tc.failed], r.Reason, tc.why)
		}
		after := false
		for _, c := range dcc.Checks {
			switch {
			case c == tc.failed:
				after = true
			case after && r.Checks[c] != dcc.Skipped:
				t.Errorf("%s: %s after the failed %s is %q, want skipped", tc.name, c, tc.failed, r.Checks[c])
			case !after && r.Checks[c] != dcc.OK:
				t.Errorf("%s: %s before the failed %s is %q", tc.name, c, tc.failed, r.Checks[c])
			}
		}
		if len(r.Checks) != len(dcc.Checks) {
			t.Errorf("%s: %d checks", tc.name, len(r.Checks))
		}
	}
}

// cutShort drops the last one to three characters of a payload so that
// its base45 text ends with a lone character.
func cutShort(p string) string {
	for k := 1; ; k++ {
		if (len(p)-len(dcc.Prefix)-k)%3 == 1 {
			return p[:len(p)-k]
		}
	}
}

func TestParseTimeDCC(t *testing.T) {
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for in, want := range map[string]time.Time{
		"2021-05-03T18:00:00Z":               utc("2021-05-03T18:00:00Z"),
		"2021-05-10T12:30:00.000Z":           utc("2021-05-10T12:30:00Z"),
		"2021-05-17T12:57:21.108+01:00":      utc("2021-05-17T11:57:21.108Z"),
		"2021-05-21T09:53:55+02:00":          utc("2021-05-21T07:53:55Z"),
		"2021-05-21T09:53:55+0200":           utc("2021-05-21T07:53:55Z"),
		"2021-05-21T09:53:55+02":             utc("2021-05-21T07:53:55Z"),
		"2021-05-21T12:26:07.390079Z":        utc("2021-05-21T12:26:07.390079Z"),
		"2021-05-30T13:38:49.798329":         utc("2021-05-30T13:38:49.798329Z"),
		"2021-05-30T13:38:49.7983291":        utc("2021-05-30T13:38:49.7983291Z"),
		"2021-05-30T13:38:49.798329123+0200": utc("2021-05-30T11:38:49.798329123Z"),
		"2021-05-30 13:38:49":                utc("2021-05-30T13:38:49Z"),
		"2021-05-30t13:38:49z":               utc("2021-05-30T13:38:49Z"),
		"2021-05-30T13:38":                   utc("2021-05-30T13:38:00Z"),
		"2021-05-30":                         utc("2021-05-30T00:00:00Z"),
		" 2021-05-30T13:38:49 +02:00 ":       utc("2021-05-30T11:38:49Z"),
	} {
		got, err := dcc.ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2021-13-01", "2021-05-30T25:00:00Z", "1620000000"} {
		if _, err := dcc.ParseTime(bad); healthcode.ErrorCode(err) != healthcode.EINVALID {
			t.Errorf("ParseTime(%q): %v, want EINVALID", bad, err)
		}
	}
}

func TestParseCertificatesDCC(t *testing.T) {
	a, b := testDSC(t, testKey(t)), testDSC(t, testKey(t), dcc.Test)
	b64 := func(c *x509.Certificate) string { return base64.StdEncoding.EncodeToString(c.Raw) }
	pemOf := func(c *x509.Certificate) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	for name, tc := range map[string]struct {
		in   string
		want []*x509.Certificate
	}{
		"base64":             {b64(a), []*x509.Certificate{a}},
		"base64 url, no pad": {strings.TrimRight(base64.URLEncoding.EncodeToString(a.Raw), "="), []*x509.Certificate{a}},
		"two base64 lines":   {b64(a) + "\n" + b64(b) + "\n", []*x509.Certificate{a, b}},
		"comma-separated":    {b64(a) + "," + b64(b), []*x509.Certificate{a, b}},
		"PEM":                {pemOf(a), []*x509.Certificate{a}},
		"two PEM and a key":  {pemOf(a) + "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" + pemOf(b), []*x509.Certificate{a, b}},
		"DER":                {string(a.Raw), []*x509.Certificate{a}},
	} {
		got, err := dcc.ParseCertificates([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d certificates, want %d", name, len(got), len(tc.want))
			continue
		}
		for i := range got {
			if !got[i].Equal(tc.want[i]) {
				t.Errorf("%s: certificate %d differs", name, i)
			}
		}
	}
	// A DER certificate's last byte is part of its signature, and may be one
	// that looks like white space (a test was flaky for that).
	for i := 0; ; i++ {
		c := testDSC(t, testKey(t))
		if last := c.Raw[len(c.Raw)-1]; last != ' ' && last != '\n' && last != '\t' && last != '\r' && last != '\v' && last != '\f' {
			if i < 5000 {
				continue
			}
			t.Fatal("no certificate ending in a white-space byte in 5000")
		}
		got, err := dcc.ParseCertificates(c.Raw)
		if err != nil || len(got) != 1 || !got[0].Equal(c) {
			t.Errorf("DER ending in %q: %v", c.Raw[len(c.Raw)-1], err)
		}
		break
	}
	for _, bad := range []string{"", "not a certificate!", base64.StdEncoding.EncodeToString([]byte("hello")), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		if _, err := dcc.ParseCertificates([]byte(bad)); healthcode.ErrorCode(err) != healthcode.EINVALID {
			t.Errorf("ParseCertificates(%.30q): %v, want EINVALID", bad, err)
		}
	}
}

func TestTransliterateDCC(t *testing.T) {
	for in, want := range map[string]string{
		"d'Červenková Panklová": "DCERVENKOVA<PANKLOVA",
		"Jiřina-Maria Alena":    "JIRINA<MARIA<ALENA",
		"Åsa Øberg":             "AASA<OEBERG",
		"Müller-Lüdenscheidt":   "MUELLER<LUEDENSCHEIDT",
		"  O'Brien  ":           "OBRIEN",
		"Łukasz Żółć":           "LUKASZ<ZOLC",
		"Zhang San":             "ZHANG<SAN",
		"张三":                    "",
	} {
		if got := dcc.Transliterate(in); got != want {
			t.Errorf("Transliterate(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestVerifyConcurrentDCC verifies from several goroutines at once with one
// Verifier (run with -race).
func TestVerifyConcurrentDCC(t *testing.T) {
	key := testKey(t)
	dsc := testDSC(t, key)
	var payloads []string
	for _, iss := range issueAll(t, testIssuer(t, key, dsc)) {
		payloads = append(payloads, iss.Payload)
	}
	v := verifier(t, dsc)
	v.SetMemoSize(2) // smaller than the payloads: entries come and go
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 30 {
				if r := v.Verify(payloads[(g+i)%len(payloads)], issueNow); !r.Valid {
					t.Errorf("goroutine %d: %s", g, r.Reason)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCheckIndexDCC: every check has its own place, in the order of Checks.
func TestCheckIndexDCC(t *testing.T) {
	for i, c := range dcc.Checks {
		if got := dcc.CheckIndex(c); got != i {
			t.Errorf("%s is at %d, its index says %d", c, i, got)
		}
	}
}

// TestMemoDCC: a Verifier that remembers payloads says the same about each
// as one that does not, whether it has seen it before or not, and when it
// has forgotten some of them.
func TestMemoDCC(t *testing.T) {
	key := testKey(t)
	dsc := testDSC(t, key)
	is := testIssuer(t, key, dsc)
	var payloads []string
	for range 3 {
		for _, iss := range issueAll(t, is) {
			payloads = append(payloads, iss.Payload, iss.Payload+"\n", strings.Replace(iss.Payload, "HC1:", "HC2:", 1))
		}
	}
	plain := verifier(t, dsc)
	plain.SetMemoSize(0)
	small := verifier(t, dsc)
	small.SetMemoSize(4)
	big := verifier(t, dsc)
	for round := range 3 {
		for _, p := range payloads {
			want := plain.Verify(p, issueNow)
			for name, v := range map[string]*dcc.Verifier{"small memo": small, "default memo": big} {
				if got := v.Verify(p, issueNow); !cmp.Equal(want, got) {
					t.Errorf("round %d, %s: %s", round, name, cmp.Diff(want, got))
				}
			}
		}
	}
}
