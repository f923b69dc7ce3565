package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/triggers"
)

// idemApp is an app whose stage counts records into a table through an
// idempotency store, with hooks to slow it down, fail it or crash it.
type idemApp struct {
	app     *pipeline.App
	items   *pipeline.Table
	counts  *pipeline.Table
	done    *pipeline.Idempotency
	once    *pipeline.Stage // Once: an in-memory side effect
	writes  *pipeline.Stage // OnceWrites: an ADD on counts
	effects atomic.Int64
	runs    atomic.Int64
	hook    func(ctx context.Context, id string) error // before the effect
}

func newIdemApp(name string, opts ...pipeline.IdempotencyOption) *idemApp {
	x := &idemApp{app: pipeline.New(name)}
	x.items = x.app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	x.counts = x.app.Table("counts", pipeline.PartitionKey("id", pipeline.String))
	x.done = x.app.Idempotency("done", opts...)
	x.once = pipeline.OnChange(x.app, "once", x.items.Changes(), func(ctx context.Context, c triggers.Change[item]) error {
		return x.done.Once(ctx, pipeline.ChangeKey(c), func(ctx context.Context) error {
			x.runs.Add(1)
			if x.hook != nil {
				if err := x.hook(ctx, c.New.ID); err != nil {
					return err
				}
			}
			x.effects.Add(1)
			return nil
		})
	}).Writes(x.done)
	x.writes = pipeline.OnChange(x.app, "writes", x.items.Changes(), func(ctx context.Context, c triggers.Change[item]) error {
		return x.done.OnceWrites(ctx, pipeline.ChangeKey(c), func(ctx context.Context) ([]types.TransactWriteItem, error) {
			x.runs.Add(1)
			if x.hook != nil {
				if err := x.hook(ctx, c.New.ID); err != nil {
					return nil, err
				}
			}
			return []types.TransactWriteItem{{Update: &types.Update{
				TableName:                 aws.String(x.counts.PhysicalName(ctx)),
				Key:                       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: c.New.ID}},
				UpdateExpression:          aws.String("ADD n :one"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
			}}}, nil
		})
	}).Writes(x.counts, x.done)
	return x
}

func (x *idemApp) start(t *testing.T) *local.Environment {
	t.Helper()
	env, err := local.Start(context.Background(), x.app, local.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close(context.Background()) })
	return env
}

