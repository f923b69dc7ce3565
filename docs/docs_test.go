package docs_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Packages a guide's fragment may use by their usual name without
// importing them: the fragment gets an import for each it uses.
var knownImports = map[string]string{
	"context":        "context",
	"errors":         "errors",
	"fmt":            "fmt",
	"json":           "encoding/json",
	"os":             "os",
	"slog":           "log/slog",
	"strings":        "strings",
	"testing":        "testing",
	"time":           "time",
	"aws":            "github.com/aws/aws-sdk-go-v2/aws",
	"config":         "github.com/aws/aws-sdk-go-v2/config",
	"attributevalue": "github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue",
	"dynamodb":       "github.com/aws/aws-sdk-go-v2/service/dynamodb",
	"types":          "github.com/aws/aws-sdk-go-v2/service/dynamodb/types",
	"s3":             "github.com/aws/aws-sdk-go-v2/service/s3",
	"events":         "github.com/aws/aws-lambda-go/events",
	"awscdk":         "github.com/aws/aws-cdk-go/awscdk/v2",
	"jsii":           "github.com/aws/jsii-runtime-go",
	"pipeline":       "github.com/nanopipe/nanopipe/pipeline",
	"triggers":       "github.com/nanopipe/nanopipe/triggers",
	"stages":         "github.com/nanopipe/nanopipe/stages",
	"pipelinetest":   "github.com/nanopipe/nanopipe/pipelinetest",
	"local":          "github.com/nanopipe/nanopipe/local",
	"cdk":            "github.com/nanopipe/nanopipe/cdk",
	"nagcheck":       "github.com/nanopipe/nanopipe/cdk/nagcheck",
	"app":            "github.com/nanopipe/nanopipe/examples/photos/app",
	"expression":     "github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression",
}

type block struct {
	file string // path relative to the repository root
	line int    // line of the first code line
	code string
}

var fence = regexp.MustCompile("^\\s*```")

var fileOfModule = regexp.MustCompile(`^// File (\S+) \(module (\S+)\)`)

// blocks extracts the ```go blocks of a Markdown file.
func blocks(t *testing.T, root, rel string) []block {
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []block
	var cur *block
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && fence.MatchString(l):
			info := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(l), "`"))
			if info == "go" || strings.HasPrefix(info, "go ") {
				cur, lines = &block{file: rel, line: n + 1}, nil
			} else {
				cur = &block{} // another language: skip to its end
			}
		case cur != nil && fence.MatchString(l) && strings.TrimSpace(strings.Trim(strings.TrimSpace(l), "`")) == "":
			if cur.file != "" {
				cur.code = strings.Join(lines, "\n") + "\n"
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			lines = append(lines, l)
		}
	}
	if cur != nil {
		t.Errorf("%s: a code block is not closed", rel)
	}
	return out
}

// wholeFile reports whether a block is a Go file on its own.
func wholeFile(code string) bool {
	for _, l := range strings.Split(code, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "//") {
			continue
		}
		return strings.HasPrefix(l, "package ")
	}
	return false
}

// imports returns the import block for the known packages a fragment
// refers to and does not declare.
func imports(f *ast.File, always ...string) string {
	used := map[string]bool{}
	for _, a := range always {
		used[a] = true
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil {
				if _, known := knownImports[id.Name]; known {
					used[id.Name] = true
				}
			}
		}
		return true
	})
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "import %s %q\n", n, knownImports[n])
	}
	return b.String()
}

// wrap turns a fragment into a file of package pkg: declarations stay at
// the top level; statements go into a function with ctx and t in scope,
// and the variables they declare are used so that the compiler accepts
// the fragment as an excerpt.
func wrap(b block, pkg string) (string, error) {
	directive := fmt.Sprintf("//line %s:%d\n", b.file, b.line)
	fset := token.NewFileSet()
	if f, err := parser.ParseFile(fset, "", "package "+pkg+"\n"+b.code, 0); err == nil {
		return "package " + pkg + "\n" + imports(f) + directive + b.code, nil
	}
	body := "func _(ctx context.Context, t *testing.T) {\n" + b.code + "}\n"
	f, err := parser.ParseFile(fset, "", "package "+pkg+"\n"+body, 0)
	if err != nil {
		return "", fmt.Errorf("%s:%d: neither declarations nor statements: %v", b.file, b.line, err)
	}
	var uses []string
	fn := f.Decls[len(f.Decls)-1].(*ast.FuncDecl)
	for _, st := range fn.Body.List {
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, l := range st.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
						uses = append(uses, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if gd, ok := st.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, sp := range gd.Specs {
					for _, id := range sp.(*ast.ValueSpec).Names {
						if id.Name != "_" {
							uses = append(uses, id.Name)
						}
					}
				}
			}
		}
	}
	use := ""
	for _, u := range uses {
		use += "_ = " + u + "\n"
	}
	return "package " + pkg + "\n" + imports(f, "context", "testing") +
		"func _(ctx context.Context, t *testing.T) {\n" + directive + b.code + use + "}\n", nil
}

