package cdk_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/cdk"
	ingest "github.com/nanopipe/nanopipe/examples/ingest/app"
	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/golden")

// TestGoldenTemplates compares the template of every example, and of the
// feature-complete test app, dev and prod, with the one committed in
// testdata/golden: a change of the construct that changes what is
// deployed shows up here, in the diff of the golden file, and one meant
// to change nothing (a faster synth) must leave them equal. After an
// intended change: go test ./cdk -run TestGoldenTemplates -update.
func TestGoldenTemplates(t *testing.T) {
	apps := map[string]func() *pipeline.App{
		"photos": func() *pipeline.App { return app.App },
		"ingest": func() *pipeline.App { return ingest.App },
		"shop":   shop,
	}
	for name, mk := range apps {
		for _, env := range []string{"dev", "prod"} {
			t.Run(name+"-"+env, func(t *testing.T) {
				_, tmpl := synth(t, mk(), &cdk.Props{Environment: env, AlarmEmails: []string{"ops@example.com"}})
				got, err := json.MarshalIndent(tmpl.ToJSON(), "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
				path := filepath.Join("testdata", "golden", name+"-"+env+".template.json")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v; write it with go test ./cdk -run TestGoldenTemplates -update", err)
				}
				if !bytes.Equal(got, want) {
					diff := filepath.Join(os.TempDir(), "golden-"+filepath.Base(path))
					os.WriteFile(diff, got, 0o644)
					t.Errorf("the template differs from %s (the new one is %s; diff them, and run with -update if the change is intended)", path, diff)
				}
			})
		}
	}
}

// TestSynthAfterKernelRestart synthesizes an app with S3 stages, closes
// the jsii kernel, and synthesizes it again in the new kernel the next
// call starts: the construct loads its support package there too, and
// the template is the same.
func TestSynthAfterKernelRestart(t *testing.T) {
	template := func() []byte {
		_, tmpl := synth(t, app.App, &cdk.Props{Environment: "dev"})
		b, err := json.Marshal(tmpl.ToJSON())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := template()
	if !bytes.Contains(before, []byte("Custom::S3BucketNotifications")) {
		t.Fatal("the photos app has no S3 notifications: the test needs an app with S3 stages")
	}
	jsii.Close()
	if after := template(); !bytes.Equal(before, after) {
		t.Error("the template differs after the kernel restarted")
	}
}
