//go:build lambda.norpc

// Command ingest is the ingest pipeline's binary. Built for Lambda (with
// -tags lambda.norpc) it serves the stage its function's environment
// names, and links nothing of the local environment.
package main

import "github.com/nanopipe/nanopipe/examples/ingest/app"

func main() { app.App.Main() }
