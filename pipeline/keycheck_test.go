package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

type keyedOrder struct {
	ID     string `dynamodbav:"id"`
	Status string `dynamodbav:"status"`
}

type numberedOrder struct {
	ID     int    `dynamodbav:"id"`
	Status string `dynamodbav:"status"`
}

// TestKeyDeclarations: the classes of declaration error about table keys,
// each refused when the pipeline is declared with the stage, the
// attribute and the fix.
func TestKeyDeclarations(t *testing.T) {
	onOrder := func(context.Context, triggers.Change[keyedOrder]) error { return nil }
	cases := []struct {
		name    string
		declare func(a *pipeline.App)
		want    []string
	}{
		{"filter on Keys of an attribute that is not a key", func(a *pipeline.App) {
			orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String))
			pipeline.OnChange(a, "ship", orders.Changes(triggers.Where(triggers.Key("status").Equals("paid"))), onOrder)
		}, []string{`pipeline: stage "ship" on table "orders": filter on Keys "status": "status" is not a key of table "orders" (its key is partition key "id" (a string (S))); a record's Keys carry only the key attributes, so the filter never matches: test triggers.NewImage("status") or triggers.OldImage("status") instead`}},
		{"number filter on a string key", func(a *pipeline.App) {
			orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String))
			pipeline.OnChange(a, "ship", orders.Changes(triggers.Where(triggers.Key("id").IsNumber(3))), onOrder)
		}, []string{`pipeline: stage "ship" on table "orders": filter on Keys "id": `, `tests a number (N), but table "orders" declares key "id" a string (S), so the filter never matches: compare it as a string: triggers.Key("id").Equals("3")`}},
		{"string filter on a number sort key", func(a *pipeline.App) {
			orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String), pipeline.SortKey("at", pipeline.Number))
			pipeline.OnStreamEvent(a, "raw", orders.Changes(triggers.Where(triggers.Key("at").HasPrefix("2026"))), rawStream)
		}, []string{`pipeline: stage "raw" on table "orders": filter on Keys "at": `, `tests a string (S), but table "orders" declares key "at" a number (N), so the filter never matches: compare it as a number: triggers.Key("at").IsNumber(3)`}},
		{"item type without the partition key", func(a *pipeline.App) {
			orders := a.Table("orders", pipeline.PartitionKey("order_id", pipeline.String))
			pipeline.OnChange(a, "ship", orders.Changes(), onOrder)
		}, []string{`pipeline: stage "ship" on table "orders": item type pipeline_test.keyedOrder does not hold the table's partition key "order_id" as a string (S) (`, `has no attribute "order_id" (attributes: id, status)`, "add a field tagged `dynamodbav:\"order_id\"` of that type, or correct the key's name in the table's declaration"}},
		{"item type with the key of another type", func(a *pipeline.App) {
			orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String))
			pipeline.OnChanges(a, "bulk", orders.Changes(), func(context.Context, *triggers.Batch[numberedOrder]) error { return nil })
		}, []string{`pipeline: stage "bulk" on table "orders": item type pipeline_test.numberedOrder does not hold the table's partition key "id" as a string (S) (`}},
		{"local index of a table without a sort key", func(a *pipeline.App) {
			orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String))
			orders.LocalIndex("by-placed", "placed", pipeline.String)
		}, []string{`pipeline: table "orders": LocalIndex("by-placed"): a local index needs a table with a sort key; declare pipeline.SortKey on the table, or use GlobalIndex`}},
		{"two indexes of one name", func(a *pipeline.App) {
			orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String))
			orders.GlobalIndex("by-status", pipeline.PartitionKey("status", pipeline.String))
			orders.GlobalIndex("by-status", pipeline.PartitionKey("state", pipeline.String))
		}, []string{`pipeline: table "orders": GlobalIndex("by-status"): the table already has an index of that name`}},
		{"index key typed unlike the table's", func(a *pipeline.App) {
			orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String))
			orders.GlobalIndex("by-id", pipeline.PartitionKey("id", pipeline.Number))
		}, []string{`pipeline: table "orders": index "by-id": partition key "id" is declared a number (N), but the table already defines "id" as a string (S); an attribute has one key type`}},
		{"index name DynamoDB refuses", func(a *pipeline.App) {
			orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String))
			orders.GlobalIndex("by status", pipeline.PartitionKey("status", pipeline.String))
		}, []string{`GlobalIndex("by status"): use 3-255 letters, digits, '_', '-' or '.'`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := pipeline.New("keys", pipeline.CollectErrors())
			tc.declare(a)
			err := a.Validate()
			if err == nil {
				t.Fatal("declaration accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%s\ndoes not say\n%s", err, w)
				}
			}
		})
	}

	// What is right is accepted: key filters of the right type, item types
	// holding the keys, raw stages (no item type).
	a := pipeline.New("keys", pipeline.CollectErrors())
	orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String), pipeline.SortKey("at", pipeline.Number))
	type stamped struct {
		keyedOrder
		At int64 `dynamodbav:"at"`
	}
	pipeline.OnChange(a, "ship", orders.Changes(triggers.Where(triggers.Key("id").HasPrefix("o-"), triggers.Key("at").IsNumber(1))),
		func(context.Context, triggers.Change[stamped]) error { return nil })
	pipeline.OnStreamEvent(a, "raw", orders.Changes(), rawStream)
	if err := a.Validate(); err != nil {
		t.Errorf("a right declaration refused: %v", err)
	}
}

func rawStream(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	return events.DynamoDBEventResponse{}, nil
}
