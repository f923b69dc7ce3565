package local

import (
	"bytes"
	"context"
	"strings"
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

// TestBannerShowsIndexes: a table's line names its secondary indexes.
func TestBannerShowsIndexes(t *testing.T) {
	app := pipeline.New("banner")
	orders := app.Table("orders", pipeline.PartitionKey("customer", pipeline.String), pipeline.SortKey("id", pipeline.String))
	orders.GlobalIndex("by-status", pipeline.PartitionKey("status", pipeline.String))
	orders.LocalIndex("by-placed", "placed", pipeline.String)
	env, err := Start(context.Background(), app, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	var b bytes.Buffer
	c := &Command{App: app}
	c.banner(&printer{w: &b}, env, t.TempDir())
	if !strings.Contains(b.String(), "orders  (index by-status, index by-placed)") {
		t.Errorf("banner does not list the indexes:\n%s", b.String())
	}
}
