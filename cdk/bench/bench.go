// Package bench is the synth benchmark of the cdk package: a generated
// app of any number of stages, synthesized by the Go construct (command
// gosynth), by a hand-written JavaScript CDK app that produces the same
// resources with aws-cdk-lib (js/app.js), and by the same app written by
// hand in Go with aws-cdk-go's L2 constructs (command l2synth), each as
// the separate process `cdk synth` would run.
//
//	scripts/cdk-setup.sh                                  # installs aws-cdk-lib for js/app.js
//	go test ./cdk/bench -run '^$' -bench Synth -benchtime 5x
//
// BenchmarkSynth reports, per app size, the seconds per synth of each and
// the construct's ratios to the peers (go/js, go/l2). TestSameResources
// checks that all three produce the same resources, so the comparison
// stays fair as any side changes.
package bench

import (
	"context"
	"fmt"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// PhaseLine starts the line both synth commands print with the seconds
// from an empty stack to a written cloud assembly: the process time
// without the runtime's start (node and, for Go, the jsii kernel with its
// assemblies).
const PhaseLine = "construct+synth seconds:"

// Environment is the environment the benchmark synthesizes (no
// auto-delete helper, so both sides create the same fixed resources).
const Environment = "prod"

type item struct {
	ID    string `dynamodbav:"id"`
	Total int    `dynamodbav:"total"`
}

// App declares a pipeline of n stages on one bucket and two tables. Even
// stages are S3 stages on their own prefix (in/<i>/), reading it and
// writing out/<i>/ and the items table; odd stages are triggered by
// inserts into the items table and write the totals table. js/app.js
// builds the same shape by hand.
func App(n int) *pipeline.App {
	app := pipeline.New("bench")
	data := app.Bucket("bench-data")
	items := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	totals := app.Table("totals", pipeline.PartitionKey("id", pipeline.String))
	for i := range n {
		if i%2 == 0 {
			in := fmt.Sprintf("in/%d/", i)
			pipeline.OnObject(app, fmt.Sprintf("s%d", i), data.Created(triggers.Prefix(in)),
				func(context.Context, triggers.Object) error { return nil },
			).Reads(data.Keys(in, "")).Writes(data.Keys(fmt.Sprintf("out/%d/", i), ""), items)
			continue
		}
		pipeline.OnChange(app, fmt.Sprintf("t%d", i), items.Changes(triggers.Insert),
			func(context.Context, triggers.Change[item]) error { return nil },
		).Writes(totals)
	}
	return app
}
