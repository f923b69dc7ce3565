package conformance

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/triggers"
)

type idemItem struct {
	ID string `dynamodbav:"id"`
}

// testIdempotency runs the idempotency store of package pipeline against
// the backend's DynamoDB: its conditional lock (UpdateItem with
// ReturnValuesOnConditionCheckFailure), its transactions and its release.
// The same record delivered twice, and by six invocations at once, counts
// once; a delivery that dies mid-handler keeps the record locked until
// the lock expires, and the retry after that counts it.
func testIdempotency(t *testing.T, h *harness) {
	app := pipeline.New("idem")
	items := app.Table(name("items"), pipeline.PartitionKey("id", pipeline.String))
	counts := app.Table(name("counts"), pipeline.PartitionKey("id", pipeline.String))
	done := app.Idempotency(name("done"), pipeline.LockFor(500*time.Millisecond))
	var runs atomic.Int64
	var hook func()
	var mu sync.Mutex
	st := pipeline.OnChange(app, "count", items.Changes(), func(ctx context.Context, c triggers.Change[idemItem]) error {
		return done.OnceWrites(ctx, pipeline.ChangeKey(c), func(ctx context.Context) ([]dtypes.TransactWriteItem, error) {
			runs.Add(1)
			mu.Lock()
			f := hook
			mu.Unlock()
			if f != nil {
				f()
			}
			return []dtypes.TransactWriteItem{{Update: &dtypes.Update{
				TableName:                 aws.String(counts.PhysicalName(ctx)),
				Key:                       item("id", c.New.ID),
				UpdateExpression:          aws.String("ADD n :one"),
				ExpressionAttributeValues: item("#:one", "1"),
			}}}, nil
		})
	}).Writes(counts, done)
	setHook := func(f func()) { mu.Lock(); hook = f; mu.Unlock() }
	env := h.start(t, app, nil)
	count := func(id string) string {
		t.Helper()
		out, err := env.DynamoDBClient().GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(counts.Name()), Key: item("id", id), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := out.Item["n"].(*dtypes.AttributeValueMemberN); ok {
			return n.Value
		}
		return "0"
	}
	invoke := func(payload []byte) invoked {
		return invokeStage(context.Background(), st, env.Env(), payload)
	}

	twice := pipelinetest.StreamEvent(pipelinetest.InsertedItem(items, idemItem{ID: "twice"}))
	for range 2 {
		if r := invoke(twice); !r.OK() {
			t.Fatalf("delivery: %v %v", r.Err, r.Failed)
		}
	}
	if n := count("twice"); n != "1" {
		t.Errorf("a record delivered twice counted %s times", n)
	}

	together := pipelinetest.StreamEvent(pipelinetest.InsertedItem(items, idemItem{ID: "together"}))
	setHook(func() { time.Sleep(150 * time.Millisecond) })
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 6 {
		wg.Go(func() {
			if invoke(together).OK() {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	setHook(nil)
	if r := invoke(together); !r.OK() {
		t.Fatalf("retry: %v %v", r.Err, r.Failed)
	}
	if n := count("together"); n != "1" || ok.Load() != 1 {
		t.Errorf("six concurrent deliveries: %d succeeded, count %s; want 1 and 1", ok.Load(), n)
	}

	crash := pipelinetest.StreamEvent(pipelinetest.InsertedItem(items, idemItem{ID: "crash"}))
	setHook(func() { runtime.Goexit() })
	died := make(chan struct{})
	go func() { defer close(died); invoke(crash) }()
	<-died
	setHook(nil)
	if r := invoke(crash); r.OK() {
		t.Error("a delivery right after the crash ran despite the lock")
	}
	time.Sleep(600 * time.Millisecond)
	if r := invoke(crash); !r.OK() {
		t.Fatalf("after the lock expired: %v %v", r.Err, r.Failed)
	}
	if n := count("crash"); n != "1" {
		t.Errorf("count %s after a crash and a retry", n)
	}
}

type invoked struct {
	Err    error
	Failed []string
}

func (r invoked) OK() bool { return r.Err == nil && len(r.Failed) == 0 }

// invokeStage runs st on payload against env, as Lambda would.
func invokeStage(ctx context.Context, st *pipeline.Stage, env *pipeline.Env, payload []byte) invoked {
	resp, err := plumbing.Invoke(ctx, st, env, payload)
	r := invoked{Err: err}
	if err == nil && st.StreamTrigger() != nil {
		var br events.DynamoDBEventResponse
		json.Unmarshal(resp, &br)
		for _, f := range br.BatchItemFailures {
			r.Failed = append(r.Failed, f.ItemIdentifier)
		}
	}
	return r
}
