package cdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/cdk"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// prebuilt is a fake bootstrap shared by the tests: they check templates,
// not binaries, and building one per test would cost seconds each.
var prebuilt map[pipeline.Arch]string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nanopipe-cdk-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	prebuilt = map[pipeline.Arch]string{pipeline.Arm64: dir, pipeline.X86_64: dir}
	code := m.Run()
	// Once, after every test: jsii cannot start again in this process.
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack returns a fresh app and stack, with the context values given as
// key, value pairs.
func stack(ctx ...string) awscdk.Stack {
	c := map[string]interface{}{}
	for i := 0; i+1 < len(ctx); i += 2 {
		c[ctx[i]] = ctx[i+1]
	}
	// The built-in CloudFormation validator costs most of a synth; the
	// one validated synth is TestCLISynth. (CDK_VALIDATION=false would do
	// too, but jsii starts node while the test binary initializes, before
	// TestMain could set it.)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &c, BuiltinCloudFormationValidation: jsii.Bool(false)})
	return awscdk.NewStack(app, jsii.String("Test"), nil)
}

// synth adds the construct of app to a fresh stack and returns the
// construct and its template.
func synth(t *testing.T, app *pipeline.App, props *cdk.Props, ctx ...string) (*cdk.Pipeline, assertions.Template) {
	t.Helper()
	st := stack(ctx...)
	if props == nil {
		props = &cdk.Props{}
	}
	if props.Prebuilt == nil && props.Package == "" {
		props.Prebuilt = prebuilt
	}
	p := cdk.New(st, "Pipeline", app, props)
	return p, assertions.Template_FromStack(st, nil)
}

// check runs a CDK assertion, which panics when it fails, and reports the
// failure as a test error.
func check(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

func has(t *testing.T, tmpl assertions.Template, typ string, props map[string]any) {
	t.Helper()
	check(t, typ, func() { tmpl.HasResourceProperties(jsii.String(typ), props) })
}

func count(t *testing.T, tmpl assertions.Template, typ string, n int) {
	t.Helper()
	check(t, typ, func() { tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n))) })
}

// resources returns the template's resources of a type, by logical ID,
// decoded into plain JSON values.
func resources(t *testing.T, tmpl assertions.Template, typ string, props map[string]any) map[string]map[string]any {
	t.Helper()
	var match any
	if props != nil {
		match = map[string]any{"Properties": props}
	}
	found := tmpl.FindResources(jsii.String(typ), match)
	b, err := json.Marshal(found)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func templateJSON(t *testing.T, tmpl assertions.Template) string {
	t.Helper()
	b, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Handlers of the test apps; synthesis never calls them.
func onObject(context.Context, triggers.Object) error { return nil }

type order struct {
	ID     string `dynamodbav:"id"`
	At     int64  `dynamodbav:"at"`
	Status string `dynamodbav:"status"`
}

type customer struct {
	ID    string `dynamodbav:"id"`
	Email string `dynamodbav:"email"`
}

func onOrder(context.Context, triggers.Change[order]) error       { return nil }
func onCustomer(context.Context, triggers.Change[customer]) error { return nil }

const (
	customersStream = "arn:aws:dynamodb:eu-west-1:123456789012:table/customers/stream/2024-01-01T00:00:00.000"
	alertsTopic     = "arn:aws:sns:eu-west-1:123456789012:alerts"
	auditQueue      = "arn:aws:sqs:eu-west-1:123456789012:audit"
)

// shop declares an app that uses every feature the construct maps: a
// created versioned bucket and an existing one, created tables (one with
// a sort key and TTL) and an existing one with a stream, S3 stages with
// async options, stream stages with every mapping option, a group, and
// all kinds of on-failure destination.
func shop() *pipeline.App {
	app := pipeline.New("shop")
	inbox := app.Bucket("shop-inbox", pipeline.Versioned())
	archive := app.ExistingBucket("legacy-archive")
	orders := app.Table("orders", pipeline.PartitionKey("id", pipeline.String),
		pipeline.SortKey("at", pipeline.Number), pipeline.TimeToLive("expires"))
	totals := app.Table("totals", pipeline.PartitionKey("day", pipeline.String))
	customers := app.ExistingTable("customers", pipeline.PartitionKey("id", pipeline.String), pipeline.StreamARN(customersStream))

	pipeline.OnObject(app, "load",
		inbox.Created(triggers.Prefix("csv/"), triggers.Suffix(".csv"), triggers.Retries(1), triggers.MaxEventAge(3600e9)),
		onObject,
	).Reads(inbox.Keys("csv/", "")).Writes(orders, inbox.Keys("done/", "")).
		Memory(1024).Timeout(120e9).ReservedConcurrency(5).Setenv("MODE", "strict")

	pipeline.OnObject(app, "forget", inbox.Removed(triggers.Prefix("csv/"), triggers.OnFailure(triggers.Queue(auditQueue))), onObject).
		Writes(orders)

	pipeline.OnChange(app, "total",
		orders.Changes(triggers.Insert, triggers.BatchSize(50), triggers.BatchingWindow(5e9),
			triggers.StartAt(triggers.Latest), triggers.Retries(7), triggers.Bisect(),
			triggers.MaxRecordAge(3600e9), triggers.Parallelization(2), triggers.TumblingWindow(60e9),
			triggers.Where(triggers.NewImage("status").Equals("paid")),
			triggers.OnFailure(triggers.Topic(alertsTopic))),
		onOrder,
	).Reads(orders).Writes(totals).Architecture(pipeline.X86_64)

	pipeline.OnChange(app, "welcome", customers.Changes(triggers.Insert), onCustomer).
		Reads(archive.Keys("templates/", "")).Group("mail")
	pipeline.OnObject(app, "bounce", archive.Created(triggers.Prefix("bounces/")), onObject).
		Reads(archive.Keys("bounces/", ""), customers).Group("mail").Memory(512)
	return app
}
