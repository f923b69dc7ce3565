// Command photos is the photos pipeline's one binary. In Lambda
// (AWS_LAMBDA_RUNTIME_API set) local.Command.Main serves the stages its
// function's environment names; on a workstation it runs the local
// environment:
//
//	go run ./examples/photos dev
//
// The deployed binary is this same program, built by the cdk package with
// -tags lambda.norpc (aws-lambda-go's switch that drops its net/rpc entry
// point) and stripped.
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
