package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/triggers"
)

type Order struct {
	ID     string  `dynamodbav:"id"`
	Status string  `dynamodbav:"status"`
	Total  float64 `dynamodbav:"total"`
}

// A pipeline with two S3 stages and one stream stage: uploaded CSV files
// are loaded into a table, removed files are forgotten, and new paid orders
// are announced.
func Example() {
	app := pipeline.New("orders")
	inbox := app.Bucket("orders-inbox")
	orders := app.Table("orders", pipeline.PartitionKey("id", pipeline.String))

	pipeline.OnObject(app, "load", inbox.Created(triggers.Prefix("csv/"), triggers.Suffix(".csv")),
		func(ctx context.Context, o triggers.Object) error { return nil },
	).Reads(inbox.Keys("csv/", "")).Writes(orders)

	pipeline.OnObject(app, "forget", inbox.Removed(triggers.Prefix("csv/")),
		func(ctx context.Context, o triggers.Object) error { return nil },
	)

	pipeline.OnChange(app, "announce",
		orders.Changes(triggers.Insert, triggers.Where(triggers.NewImage("status").Equals("paid")), triggers.Bisect()),
		func(ctx context.Context, c triggers.Change[Order]) error { return nil },
	)

	fmt.Println(app.Validate())
	// Describe shows the declaration, here each stage's grants.
	var d struct {
		Stages []struct {
			Name          string
			Reads, Writes []string
		}
	}
	json.Unmarshal(app.Describe(), &d)
	for _, s := range d.Stages {
		fmt.Println(s.Name, s.Reads, s.Writes)
	}
	// Output:
	// <nil>
	// load [bucket orders-inbox prefix "csv/"] [table orders]
	// forget [] []
	// announce [] []
}

// A stage that writes where it is triggered is a loop, refused at
// declaration time with the way out.
func ExampleApp_Validate() {
	app := pipeline.New("images", pipeline.CollectErrors())
	uploads := app.Bucket("images-uploads")
	pipeline.OnObject(app, "resize", uploads.Created(triggers.Prefix("img/")),
		func(ctx context.Context, o triggers.Object) error { return nil },
	).Writes(uploads.Keys("img/small/", ""))

	err := app.Validate()
	fmt.Println(strings.ReplaceAll(err.Error(), ". ", ".\n"))
	// Output:
	// pipeline: loop through an S3 trigger: stage "resize" writes bucket images-uploads prefix "img/small/", which triggers "resize" (prefix "img/").
	// Each event would fire the loop again without end.
	// Write to a prefix or table no stage of the loop is triggered by, or, if the loop ends by itself (the stage checks what it already did before writing), declare .AllowLoop("why it ends") on stage "resize"
}

// A stream stage invoked in-process: the second record fails, so it and
// the record after it are reported for retry, and the first is acknowledged.
func ExampleOnChange() {
	app := pipeline.New("shop")
	orders := app.Table("orders", pipeline.PartitionKey("id", pipeline.String))
	ship := pipeline.OnChange(app, "ship", orders.Changes(triggers.Insert),
		func(ctx context.Context, c triggers.Change[Order]) error {
			fmt.Println("shipping", c.New.ID, c.Kind)
			if c.New.Total < 0 {
				return errors.New("negative total")
			}
			return nil
		})

	r1 := pipelinetest.InsertedItem(orders, Order{ID: "o-1", Total: 20})
	r2 := pipelinetest.InsertedItem(orders, Order{ID: "o-2", Total: -1})
	r3 := pipelinetest.InsertedItem(orders, Order{ID: "o-3", Total: 5})
	res := pipelinetest.New(nil, app, "").Invoke(ship, pipelinetest.StreamEvent(r1, r2, r3))

	fmt.Println(len(res.Failed), res.Failed[0] == r2.SequenceNumber(), res.Failed[1] == r3.SequenceNumber())
	// Output:
	// shipping o-1 INSERT
	// shipping o-2 INSERT
	// 2 true true
}

// An S3 stage receives the key URL-decoded.
func ExampleOnObject() {
	app := pipeline.New("docs")
	inbox := app.Bucket("docs-inbox")
	index := pipeline.OnObject(app, "index", inbox.Created(),
		func(ctx context.Context, o triggers.Object) error {
			fmt.Printf("%s %q %d bytes\n", o.Event, o.Key, o.Size)
			return nil
		})
	payload := pipelinetest.S3Event(pipelinetest.CreatedObject(inbox, "reports/Q1 summary (final).pdf", []byte("%PDF-1.7")))
	res := pipelinetest.New(nil, app, "").Invoke(index, payload)
	fmt.Println(res.OK())
	// Output:
	// ObjectCreated:Put "reports/Q1 summary (final).pdf" 8 bytes
	// true
}
