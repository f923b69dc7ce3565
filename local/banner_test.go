package local

import (
	"context"
	"testing"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// TestBannerShowsFilterAndBisect: the `dev` banner's line of a stream
// stage says what its filter lets through and whether it bisects.
func TestBannerShowsFilterAndBisect(t *testing.T) {
	type order struct {
		ID     string `dynamodbav:"id"`
		Status string `dynamodbav:"status"`
	}
	app := pipeline.New("banner")
	orders := app.Table("orders", pipeline.PartitionKey("id", pipeline.String))
	st := pipeline.OnChange(app, "ship", orders.Changes(triggers.Insert, triggers.Bisect(), triggers.BatchSize(10),
		triggers.Where(triggers.NewImage("status").Equals("paid"))),
		func(context.Context, triggers.Change[order]) error { return nil })
	want := `stream of table orders (INSERT, batch 10, where NewImage "status" Equals("paid"), bisect)`
	if got := describeTrigger(st); got != want {
		t.Errorf("banner line\n got %s\nwant %s", got, want)
	}
}
