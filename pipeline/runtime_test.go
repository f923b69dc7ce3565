package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/triggers"
)

// recorder collects what stages saw, in order.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, s)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func items(n int) []item {
	out := make([]item, n)
	for i := range out {
		out[i] = item{ID: fmt.Sprintf("i%d", i), Status: "new", Size: i}
	}
	return out
}

func seqs(recs []pipelinetest.StreamRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.SequenceNumber()
	}
	return out
}

func TestChangeStageReportsFirstFailureAndEverythingAfter(t *testing.T) {
	var rec recorder
	a := pipeline.New("rt")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	failOn := map[string]error{"i2": errors.New("boom")}
	panicOn := map[string]bool{}
	st := pipeline.OnChange(a, "index", tb.Changes(), func(ctx context.Context, c triggers.Change[item]) error {
		rec.add(c.New.ID)
		if panicOn[c.New.ID] {
			panic("stage bug")
		}
		return failOn[c.New.ID]
	})
	h := pipelinetest.New(t, a, "")

	var recs []pipelinetest.StreamRecord
	for _, it := range items(5) {
		recs = append(recs, pipelinetest.InsertedItem(tb, it))
	}
	res := h.Invoke(st, pipelinetest.StreamEvent(recs...))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got, want := rec.list(), []string{"i0", "i1", "i2"}; !slices.Equal(got, want) {
		t.Errorf("processed %v, want %v (in order, stopping at the failure)", got, want)
	}
	if want := seqs(recs[2:]); !slices.Equal(res.Failed, want) {
		t.Errorf("batchItemFailures = %v, want %v", res.Failed, want)
	}

	t.Run("panic is a failed record", func(t *testing.T) {
		rec = recorder{}
		delete(failOn, "i2")
		panicOn["i1"] = true
		res := h.Invoke(st, pipelinetest.StreamEvent(recs...))
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if want := seqs(recs[1:]); !slices.Equal(res.Failed, want) {
			t.Errorf("batchItemFailures = %v, want %v", res.Failed, want)
		}
		// The process is alive and the next batch goes through.
		panicOn["i1"] = false
		res = h.Invoke(st, pipelinetest.StreamEvent(recs...))
		if !res.OK() {
			t.Errorf("next batch: %+v", res)
		}
	})

	t.Run("all succeed", func(t *testing.T) {
		res := h.Invoke(st, pipelinetest.StreamEvent(recs...))
		if !res.OK() || string(res.Response) != `{"batchItemFailures":[]}` {
			t.Errorf("response %s, err %v", res.Response, res.Err)
		}
	})

	t.Run("empty batch", func(t *testing.T) {
		res := h.Invoke(st, pipelinetest.StreamEvent())
		if !res.OK() {
			t.Errorf("%+v", res)
		}
	})
}

func TestUndecodableRecordFailsFromThere(t *testing.T) {
	var rec recorder
	a := pipeline.New("rt")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	st := pipeline.OnChange(a, "index", tb.Changes(), func(ctx context.Context, c triggers.Change[item]) error {
		rec.add(c.New.ID)
		return nil
	})
	type wrong struct {
		ID   string `dynamodbav:"id"`
		Size string `dynamodbav:"size"` // a string where item has a number
	}
	recs := []pipelinetest.StreamRecord{
		pipelinetest.InsertedItem(tb, item{ID: "a"}),
		pipelinetest.InsertedItem(tb, wrong{ID: "b", Size: "large"}),
		pipelinetest.InsertedItem(tb, item{ID: "c"}),
	}
	res := pipelinetest.New(t, a, "").Invoke(st, pipelinetest.StreamEvent(recs...))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := rec.list(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("processed %v, want [a]", got)
	}
	if want := seqs(recs[1:]); !slices.Equal(res.Failed, want) {
		t.Errorf("batchItemFailures = %v, want %v", res.Failed, want)
	}
}

func TestUnreadablePayloadIsAnError(t *testing.T) {
	a := pipeline.New("rt")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	st := pipeline.OnChange(a, "index", tb.Changes(), onItem)
	res := pipelinetest.New(t, a, "").Invoke(st, []byte(`{"Records":[{"eventName":`))
	if res.Err == nil {
		t.Fatal("no error for a truncated payload: Lambda must retry the whole batch")
	}
}

