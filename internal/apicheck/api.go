package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File is the API file, relative to the module root.
const File = "api/nanopipe.txt"

// Command regenerates File.
const Command = "go run ./internal/apicheck -w"

// Packages are the public packages, by directory relative to the module
// root, as the module path names them.
var Packages = []string{"cdk", "local", "pipeline", "pipelinetest", "stages", "triggers"}

const module = "github.com/nanopipe/nanopipe"

// Generate returns the API file's content for the module at root: for
// every exported identifier of Packages, one line
//
//	pkg IMPORTPATH, KIND NAME SIGNATURE
//
// sorted, as Go's api/*.txt files list the standard library. Build-tagged
// files are included whatever their tags; test files are not.
func Generate(root string) ([]byte, error) {
	var lines []string
	for _, dir := range Packages {
		ls, err := packageLines(filepath.Join(root, dir), module+"/"+dir)
		if err != nil {
			return nil, err
		}
		lines = append(lines, ls...)
	}
	sort.Strings(lines)
	lines = dedupe(lines)
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

func dedupe(in []string) []string {
	out := in[:0]
	for i, l := range in {
		if i == 0 || l != in[i-1] {
			out = append(out, l)
		}
	}
	return out
}

func packageLines(dir, path string) ([]string, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if f.Name.Name == "main" {
			continue
		}
		w := &writer{fset: fset, prefix: "pkg " + path + ", "}
		for _, d := range f.Decls {
			w.decl(d)
		}
		lines = append(lines, w.lines...)
	}
	return lines, nil
}

type writer struct {
	fset   *token.FileSet
	prefix string
	lines  []string
}

func (w *writer) emit(format string, args ...any) {
	w.lines = append(w.lines, w.prefix+fmt.Sprintf(format, args...))
}

// node prints an AST node on one line.
func (w *writer) node(n ast.Node) string {
	var b bytes.Buffer
	printer.Fprint(&b, w.fset, n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func (w *writer) decl(d ast.Decl) {
	switch d := d.(type) {
	case *ast.FuncDecl:
		w.fun(d)
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				w.typ(s)
			case *ast.ValueSpec:
				w.value(d.Tok, s)
			}
		}
	}
}

func (w *writer) fun(d *ast.FuncDecl) {
	if !d.Name.IsExported() {
		return
	}
	sig := strings.TrimPrefix(w.node(d.Type), "func")
	if d.Recv == nil {
		w.emit("func %s%s", d.Name.Name, sig)
		return
	}
	recv := d.Recv.List[0].Type
	base := recv
	if s, ok := base.(*ast.StarExpr); ok {
		base = s.X
	}
	switch b := base.(type) {
	case *ast.IndexExpr:
		base = b.X
	case *ast.IndexListExpr:
		base = b.X
	}
	if id, ok := base.(*ast.Ident); !ok || !id.IsExported() {
		return
	}
	w.emit("method (%s) %s%s", w.node(recv), d.Name.Name, sig)
}

func (w *writer) typ(s *ast.TypeSpec) {
	if !s.Name.IsExported() {
		return
	}
	name := s.Name.Name
	if s.TypeParams != nil {
		var params []string
		for _, f := range s.TypeParams.List {
			var names []string
			for _, n := range f.Names {
				names = append(names, n.Name)
			}
			params = append(params, strings.Join(names, ", ")+" "+w.node(f.Type))
		}
		name += "[" + strings.Join(params, ", ") + "]"
	}
	switch t := s.Type.(type) {
	case *ast.StructType:
		w.emit("type %s struct", name)
		for _, f := range t.Fields.List {
			typ := w.node(f.Type)
			if len(f.Names) == 0 {
				if ast.IsExported(strings.TrimPrefix(embeddedName(f.Type), "*")) {
					w.emit("type %s struct, embedded %s", s.Name.Name, typ)
				}
				continue
			}
			for _, n := range f.Names {
				if n.IsExported() {
					w.emit("type %s struct, %s %s", s.Name.Name, n.Name, typ)
				}
			}
		}
	case *ast.InterfaceType:
		w.emit("type %s interface { %s }", name, w.interfaceMethods(t))
	default:
		eq := " "
		if s.Assign.IsValid() {
			eq = " = "
		}
		w.emit("type %s%s%s", name, eq, w.node(s.Type))
	}
}

func embeddedName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return embeddedName(t.X)
	case *ast.Ident:
		return t.Name
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.IndexExpr:
		return embeddedName(t.X)
	}
	return ""
}

// interfaceMethods lists an interface's exported methods and embedded
// types, sorted; unexported methods show as "unexported methods", which
// is what makes an interface impossible to implement outside the package.
func (w *writer) interfaceMethods(t *ast.InterfaceType) string {
	var parts []string
	unexported := false
	for _, m := range t.Methods.List {
		if len(m.Names) == 0 {
			parts = append(parts, w.node(m.Type))
			continue
		}
		for _, n := range m.Names {
			if !n.IsExported() {
				unexported = true
				continue
			}
			parts = append(parts, n.Name+strings.TrimPrefix(w.node(m.Type), "func"))
		}
	}
	sort.Strings(parts)
	if unexported {
		parts = append(parts, "// unexported methods")
	}
	return strings.Join(parts, "; ")
}

func (w *writer) value(tok token.Token, s *ast.ValueSpec) {
	kind := "var"
	if tok == token.CONST {
		kind = "const"
	}
	for i, n := range s.Names {
		if !n.IsExported() {
			continue
		}
		switch {
		case s.Type != nil:
			w.emit("%s %s %s", kind, n.Name, w.node(s.Type))
		case kind == "const" && i < len(s.Values):
			w.emit("%s %s = %s", kind, n.Name, w.node(s.Values[i]))
		case kind == "const":
			// An iota continuation: the name is what users rely on.
			w.emit("%s %s", kind, n.Name)
		default:
			w.emit("%s %s", kind, n.Name)
		}
	}
}

// Diff is a line diff of want and got: "-" for lines only in want, "+"
// for lines only in got. Both are sorted line sets, so a merge suffices.
func Diff(want, got string) string {
	a := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	b := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i] < b[j]):
			fmt.Fprintf(&out, "-%s\n", a[i])
			i++
		case i >= len(a) || b[j] < a[i]:
			fmt.Fprintf(&out, "+%s\n", b[j])
			j++
		default:
			i++
			j++
		}
	}
	return out.String()
}
