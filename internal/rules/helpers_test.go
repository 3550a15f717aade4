package rules_test

import (
	"testing"
	"time"

	"healthcode"
	"healthcode/internal/rules"
)

// cst is China Standard Time, the zone the default messages print dates in.
var cst = time.FixedZone("CST", 8*60*60)

func loadDefault(tb testing.TB) *rules.Engine {
	tb.Helper()
	e, err := rules.Load(healthcode.DefaultRuleSetSource, rules.WithLocation(cst))
	if err != nil {
		tb.Fatalf("load default rule set: %v", err)
	}
	return e
}

func (o outcome) withReasons(ws ...window) outcome { o.Reasons = ws; return o }

func (o outcome) noValidUntil() outcome { o.ValidUntil = time.Time{}; return o }
