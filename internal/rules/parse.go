package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"healthcode"
)

// ruleSetDoc is the YAML document. It is separate from healthcode.RuleSet so
// that derived fields (version, published_at) cannot be written in the source.
type ruleSetDoc struct {
	Name  string    `yaml:"name"`
	Rules []ruleDoc `yaml:"rules"`
}

type ruleDoc struct {
	ID          string    `yaml:"id"`
	Color       string    `yaml:"color"`
	Mark        string    `yaml:"mark"`
	Description string    `yaml:"description"`
	Each        string    `yaml:"each"`
	When        string    `yaml:"when"`
	Since       string    `yaml:"since"`
	Until       string    `yaml:"until"`
	Reason      reasonDoc `yaml:"reason"`
}

type reasonDoc struct {
	EN string `yaml:"en"`
	ZH string `yaml:"zh"`
}

var (
	setKeys    = []string{"name", "rules"}
	ruleKeys   = []string{"id", "color", "mark", "description", "each", "when", "since", "until", "reason"}
	reasonKeys = []string{"en", "zh"}
)

func invalid(format string, args ...any) error {
	return healthcode.Errorf(healthcode.EINVALID, "invalid rule set: "+format, args...)
}

// decode parses the YAML source strictly: one document, no unknown keys,
// every value of the right YAML type.
func decode(src []byte) (*ruleSetDoc, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return nil, invalid("the document is empty")
	} else if err != nil {
		return nil, invalid("%s", yamlMessage(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, invalid("the source holds more than one YAML document")
	}
	if p := checkKeys(&root); len(p) > 0 {
		return nil, p.Err("invalid rule set")
	}

	// The keys are known to be right; decode the values, still strictly.
	var doc ruleSetDoc
	strict := yaml.NewDecoder(bytes.NewReader(src))
	strict.KnownFields(true)
	if err := strict.Decode(&doc); err != nil {
		return nil, invalid("%s", yamlMessage(err))
	}
	return &doc, nil
}

// checkKeys walks the YAML tree and reports every unknown or repeated key
// with the rule it belongs to and its line, which the decoder alone cannot
// do as readably.
func checkKeys(root *yaml.Node) healthcode.Problems {
	var p healthcode.Problems
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		p.Add("rules", "the document must be a mapping with name and rules (line %d)", doc.Line)
		return p
	}
	checkMapping(&p, doc, "", setKeys)
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "rules" {
			continue
		}
		seq := doc.Content[i+1]
		if seq.Kind != yaml.SequenceNode {
			if seq.Tag != "!!null" {
				p.Add("rules", "must be a list of rules (line %d)", seq.Line)
			}
			continue
		}
		for j, rule := range seq.Content {
			prefix := fmt.Sprintf("rules[%d]", j)
			if rule.Kind != yaml.MappingNode {
				p.Add(prefix, "must be a mapping (line %d)", rule.Line)
				continue
			}
			if id := mappingValue(rule, "id"); id != nil && id.Kind == yaml.ScalarNode && validName(id.Value) {
				prefix = "rules." + id.Value
			}
			checkMapping(&p, rule, prefix+".", ruleKeys)
			if reason := mappingValue(rule, "reason"); reason != nil && reason.Kind == yaml.MappingNode {
				checkMapping(&p, reason, prefix+".reason.", reasonKeys)
			}
		}
	}
	return p
}

func checkMapping(p *healthcode.Problems, m *yaml.Node, prefix string, known []string) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		switch {
		case !slices.Contains(known, k.Value):
			p.Add(prefix+k.Value, "unknown key (line %d); the keys here are %s", k.Line, strings.Join(known, ", "))
		case seen[k.Value]:
			p.Add(prefix+k.Value, "is given twice (line %d)", k.Line)
		}
		seen[k.Value] = true
	}
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

var goTypeRE = regexp.MustCompile(`into (\[\])?rules\.(ruleSetDoc|ruleDoc|reasonDoc)|in type (\[\])?rules\.(ruleSetDoc|ruleDoc|reasonDoc)`)

// yamlMessage turns a yaml.v3 error into a message for a rule author, without
// the package's Go type names.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = goTypeRE.ReplaceAllStringFunc(m, func(s string) string {
				var what string
				switch {
				case strings.Contains(s, "[]"):
					what = "a list of rules"
				case strings.Contains(s, "ruleSetDoc"):
					what = "the rule set"
				case strings.Contains(s, "ruleDoc"):
					what = "a rule"
				default:
					what = "a reason"
				}
				if strings.HasPrefix(s, "in type") {
					return "in " + what
				}
				return "into " + what
			})
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}
