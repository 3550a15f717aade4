package code_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"healthcode"
	"healthcode/internal/code"
)

// withTest returns c with a negative test sampled age before its issue time.
func withTest(c code.Claims, age time.Duration) code.Claims {
	c.NegativeTestAt = c.IssuedAt.Add(-age)
	return c
}

// claimMap decodes the claims of a code into a map, to look at claim -7.
func claimMap(tb testing.TB, payload string) map[int]any {
	tb.Helper()
	var msg struct {
		_           struct{} `cbor:",toarray"`
		Protected   []byte
		Unprotected cbor.RawMessage
		Payload     []byte
		Signature   []byte
	}
	if err := cbor.Unmarshal(coseBytes(tb, payload), &msg); err != nil {
		tb.Fatal(err)
	}
	var m map[int]any
	if err := cbor.Unmarshal(msg.Payload, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestNegativeTestRoundTrip signs phone codes with tests of various ages and
// checks the hours on the wire (rounded up) and the time Verify returns: at
// or before the real sample, by less than an hour.
func TestNegativeTestRoundTrip(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	tests := []struct {
		name  string
		age   time.Duration // from the sample to IssuedAt
		hours int64         // claim -7
	}{
		{"at issue", 0, 0},
		{"1 ns", time.Nanosecond, 1},
		{"1 s", time.Second, 1},
		{"59m59s", time.Hour - time.Second, 1},
		{"1 h", time.Hour, 1},
		{"1h0m1s", time.Hour + time.Second, 2},
		{"23h59m", 23*time.Hour + 59*time.Minute, 24},
		{"47h30m", 47*time.Hour + 30*time.Minute, 48},
		{"48 h", 48 * time.Hour, 48},
		{"254h59m59s", 254*time.Hour + 59*time.Minute + 59*time.Second, 255},
		{"255 h", 255 * time.Hour, 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := withTest(phoneClaims("张三丰"), tt.age)
			p := sign(t, issuer, in)
			if got, ok := claimMap(t, p)[-7]; !ok || got != uint64(tt.hours) {
				t.Fatalf("claim -7 = %v (present %v), want %d", got, ok, tt.hours)
			}
			c, _, err := code.Verify(p, keys, now)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := in.IssuedAt.Add(-time.Duration(tt.hours) * time.Hour).UTC()
			if !c.NegativeTestAt.Equal(want) {
				t.Errorf("NegativeTestAt = %v, want %v", c.NegativeTestAt, want)
			}
			if c.NegativeTestAt.After(in.NegativeTestAt) || in.NegativeTestAt.Sub(c.NegativeTestAt) >= time.Hour {
				t.Errorf("NegativeTestAt = %v for a sample at %v: not within the hour before it", c.NegativeTestAt, in.NegativeTestAt)
			}
			v := code.Check(p, keys, now)
			if v.NegativeTestAt != want.Format(time.RFC3339) {
				t.Errorf("Verdict.NegativeTestAt = %q, want %q", v.NegativeTestAt, want.Format(time.RFC3339))
			}
		})
	}
}

// TestNegativeTestStrict checks that the decoded sample time is never later
// than the real one, for every minute of the 256 hours and issue times
// with fractions of a second, and that a checkpoint policy therefore never
// admits on a test that was in fact too old.
func TestNegativeTestStrict(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	s := code.NewSigner(issuer)
	policy := healthcode.Policy{Kind: healthcode.PolicyGreenAndTest, Hours: 48}
	for age := time.Duration(0); age <= 255*time.Hour; age += 7*time.Minute + 13*time.Second + 500*time.Millisecond {
		in := phoneClaims("李四")
		in.IssuedAt = in.IssuedAt.Add(time.Duration(age.Seconds()*1e6) % time.Second) // sub-second iat
		in.NegativeTestAt = in.IssuedAt.Add(-age)
		p, err := s.Sign(in)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := code.Verify(p, keys, now)
		if err != nil {
			t.Fatalf("age %v: Verify: %v", age, err)
		}
		if c.NegativeTestAt.IsZero() {
			t.Fatalf("age %v: no test decoded", age)
		}
		if c.NegativeTestAt.After(in.NegativeTestAt) {
			t.Fatalf("age %v: decoded sample %v is after the real one %v (lenient)", age, c.NegativeTestAt, in.NegativeTestAt)
		}
		if d := in.NegativeTestAt.Sub(c.NegativeTestAt); d >= time.Hour+time.Second {
			t.Fatalf("age %v: decoded sample is %v before the real one", age, d)
		}
		online := healthcode.Decide(policy, healthcode.Seen{Valid: true, Color: healthcode.Green, NegativeTestAt: in.NegativeTestAt}, now)
		offline := healthcode.Decide(policy, healthcode.Seen{Valid: true, Color: healthcode.Green, NegativeTestAt: c.NegativeTestAt}, now)
		if offline.Decision == healthcode.Admit && online.Decision != healthcode.Admit {
			t.Fatalf("age %v: admitted offline on a test that is too old", age)
		}
	}
}

// TestNegativeTestAbsent checks that codes without a test, or with one
// older than 255 hours, carry no claim -7 and decode with no test.
func TestNegativeTestAbsent(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	tests := []struct {
		name   string
		claims code.Claims
	}{
		{"no test", phoneClaims("张三丰")},
		{"255h0m1s", withTest(phoneClaims("张三丰"), 255*time.Hour+time.Second)},
		{"255h plus 1 ns", withTest(phoneClaims("张三丰"), 255*time.Hour+time.Nanosecond)},
		{"256 h", withTest(phoneClaims("张三丰"), 256*time.Hour)},
		{"a year", withTest(phoneClaims("张三丰"), 365*24*time.Hour)},
		{"year 1", func() code.Claims {
			c := phoneClaims("张三丰")
			c.NegativeTestAt = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)
			return c
		}()},
	}
	plain := sign(t, issuer, phoneClaims("张三丰"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sign(t, issuer, tt.claims)
			if v, ok := claimMap(t, p)[-7]; ok {
				t.Fatalf("claim -7 = %v, want none", v)
			}
			if p != plain {
				t.Errorf("code differs from the code without a test")
			}
			c, _, err := code.Verify(p, keys, now)
			if err != nil {
				t.Fatal(err)
			}
			if !c.NegativeTestAt.IsZero() {
				t.Errorf("NegativeTestAt = %v, want zero", c.NegativeTestAt)
			}
			if v := code.Check(p, keys, now); v.NegativeTestAt != "" || !bytes.Contains([]byte(v.Reason), []byte("valid")) {
				t.Errorf("verdict %+v", v)
			}
		})
	}
}

// TestNegativeTestAfterIssue: a sample time after the issue time (a lab's
// clock ahead) counts as taken at the issue time.
func TestNegativeTestAfterIssue(t *testing.T) {
	issuer := testKey(t, "issuer")
	keys := trusted{trustKey(issuer, "330100")}
	for _, ahead := range []time.Duration{time.Nanosecond, time.Second, 3 * time.Hour, 100 * 365 * 24 * time.Hour} {
		in := withTest(phoneClaims("张三丰"), -ahead)
		p := sign(t, issuer, in)
		if got := claimMap(t, p)[-7]; got != uint64(0) {
			t.Errorf("sample %v after issue: claim -7 = %v, want 0", ahead, got)
		}
		c, _, err := code.Verify(p, keys, now)
		if err != nil {
			t.Fatal(err)
		}
		if !c.NegativeTestAt.Equal(in.IssuedAt) {
			t.Errorf("sample %v after issue: NegativeTestAt = %v, want the issue time %v", ahead, c.NegativeTestAt, in.IssuedAt)
		}
	}
}
