package cdk_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/cdk"
	ingest "github.com/nanopipe/nanopipe/examples/ingest/app"
	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/pipeline"
)

// cfnLint returns the cfn-lint command, skipping the test when it is not
// installed, except in CI (scripts/test.sh sets CI), where a missing
// linter fails the test instead of passing it unchecked.
func cfnLint(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cfn-lint is not installed (%v); scripts/cdk-setup.sh installs it (pip install cfn-lint==1.51.0)", err)
		}
		t.Skipf("cfn-lint is not installed; run scripts/cdk-setup.sh or pip install cfn-lint==1.51.0 (%v)", err)
	}
	return path
}

// lint runs cfn-lint over the templates and returns its errors (rules
// E*), logging its warnings.
func lint(t *testing.T, files ...string) []string {
	t.Helper()
	cmd := exec.Command(cfnLint(t), append([]string{"--format", "parseable", "--"}, files...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("cfn-lint: %v\n%s", err, stderr.Bytes())
	}
	// Exit status: a bit mask, 2 errors, 4 warnings, 8 informational;
	// anything else (1, or bits with no finding printed) is a failure of
	// the linter itself.
	var errs []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		// file:line:col:endline:endcol:RULE:message
		f := strings.SplitN(line, ":", 7)
		if len(f) < 7 {
			t.Fatalf("cfn-lint printed %q", line)
		}
		switch f[5][0] {
		case 'E':
			errs = append(errs, filepath.Base(f[0])+": "+f[5]+": "+f[6])
		default:
			t.Logf("cfn-lint %s: %s: %s", filepath.Base(f[0]), f[5], f[6])
		}
	}
	if exit != nil && (exit.ExitCode()&^(2|4|8) != 0 || (exit.ExitCode()&2 != 0) != (len(errs) > 0)) {
		t.Fatalf("cfn-lint exited %d with %d errors parsed:\n%s\n%s", exit.ExitCode(), len(errs), out, stderr.Bytes())
	}
	return errs
}

// writeTemplate writes a synthesized template where cfn-lint reads it.
func writeTemplate(t *testing.T, dir, name string, tmpl assertions.Template) string {
	t.Helper()
	b, err := json.MarshalIndent(tmpl.ToJSON(), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".template.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCfnLint runs cfn-lint over the template of every example and of the
// feature-complete test app, dev and prod, as cdk.Main builds them (an
// alarm email subscribed) and with tracing and the other options on: no
// error may be found.
func TestCfnLint(t *testing.T) {
	cfnLint(t)
	apps := map[string]func() *pipeline.App{
		"photos": func() *pipeline.App { return app.App },
		"ingest": func() *pipeline.App { return ingest.App },
		"shop":   shop,
		"shop-traced": func() *pipeline.App {
			a := shop()
			for _, s := range a.Stages() {
				s.Tracing().LogLevel(pipeline.LogDebug)
			}
			return a
		},
	}
	dir := t.TempDir()
	var files []string
	for name, mk := range apps {
		for _, env := range []string{"dev", "prod"} {
			_, tmpl := synth(t, mk(), &cdk.Props{Environment: env, AlarmEmails: []string{"ops@example.com"}})
			files = append(files, writeTemplate(t, dir, name+"-"+env, tmpl))
		}
	}
	_, tmpl := synth(t, shop(), &cdk.Props{Environment: "prod", FixedNames: true, AlarmActions: []string{alertsTopic}})
	files = append(files, writeTemplate(t, dir, "shop-fixed-names", tmpl))
	for _, e := range lint(t, files...) {
		t.Error(e)
	}
}

// TestCfnLintFindsErrors shows the check is live: a function with a
// property CloudFormation does not know is an error.
func TestCfnLintFindsErrors(t *testing.T) {
	cfnLint(t)
	st := stack()
	p := cdk.New(st, "Pipeline", app.App, &cdk.Props{Prebuilt: prebuilt})
	p.Function("thumbnail").AddPropertyOverride(jsii.String("MemorySizeMB"), 512)
	file := writeTemplate(t, t.TempDir(), "broken", assertions.Template_FromStack(st, nil))
	errs := lint(t, file)
	if len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), "MemorySizeMB") {
		t.Errorf("cfn-lint errors %q, want one on MemorySizeMB", errs)
	}
}
