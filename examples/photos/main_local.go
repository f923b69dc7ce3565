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
	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/local"
)

func main() {
	local.Command{
		App:        app.App,
		Name:       "go run ./examples/photos",
		SampleFile: sampleFile,
		Demo:       demo(sampleFile),
		Items:      map[string]string{"photos": `{"id":{"S":"manual/1.jpg"},"album":{"S":"manual"}}`},
	}.Main()
}

// sampleFile is the bundled sample, found when run from the repository root.
const sampleFile = "examples/photos/testdata/sample.jpg"
