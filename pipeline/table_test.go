package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
)

type event struct {
	Stream string `dynamodbav:"stream"`
	At     int64  `dynamodbav:"at"`
	Kind   string `dynamodbav:"kind"`
}

// TestTableKeys: Get, Delete and Update take the item, a change's Keys or
// a key map, sending only the key attributes; a key that does not fit the
// table's schema is refused before anything is sent, naming what is wrong.
func TestTableKeys(t *testing.T) {
	a := pipeline.New("keys")
	events := a.Table("keys-events", pipeline.PartitionKey("stream", pipeline.String), pipeline.SortKey("at", pipeline.Number))
	ctx := pipeline.WithEnv(context.Background(), startLocal(t, a))

	e := event{Stream: "s", At: 7, Kind: "click"}
	if err := events.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	changeKeys := map[string]types.AttributeValue{"stream": &types.AttributeValueMemberS{Value: "s"}, "at": &types.AttributeValueMemberN{Value: "7"}}
	for name, key := range map[string]any{
		"the item":          e,
		"a pointer to it":   &e,
		"a change's Keys":   changeKeys,
		"a key map":         map[string]any{"stream": "s", "at": 7},
		"the item, partial": event{Stream: "s", At: 7},
	} {
		var got event
		if err := events.Get(ctx, key, &got); err != nil || got != e {
			t.Errorf("Get by %s: %+v %v", name, got, err)
		}
	}
	for name, tc := range map[string]struct {
		key  any
		want string
	}{
		"half a key":       {map[string]string{"stream": "s"}, `the key lacks attribute "at" (the table's key is partition key "stream" (a string (S)), sort key "at" (a number (N)))`},
		"a key of strings": {map[string]string{"stream": "s", "at": "7"}, `key attribute "at" is a string (S), but the table declares it a number (N)`},
		"nil":              {nil, "the key is nil"},
		"not a map":        {42, `the key lacks attribute "stream"`},
	} {
		var got event
		err := events.Get(ctx, tc.key, &got)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "table keys-events") {
			t.Errorf("Get by %s: %v, want an error saying %q", name, err, tc.want)
		}
	}
	if err := events.Put(ctx, map[string]string{"kind": "no key"}); err == nil || !strings.Contains(err.Error(), `lacks attribute "stream"`) {
		t.Errorf("Put of an item without its key: %v", err)
	}
	if err := events.Put(ctx, e, pipeline.ReturnNew(&e)); err == nil || !strings.Contains(err.Error(), "ReturnNew is an option of Update only") {
		t.Errorf("Put with ReturnNew: %v", err)
	}
	var list event
	if err := events.Query(ctx, expression.Key("stream").Equal(expression.Value("s")), &list); err == nil || !strings.Contains(err.Error(), "pass a pointer to a slice") {
		t.Errorf("Query into a struct: %v", err)
	}

	if err := events.Delete(ctx, changeKeys, pipeline.If(expression.Name("kind").Equal(expression.Value("view")))); !errors.Is(err, pipeline.ErrConditionFailed) {
		t.Errorf("conditional delete whose condition fails: %v", err)
	}
	if err := events.Delete(ctx, changeKeys); err != nil {
		t.Fatal(err)
	}
	var got event
	if err := events.Get(ctx, e, &got); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("Get after Delete by the change's Keys: %v", err)
	}
}

// startLocal starts an embedded local environment of the app and returns
// the Env its stages get.
func startLocal(t *testing.T, a *pipeline.App) *pipeline.Env {
	t.Helper()
	env, err := local.Start(context.Background(), a, local.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close(context.Background()) })
	return env.Env()
}
