package sdk_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocSnippetsMatchSource keeps docs/sdk-go.md honest: every Go block marked
// `<!-- snippet: NAME -->` must be the body of function NAME in the e2e sources (which the
// e2e tests run), and every snippet function must appear in the doc.
func TestDocSnippetsMatchSource(t *testing.T) {
	bodies := map[string]string{}
	for _, file := range []string{"doc_snippets_test.go", "example_test.go"} {
		for name, body := range functionBodies(t, file) {
			if strings.HasPrefix(name, "snippet") || name == "Example" {
				bodies[name] = body
			}
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "sdk-go.md"))
	if err != nil {
		t.Fatalf("read docs/sdk-go.md: %v", err)
	}
	blocks := regexp.MustCompile("(?s)<!-- snippet: (\\w+) -->\n```go\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	quoted := map[string]bool{}
	for _, b := range blocks {
		name, code := b[1], b[2]
		quoted[name] = true
		want, ok := bodies[name]
		if !ok {
			t.Errorf("doc quotes %s, which no test defines", name)
			continue
		}
		if strings.TrimSpace(code) != strings.TrimSpace(want) {
			t.Errorf("doc block %s differs from its source:\n--- doc\n%s\n--- source\n%s", name, code, want)
		}
	}
	for name := range bodies {
		if !quoted[name] {
			t.Errorf("%s is not quoted in docs/sdk-go.md", name)
		}
	}
}

// functionBodies returns each top-level function's body, dedented by one tab.
func functionBodies(t *testing.T, path string) map[string]string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		body := string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
		lines := strings.Split(strings.Trim(body, "\n"), "\n")
		for i, line := range lines {
			lines[i] = strings.TrimPrefix(line, "\t")
		}
		out[fn.Name.Name] = strings.Join(lines, "\n")
	}
	return out
}
