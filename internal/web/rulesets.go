package web

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"healthcode"
)

// Rule sets: publishing, previewing, the history of publications and the
// diff between versions. Reading is public (no secret rules); publishing is
// for admins.

// ruleSetResponse is a rule set with its rules and document.
type ruleSetResponse struct {
	Version     string            `json:"version"`
	Name        string            `json:"name"`
	PublishedAt string            `json:"published_at"`
	Current     bool              `json:"current"`
	Rules       []healthcode.Rule `json:"rules"`
	Source      string            `json:"source"`
}

// publicationJSON is one moment a rule set was put in force.
type publicationJSON struct {
	ID          int64  `json:"id"`
	Version     string `json:"version"`
	Name        string `json:"name"`
	PublishedAt string `json:"published_at"`
	Rollback    bool   `json:"rollback"`
	Current     bool   `json:"current"`
}

type publicationsResponse struct {
	Current      string            `json:"current"`
	Publications []publicationJSON `json:"publications"`
}

type fieldChangeJSON struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

type ruleChangeJSON struct {
	ID     string            `json:"id"`
	Fields []fieldChangeJSON `json:"fields"`
}

type diffLineJSON struct {
	Op      string `json:"op"`
	Text    string `json:"text"`
	OldLine int    `json:"old_line,omitempty"`
	NewLine int    `json:"new_line,omitempty"`
}

// ruleSetDiffResponse is healthcode.RuleSetDiff as JSON.
type ruleSetDiffResponse struct {
	From     string            `json:"from"`
	To       string            `json:"to"`
	NameFrom string            `json:"name_from"`
	NameTo   string            `json:"name_to"`
	Same     bool              `json:"same_rules"`
	Added    []healthcode.Rule `json:"added"`
	Removed  []healthcode.Rule `json:"removed"`
	Changed  []ruleChangeJSON  `json:"changed"`
	Moved    []string          `json:"moved"`
	Lines    []diffLineJSON    `json:"lines"`
}

// publishResponse answers a publication: what is in force now and what
// changed from the rule set it replaced.
type publishResponse struct {
	Version     string              `json:"version"`
	PublishedAt string              `json:"published_at"`
	Replaced    string              `json:"replaced"`
	Diff        ruleSetDiffResponse `json:"diff"`
}

func diffJSON(d healthcode.RuleSetDiff) ruleSetDiffResponse {
	out := ruleSetDiffResponse{From: d.From, To: d.To, NameFrom: d.NameFrom, NameTo: d.NameTo, Same: d.Empty(),
		Added: nonNilSlice(d.Added), Removed: nonNilSlice(d.Removed), Changed: []ruleChangeJSON{}, Moved: nonNilSlice(d.Moved),
		Lines: []diffLineJSON{}}
	for _, c := range d.Changed {
		rc := ruleChangeJSON{ID: c.ID}
		for _, f := range c.Fields {
			rc.Fields = append(rc.Fields, fieldChangeJSON(f))
		}
		out.Changed = append(out.Changed, rc)
	}
	for _, l := range d.Lines {
		out.Lines = append(out.Lines, diffLineJSON(l))
	}
	return out
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// maxRuleSet is the largest rule set document the server reads.
const maxRuleSet = 1 << 20

// readRuleSet reads a rule set document from the body and loads it: bad
// YAML, an unknown key, an expression that does not compile are each an
// EINVALID naming the rule and the field, all at once.
func (s *Server) readRuleSet(w http.ResponseWriter, r *http.Request) (*healthcode.RuleSet, error) {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	switch strings.TrimSpace(ct) {
	case "", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain", "application/json":
	default:
		return nil, healthcode.Errorf(healthcode.EINVALID, "the body must be the rule set document as application/yaml, not %s", ct)
	}
	src, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRuleSet))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, healthcode.Errorf(healthcode.EINVALID, "the rule set document is larger than %d MiB", maxRuleSet>>20)
	} else if err != nil {
		return nil, healthcode.Errorf(healthcode.EINVALID, "could not read the rule set document: %v", err)
	}
	return s.loadRuleSet(src)
}

