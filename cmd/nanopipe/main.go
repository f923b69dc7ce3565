// Command nanopipe starts a nanopipe project:
//
//	go run github.com/nanopipe/nanopipe/cmd/nanopipe@latest init orders
//
// writes the module orders/ (module path "orders", or -module
// github.com/you/orders): an app package declaring a bucket, a table and
// one stage, with its test; a main that serves Lambda and runs the local
// environment (go run . dev); a CDK app in cdk/ with its cdk.json and a
// package.json pinning the CDK CLI; and a .gitignore. It then runs go mod
// tidy, so go test ./... works at once.
package main

import (
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"text/template"
)

// cdkCLIVersion is the CDK CLI the generated package.json pins: the one
// scripts/cdk-setup.sh installs and the tests run.
const cdkCLIVersion = "2.1148.1"

// goVersion is the go line of the generated go.mod: the one nanopipe's
// go.mod needs.
const goVersion = "1.26.8"

const modulePath = "github.com/nanopipe/nanopipe"

//go:embed all:template
var files embed.FS

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: nanopipe init [flags] NAME

Writes a new pipeline module into the directory NAME: an app package with
one stage and its test, a main serving Lambda and the local environment,
and a CDK app. NAME is the app's name: lowercase letters, digits and '-'.

Flags:
  -module PATH    the module path (default NAME), e.g. github.com/you/orders
  -dir DIR        where to write (default NAME); it must not exist or be empty
  -version V      the nanopipe version to require (default: this command's)
  -replace DIR    add a replace directive to a nanopipe checkout at DIR
  -tidy=false     skip go mod tidy
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "init" {
		usage(stderr)
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	fl := flag.NewFlagSet("init", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { usage(stderr) }
	module := fl.String("module", "", "")
	dir := fl.String("dir", "", "")
	version := fl.String("version", "", "")
	replace := fl.String("replace", "", "")
	tidy := fl.Bool("tidy", true, "")
	if err := fl.Parse(args[1:]); err != nil {
		return 2
	}
	if fl.NArg() != 1 {
		fmt.Fprintln(stderr, "nanopipe init: name the app, e.g. nanopipe init orders")
		return 2
	}
	p := project{Name: fl.Arg(0), Module: *module, Version: *version, Replace: *replace, GoVersion: goVersion, CDKVersion: cdkCLIVersion}
	if *dir == "" {
		*dir = p.Name
	}
	if err := p.resolve(); err != nil {
		fmt.Fprintln(stderr, "nanopipe init:", err)
		return 2
	}
	if err := p.write(*dir); err != nil {
		fmt.Fprintln(stderr, "nanopipe init:", err)
		return 1
	}
	fmt.Fprintf(stdout, "nanopipe init: wrote module %s into %s\n", p.Module, *dir)
	if *tidy {
		fmt.Fprintln(stdout, "nanopipe init: go mod tidy")
		cmd := exec.Command("go", "mod", "tidy")
		cmd.Dir = *dir
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stderr, "nanopipe init: go mod tidy in %s: %v; fix the cause and run it again\n", *dir, err)
			return 1
		}
	}
	fmt.Fprintf(stdout, `
Next:
  cd %s
  go test ./...     # the stage on the local environment
  go run . dev      # S3 and DynamoDB with streams on http://127.0.0.1:4566
  cd cdk && npm install && npx cdk synth    # the CloudFormation template

README.md has the upload command and how to deploy.
`, *dir)
	return 0
}

// project is what the templates are filled with.
type project struct {
	Name       string // the app's name
	Module     string
	Version    string // of nanopipe
	Replace    string // a nanopipe checkout, or ""
	GoVersion  string
	CDKVersion string
}

// The app's name becomes bucket names ("NAME-inbox"), which S3 wants
// lowercase.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,40}[a-z0-9]$`)

func (p *project) resolve() error {
	if !nameRE.MatchString(p.Name) {
		return fmt.Errorf("name %q: use 2-42 lowercase letters, digits or '-', starting with a letter (it names the app and its bucket)", p.Name)
	}
	if p.Module == "" {
		p.Module = p.Name
	}
	if strings.ContainsAny(p.Module, " \t\"'`\\") {
		return fmt.Errorf("-module %q is not a module path", p.Module)
	}
	if p.Replace != "" {
		abs, err := filepath.Abs(p.Replace)
		if err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return fmt.Errorf("-replace %s: no go.mod there: %w", p.Replace, err)
		}
		p.Replace = abs
	}
	if p.Version == "" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == modulePath && strings.HasPrefix(bi.Main.Version, "v") {
			// go run github.com/nanopipe/nanopipe/cmd/nanopipe@VERSION
			p.Version = bi.Main.Version
		}
	}
	if p.Version == "" {
		if p.Replace == "" {
			return errors.New("cannot tell which nanopipe version to require: run this command as go run github.com/nanopipe/nanopipe/cmd/nanopipe@VERSION, or pass -version VERSION (or -replace DIR for a checkout)")
		}
		p.Version = "v0.0.0-00010101000000-000000000000"
	}
	return nil
}

// write fills every template into dir, which must not exist or be empty.
func (p *project) write(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty; choose another -dir", dir)
	}
	return fs.WalkDir(files, "template", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(path, "template/"), ".tmpl")
		if rel == "gitignore" {
			rel = ".gitignore" // a dotfile would not be embedded by a plain pattern
		}
		src, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		t, err := template.New(rel).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, p); err != nil {
			return err
		}
		out := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, b.Bytes(), 0o644)
	})
}
