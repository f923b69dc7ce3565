package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/triggers"
)

// windowFinal is the end-of-window invocation of a tumbling window, in the
// order of AWS's documented example
// (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-windows.html):
// an empty Records array first, eventSourceARN after it.
const windowFinal = `{
    "Records": [],
    "window": {
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T00:01:00Z"
    },
    "state": {
        "total": "42"
    },
    "shardId": "shard123456789",
    "eventSourceARN": "stream-ARN",
    "isFinalInvokeForWindow": true,
    "isWindowTerminatedEarly": false
}`

func TestGroupTakesEndOfWindowInvocation(t *testing.T) {
	a := pipeline.New("rt")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	up := a.Bucket("uploads")
	var finals []string
	sum := pipeline.OnChanges(a, "sum", tb.Changes(triggers.TumblingWindow(60e9)), func(ctx context.Context, b *triggers.Batch[item]) error {
		if b.Window != nil && b.Window.Final {
			finals = append(finals, b.State["total"])
		}
		return nil
	}).Group("all")
	other := pipeline.OnObject(a, "other", up.Created(), func(context.Context, triggers.Object) error { return nil }).Group("all")
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	env := pipelinetest.New(t, a, "").Env
	payload := []byte(strings.Replace(windowFinal, "stream-ARN", pipelinetest.StreamARN(tb), 1))
	for _, stages := range [][]*pipeline.Stage{{sum, other}, {sum}} {
		h, err := plumbing.Handler(a, env, stages)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("%d stages: end-of-window invocation failed: %v", len(stages), err)
		}
		if !strings.Contains(string(resp), `"total":"42"`) {
			t.Errorf("%d stages: response %s does not carry the window's state", len(stages), resp)
		}
	}
	if len(finals) != 2 {
		t.Errorf("the stage saw %d final invocations, want 2", len(finals))
	}
}

// A function with one stage checks what it receives exactly as a group
// does: what its trigger does not take is an error, not an acknowledgement.
func TestSingleStageFunctionChecksItsPayload(t *testing.T) {
	a := pipeline.New("rt")
	up := a.Bucket("uploads")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	others := a.Table("others", pipeline.PartitionKey("id", pipeline.String))
	ran := 0
	jpg := pipeline.OnObject(a, "jpg", up.Created(triggers.Prefix("in/"), triggers.Suffix(".jpg")), func(context.Context, triggers.Object) error {
		ran++
		return nil
	})
	idx := pipeline.OnChange(a, "index", tb.Changes(), func(context.Context, triggers.Change[item]) error {
		ran++
		return nil
	})
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	env := pipelinetest.New(t, a, "").Env
	elsewhere := pipeline.New("elsewhere").Bucket("not-uploads")
	insert := string(pipelinetest.StreamEvent(pipelinetest.InsertedItem(tb, item{ID: "x"})))
	cases := []struct {
		name    string
		stage   *pipeline.Stage
		payload string
		want    string
	}{
		{"S3 notification to a stream stage", idx, string(pipelinetest.S3Event(pipelinetest.CreatedObject(up, "in/a.jpg", nil))), "no stage of index takes"},
		{"batch of another table", idx, string(pipelinetest.StreamEvent(pipelinetest.InsertedItem(others, item{ID: "y"}))), "table \"others\""},
		{"stream batch to an S3 stage", jpg, insert, "no stage of jpg is triggered by stream"},
		{"another bucket", jpg, string(pipelinetest.S3Event(pipelinetest.CreatedObject(elsewhere, "in/a.jpg", nil))), "no stage of jpg takes ObjectCreated:Put s3://not-uploads/in/a.jpg"},
		{"outside the prefix", jpg, string(pipelinetest.S3Event(pipelinetest.CreatedObject(up, "out/a.jpg", nil))), "s3://uploads/out/a.jpg"},
		{"outside the suffix", jpg, string(pipelinetest.S3Event(pipelinetest.CreatedObject(up, "in/a.png", nil))), "s3://uploads/in/a.png"},
		{"another event type", jpg, string(pipelinetest.S3Event(pipelinetest.CreatedObjectBy(up, triggers.S3Event("s3:ObjectRemoved:Delete"), "in/a.jpg", 0))), "ObjectRemoved:Delete"},
		{"a record without dynamodb", idx, strings.Replace(insert, `"dynamodb"`, `"dynamo"`, 1), "has no dynamodb member"},
		{"an unknown eventName", idx, strings.Replace(insert, `"INSERT"`, `"UPSERT"`, 1), `eventName "UPSERT"`},
		{"neither S3 nor a stream", idx, `{"hello":"world"}`, "neither an S3 notification nor a DynamoDB stream batch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ran = 0
			h, err := plumbing.Handler(a, env, []*pipeline.Stage{c.stage})
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Invoke(context.Background(), []byte(c.payload))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one containing %q", err, c.want)
			}
			if ran != 0 {
				t.Errorf("the stage ran %d times on a payload it does not take", ran)
			}
		})
	}
	// What the triggers take still runs.
	for _, c := range []struct {
		stage   *pipeline.Stage
		payload []byte
	}{{jpg, pipelinetest.S3Event(pipelinetest.CreatedObject(up, "in/a.jpg", nil))}, {idx, []byte(insert)}} {
		ran = 0
		h, _ := plumbing.Handler(a, env, []*pipeline.Stage{c.stage})
		if _, err := h.Invoke(context.Background(), c.payload); err != nil || ran != 1 {
			t.Errorf("stage %s: err %v, ran %d times, want once", c.stage.Name(), err, ran)
		}
	}
}
