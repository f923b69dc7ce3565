package cdk_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/cdk"
	"github.com/nanopipe/nanopipe/cdk/nagcheck"
	ingest "github.com/nanopipe/nanopipe/examples/ingest/app"
	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/pipeline"
)

// TestNag runs cdk-nag's AwsSolutions rules over every example app and
// the feature-complete test app (also traced), in both kinds of environment: no error
// may be left unsuppressed, and every suppression carries its reason.
func TestNag(t *testing.T) {
	apps := map[string]func() *pipeline.App{
		"photos": func() *pipeline.App { return app.App },
		"ingest": func() *pipeline.App { return ingest.App },
		"shop":   shop,
		// Tracing grants X-Ray's actions on "*", suppressed with its reason.
		"shop-traced": func() *pipeline.App {
			a := shop()
			a.StageNamed("load").Tracing()
			return a
		},
	}
	for name, mk := range apps {
		for _, env := range []string{"dev", "prod"} {
			t.Run(name+"/"+env, func(t *testing.T) {
				st := stack()
				cdk.New(st, "Pipeline", mk(), &cdk.Props{Environment: env, Prebuilt: prebuilt})
				for _, f := range nagcheck.Check(st) {
					t.Errorf("unsuppressed: %s", f)
				}
			})
		}
	}
}

// TestNagFindsErrors shows the check is live: a queue without encryption
// or TLS enforcement next to a pipeline is reported.
func TestNagFindsErrors(t *testing.T) {
	st := stack()
	cdk.New(st, "Pipeline", app.App, &cdk.Props{Prebuilt: prebuilt})
	awssqs.NewCfnQueue(st, jsii.String("Plain"), &awssqs.CfnQueueProps{SqsManagedSseEnabled: jsii.Bool(false)})
	findings := nagcheck.Check(st)
	if len(findings) == 0 {
		t.Fatal("cdk-nag found nothing wrong with an unencrypted queue without TLS enforcement or dead-letter queue")
	}
	for _, f := range findings {
		if !strings.HasPrefix(f.Path, "/Test/Plain") {
			t.Errorf("finding outside the plain queue: %s", f)
		}
	}
}