func TestObjectStage(t *testing.T) {
	var rec recorder
	a := pipeline.New("rt")
	b := a.Bucket("uploads")
	st := pipeline.OnObject(a, "resize", b.Created(triggers.Prefix("in/")), func(ctx context.Context, o triggers.Object) error {
		rec.add(o.Key)
		switch {
		case strings.Contains(o.Key, "bad"):
			return errors.New("cannot read image")
		case strings.Contains(o.Key, "panic"):
			var m map[string]int
			m["x"]++ // a nil map write: a stage bug
		}
		return nil
	})
	h := pipelinetest.New(t, a, "")

	res := h.Invoke(st, pipelinetest.S3Event(pipelinetest.CreatedObject(b, "in/my photo+1 (2).jpg", []byte("x"))))
	if !res.OK() {
		t.Fatal(res.Err)
	}
	if got := rec.list(); !slices.Equal(got, []string{"in/my photo+1 (2).jpg"}) {
		t.Errorf("keys seen %q: the key must reach the stage URL-decoded", got)
	}

	rec = recorder{}
	res = h.Invoke(st, pipelinetest.S3Event(
		pipelinetest.CreatedObject(b, "in/bad.jpg", nil),
		pipelinetest.CreatedObject(b, "in/good.jpg", nil),
		pipelinetest.CreatedObject(b, "in/panic.jpg", nil),
	))
	if got := rec.list(); len(got) != 3 {
		t.Errorf("processed %v: every record of the event must be processed", got)
	}
	if res.Err == nil || !strings.Contains(res.Err.Error(), "cannot read image") || !strings.Contains(res.Err.Error(), "stage panicked") {
		t.Errorf("err = %v, want both failures reported so Lambda retries the event", res.Err)
	}
	var pe *pipeline.PanicError
	if !errors.As(res.Err, &pe) {
		t.Errorf("err %v does not wrap a PanicError", res.Err)
	}
}

func TestBatchStage(t *testing.T) {
	a := pipeline.New("rt")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	var failAt = -1
	var whole error
	var got int
	st := pipeline.OnChanges(a, "bulk", tb.Changes(triggers.BatchSize(500)), func(ctx context.Context, b *triggers.Batch[item]) error {
		got = len(b.Changes)
		if failAt >= 0 {
			b.Fail(failAt+1, errors.New("later"))
			b.Fail(failAt, errors.New("first"))
		}
		return whole
	})
	h := pipelinetest.New(t, a, "")
	var recs []pipelinetest.StreamRecord
	for _, it := range items(4) {
		recs = append(recs, pipelinetest.ModifiedItem(tb, it, it))
	}
	payload := pipelinetest.StreamEvent(recs...)

	if res := h.Invoke(st, payload); !res.OK() || got != 4 {
		t.Fatalf("clean batch: %+v, stage saw %d", res, got)
	}
	failAt = 1
	if res := h.Invoke(st, payload); !slices.Equal(res.Failed, seqs(recs[1:])) {
		t.Errorf("Fail(1): failures %v, want %v", res.Failed, seqs(recs[1:]))
	}
	failAt, whole = -1, errors.New("database down")
	if res := h.Invoke(st, payload); !slices.Equal(res.Failed, seqs(recs)) {
		t.Errorf("error: failures %v, want all %v", res.Failed, seqs(recs))
	}
}

func TestTumblingWindowStateIsCarried(t *testing.T) {
	a := pipeline.New("rt")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	st := pipeline.OnChanges(a, "sum", tb.Changes(triggers.TumblingWindow(60e9)), func(ctx context.Context, b *triggers.Batch[item]) error {
		total := 0
		fmt.Sscan(b.State["total"], &total)
		for _, c := range b.Changes {
			total += c.New.Size
		}
		b.State["total"] = fmt.Sprint(total)
		return nil
	})
	recs := []pipelinetest.StreamRecord{pipelinetest.InsertedItem(tb, item{ID: "a", Size: 5}), pipelinetest.InsertedItem(tb, item{ID: "b", Size: 7})}
	payload, _ := json.Marshal(map[string]any{
		"Records":                recs,
		"window":                 map[string]string{"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"},
		"state":                  map[string]string{"total": "30"},
		"shardId":                "shard-1",
		"eventSourceARN":         pipelinetest.StreamARN(tb),
		"isFinalInvokeForWindow": false,
	})
	res := pipelinetest.New(t, a, "").Invoke(st, payload)
	if !res.OK() || res.State["total"] != "42" {
		t.Fatalf("state %v (response %s), want total 42", res.State, res.Response)
	}
}

