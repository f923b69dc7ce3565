//go:build !lambda.norpc

// Command photos is the photos pipeline's binary. In Lambda it serves the
// stage its function's environment names; on a workstation it runs the
// local environment:
//
//	go run ./examples/photos dev
//
// The Lambda build (-tags lambda.norpc) is main_lambda.go and does not
// link the local environment.
package main

import (
	"context"
	"os"

	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/local"
)

func main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		app.App.Main()
		return
	}
	sample := "examples/photos/testdata/sample.jpg"
	if _, err := os.Stat(sample); err != nil {
		sample = ""
	}
	local.Command{
		App:        app.App,
		Name:       "go run ./examples/photos",
		SampleFile: sample,
		Demo:       demoIfSample(sample),
		Items:      map[string]string{"photos": `{"id":{"S":"manual/1.jpg"},"album":{"S":"manual"}}`},
	}.Main()
}

func demoIfSample(sample string) func(context.Context, *local.Environment, func(string)) error {
	if sample == "" {
		return nil
	}
	return demo(sample)
}
