// Command gosynth synthesizes the benchmark's generated app with the Go
// construct, validation off, as the CDK CLI would run a Go app:
//
//	gosynth -stages 50 -out DIR -asset DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/cdk"
	"github.com/nanopipe/nanopipe/cdk/bench"
	"github.com/nanopipe/nanopipe/pipeline"
)

func main() {
	stages := flag.Int("stages", 10, "number of stages of the generated app")
	out := flag.String("out", "", "cloud assembly directory")
	asset := flag.String("asset", "", "directory holding a bootstrap, used as the app's binary")
	flag.Parse()
	if *out == "" || *asset == "" {
		fmt.Fprintln(os.Stderr, "usage: gosynth -stages N -out DIR -asset DIR")
		os.Exit(2)
	}
	defer jsii.Close()
	// The 200-stage app has more resources than one CloudFormation stack
	// takes (500): the limit is lifted to measure how synth time grows.
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: out, BuiltinCloudFormationValidation: jsii.Bool(false),
		Context: &map[string]any{"@aws-cdk/core:stackResourceLimit": 0}})
	stack := awscdk.NewStack(app, jsii.String("Bench"), nil)
	// From an empty stack to a written cloud assembly: the part of the
	// process that scales with the app, reported next to the total.
	start := time.Now()
	cdk.New(stack, "Pipeline", bench.App(*stages), &cdk.Props{
		Environment: bench.Environment,
		Prebuilt:    map[pipeline.Arch]string{pipeline.Arm64: *asset},
	})
	app.Synth(nil)
	fmt.Printf("%s %.3f\n", bench.PhaseLine, time.Since(start).Seconds())
}
