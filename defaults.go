package healthcode

import _ "embed"

// DefaultRuleSetSource is the rule set a fresh install publishes
// (rules/default.yaml; docs/rules.md explains it).
//
//go:embed rules/default.yaml
var DefaultRuleSetSource []byte
