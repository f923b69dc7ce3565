//go:build !lambda.norpc

// Command ingest is the ingest pipeline's binary. In Lambda it serves the
// stage its function's environment names; on a workstation it runs the
// local environment:
//
//	go run ./examples/ingest dev
//
// The Lambda build (-tags lambda.norpc) is main_lambda.go and does not
// link the local environment.
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
