package local_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
)

type ctxOrder struct {
	ID       string `dynamodbav:"id"`
	Line     int    `dynamodbav:"line"`
	Customer string `dynamodbav:"customer"`
}

// A context bound to the environment lets a test or script use the app's
// handles without a stage; any other context outside a stage is refused.
func TestEnvironmentContext(t *testing.T) {
	app := pipeline.New("ctxapp")
	orders := app.Table("ctx-orders", pipeline.PartitionKey("id", pipeline.String), pipeline.SortKey("line", pipeline.Number))
	env, err := local.Start(t.Context(), app, local.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	if err := orders.Put(context.Background(), ctxOrder{ID: "o-1", Line: 1}); !errors.Is(err, pipeline.ErrNoEnv) {
		t.Fatalf("Put with an unbound context: %v, want ErrNoEnv", err)
	}
	ctx := env.Context(t.Context())
	if err := orders.Put(ctx, ctxOrder{ID: "o-1", Line: 1, Customer: "c-1"}); err != nil {
		t.Fatal(err)
	}
	var got ctxOrder
	if err := orders.Get(ctx, ctxOrder{ID: "o-1", Line: 1}, &got); err != nil || got.Customer != "c-1" {
		t.Fatalf("Get through the bound context: %+v, %v", got, err)
	}
	// What the handle wrote is in the environment, as any client sees it.
	out, err := env.DynamoDBClient().Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("ctx-orders")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 1 {
		t.Errorf("the table holds %d items, want the 1 written", out.Count)
	}
	if name := orders.PhysicalName(ctx); name != "ctx-orders" {
		t.Errorf("PhysicalName = %q, want the declared name", name)
	}
}
