package local_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/local/internal/dynamolocal"
	"github.com/nanopipe/nanopipe/local/internal/envhook"
	"github.com/nanopipe/nanopipe/pipeline"
)

type ixOrder struct {
	ID       string `dynamodbav:"id"`
	Line     int    `dynamodbav:"line"`
	Customer string `dynamodbav:"customer"`
	Placed   string `dynamodbav:"placed"`
}

// ixApp declares the orders app of a test: the table, and what declare
// adds to it.
func ixApp(table string, declare func(*pipeline.Table)) (*pipeline.App, *pipeline.Table) {
	app := pipeline.New("ixapp")
	orders := app.Table(table, pipeline.PartitionKey("id", pipeline.String), pipeline.SortKey("line", pipeline.Number))
	if declare != nil {
		declare(orders)
	}
	return app, orders
}

// testAddedIndex declares a table without indexes, starts, writes, stops;
// declares a global index on it and starts again: a query through the
// index sees the items written before; then a local index the table was
// created without is refused at start with the table, the index and the
// fix (fix names what the backend's fix says).
func testAddedIndex(t *testing.T, opts local.Options, table, fix string) {
	ctx := t.Context()
	start := func(app *pipeline.App) (*local.Environment, error) {
		o := opts
		o.Addr = "127.0.0.1:0"
		return local.Start(ctx, app, o)
	}
	app, orders := ixApp(table, nil)
	env, err := start(app)
	if err != nil {
		t.Fatal(err)
	}
	// The environment's context reaches its tables with the app's handles.
	ectx := env.Context(ctx)
	for _, o := range []ixOrder{{"o-1", 1, "c-1", "2026-02"}, {"o-2", 1, "c-2", "2026-01"}, {"o-3", 1, "c-1", "2026-01"}} {
		if err := orders.Put(ectx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	var byCustomer *pipeline.Index
	app, orders = ixApp(table, func(tb *pipeline.Table) {
		byCustomer = tb.GlobalIndex("by-customer", pipeline.PartitionKey("customer", pipeline.String)).SortKey("placed", pipeline.String)
	})
	env, err = start(app)
	if err != nil {
		t.Fatalf("start after adding a global index: %v", err)
	}
	ectx = env.Context(ctx)
	var got []ixOrder
	if err := byCustomer.Query(ectx, expression.Key("customer").Equal(expression.Value("c-1")), &got); err != nil {
		t.Fatalf("query through the added index: %v", err)
	}
	if fmt.Sprint(got) != "[{o-3 1 c-1 2026-01} {o-1 1 c-1 2026-02}]" {
		t.Errorf("customer c-1 through the added index: %v, want o-3 then o-1", got)
	}
	if err := orders.Put(ectx, ixOrder{"o-4", 1, "c-1", "2026-03"}); err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := byCustomer.Query(ectx, expression.Key("customer").Equal(expression.Value("c-1")), &got, pipeline.Descending()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != "o-4" {
		t.Errorf("customer c-1 after a new write, newest first: %v", got)
	}
	if err := env.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	app, _ = ixApp(table, func(tb *pipeline.Table) {
		tb.GlobalIndex("by-customer", pipeline.PartitionKey("customer", pipeline.String)).SortKey("placed", pipeline.String)
		tb.LocalIndex("by-placed", "placed", pipeline.String)
	})
	env, err = start(app)
	if err == nil {
		env.Close(context.Background())
		t.Fatal("start with a local index the existing table was created without succeeded")
	}
	for _, want := range []string{"table " + table, "local index by-placed", "GlobalIndex", fix} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start error %q does not say %q", err, want)
		}
	}
}

// A table kept in a state directory gets a global index declared after
// its creation, filled from its items; a local index cannot be added.
func TestAddedIndexStateDir(t *testing.T) {
	dir := t.TempDir()
	testAddedIndex(t, local.Options{Dir: dir}, "ix-orders", "delete the state directory "+dir)
}

// The same in DynamoDB Local, whose tables outlive the environment.
func TestAddedIndexDynamoDBLocal(t *testing.T) {
	srv, err := dynamolocal.Start(t.Context(), dynamolocal.Options{})
	if err != nil {
		t.Fatalf("DynamoDB Local could not be started (run scripts/backends-setup.sh): %v", err)
	}
	defer srv.Close()
	table := fmt.Sprintf("ix-orders-%d", time.Now().UnixNano())
	fix := "delete table " + table + " from DynamoDB Local"
	var opts local.Options
	envhook.SetDynamoDBLocal(&opts, srv)
	testAddedIndex(t, opts, table, fix)
}
