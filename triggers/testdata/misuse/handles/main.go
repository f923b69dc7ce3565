// The declarations of the issue: a stream option on a bucket trigger and an
// S3 option on a table trigger must not compile.
package main

import (
	"context"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

var (
	app    = pipeline.New("misuse")
	bucket = app.Bucket("misuse-uploads")
	table  = app.Table("items", pipeline.PartitionKey("id", pipeline.String))
)

func main() {
	pipeline.OnObject(app, "a", bucket.Created(triggers.BatchSize(10), triggers.Insert),
		func(context.Context, triggers.Object) error { return nil })
	pipeline.OnChange(app, "b", table.Changes(triggers.Prefix("x/")),
		func(context.Context, triggers.Change[map[string]any]) error { return nil })
}
