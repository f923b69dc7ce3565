// Command rtapp is a small app the runtime tests build and run against a
// stand-in for the Lambda Runtime API.
package main

import (
	"context"
	"errors"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

type item struct {
	ID string `dynamodbav:"id"`
}

var (
	app    = pipeline.New("rtapp")
	files  = app.Bucket("rtapp-files")
	things = app.Table("things", pipeline.PartitionKey("id", pipeline.String))
)

func init() {
	pipeline.OnChange(app, "things", things.Changes(), func(ctx context.Context, c triggers.Change[item]) error {
		switch c.New.ID {
		case "fail":
			return errors.New("refused")
		case "panic":
			panic("stage bug")
		}
		return nil
	})
	pipeline.OnObject(app, "files", files.Created(), func(ctx context.Context, o triggers.Object) error {
		if o.Key == "bad file.txt" {
			return errors.New("unreadable file")
		}
		return nil
	})
}

func main() { app.Main() }
