package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"healthcode"
)

// The rules pages: the public rules with the history of publications and
// what each changed, and the admin's page to preview and publish a new rule
// set or put an earlier one back in force.

type ruleView struct {
	ID, Color, Mark, Description, Reason string
}

// publicationView is one row of the history.
type publicationView struct {
	Version, Name, At string
	Rollback, Current bool
	InForce           bool   // its version is in force (now or again)
	DiffURL           string // what it changed from the one it replaced
}

// publicationsView is the list of publications; Admin adds the links to put an
// earlier version back in force.
type publicationsView struct {
	Items []publicationView
	Admin bool
}

// diffView is a diff ready for a template.
type diffView struct {
	healthcode.RuleSetDiff
	FromAt, ToAt string
	Lines        []diffLineView
}

type diffLineView struct {
	healthcode.DiffLine
	Class string // hunk, del, add, ctx
}

func (s *Server) newDiffView(from, to *healthcode.RuleSet) diffView {
	d := healthcode.DiffRuleSets(from, to)
	v := diffView{RuleSetDiff: d, FromAt: s.localTime(from.PublishedAt), ToAt: s.localTime(to.PublishedAt)}
	for _, l := range d.Lines {
		class := map[string]string{"@": "hunk", "-": "del", "+": "add", "=": "ctx"}[l.Op]
		v.Lines = append(v.Lines, diffLineView{l, class})
	}
	return v
}

func (s *Server) ruleViews(p *page, rs *healthcode.RuleSet) []ruleView {
	var out []ruleView
	for _, rule := range rs.Rules {
		reason := rule.Reason.EN
		if p.L.ZH() {
			reason = rule.Reason.ZH
		}
		out = append(out, ruleView{ID: rule.ID, Color: string(rule.Color), Mark: rule.Mark, Description: rule.Description, Reason: reason})
	}
	return out
}

func (s *Server) publicationViews(r *http.Request, admin bool) (publicationsView, error) {
	pubs, err := s.store.ListRuleSetPublications(r.Context())
	if err != nil {
		return publicationsView{}, err
	}
	out := make([]publicationView, len(pubs))
	for i, p := range pubs {
		out[i] = publicationView{Version: p.Version, Name: p.Name, At: s.localTime(p.At), Rollback: p.Rollback, Current: p.Current,
			InForce: p.Version == pubs[0].Version}
		if i+1 < len(pubs) && pubs[i+1].Version != p.Version {
			out[i].DiffURL = rulesDiffURL(pubs[i+1].Version, p.Version)
		}
	}
	return publicationsView{Items: out, Admin: admin}, nil
}

func (s *Server) rulesPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "resident", "rules")
	if a != nil && a.Role != healthcode.RoleResident {
		p.Section = "admin"
	}
	rs, err := s.store.RuleSetInForce(r.Context())
	if err != nil {
		return err
	}
	history, err := s.publicationViews(r, false)
	if err != nil {
		return err
	}
	p.D = struct {
		Version, Name, Published string
		Rules                    []ruleView
		History                  publicationsView
	}{rs.Version, rs.Name, s.localTime(rs.PublishedAt), s.ruleViews(p, rs), history}
	return s.render(w, r, http.StatusOK, "rules", p)
}

// rulesDiffPage shows what changed between two versions (?from=&to=; to
// defaults to the rule set in force).
func (s *Server) rulesDiffPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "resident", "rules")
	if a != nil && a.Role != healthcode.RoleResident {
		p.Section = "admin"
	}
	from, to, err := s.diffVersions(r)
	if err != nil {
		return err
	}
	p.Title = p.L.T("rules.changes")
	p.D = s.newDiffView(from, to)
	return s.render(w, r, http.StatusOK, "rules_diff", p)
}

// adminRulesData is the admin rules page: the form, a preview, the history.
type adminRulesData struct {
	Current  string
	Source   string // the document in the form
	Preview  *diffView
	Problems []healthcode.FieldError
	Rollback string // the earlier version a preview would put back in force
	History  publicationsView
}

