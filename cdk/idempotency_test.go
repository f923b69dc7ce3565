package cdk_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

type idemItem struct {
	ID string `dynamodbav:"id"`
}

// TestIdempotencyStore: an idempotency store becomes a table with its
// time to live, and the stage that declares Writes on it is granted the
// writes its lock, completion and transactions make, on that table only.
func TestIdempotencyStore(t *testing.T) {
	app := pipeline.New("idem")
	items := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	done := app.Idempotency("done")
	pipeline.OnChange(app, "count", items.Changes(triggers.Insert), func(context.Context, triggers.Change[idemItem]) error { return nil }).Writes(done)
	_, tmpl := synth(t, app, nil)

	has(t, tmpl, "AWS::DynamoDB::Table", map[string]any{
		"KeySchema":               []any{map[string]any{"AttributeName": "id", "KeyType": "HASH"}},
		"TimeToLiveSpecification": map[string]any{"AttributeName": "expires", "Enabled": true},
		"BillingMode":             "PAY_PER_REQUEST",
	})
	storeID, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineDoneTable")
	st := statements(t, tmpl, "Count")
	equalJSON(t, "store grant", st["WriteTables"]["Resource"], getAtt(storeID, "Arn"))
	actions, _ := json.Marshal(st["WriteTables"]["Action"])
	for _, a := range []string{"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:PutItem"} {
		if !strings.Contains(string(actions), a) {
			t.Errorf("the store's grant lacks %s: %s", a, actions)
		}
	}
}