// TestCodeBlocksCompile builds every ```go block of the guide (docs/*.md)
// and of README.md. A block that is a whole file (it starts with its
// package clause) is built as a package of its own. The other blocks of
// one Markdown file form one package, so that later blocks may use what
// earlier ones declare: declarations stay at the top level, statements
// are wrapped into a function that has ctx and t. Imports of the usual
// packages (knownImports) are added as the block uses them. Errors point
// at the Markdown file and line.
func TestCodeBlocksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages; skipped with -short")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mds, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	var rels []string
	for _, m := range mds {
		rel, _ := filepath.Rel(root, m)
		rels = append(rels, rel)
	}
	rels = append(rels, "README.md")

	overlay := map[string]string{}
	tmp := t.TempDir()
	var pkgs []string
	add := func(dir, name, src string) {
		real := filepath.Join(tmp, strings.ReplaceAll(dir, "/", "_")+"_"+name)
		if err := os.WriteFile(real, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		overlay[filepath.Join(root, dir, name)] = real
	}
	// A whole file may say where it lives in a user's module:
	// "// File app/app.go (module example.com/orders)." Such a library
	// package is built at that path under the snippets, and the guide's
	// other files, on any page, import it by the user's module path.
	modules := map[string]bool{}
	for _, rel := range rels {
		for _, b := range blocks(t, root, rel) {
			if m := fileOfModule.FindStringSubmatch(b.code); m != nil {
				modules[m[2]] = true
			}
		}
	}
	total := 0
	for _, rel := range rels {
		base := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, strings.ToLower(strings.TrimSuffix(rel, ".md")))
		fragDir := "docs/zz_snippets/" + base
		frags := 0
		bs := blocks(t, root, rel)
		for i, b := range bs {
			total++
			if wholeFile(b.code) {
				dir := fmt.Sprintf("docs/zz_snippets/%s_file%d", base, i)
				name := "main.go"
				code := b.code
				for m := range modules {
					code = strings.ReplaceAll(code, `"`+m+`/`, `"github.com/nanopipe/nanopipe/docs/zz_snippets/modules/`+m+`/`)
				}
				if m := fileOfModule.FindStringSubmatch(b.code); m != nil && !regexp.MustCompile(`(?m)^package main$`).MatchString(b.code) {
					dir, name = "docs/zz_snippets/modules/"+m[2]+"/"+filepath.Dir(m[1]), filepath.Base(m[1])
				}
				// Build constraints select builds; here every file compiles.
				code = regexp.MustCompile(`(?m)^//go:build .*$`).ReplaceAllString(code, "")
				add(dir, name, fmt.Sprintf("//line %s:%d\n", b.file, b.line)+code)
				pkgs = append(pkgs, "./"+dir)
				continue
			}
			src, err := wrap(b, "snippets")
			if err != nil {
				t.Error(err)
				continue
			}
			add(fragDir, fmt.Sprintf("block%d.go", i), src)
			frags++
		}
		if frags > 0 {
			pkgs = append(pkgs, "./"+fragDir)
		}
	}
	if total == 0 {
		t.Fatal("no Go code blocks found")
	}
	ov, _ := json.Marshal(map[string]any{"Replace": overlay})
	ovPath := filepath.Join(tmp, "overlay.json")
	os.WriteFile(ovPath, ov, 0o644)
	cmd := exec.Command("go", append([]string{"build", "-overlay", ovPath, "-o", os.DevNull}, pkgs...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%d code blocks; these do not compile:\n%s", total, out)
	}
	t.Logf("%d code blocks of %d files compile", total, len(rels))
}
