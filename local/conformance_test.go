package local_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/local/internal/envhook"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// readAll reads every record of every shard of a table's stream.
func readAll(t *testing.T, src engine.StreamSource, table string) map[string][]engine.StreamRecord {
	t.Helper()
	ctx := context.Background()
	arn, err := src.StreamARN(ctx, table)
	if err != nil || arn == "" {
		t.Fatalf("stream ARN: %q %v", arn, err)
	}
	shards, err := src.Shards(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]engine.StreamRecord{}
	for _, sh := range shards {
		it, err := src.Iterator(ctx, arn, sh, engine.TrimHorizon, "")
		if err != nil {
			t.Fatal(err)
		}
		for {
			recs, next, err := src.Records(ctx, it, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			out[sh] = append(out[sh], recs...)
			it = next
		}
		// AFTER_SEQUENCE_NUMBER resumes after a record, as a checkpoint does.
		if len(out[sh]) > 1 {
			it, err := src.Iterator(ctx, arn, sh, engine.AfterSequenceNumber, out[sh][0].Sequence)
			if err != nil {
				t.Fatal(err)
			}
			recs, _, _ := src.Records(ctx, it, 1)
			if len(recs) != 1 || recs[0].Sequence != out[sh][1].Sequence {
				t.Errorf("AFTER_SEQUENCE_NUMBER %s read %v", out[sh][0].Sequence, recs)
			}
		}
	}
	return out
}

// TestStreamSourcesAgree reads one stream through both stream sources the
// engine has, the in-process one and the Streams API over HTTP (the one
// DynamoDB Local is read with), and checks they return the same records,
// byte for byte, in the same order.
func TestStreamSourcesAgree(t *testing.T) {
	app := pipeline.New("conformance")
	app.Table("events", pipeline.PartitionKey("id", pipeline.String), pipeline.Stream(pipeline.ViewNewAndOldImages))
	env := start(t, app, "", nil, 3)
	var evs []Event
	for i := 0; i < 20; i++ {
		evs = append(evs, Event{ID: fmt.Sprint("k", i%7), N: i, Mode: "m"})
	}
	for i := 0; i < len(evs); i += 7 { // one batch may not name a key twice
		putEvents(t, env, "events", evs[i:min(i+7, len(evs))])
	}
	c := env.DynamoDBClient()
	st := dynamodbstreams.NewFromConfig(env.AWSConfig(), func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(env.Endpoint()) })
	embedded := readAll(t, envhook.Streams(env), "events")
	sdk := readAll(t, engine.NewSDKStreams(c, st), "events")
	total := 0
	for sh, recs := range embedded {
		other := sdk[sh]
		if len(other) != len(recs) {
			t.Fatalf("shard %s: %d records in-process, %d over the API", sh, len(recs), len(other))
		}
		for i := range recs {
			total++
			if recs[i].Sequence != other[i].Sequence || !bytes.Equal(recs[i].JSON, other[i].JSON) {
				t.Errorf("shard %s record %d differs:\n in-process %s\n API        %s", sh, i, recs[i].JSON, other[i].JSON)
			}
		}
	}
	if total != 20 {
		t.Errorf("%d records, want 20", total)
	}
}

// TestTumblingWindow checks that a batch stage's state is carried between
// invocations of a window and that the window ends with a final invocation
// holding the whole window's state.
func TestTumblingWindow(t *testing.T) {
	// The five writes must land in one one-second window; on a loaded
	// machine they may straddle a boundary, and then the run is repeated
	// with a fresh environment rather than judged.
	for attempt := 1; ; attempt++ {
		finals, invocations, oneWindow := tumblingWindowRun(t)
		if !oneWindow && attempt < 5 {
			t.Logf("attempt %d: the writes crossed a window boundary; again", attempt)
			continue
		}
		if len(finals) != 1 || finals[0] != "15" {
			t.Fatalf("final window states %v, want [15]", finals)
		}
		if invocations != 4 {
			t.Errorf("%d invocations, want 3 batches of at most 2 records and 1 final", invocations)
		}
		return
	}
}

func tumblingWindowRun(t *testing.T) (finals []string, invocations int, oneWindow bool) {
	app := pipeline.New("windows")
	events := app.Table("events", pipeline.PartitionKey("id", pipeline.String))
	var mu sync.Mutex
	pipeline.OnChanges(app, "sum", events.Changes(triggers.BatchSize(2), triggers.TumblingWindow(time.Second)), func(ctx context.Context, b *triggers.Batch[Event]) error {
		mu.Lock()
		defer mu.Unlock()
		invocations++
		n, _ := strconv.Atoi(b.State["sum"])
		for _, c := range b.Changes {
			n += c.New.N
		}
		b.State["sum"] = strconv.Itoa(n)
		if b.Window != nil && b.Window.Final {
			finals = append(finals, b.State["sum"])
		}
		return nil
	})
	env := start(t, app, "", nil, 1)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		env.Close(ctx)
		cancel()
	}()
	// Start early in a second, so the writes fit in its window.
	for {
		now := time.Now()
		if now.Truncate(time.Second).Add(700 * time.Millisecond).After(now) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := time.Now()
	putEvents(t, env, "events", []Event{{ID: "a", N: 1}, {ID: "b", N: 2}, {ID: "c", N: 3}, {ID: "d", N: 4}, {ID: "e", N: 5}})
	oneWindow = before.Truncate(time.Second).Equal(time.Now().Truncate(time.Second))
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := len(finals) > 0
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Give a second window, if the writes made one, time to close too.
	if !oneWindow {
		time.Sleep(1500 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), finals...), invocations, oneWindow
}
