// Package app declares the faults app of the local environment's runtime
// tests: stages that succeed, fail, panic, overrun their timeout, crash
// their process or touch what they did not declare, chosen by the input,
// so that the in-process and the emulator paths can be compared on the
// same events.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// App is the faults app.
var App = pipeline.New("faults")

// Event is an item of the events table; Mode picks what the stage does.
type Event struct {
	ID   string `dynamodbav:"id"`
	N    int    `dynamodbav:"n"`
	Mode string `dynamodbav:"mode"` // "", "fail", "panic", "sleep", "undeclared"
}

// Result is an item of the results table.
type Result struct {
	ID string `dynamodbav:"id"`
	N  int    `dynamodbav:"n"`
}

// Resources.
var (
	Inbox   = App.Bucket("faults-inbox")
	Events  = App.Table("events", pipeline.PartitionKey("id", pipeline.String), pipeline.Stream(pipeline.ViewNewAndOldImages))
	Results = App.Table("results", pipeline.PartitionKey("id", pipeline.String))
	Secrets = App.Table("secrets", pipeline.PartitionKey("id", pipeline.String))
)

// Stages.
var (
	Objects = pipeline.OnObject(App, "objects",
		Inbox.Created(triggers.Prefix("in/"), triggers.Retries(1)),
		HandleObject,
	).Reads(Inbox.Keys("in/", "")).Writes(Inbox.Keys("out/", "")).Timeout(time.Second)

	Changes = pipeline.OnChange(App, "changes",
		Events.Changes(triggers.Insert, triggers.BatchSize(10), triggers.Retries(1)),
		HandleChange,
	).Writes(Results).Timeout(time.Second)
)

// HandleObject copies in/NAME to out/NAME, or fails as NAME says:
// fail-*, panic-*, sleep-* (overruns the timeout), undeclared-* (writes
// under a prefix the stage did not declare), crash-* (kills its process
// from another goroutine).
func HandleObject(ctx context.Context, o triggers.Object) error {
	name := path.Base(o.Key)
	switch {
	case strings.HasPrefix(name, "fail-"):
		return fmt.Errorf("refused %s", name)
	case strings.HasPrefix(name, "panic-"):
		panic("panicked on " + name)
	case strings.HasPrefix(name, "sleep-"):
		// Deaf to ctx, so that the timeout always wins the race with the
		// stage's own error, in-process and under the emulator alike.
		time.Sleep(3 * time.Second)
		return errors.New("slept through the timeout")
	case strings.HasPrefix(name, "crash-"):
		done := make(chan struct{})
		go func() {
			defer close(done)
			if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
				panic("crashed on " + name)
			}
		}()
		<-done
		return errors.New("crash-* only crashes a Lambda process")
	}
	data, err := Inbox.Get(ctx, o.Key)
	if err != nil {
		return err
	}
	dest := "out/" + name
	if strings.HasPrefix(name, "undeclared-") {
		dest = "elsewhere/" + name
	}
	return Inbox.Put(ctx, dest, data, pipeline.ContentType("text/plain"))
}

// HandleChange records every inserted event in results, or fails as its
// mode says.
func HandleChange(ctx context.Context, c triggers.Change[Event]) error {
	e := c.New
	switch e.Mode {
	case "fail":
		return fmt.Errorf("event %s refused", e.ID)
	case "panic":
		panic("panicked on event " + e.ID)
	case "sleep":
		time.Sleep(3 * time.Second)
		return errors.New("slept through the timeout")
	case "undeclared":
		return Secrets.Put(ctx, Result{ID: e.ID, N: e.N})
	}
	return Results.Put(ctx, Result{ID: e.ID, N: e.N})
}
