// Command ingest is the ingest pipeline's one binary. In Lambda
// (AWS_LAMBDA_RUNTIME_API set) local.Command.Main serves the stages its
// function's environment names; on a workstation it runs the local
// environment:
//
//	go run ./examples/ingest dev
//
// The deployed binary is this same program, built by the cdk package with
// -tags lambda.norpc (aws-lambda-go's switch that drops its net/rpc entry
// point) and stripped.
package main

import (
	"github.com/nanopipe/nanopipe/examples/ingest/app"
	"github.com/nanopipe/nanopipe/local"
)

func main() {
	local.Command{
		App:        app.App,
		Name:       "go run ./examples/ingest",
		SampleFile: "examples/ingest/testdata/customers.csv",
		Items:      map[string]string{"customers": `{"id":{"S":"c-manual"},"name":{"S":"Ada"},"email":{"S":"ada@example.com"},"country":{"S":"GB"},"plan":{"S":"pro"}}`},
	}.Main()
}