func TestRawHandlers(t *testing.T) {
	a := pipeline.New("rt")
	b := a.Bucket("uploads")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	var gotKey string
	s3st := pipeline.OnS3Event(a, "raw-s3", b.Created(), func(ctx context.Context, ev events.S3Event) error {
		gotKey = ev.Records[0].S3.Object.Key
		return nil
	})
	ddbst := pipeline.OnStreamEvent(a, "raw-ddb", tb.Changes(), func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: ev.Records[1].Change.SequenceNumber}}}, nil
	})
	h := pipelinetest.New(t, a, "")
	if res := h.Invoke(s3st, pipelinetest.S3Event(pipelinetest.CreatedObject(b, "a b.txt", nil))); !res.OK() || gotKey != "a+b.txt" {
		t.Errorf("raw S3 stage: %v, key %q (raw events keep S3's encoding)", res.Err, gotKey)
	}
	recs := []pipelinetest.StreamRecord{pipelinetest.InsertedItem(tb, item{ID: "a"}), pipelinetest.InsertedItem(tb, item{ID: "b"})}
	if res := h.Invoke(ddbst, pipelinetest.StreamEvent(recs...)); !slices.Equal(res.Failed, seqs(recs[1:])) {
		t.Errorf("raw stream stage failures %v", res.Failed)
	}
}

