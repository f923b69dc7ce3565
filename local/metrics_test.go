package local_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// TestMetricsMatchDeliveries runs stages with injected faults and checks
// the metrics the environment reports (added up from the stages' EMF
// lines) against the deliveries the engine made.
func TestMetricsMatchDeliveries(t *testing.T) {
	l := newLog()
	app := pipeline.New("metered")
	inbox := app.Bucket("inbox")
	events := app.Table("events", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnObject(app, "ingest", inbox.Created(triggers.Retries(2)), func(ctx context.Context, o triggers.Object) error {
		pipeline.Metric(ctx, "KeyLength", float64(len(o.Key)), pipeline.UnitCount)
		switch {
		case strings.HasPrefix(o.Key, "fail"):
			return errors.New("cannot ingest " + o.Key)
		case strings.HasPrefix(o.Key, "panic"):
			panic("ingest panicked on " + o.Key)
		}
		return nil
	})
	pipeline.OnChange(app, "consume", events.Changes(triggers.Insert, triggers.BatchSize(4), triggers.Retries(1)), func(ctx context.Context, c triggers.Change[Event]) error {
		if c.New.Mode == "fail" {
			return errors.New("refused " + c.New.ID)
		}
		return nil
	})
	env := start(t, app, t.TempDir(), l, 1)
	c := env.S3Client()
	for _, k := range []string{"ok-1", "ok-2", "fail-3", "panic-4"} {
		putObject(t, c, "inbox", k)
	}
	var evs []Event
	for i := range 10 {
		e := Event{ID: "e" + strconv.Itoa(i), N: i}
		if i == 6 {
			e.Mode = "fail"
		}
		evs = append(evs, e)
	}
	putEvents(t, env, "events", evs)
	idle(t, env)
	// Modifications are filtered out by the trigger (Inserts only).
	db := env.DynamoDBClient()
	for _, id := range []string{"e1", "e2", "e3"} {
		if _, err := db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
			TableName: aws.String("events"), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
			UpdateExpression: aws.String("SET n = :n"), ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: "99"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	idle(t, env)
	time.Sleep(50 * time.Millisecond)
	idle(t, env)

	_, _, deliveries := l.snapshot()
	type want struct{ invocations, records, processed, failed, retried int64 }
	w := map[string]*want{"ingest": {}, "consume": {}}
	deadRecords := 0
	for _, d := range deliveries {
		if d.Outcome == engine.OutcomeDeadLettered || d.Outcome == engine.OutcomeDiscarded {
			if d.Stage == "consume" {
				deadRecords += d.Records
			}
			continue
		}
		x := w[d.Stage]
		x.invocations++
		x.records += int64(d.Records)
		switch {
		case d.Source == "aws:s3" && d.Outcome == engine.OutcomeOK:
			x.processed++
		case d.Source == "aws:s3":
			x.failed++
			x.retried++
		default:
			x.processed += int64(d.Records - d.Failed)
			x.retried += int64(d.Failed)
			if d.Failed > 0 {
				x.failed++
			}
		}
	}
	got := map[string]local.StageMetrics{}
	for _, m := range env.Metrics() {
		got[m.Stage] = m
	}
	for stage, x := range w {
		m := got[stage]
		if m.Invocations != x.invocations || m.Records != x.records || m.Processed != x.processed || m.Failed != x.failed || m.Retried != x.retried {
			t.Errorf("stage %s: metrics %+v; the deliveries say %+v", stage, m, *x)
		}
	}
	// S3: 2 good objects once each, 2 bad ones 3 times each (Retries(2)).
	if m := got["ingest"]; m.Processed != 2 || m.Failed != 6 || m.Custom["KeyLength"] == nil || m.Custom["KeyLength"].Count != 8 {
		t.Errorf("ingest: %+v", m)
	}
	// Streams: batches of at most 4; e6 fails, so the records before it in
	// its batch are acknowledged, and it and those after it are retried
	// once and then dead-lettered. Every insert is processed or
	// dead-lettered.
	if m := got["consume"]; m.Processed+int64(deadRecords) != 10 || deadRecords < 1 || m.Failed != 2 || m.Filtered != 3 || m.MaxBatchSize > 4 || m.Invocations < 3 {
		t.Errorf("consume: %+v", m)
	}
	if m := got["consume"]; m.MaxDurationMS <= 0 || m.MaxOldestRecordAgeMS <= 0 {
		t.Errorf("consume: no durations or record ages: %+v", m)
	}
}

// TestDevSummaryShowsMetrics: dev's summary (text and --json) carries the
// metrics of the run.
func TestDevSummaryShowsMetrics(t *testing.T) {
	for _, jsonOut := range []bool{false, true} {
		app := pipeline.New("devmetrics")
		inbox := app.Bucket("devmetrics-in")
		pipeline.OnObject(app, "ingest", inbox.Created(triggers.Retries(0)), func(ctx context.Context, o triggers.Object) error {
			pipeline.Metric(ctx, "Seen", 1, pipeline.UnitCount)
			if strings.HasPrefix(o.Key, "bad") {
				return errors.New("bad")
			}
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		var out, errs strings.Builder
		cmd := local.Command{App: app, Name: "devmetrics", Stdout: &out, Stderr: &errs,
			Demo: func(ctx context.Context, env *local.Environment, say func(string)) error {
				defer cancel()
				for _, k := range []string{"a", "b", "bad"} {
					putObject(t, env.S3Client(), "devmetrics-in", k)
				}
				idle(t, env)
				return nil
			}}
		args := []string{"dev", "--port", "0", "--dir", t.TempDir()}
		if jsonOut {
			args = append(args, "--json")
		}
		if code := cmd.Run(ctx, args); code != 0 {
			t.Fatalf("dev: %d %s", code, errs.String())
		}
		s := out.String()
		if jsonOut {
			if !strings.Contains(s, `"metrics":[{"stage":"ingest","invocations":3,"processed":2,"failed":1,"retried":1,`) || !strings.Contains(s, `"Seen":{"unit":"Count","count":3`) {
				t.Errorf("--json summary:\n%s", s)
			}
		} else if !strings.Contains(s, "metrics") || !regexpMatch(`ingest\s+2\s+1\s+1\s+0\s+3\s+1`, s) || !strings.Contains(s, "ingest Seen: 3 values") {
			t.Errorf("summary:\n%s", s)
		}
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