// adminRulesPage shows the form to propose a rule set and the history; its
// POST previews the proposal (nothing is published).
func (s *Server) adminRulesPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	p := s.newPage(w, r, a, "admin", "admin-rules")
	p.Title = p.L.T("title.admin_rules")
	cur, err := s.store.RuleSetInForce(r.Context())
	if err != nil {
		return err
	}
	d := adminRulesData{Current: cur.Version}
	status := http.StatusOK
	switch {
	case r.Method == http.MethodPost:
		src, err := ruleSetFromForm(w, r)
		if err == nil {
			d.Source = string(src)
			var next *healthcode.RuleSet
			if next, err = s.loadRuleSet(src); err == nil {
				v := s.newDiffView(cur, next)
				d.Preview = &v
			}
		}
		if err != nil {
			p.Error, status = healthcode.ErrorMessage(err), statusFor(healthcode.ErrorCode(err))
			var he *healthcode.Error
			if errors.As(err, &he) && len(he.Fields) > 0 {
				d.Problems = he.Fields // listed by the form: the alert only counts them
				p.Error = fmt.Sprintf("%s (%d)", p.L.T("rules.problems"), len(he.Fields))
			}
		}
	case r.URL.Query().Get("notice") == "published":
		p.Notice = p.L.T("rules.published_notice") + " " + cur.Version
	case r.URL.Query().Get("notice") == "unchanged":
		p.Notice = p.L.T("rules.unchanged_notice")
	}
	if d.Source == "" {
		d.Source = string(cur.Source)
	}
	if d.History, err = s.publicationViews(r, true); err != nil {
		return err
	}
	p.D = d
	return s.render(w, r, status, "admin_rules", p)
}

// ruleSetFromForm reads the proposed document: an uploaded file if one was
// chosen, else the text area.
func ruleSetFromForm(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 2*maxRuleSet)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(2 * maxRuleSet); err != nil {
			return nil, healthcode.Errorf(healthcode.EINVALID, "the form could not be read: %v", err)
		}
		if f, _, err := r.FormFile("file"); err == nil {
			defer f.Close()
			data, err := io.ReadAll(io.LimitReader(f, maxRuleSet+1))
			if err != nil {
				return nil, healthcode.Errorf(healthcode.EINVALID, "the file could not be read: %v", err)
			}
			if len(data) > maxRuleSet {
				return nil, healthcode.Errorf(healthcode.EINVALID, "the rule set document is larger than %d MiB", maxRuleSet>>20)
			}
			if len(strings.TrimSpace(string(data))) > 0 {
				return data, nil
			}
		} else if !errors.Is(err, http.ErrMissingFile) && !errors.Is(err, multipart.ErrMessageTooLarge) {
			return nil, healthcode.Errorf(healthcode.EINVALID, "the file could not be read: %v", err)
		}
	} else if err := r.ParseForm(); err != nil {
		return nil, healthcode.Errorf(healthcode.EINVALID, "the form could not be read: %v", err)
	}
	// Browsers send a text area's lines with CRLF; the document is kept as
	// written, with LF.
	return []byte(strings.ReplaceAll(r.PostFormValue("source"), "\r\n", "\n")), nil
}

// adminPublishPage publishes the previewed document.
func (s *Server) adminPublishPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	src, err := ruleSetFromForm(w, r)
	if err != nil {
		return err
	}
	cur, err := s.store.RuleSetInForce(r.Context())
	if err != nil {
		return err
	}
	next, err := s.loadRuleSet(src)
	if err != nil {
		return err
	}
	if next.Version == cur.Version {
		return redirect(w, r, "/admin/rules?notice=unchanged")
	}
	if err := s.callAPIRaw(w, r, a, s.publishRuleSet, src); err != nil {
		return err
	}
	return redirect(w, r, "/admin/rules?notice=published")
}

// adminRollbackPage previews putting an earlier version back in force
// (GET), or does it (POST).
func (s *Server) adminRollbackPage(w http.ResponseWriter, r *http.Request, a *healthcode.Actor) error {
	version := r.PathValue("version")
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
		if err := s.callAPIRaw(w, r, a, s.republishRuleSet, nil); err != nil {
			return err
		}
		return redirect(w, r, "/admin/rules?notice=published")
	}
	p := s.newPage(w, r, a, "admin", "admin-rules")
	p.Title = p.L.T("title.admin_rules")
	cur, err := s.store.RuleSetInForce(r.Context())
	if err != nil {
		return err
	}
	old, err := s.store.FindRuleSet(r.Context(), version)
	if err != nil {
		return err
	}
	v := s.newDiffView(cur, old)
	d := adminRulesData{Current: cur.Version, Preview: &v, Rollback: old.Version, Source: string(old.Source)}
	if d.History, err = s.publicationViews(r, true); err != nil {
		return err
	}
	p.D = d
	return s.render(w, r, http.StatusOK, "admin_rules", p)
}

// callAPIRaw calls an API handler with body as the request body (the
// rule set document) and discards its answer.
func (s *Server) callAPIRaw(w http.ResponseWriter, r *http.Request, a *healthcode.Actor, h handlerFunc, body []byte) error {
	req := r.Clone(r.Context())
	req.Method = http.MethodPost
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	req.ContentLength = int64(len(body))
	req.Header = r.Header.Clone()
	req.Header.Set("Content-Type", "application/yaml")
	return h(&bufferWriter{h: http.Header{}}, req, a)
}

// rulesDiffURL links to what changed between two versions.
func rulesDiffURL(from, to string) string {
	return "/rules/diff?" + url.Values{"from": {from}, "to": {to}}.Encode()
}
