package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/triggers"
)

func emfLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal(l, &d); err != nil {
			t.Fatalf("metric line is not JSON: %v\n%s", err, l)
		}
		docs = append(docs, d)
	}
	return docs
}

// TestInvokeEmitsMetrics: each invocation of a stage ends with one EMF
// line counting what happened to its records, with the stage's own
// metrics in it.
func TestInvokeEmitsMetrics(t *testing.T) {
	a := pipeline.New("metrics", pipeline.MetricsNamespace("Shop/Orders"))
	bk := a.Bucket("metrics-in")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	obj := pipeline.OnObject(a, "objects", bk.Created(), func(ctx context.Context, o triggers.Object) error {
		pipeline.Metric(ctx, "Bytes", float64(o.Size), pipeline.UnitBytes)
		if o.Key == "bad" {
			return errors.New("bad object")
		}
		return nil
	})
	st := pipeline.OnChange(a, "changes", tb.Changes(), func(ctx context.Context, c triggers.Change[item]) error {
		pipeline.Metric(ctx, "Seen", 1, pipeline.UnitCount)
		pipeline.Metric(ctx, "Processed", 1, pipeline.UnitCount) // the runtime's own: dropped
		if c.New.ID == "i3" {
			return errors.New("boom")
		}
		return nil
	})
	var out bytes.Buffer
	env := &pipeline.Env{Metrics: &out, Logger: slog.New(slog.DiscardHandler)}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-42"})

	if _, err := plumbing.Invoke(ctx, obj, env, pipelinetest.S3Event(pipelinetest.CreatedObject(bk, "good", []byte("12345")))); err != nil {
		t.Fatal(err)
	}
	if _, err := plumbing.Invoke(ctx, obj, env, pipelinetest.S3Event(pipelinetest.CreatedObject(bk, "bad", []byte("1")))); err == nil {
		t.Fatal("the bad object did not fail")
	}
	var recs []pipelinetest.StreamRecord
	for _, it := range items(5) {
		recs = append(recs, pipelinetest.InsertedItem(tb, it))
	}
	if _, err := plumbing.Invoke(ctx, st, env, pipelinetest.StreamEvent(recs...)); err != nil {
		t.Fatal(err)
	}
	docs := emfLines(t, out.Bytes())
	if len(docs) != 3 {
		t.Fatalf("%d metric lines for 3 invocations:\n%s", len(docs), out.String())
	}
	check := func(d map[string]any, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if d[k] != v {
				t.Errorf("%s = %v, want %v in %v", k, d[k], v, d)
			}
		}
		ns := d["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Namespace"]
		if ns != "Shop/Orders" {
			t.Errorf("namespace %v", ns)
		}
		if _, ok := d["Duration"].(float64); !ok {
			t.Errorf("no Duration in %v", d)
		}
	}
	check(docs[0], map[string]any{"app": "metrics", "stage": "objects", "request_id": "req-42", "Processed": 1.0, "Failed": 0.0, "Retried": 0.0, "BatchSize": 1.0, "Bytes": 5.0})
	check(docs[1], map[string]any{"stage": "objects", "Processed": 0.0, "Failed": 1.0, "Retried": 1.0, "BatchSize": 1.0, "Bytes": 1.0})
	check(docs[2], map[string]any{"stage": "changes", "Processed": 3.0, "Failed": 1.0, "Retried": 2.0, "BatchSize": 5.0})
	if seen, _ := docs[2]["Seen"].([]any); len(seen) != 4 {
		t.Errorf("Seen = %v, want 4 values (records i0..i3)", docs[2]["Seen"])
	}
	if _, ok := docs[2]["OldestRecordAge"].(float64); !ok {
		t.Errorf("a stream invocation has no OldestRecordAge: %v", docs[2])
	}
}

// TestMetricsOff: an Env without a Metrics output emits nothing, and
// Metric outside a stage does nothing.
func TestMetricsOff(t *testing.T) {
	pipeline.Metric(context.Background(), "Outside", 1, pipeline.UnitCount)
	a := pipeline.New("nometrics")
	bk := a.Bucket("nometrics-in")
	calls := 0
	st := pipeline.OnObject(a, "objects", bk.Created(), func(ctx context.Context, o triggers.Object) error {
		calls++
		pipeline.Metric(ctx, "X", 1, pipeline.UnitCount)
		return nil
	})
	if _, err := plumbing.Invoke(context.Background(), st, &pipeline.Env{Logger: slog.New(slog.DiscardHandler)}, pipelinetest.S3Event(pipelinetest.CreatedObject(bk, "k", nil))); err != nil || calls != 1 {
		t.Fatal(err, calls)
	}
}