// TestGroupRouting serves three stages from one handler, as one deployed
// function of a group does, and checks each payload reaches its stage.
func TestGroupRouting(t *testing.T) {
	var rec recorder
	a := pipeline.New("rt")
	b := a.Bucket("uploads")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	other := a.Table("others", pipeline.PartitionKey("id", pipeline.String))
	jpg := pipeline.OnObject(a, "jpg", b.Created(triggers.Suffix(".jpg")), func(ctx context.Context, o triggers.Object) error {
		rec.add("jpg:" + o.Key)
		return nil
	}).Group("all")
	png := pipeline.OnObject(a, "png", b.Created(triggers.Suffix(".png")), func(ctx context.Context, o triggers.Object) error {
		rec.add("png:" + o.Key)
		return nil
	}).Group("all")
	idx := pipeline.OnChange(a, "index", tb.Changes(), func(ctx context.Context, c triggers.Change[item]) error {
		rec.add("index:" + c.New.ID + "@" + c.Table)
		return nil
	}).Group("all")
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	env := pipelinetest.New(t, a, "").Env
	env.Buckets = map[string]string{"uploads": "rt-prod-uploads-x1"}
	env.Tables = map[string]string{"items": "rt-prod-items-x1"}
	handler, err := plumbing.Handler(a, env, []*pipeline.Stage{jpg, png, idx})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	phys := pipeline.New("phys")
	pb := phys.Bucket("rt-prod-uploads-x1")
	pt := phys.Table("rt-prod-items-x1", pipeline.PartitionKey("id", pipeline.String))

	if _, err := handler.Invoke(ctx, pipelinetest.S3Event(pipelinetest.CreatedObject(pb, "a.png", nil), pipelinetest.CreatedObject(pb, "b.jpg", nil))); err != nil {
		t.Fatal(err)
	}
	if _, err := handler.Invoke(ctx, pipelinetest.StreamEvent(pipelinetest.InsertedItem(pt, item{ID: "x"}))); err != nil {
		t.Fatal(err)
	}
	want := []string{"jpg:b.jpg", "png:a.png", "index:x@rt-prod-items-x1"}
	got := rec.list()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("routed %v, want %v", got, want)
	}

	t.Run("unclaimed records are errors", func(t *testing.T) {
		_, err := handler.Invoke(ctx, pipelinetest.S3Event(pipelinetest.CreatedObject(pb, "c.gif", nil)))
		if err == nil || !strings.Contains(err.Error(), "no stage of jpg,png,index takes ObjectCreated:Put s3://rt-prod-uploads-x1/c.gif") {
			t.Errorf("err = %v", err)
		}
		po := phys.Table("rt-prod-others-x1", pipeline.PartitionKey("id", pipeline.String))
		_ = other
		_, err = handler.Invoke(ctx, pipelinetest.StreamEvent(pipelinetest.InsertedItem(po, item{ID: "y"})))
		if err == nil || !strings.Contains(err.Error(), "rt-prod-others-x1") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestEnvFromEnviron(t *testing.T) {
	a := pipeline.New("photos")
	b := a.Bucket("uploads")
	tb := a.Table("photo-index", pipeline.PartitionKey("id", pipeline.String))
	st := pipeline.OnObject(a, "thumbnail", b.Created(), onObj).Writes(tb)
	vars := plumbing.FunctionEnvironment([]*pipeline.Stage{st},
		func(b *pipeline.Bucket) string { return "phys-" + b.Name() },
		func(t *pipeline.Table) string { return "phys-" + t.Name() },
		func(t *pipeline.Table) string { return "arn" })
	want := map[string]string{
		"NANOPIPE_APP":               "photos",
		"NANOPIPE_STAGES":            "thumbnail",
		"NANOPIPE_BUCKET_UPLOADS":    "phys-uploads",
		"NANOPIPE_TABLE_PHOTO_INDEX": "phys-photo-index",
	}
	if fmt.Sprint(vars) != fmt.Sprint(want) {
		t.Fatalf("FunctionEnvironment = %v, want %v", vars, want)
	}
	env, stages, err := plumbing.EnvFromEnviron(a, func(k string) string { return vars[k] }, aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 1 || stages[0] != st || env.Buckets["uploads"] != "phys-uploads" || env.Tables["photo-index"] != "phys-photo-index" {
		t.Errorf("env %+v stages %v", env, stages)
	}

	errCases := []struct {
		name string
		edit func(map[string]string)
		want string
	}{
		{"missing resource variable", func(m map[string]string) { delete(m, "NANOPIPE_TABLE_PHOTO_INDEX") }, "lacks NANOPIPE_TABLE_PHOTO_INDEX, needed by stages thumbnail"},
		{"unknown stage", func(m map[string]string) { m["NANOPIPE_STAGES"] = "thumbnails" }, `names stage "thumbnails", which app "photos" does not declare (it has thumbnail)`},
		{"no stages", func(m map[string]string) { delete(m, "NANOPIPE_STAGES") }, "NANOPIPE_STAGES is not set"},
		{"other app", func(m map[string]string) { m["NANOPIPE_APP"] = "videos" }, `runs another app's binary`},
	}
	for _, c := range errCases {
		t.Run(c.name, func(t *testing.T) {
			m := maps(vars)
			c.edit(m)
			_, _, err := plumbing.EnvFromEnviron(a, func(k string) string { return m[k] }, aws.Config{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func maps(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestLogsAndHandles(t *testing.T) {
	a := pipeline.New("rt")
	b := a.Bucket("uploads")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	var names []string
	st := pipeline.OnChange(a, "index", tb.Changes(), func(ctx context.Context, c triggers.Change[item]) error {
		names = append(names, b.PhysicalName(ctx), tb.PhysicalName(ctx), pipeline.StageFrom(ctx).Name())
		pipeline.Logger(ctx).Info("indexing", "id", c.New.ID)
		if c.New.ID == "bad" {
			return errors.New("bad item")
		}
		return nil
	}).Reads(b)
	var buf bytes.Buffer
	env := pipelinetest.New(t, a, "").Env
	env.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	env.Buckets = map[string]string{"uploads": "uploads-phys"}
	env.Tables = map[string]string{"items": "items-phys"}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-123"})
	recs := []pipelinetest.StreamRecord{pipelinetest.InsertedItem(tb, item{ID: "ok"}), pipelinetest.InsertedItem(tb, item{ID: "bad"})}
	resp, err := plumbing.Invoke(ctx, st, env, pipelinetest.StreamEvent(recs...))
	var res events.DynamoDBEventResponse
	if err != nil || json.Unmarshal(resp, &res) != nil {
		t.Fatalf("invoke: %v, response %s", err, resp)
	}
	if len(res.BatchItemFailures) != 1 || res.BatchItemFailures[0].ItemIdentifier != seqs(recs[1:])[0] {
		t.Fatalf("failures %v", res.BatchItemFailures)
	}
	if want := []string{"uploads-phys", "items-phys", "index"}; !slices.Equal(names[:3], want) {
		t.Errorf("handles resolved %v, want %v", names[:3], want)
	}
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	var outcomes []string
	for _, l := range lines {
		if l["stage"] != "index" || l["request_id"] != "req-123" || l["app"] != "rt" {
			t.Errorf("log line lacks stage/request id: %v", l)
		}
		if o, ok := l["outcome"].(string); ok {
			if l["event_id"] == nil || l["event_id"] == "" {
				t.Errorf("outcome line without event_id: %v", l)
			}
			outcomes = append(outcomes, o)
		}
	}
	if !slices.Equal(outcomes, []string{"ok", "failed"}) {
		t.Errorf("outcomes %v, want [ok failed]; log:\n%s", outcomes, buf.String())
	}
}
