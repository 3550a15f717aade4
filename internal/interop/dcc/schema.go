package dcc

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed data/DCC.combined-schema.json
var schemaJSON []byte

// schemaURL is the schema's own $id.
const schemaURL = "https://id.uvci.eu/DCC.combined-schema.json"

// SchemaVersion is the version of the EU DCC schema that Verify checks
// against.
const SchemaVersion = "1.3.0"

// compileSchema compiles the embedded DCC schema. Formats (date, date-time)
// are asserted, as the DCC specification requires ISO 8601 dates.
func compileSchema() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("dcc: read the DCC schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("dcc: add the DCC schema: %w", err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("dcc: compile the DCC schema: %w", err)
	}
	return s, nil
}

// describeSchemaError turns a validation error into one line: the
// innermost failures, each with its place in the DCC.
func describeSchemaError(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			msg := e.Error()
			if i := strings.LastIndex(msg, "\n"); i >= 0 {
				msg = msg[i+1:]
			}
			msg = strings.TrimLeft(msg, " -")
			if strings.HasPrefix(msg, "at '") {
				if i := strings.Index(msg, "': "); i >= 0 {
					msg = msg[i+3:]
				}
			}
			parts = append(parts, "/"+strings.Join(e.InstanceLocation, "/")+": "+msg)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	slices.Sort(parts) // the library's order varies from run to run
	parts = slices.Compact(parts)
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(parts)-3))
	}
	return strings.Join(parts, "; ")
}