func TestMetricsNamespaceRefused(t *testing.T) {
	for _, ns := range []string{"", "AWS/Lambda", "bad\nname"} {
		a := pipeline.New("ns", pipeline.CollectErrors(), pipeline.MetricsNamespace(ns))
		if err := a.Validate(); err == nil {
			t.Errorf("MetricsNamespace(%q) accepted", ns)
		}
	}
}

// noopBatch is a stage that does nothing and a 100-record batch for it.
func noopBatch() (*pipeline.Stage, []byte, *slog.Logger) {
	a := pipeline.New("bench")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	st := pipeline.OnChange(a, "noop", tb.Changes(), func(ctx context.Context, c triggers.Change[item]) error { return nil })
	var recs []pipelinetest.StreamRecord
	for _, it := range items(100) {
		recs = append(recs, pipelinetest.InsertedItem(tb, it))
	}
	payload := pipelinetest.StreamEvent(recs...)
	log := slog.New(slog.DiscardHandler)
	return st, payload, log
}

// BenchmarkInvokeMetrics measures the runtime's metrics on a 100-record
// batch through a stage that does nothing: "off" is an Env without a
// Metrics output, "on" writes the EMF line (to io.Discard).
func BenchmarkInvokeMetrics(b *testing.B) {
	st, payload, log := noopBatch()
	for _, c := range []struct {
		name string
		env  *pipeline.Env
	}{{"metrics=off", &pipeline.Env{Logger: log}}, {"metrics=on", &pipeline.Env{Logger: log, Metrics: io.Discard}}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := plumbing.Invoke(ctx, st, c.env, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInvokeMetricsRatio alternates the two Envs of
// BenchmarkInvokeMetrics in one loop, so that both see the same machine
// load, and reports the ratio of their times (on/off).
func BenchmarkInvokeMetricsRatio(b *testing.B) {
	st, payload, log := noopBatch()
	off, on := &pipeline.Env{Logger: log}, &pipeline.Env{Logger: log, Metrics: io.Discard}
	ctx := context.Background()
	var tOff, tOn time.Duration
	i := 0
	for b.Loop() {
		first, second := off, on
		if i%2 == 1 {
			first, second = on, off
		}
		i++
		for _, env := range []*pipeline.Env{first, second} {
			t0 := time.Now()
			if _, err := plumbing.Invoke(ctx, st, env, payload); err != nil {
				b.Fatal(err)
			}
			if env == on {
				tOn += time.Since(t0)
			} else {
				tOff += time.Since(t0)
			}
		}
	}
	b.ReportMetric(float64(tOff.Nanoseconds())/float64(i), "off-ns/op")
	b.ReportMetric(float64(tOn.Nanoseconds())/float64(i), "on-ns/op")
	b.ReportMetric(float64(tOn)/float64(tOff), "on/off")
}

// TestTimedOutInvocationWritesNoMetrics: an invocation that overruns its
// deadline writes no metric line, since Lambda stops the function there
// (under the runtime emulator the line never comes either); one that
// returns in time writes its line.
func TestTimedOutInvocationWritesNoMetrics(t *testing.T) {
	a := pipeline.New("late")
	bk := a.Bucket("late-in")
	st := pipeline.OnObject(a, "objects", bk.Created(), func(ctx context.Context, o triggers.Object) error {
		if o.Key == "slow" {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	for _, tt := range []struct {
		key   string
		lines int
	}{{"quick", 1}, {"slow", 0}} {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		plumbing.Invoke(ctx, st, &pipeline.Env{Logger: slog.New(slog.DiscardHandler), Metrics: &out}, pipelinetest.S3Event(pipelinetest.CreatedObject(bk, tt.key, nil)))
		cancel()
		if n := bytes.Count(out.Bytes(), []byte("\n")); n != tt.lines {
			t.Errorf("%s: %d metric lines, want %d:\n%s", tt.key, n, tt.lines, out.String())
		}
	}
}
