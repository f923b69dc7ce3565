package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

type order struct {
	Customer string `dynamodbav:"customer"`
	ID       string `dynamodbav:"id"`
	Status   string `dynamodbav:"status"`
	Total    int    `dynamodbav:"total"`
	Placed   string `dynamodbav:"placed"`
}

func (o order) String() string { return o.Customer + "/" + o.ID }

func ids(os []order) string { return fmt.Sprint(os) }

// testTableHandles runs the table handles (Put with a condition, Get and
// Delete by item, by a change's Keys and by key map, Update, Query of the
// table, a global and a local index) against the backend, from a test
// (a context bound to the environment) and from a stage.
func testTableHandles(t *testing.T, h *harness) {
	app := pipeline.New(name("tables"))
	orders := app.Table(name("orders"), pipeline.PartitionKey("customer", pipeline.String), pipeline.SortKey("id", pipeline.String))
	byStatus := orders.GlobalIndex("by-status", pipeline.PartitionKey("status", pipeline.String)).SortKey("total", pipeline.Number)
	byPlaced := orders.LocalIndex("by-placed", "placed", pipeline.String)
	var mu sync.Mutex
	seen := map[string]string{}
	pipeline.OnChange(app, "check", orders.Changes(triggers.Insert), func(ctx context.Context, c triggers.Change[order]) error {
		var got order
		if err := orders.Get(ctx, c.Keys, &got); err != nil && !errors.Is(err, pipeline.ErrNotFound) {
			return err
		}
		if c.New.Status == "cancelled" {
			if err := orders.Delete(ctx, c.Keys); err != nil {
				return err
			}
		}
		mu.Lock()
		seen[c.New.String()] = got.Status
		mu.Unlock()
		return nil
	}).Reads(orders).Deletes(orders)
	env := h.start(t, app, nil)
	ctx := pipeline.WithEnv(context.Background(), env.Env())

	all := []order{
		{"c1", "o1", "new", 10, "2026-01-05"},
		{"c1", "o2", "paid", 30, "2026-02-01"},
		{"c1", "o3", "cancelled", 5, "2026-01-20"},
		{"c2", "o4", "paid", 15, "2026-01-07"},
	}
	for _, o := range all {
		if err := orders.Put(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	create := pipeline.If(expression.AttributeNotExists(expression.Name("id")))
	if err := orders.Put(ctx, order{"c1", "o1", "dup", 0, "2026-01-01"}, create); !errors.Is(err, pipeline.ErrConditionFailed) {
		t.Errorf("conditional put over an item: %v, want ErrConditionFailed", err)
	}
	if err := orders.Put(ctx, order{"c3", "o5", "new", 1, "2026-03-01"}, create); err != nil {
		t.Errorf("conditional put of a new item: %v", err)
	}

	t.Run("get and delete by item and key map", func(t *testing.T) {
		var got order
		if err := orders.Get(ctx, order{Customer: "c1", ID: "o1"}, &got); err != nil || got != all[0] {
			t.Errorf("Get by item: %+v %v", got, err)
		}
		if err := orders.Get(ctx, map[string]string{"customer": "c2", "id": "o4"}, &got); err != nil || got != all[3] {
			t.Errorf("Get by key map: %+v %v", got, err)
		}
		if err := orders.Get(ctx, map[string]string{"id": "o4"}, &got); err == nil {
			t.Error("Get with half a key succeeded")
		}
		if err := orders.Delete(ctx, order{Customer: "c3", ID: "o5", Status: "ignored"}); err != nil {
			t.Fatal(err)
		}
		if err := orders.Get(ctx, order{Customer: "c3", ID: "o5"}, &got); !errors.Is(err, pipeline.ErrNotFound) {
			t.Errorf("Get after Delete by item: %v, want ErrNotFound", err)
		}
	})

	t.Run("update", func(t *testing.T) {
		var after order
		// status is a reserved word: the expression builder names it.
		up := expression.Set(expression.Name("status"), expression.Value("paid")).Add(expression.Name("total"), expression.Value(5))
		if err := orders.Update(ctx, all[0], up, pipeline.If(expression.Name("status").Equal(expression.Value("new"))), pipeline.ReturnNew(&after)); err != nil {
			t.Fatal(err)
		}
		if after.Status != "paid" || after.Total != 15 || after.Placed != "2026-01-05" {
			t.Errorf("after update %+v", after)
		}
		if err := orders.Update(ctx, all[0], up, pipeline.If(expression.Name("status").Equal(expression.Value("new")))); !errors.Is(err, pipeline.ErrConditionFailed) {
			t.Errorf("update whose condition fails: %v, want ErrConditionFailed", err)
		}
		if err := orders.Update(ctx, map[string]string{"customer": "c9", "id": "n"}, expression.Set(expression.Name("total"), expression.Value(1))); err != nil {
			t.Fatal(err)
		}
		var created order
		if err := orders.Get(ctx, map[string]string{"customer": "c9", "id": "n"}, &created); err != nil || created.Total != 1 {
			t.Errorf("update of a missing item: %+v %v, want it created", created, err)
		}
	})

	h.idle(t)
	t.Run("query", func(t *testing.T) {
		var list []order
		if err := orders.Query(ctx, expression.Key("customer").Equal(expression.Value("c1")), &list); err != nil {
			t.Fatal(err)
		}
		if ids(list) != "[c1/o1 c1/o2]" {
			t.Errorf("query of c1: %v (o3 was cancelled and deleted by the stage)", list)
		}
		list = nil
		if err := orders.Query(ctx, expression.Key("customer").Equal(expression.Value("c1")), &list, pipeline.Descending(), pipeline.Limit(1)); err != nil || ids(list) != "[c1/o2]" {
			t.Errorf("query of c1, descending, limit 1: %v %v", list, err)
		}
		list = nil
		if err := orders.Query(ctx, expression.Key("customer").Equal(expression.Value("c1")), &list, pipeline.Filter(expression.Name("total").GreaterThan(expression.Value(20)))); err != nil || ids(list) != "[c1/o2]" {
			t.Errorf("query of c1 with a filter: %v %v", list, err)
		}
		list = nil
		paid := expression.Key("status").Equal(expression.Value("paid")).And(expression.Key("total").GreaterThanEqual(expression.Value(15)))
		if err := byStatus.Query(ctx, paid, &list); err != nil || ids(list) != "[c1/o1 c2/o4 c1/o2]" && ids(list) != "[c2/o4 c1/o1 c1/o2]" {
			t.Errorf("query of the global index: %v %v", list, err)
		}
		list = nil
		jan := expression.Key("customer").Equal(expression.Value("c1")).And(expression.Key("placed").BeginsWith("2026-01"))
		if err := byPlaced.Query(ctx, jan, &list); err != nil || ids(list) != "[c1/o1]" {
			t.Errorf("query of the local index: %v %v", list, err)
		}
		var bad []order
		if err := orders.Query(ctx, expression.Key("status").Equal(expression.Value("paid")), &bad); err == nil {
			t.Error("query of the table on a non-key attribute succeeded")
		}
	})

	mu.Lock()
	defer mu.Unlock()
	// Items the test changes meanwhile (o1, o5) may be read either way.
	want := map[string]string{"c1/o2": "paid", "c1/o3": "cancelled", "c2/o4": "paid", "c9/n": ""}
	for k, v := range want {
		if got, ok := seen[k]; !ok || got != v {
			t.Errorf("stage read %s by its change's Keys as %q (seen %v), want %q", k, got, ok, v)
		}
	}
}
