package web

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"healthcode"
)

// pageErrorSources are the packages whose error messages a page can show:
// the domain, the pages and API handlers they call, the store, and what
// the trust-list page fetches and parses. Each names its helpers that
// prefix a format (trust's invalid, which it hands to jws.Open).
var pageErrorSources = map[string]map[string]string{
	"../..":          nil,
	".":              nil,
	"../sqlstore":    nil,
	"../tracing":     nil,
	"../rules":       nil,
	"../fetch":       nil,
	"../trust":       {"invalid": "trust list: "},
	"../jws":         {"invalid": "trust list: "}, // what trust's Parse has it check
	"../interop/dcc": nil,
}

// notMessages are strings the scan finds that are no messages: a header
// added, a connection parameter.
var notMessages = map[string]bool{"Accept-Encoding": true, "temp_store=MEMORY": true}

// errorFormats finds the message formats of healthcode.Errorf,
// Problems.Add and Problems.Err in the sources, with where each is.
func errorFormats(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	for dir, wrappers := range pageErrorSources {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				// A designation's reason (tracing.go), which the trace page shows.
				if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 && len(as.Rhs) == 1 {
					if sel, ok := as.Lhs[0].(*ast.SelectorExpr); ok && sel.Sel.Name == "Reason" {
						if s, ok := stringConst(as.Rhs[0]); ok {
							out[s] = fset.Position(as.Pos()).String()
						}
					}
				}
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				var name string
				switch fn := call.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
					if x, ok := fn.X.(*ast.Ident); ok && (x.Name == "fmt" || x.Name == "url" || x.Name == "q") {
						return true // fmt.Errorf: not a message for people
					}
				}
				at := func(i int) {
					if s, ok := stringConst(call.Args[i]); ok && !notMessages[s] {
						out[wrappers[name]+s] = fset.Position(call.Pos()).String()
					}
				}
				switch {
				case name == "Errorf" && len(call.Args) >= 2 && isErrorCode(call.Args[0]):
					at(1)
				case name == "Add" && len(call.Args) >= 2:
					at(1)
				case name == "Err" && len(call.Args) == 1:
					at(0)
				case wrappers[name] != "" && len(call.Args) >= 1:
					at(0)
				}
				return true
			})
		}
	}
	return out
}

func isErrorCode(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return strings.HasPrefix(x.Name, "E") && strings.ToUpper(x.Name) == x.Name
	case *ast.SelectorExpr:
		return strings.HasPrefix(x.Sel.Name, "E") && strings.ToUpper(x.Sel.Name) == x.Sel.Name
	}
	return false
}

// stringConst evaluates a string literal or a sum of them.
func stringConst(e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(x.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return "", false
		}
		a, ok1 := stringConst(x.X)
		b, ok2 := stringConst(x.Y)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return stringConst(x.X)
	}
	return "", false
}

var verbRE = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)

// verbs lists a format's verbs, without explicit argument indexes.
func verbs(format string) []string {
	var out []string
	for _, v := range verbRE.FindAllString(format, -1) {
		if v != "%%" {
			out = append(out, regexp.MustCompile(`\[\d+\]`).ReplaceAllString(v, ""))
		}
	}
	sort.Strings(out)
	return out
}

// TestErrorMessagesTranslated fails when a message a page can show has no
// Chinese, or its Chinese takes other arguments than the English.
func TestErrorMessagesTranslated(t *testing.T) {
	st, err := newSite()
	if err != nil {
		t.Fatal(err)
	}
	zh := st.langs["zh-CN"].errs
	formats := errorFormats(t)
	if len(formats) < 200 {
		t.Fatalf("found only %d messages in the sources: is the scan broken?", len(formats))
	}
	var missing []string
	for f, where := range formats {
		tr, ok := zh[f]
		if !ok {
			missing = append(missing, fmt.Sprintf("%q: %q, // %s", f, "", where))
			continue
		}
		if fmt.Sprint(verbs(tr)) != fmt.Sprint(verbs(f)) {
			t.Errorf("errors.zh.json: %q takes %v, but the English %q takes %v", tr, verbs(tr), f, verbs(f))
		}
		if !containsHan(tr) && strings.Trim(tr, "%vsdqw: ") != "" {
			t.Errorf("errors.zh.json: %q for %q has no Chinese", tr, f)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		if path := os.Getenv("HEALTHCODE_MISSING_TRANSLATIONS"); path != "" {
			_ = os.WriteFile(path, []byte(strings.Join(missing, "\n")+"\n"), 0o644)
		}
		t.Errorf("%d error messages a page can show have no Chinese in messages/errors.zh.json:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}

func containsHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

// TestErrorText: messages are formatted again in Chinese with their
// arguments translated where the catalogue knows them, field by field;
// English and unknown messages are as the API says them.
func TestErrorText(t *testing.T) {
	st, err := newSite()
	if err != nil {
		t.Fatal(err)
	}
	zh, en := st.langs["zh-CN"], st.langs["en"]
	var p healthcode.Problems
	p.Add("id_number", "no resident is enrolled with this %s number", healthcode.IDType("resident_id"))
	p.Add("result", "must be positive or negative")
	err = fmt.Errorf("add: %w", p.Err("invalid test result"))
	if got := en.Err(err); got != "invalid test result: ID number: no resident is enrolled with this resident_id number; result: must be positive or negative" &&
		!strings.HasPrefix(got, "invalid test result: ") {
		t.Errorf("en: %s", got)
	}
	got := zh.Err(err)
	if !containsHan(got) || strings.Contains(got, "no resident") || strings.Contains(got, "resident_id") {
		t.Errorf("zh: %s", got)
	}
	if fe := zh.FieldErrs(err); !containsHan(fe["id_number"]) || !containsHan(fe["result"]) {
		t.Errorf("zh field errors: %v", fe)
	}
	unknown := healthcode.Errorf(healthcode.EINVALID, "a message nobody translated %d", 7)
	if got := zh.Err(unknown); got != "a message nobody translated 7" {
		t.Errorf("an unknown message: %s", got)
	}
	if got := zh.Err(errors.New("disk on fire")); got != zh.errs["internal error"] {
		t.Errorf("an internal error: %s", got)
	}
}