func count(t *testing.T, env *local.Environment, id string) string {
	t.Helper()
	out, err := env.DynamoDBClient().GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("counts"), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := out.Item["n"].(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return "0"
}

// TestIdempotencyTwiceAndConcurrently: the same record delivered again,
// and delivered by eight invocations at once, has one side effect; the
// concurrent deliveries that found the lock fail and, retried, are
// skipped.
func TestIdempotencyTwiceAndConcurrently(t *testing.T) {
	x := newIdemApp("idem")
	env := x.start(t)
	for _, st := range []*pipeline.Stage{x.once, x.writes} {
		t.Run(st.Name(), func(t *testing.T) {
			x.effects.Store(0)
			rec := pipelinetest.InsertedItem(x.items, item{ID: "twice-" + st.Name()})
			payload := pipelinetest.StreamEvent(rec)
			for range 2 {
				if r := invokeStage(t.Context(), st, env.Env(), payload); !r.OK() {
					t.Fatal(r.Err, r.Failed)
				}
			}
			id := "together-" + st.Name()
			payload = pipelinetest.StreamEvent(pipelinetest.InsertedItem(x.items, item{ID: id}))
			x.hook = func(ctx context.Context, _ string) error { time.Sleep(100 * time.Millisecond); return nil }
			defer func() { x.hook = nil }()
			var wg sync.WaitGroup
			var failed atomic.Int64
			for range 8 {
				wg.Go(func() {
					if r := invokeStage(t.Context(), st, env.Env(), payload); !r.OK() {
						failed.Add(1)
					}
				})
			}
			wg.Wait()
			if failed.Load() != 7 {
				t.Errorf("%d of 8 concurrent deliveries failed, want 7 (the lock holder succeeds)", failed.Load())
			}
			// Retried, the failed deliveries find the work done.
			if r := invokeStage(t.Context(), st, env.Env(), payload); !r.OK() {
				t.Fatal(r.Err, r.Failed)
			}
			switch st {
			case x.once:
				if n := x.effects.Load(); n != 2 {
					t.Errorf("%d side effects for 2 events", n)
				}
			case x.writes:
				if a, b := count(t, env, "twice-writes"), count(t, env, id); a != "1" || b != "1" {
					t.Errorf("counts %s and %s, want 1 and 1", a, b)
				}
			}
		})
	}
}

// TestIdempotencyFailureRunsAgain: work that fails leaves no record: its
// retry runs the work.
func TestIdempotencyFailureRunsAgain(t *testing.T) {
	x := newIdemApp("idemfail")
	env := x.start(t)
	fails := 1
	x.hook = func(ctx context.Context, _ string) error {
		if fails > 0 {
			fails--
			return errors.New("transient")
		}
		return nil
	}
	payload := pipelinetest.StreamEvent(pipelinetest.InsertedItem(x.items, item{ID: "f"}))
	if r := invokeStage(t.Context(), x.once, env.Env(), payload); r.OK() {
		t.Fatal("the failing work succeeded")
	}
	for range 2 {
		if r := invokeStage(t.Context(), x.once, env.Env(), payload); !r.OK() {
			t.Fatal(r.Err, r.Failed)
		}
	}
	if x.runs.Load() != 2 || x.effects.Load() != 1 {
		t.Errorf("runs %d, effects %d; want 2 runs (a failure, a success) and 1 effect", x.runs.Load(), x.effects.Load())
	}
}

// TestIdempotencyLockExpiresAfterCrash: a delivery that dies mid-handler
// (its goroutine ends without returning, as a killed process would)
// leaves the event locked until the lock expires; then a retry runs it.
// With OnceWrites, a delivery whose lock expired while it ran cannot
// commit after the one that took over.
func TestIdempotencyLockExpiresAfterCrash(t *testing.T) {
	x := newIdemApp("idemcrash", pipeline.LockFor(400*time.Millisecond))
	env := x.start(t)
	for _, st := range []*pipeline.Stage{x.once, x.writes} {
		t.Run(st.Name(), func(t *testing.T) {
			x.effects.Store(0)
			id := "crash-" + st.Name()
			payload := pipelinetest.StreamEvent(pipelinetest.InsertedItem(x.items, item{ID: id}))
			x.hook = func(ctx context.Context, _ string) error { runtime.Goexit(); return nil }
			done := make(chan struct{})
			go func() { defer close(done); invokeStage(t.Context(), st, env.Env(), payload) }()
			<-done
			x.hook = nil
			r := invokeStage(t.Context(), st, env.Env(), payload)
			if r.OK() {
				t.Fatal("a delivery right after the crash ran despite the lock")
			}
			time.Sleep(500 * time.Millisecond)
			for range 2 {
				if r := invokeStage(t.Context(), st, env.Env(), payload); !r.OK() {
					t.Fatalf("after the lock expired: %v %v", r.Err, r.Failed)
				}
			}
			if st == x.once && x.effects.Load() != 1 {
				t.Errorf("%d effects", x.effects.Load())
			}
			if st == x.writes && count(t, env, id) != "1" {
				t.Errorf("count %s", count(t, env, id))
			}
		})
	}
	// A slow delivery loses its lock to a retry; its writes do not commit.
	id := "slow"
	payload := pipelinetest.StreamEvent(pipelinetest.InsertedItem(x.items, item{ID: id}))
	slow := make(chan invoked)
	x.hook = func(ctx context.Context, got string) error {
		if got == id && x.runs.Load() == 1 {
			time.Sleep(700 * time.Millisecond)
		}
		return nil
	}
	x.runs.Store(0)
	go func() { slow <- invokeStage(t.Context(), x.writes, env.Env(), payload) }()
	time.Sleep(500 * time.Millisecond)
	if r := invokeStage(t.Context(), x.writes, env.Env(), payload); !r.OK() {
		t.Fatalf("the take-over: %v %v", r.Err, r.Failed)
	}
	if r := <-slow; r.OK() {
		t.Error("the delivery that lost its lock reported success")
	}
	if n := count(t, env, id); n != "1" {
		t.Errorf("count %s after a take-over, want 1", n)
	}
}

// TestIdempotencyNeedsWrites: a stage using a store it does not declare
// is refused locally, as IAM refuses it deployed.
func TestIdempotencyNeedsWrites(t *testing.T) {
	a := pipeline.New("idemgrant")
	bk := a.Bucket("idemgrant-in")
	done := a.Idempotency("done")
	st := pipeline.OnObject(a, "undeclared", bk.Created(), func(ctx context.Context, o triggers.Object) error {
		return done.Once(ctx, pipeline.ObjectKey(o), func(context.Context) error { return nil })
	})
	env, err := local.Start(context.Background(), a, local.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	r := invokeStage(t.Context(), st, env.Env(), pipelinetest.S3Event(pipelinetest.CreatedObject(bk, "k", nil)))
	if r.Err == nil || !strings.Contains(r.Err.Error(), "AccessDenied") || !strings.Contains(r.Err.Error(), "dynamodb:UpdateItem") {
		t.Fatalf("an undeclared store: %v", r.Err)
	}
	if done.Table().TTLAttribute() != "expires" || done.Table().PartitionKey().Name != "id" {
		t.Errorf("store table: %+v", done.Table())
	}
}

func TestEventKeys(t *testing.T) {
	created := triggers.Object{Bucket: "b", Key: "k", Sequencer: "0A", Event: "ObjectCreated:Put"}
	removed := created
	removed.Event, removed.Sequencer = "ObjectRemoved:Delete", "0B"
	versioned := created
	versioned.VersionID = "v1"
	for _, c := range []struct{ got, want string }{
		{pipeline.ObjectKey(created), "s3:created:b/k@0A"},
		{pipeline.ObjectKey(removed), "s3:removed:b/k@0B"},
		{pipeline.ObjectKey(versioned), "s3:created:b/k@v1"},
		{pipeline.ChangeKey(triggers.Change[item]{EventID: "e1"}), "ddb:e1"},
	} {
		if c.got != c.want {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
	a := pipeline.New("idembad", pipeline.CollectErrors())
	a.Idempotency("short", pipeline.Expiry(time.Second))
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "Expiry") {
		t.Errorf("a 1s expiry: %v", err)
	}
}

// invoked is what an invocation of a stage reported.
type invoked struct {
	Err    error
	Failed []string
}

func (r invoked) OK() bool { return r.Err == nil && len(r.Failed) == 0 }

// invokeStage runs st on payload against env (a local environment's, with
// the stages' declared accesses enforced), as Lambda would.
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