// loadRuleSet checks a rule set document with the rule engine.
func (s *Server) loadRuleSet(src []byte) (*healthcode.RuleSet, error) {
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, healthcode.Errorf(healthcode.EINVALID, "the rule set document is empty")
	}
	if s.loadRules == nil {
		return nil, healthcode.Errorf(healthcode.EUNAVAILABLE, "this server cannot load rule sets")
	}
	ev, err := s.loadRules(src)
	if err != nil {
		return nil, err
	}
	return ev.RuleSet(), nil
}

func (s *Server) getRules(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	rs, err := s.store.RuleSetInForce(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, map[string]any{"version": rs.Version, "name": rs.Name,
		"published_at": timeString(rs.PublishedAt), "rules": rs.Rules, "source": string(rs.Source)})
	return nil
}

func (s *Server) listRuleSetVersions(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	pubs, err := s.store.ListRuleSetPublications(r.Context())
	if err != nil {
		return err
	}
	out := publicationsResponse{Publications: []publicationJSON{}}
	for _, p := range pubs {
		if p.Current {
			out.Current = p.Version
		}
		out.Publications = append(out.Publications, publicationJSON{ID: p.ID, Version: p.Version, Name: p.Name,
			PublishedAt: timeString(p.At), Rollback: p.Rollback, Current: p.Current})
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// findRuleSet finds a published version, or the one in force for "" or
// "current".
func (s *Server) findRuleSet(r *http.Request, version string) (*healthcode.RuleSet, error) {
	if version == "" || version == "current" {
		return s.store.RuleSetInForce(r.Context())
	}
	return s.store.FindRuleSet(r.Context(), version)
}

func (s *Server) getRuleSetVersion(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	rs, err := s.findRuleSet(r, r.PathValue("version"))
	if err != nil {
		return err
	}
	cur, err := s.store.RuleSetInForce(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, ruleSetResponse{Version: rs.Version, Name: rs.Name, PublishedAt: timeString(rs.PublishedAt),
		Current: rs.Version == cur.Version, Rules: nonNilSlice(rs.Rules), Source: string(rs.Source)})
	return nil
}

// diffVersions finds the two rule sets ?from=&to= name (to defaults to the
// rule set in force), for the diff's API route and page.
func (s *Server) diffVersions(r *http.Request) (from, to *healthcode.RuleSet, err error) {
	q := r.URL.Query()
	if q.Get("from") == "" {
		var p healthcode.Problems
		p.Add("from", "is required: the version to compare from")
		return nil, nil, p.Err("invalid diff")
	}
	if from, err = s.findRuleSet(r, q.Get("from")); err != nil {
		return nil, nil, err
	}
	if to, err = s.findRuleSet(r, q.Get("to")); err != nil {
		return nil, nil, err
	}
	return from, to, nil
}

func (s *Server) diffRuleSetVersions(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	from, to, err := s.diffVersions(r)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, diffJSON(healthcode.DiffRuleSets(from, to)))
	return nil
}

func (s *Server) previewRuleSet(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	next, err := s.readRuleSet(w, r)
	if err != nil {
		return err
	}
	cur, err := s.store.RuleSetInForce(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, diffJSON(healthcode.DiffRuleSets(cur, next)))
	return nil
}

func (s *Server) publishRuleSet(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	next, err := s.readRuleSet(w, r)
	if err != nil {
		return err
	}
	return s.publish(w, r, a, next)
}

func (s *Server) republishRuleSet(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	rs, err := s.store.FindRuleSet(r.Context(), r.PathValue("version"))
	if err != nil {
		return err
	}
	return s.publish(w, r, a, rs)
}

// publish puts rs in force and answers what changed.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, rs *healthcode.RuleSet) error {
	cur, err := s.store.RuleSetInForce(r.Context())
	if err != nil {
		return err
	}
	out := *rs
	if err := s.store.PublishRuleSet(r.Context(), &out); err != nil {
		return err
	}
	s.log.Info("rule set published", "version", out.Version, "replaced", cur.Version, "by", a.Name, "role", string(a.Role))
	writeJSON(w, http.StatusOK, publishResponse{Version: out.Version, PublishedAt: timeString(out.PublishedAt), Replaced: cur.Version,
		Diff: diffJSON(healthcode.DiffRuleSets(cur, &out))})
	return nil
}
