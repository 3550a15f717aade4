package code_test

import (
	"errors"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/code"
)

var reasons = map[string]bool{
	code.NotACode: true, code.Malformed: true, code.UnknownIssuer: true, code.BadSignature: true,
	code.KeyNotValid: true, code.NotYetValid: true, code.Expired: true,
}

// revocable is a KeyResolver that also knows revoked keys.
type revocable struct {
	trusted
	revoked trusted
}

func (r revocable) LookupRevokedKey(kid []byte) []code.Key { return r.revoked.LookupKey(kid) }

// heapAllocated returns the bytes allocated on the heap so far. Small
// objects are counted a span at a time, so two readings around one call
// are off by up to 2 MiB for small allocations (exact for large ones).
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzVerify feeds Verify (and Check) arbitrary text, as a scanner reads it
// from any QR code. It checks that every rejection is a *VerifyError with a
// known reason, a message and an offset inside the text; that Check says
// the same as Verify; that Verify allocates little; and that whatever Verify
// accepts has sane claims that sign and verify again to the same claims.
// Seeds: valid phone and paper codes, codes of an untrusted and a revoked
// key, expired, truncated, oversized, and other texts a QR code holds.
//
//	go test -run '^$' -fuzz '^FuzzVerify$' ./internal/code/
func FuzzVerify(f *testing.F) {
	issuer := testKey(f, "issuer")
	leaked := testKey(f, "leaked")
	keys := revocable{trusted: trusted{trustKey(issuer, "330100")}, revoked: trusted{trustKey(leaked, "330100")}}
	keys.revoked[0].RevokedAt = now.Add(-24 * time.Hour)
	phone := sign(f, issuer, phoneClaims("张三丰"))
	paper := sign(f, issuer, paperClaims("John Smith"))
	tested := sign(f, issuer, withTest(phoneClaims("John Smith"), 47*time.Hour+time.Minute))
	expired := phoneClaims("李四")
	expired.IssuedAt, expired.ExpiresAt = now.Add(-time.Hour), now.Add(-55*time.Minute)
	for _, s := range []string{
		phone, paper, tested, tested[:len(tested)-3], phone + "\r\n",
		phone[:len(phone)/2], phone[:len(phone)-1], paper[:10],
		sign(f, leaked, phoneClaims("张三丰")), sign(f, testKey(f, "stranger"), phoneClaims("张三丰")),
		sign(f, issuer, expired), code.Prefix + strings.Repeat("0", code.MaxPayloadLen),
		"", "hello", "HQ1:", "HQ1:::::", "https://example.org", "HC1:6BFOXN*TS0BI$ZDFRH", "shc:/5676290952432060",
		"HQ2:6BFOXN", strings.ToLower(phone),
		code.Prefix + "%%%%%%%%%%%%%%%%", encode([]byte{0x84, 0x40, 0xa0, 0x40, 0x40}),
		encode([]byte{0x84, 0x43, 0xa1, 0x01, 0x27, 0xa0, 0x41, 0xa0, 0x58, 0x40}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		before := heapAllocated()
		c, k, err := code.Verify(payload, keys, now)
		if alloc := heapAllocated() - before; alloc > 2<<20+64*uint64(len(payload)) {
			t.Errorf("Verify of %d characters allocated %d bytes", len(payload), alloc)
		}
		v := code.Check(payload, keys, now)
		if err != nil {
			var ve *code.VerifyError
			if !errors.As(err, &ve) || !reasons[ve.Reason] || ve.Detail == "" {
				t.Fatalf("Verify(%q): error %#v", payload, err)
			}
			if ve.Offset < -1 || ve.Offset > len(payload) || ve.Offset >= 0 && ve.Reason != code.Malformed {
				t.Fatalf("Verify(%q): offset %d with reason %s (%s)", payload, ve.Offset, ve.Reason, ve.Detail)
			}
			if v.Valid || v.RejectCode != ve.Reason || v.Reason != ve.Detail {
				t.Fatalf("Check(%q) = %+v, but Verify rejects it with %s: %s", payload, v, ve.Reason, ve.Detail)
			}
			return
		}
		if !v.Valid || v.Subject != c.Subject || v.Issuer != k.Region {
			t.Fatalf("Check(%q) = %+v, but Verify accepts it", payload, v)
		}
		if k.Region != "330100" || !c.ExpiresAt.After(c.IssuedAt) || !code.ValidSubject(c.Subject) ||
			(c.Kind != code.Phone && c.Kind != code.Paper) {
			t.Fatalf("Verify(%q) accepted odd claims %+v", payload, c)
		}
		if !c.NegativeTestAt.IsZero() && (c.Kind != code.Phone || c.NegativeTestAt.After(c.IssuedAt) ||
			c.IssuedAt.Sub(c.NegativeTestAt) > code.MaxNegativeTestHours*time.Hour) {
			t.Fatalf("Verify(%q) accepted an odd negative test %+v", payload, c)
		}
		// What verifies can be signed again, to the same claims.
		again, err := code.NewSigner(issuer).Sign(c)
		if err != nil {
			t.Fatalf("Sign of the claims of %q: %v", payload, err)
		}
		c2, _, err := code.Verify(again, keys, now)
		if err != nil {
			t.Fatalf("Verify of %q, signed again from %q: %v", again, payload, err)
		}
		if diff := cmp.Diff(c, c2); diff != "" {
			t.Fatalf("claims of %q signed again (-first +again):\n%s", payload, diff)
		}
	})
}
