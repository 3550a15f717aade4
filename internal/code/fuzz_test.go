package code_test

import (
	"errors"
	"testing"
	"time"

	"healthcode/internal/code"
)

var reasons = map[string]bool{
	code.NotACode: true, code.Malformed: true, code.UnknownIssuer: true, code.BadSignature: true,
	code.KeyNotValid: true, code.NotYetValid: true, code.Expired: true,
}

// FuzzVerify checks that Verify never panics and that every rejection is a
// *VerifyError with a known reason. Seeds: valid codes, truncated codes,
// garbage.
//
//	go test -run XXX -fuzz FuzzVerify ./internal/code/
func FuzzVerify(f *testing.F) {
	issuer := testKey(f, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	phone := sign(f, issuer, phoneClaims("张三丰"))
	paper := sign(f, issuer, paperClaims("John Smith"))
	tested := sign(f, issuer, withTest(phoneClaims("John Smith"), 47*time.Hour+time.Minute))
	for _, s := range []string{
		phone, paper, tested, tested[:len(tested)-3],
		phone[:len(phone)/2], phone[:len(phone)-1], paper[:10],
		"", "hello", "HQ1:", "HQ1:::::", "https://example.org", "HC1:6BFOXN*TS0BI$ZDFRH",
		code.Prefix + "%%%%%%%%%%%%%%%%", encode([]byte{0x84, 0x40, 0xa0, 0x40, 0x40}),
		encode([]byte{0x84, 0x43, 0xa1, 0x01, 0x27, 0xa0, 0x41, 0xa0, 0x58, 0x40}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		c, k, err := code.Verify(payload, keys, now)
		if err != nil {
			var ve *code.VerifyError
			if !errors.As(err, &ve) || !reasons[ve.Reason] || ve.Detail == "" {
				t.Fatalf("Verify(%q): error %#v", payload, err)
			}
			return
		}
		if k.Region != "330100" || !c.ExpiresAt.After(c.IssuedAt) || !code.ValidSubject(c.Subject) ||
			(c.Kind != code.Phone && c.Kind != code.Paper) {
			t.Fatalf("Verify(%q) accepted odd claims %+v", payload, c)
		}
		if !c.NegativeTestAt.IsZero() && (c.Kind != code.Phone || c.NegativeTestAt.After(c.IssuedAt) ||
			c.IssuedAt.Sub(c.NegativeTestAt) > code.MaxNegativeTestHours*time.Hour) {
			t.Fatalf("Verify(%q) accepted an odd negative test %+v", payload, c)
		}
	})
}
