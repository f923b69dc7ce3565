package pipelinetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/internal/access"
	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
)

// Result is what a stage returned for one invocation.
type Result struct {
	// Failed lists the sequence numbers a stream stage reported in
	// batchItemFailures: the records Lambda would retry.
	Failed []string
	// Filtered lists the records the trigger's filter kept from the stage,
	// as Lambda does before invoking it: the sequence numbers of stream
	// records, the keys of S3 records. When every record is filtered the
	// stage is not called (Invoked is false).
	Filtered []string
	// Invoked reports whether the stage was called.
	Invoked bool
	// State is a tumbling-window stage's state for the next invocation.
	State map[string]string
	// Err is the error returned to Lambda: for an S3 stage, a failed object
	// (Lambda would retry the event); for any stage, an unreadable payload.
	Err error
	// Response is the raw response payload.
	Response []byte
}

// OK reports whether the invocation acknowledged everything.
func (r Result) OK() bool { return r.Err == nil && len(r.Failed) == 0 }

// Unreachable is the endpoint a harness uses when none is given: stage
// code that calls AWS fails at once instead of reaching a real account.
const Unreachable = "http://127.0.0.1:1"

// Option changes what a harness checks.
type Option func(*Harness)

// SkipAccessChecks lets stages make calls their declaration does not
// allow. By default the harness refuses them, as `dev` does and as IAM
// does once deployed.
func SkipAccessChecks() Option { return func(h *Harness) { h.noAccess = true } }

// SkipFilters hands every record to the stage, as if its trigger had no
// filter. By default the harness applies the trigger's filter as Lambda
// does, with the local environment's evaluator.
func SkipFilters() Option { return func(h *Harness) { h.noFilter = true } }

// Harness invokes stages of an app in a test, as Lambda would, logging the
// runtime's output to the test log.
type Harness struct {
	t        testing.TB
	app      *pipeline.App
	noAccess bool
	noFilter bool
	// Env is what the stages run against: declared resource names, region
	// us-east-1, static test credentials, clients sent to the harness's
	// endpoint with path-style S3 addressing and no retries, and (unless
	// SkipAccessChecks) the check of each stage's declared accesses.
	Env *pipeline.Env
}

// New returns a harness for the stages of app, whose AWS calls go to
// endpoint: a local environment's (local.Environment.Endpoint), or, when
// empty, Unreachable, so stage code cannot reach a real account. The app's
// declaration must be valid. t may be nil (in an Example): logs are then
// discarded and an invalid declaration panics.
func New(t testing.TB, app *pipeline.App, endpoint string, opts ...Option) *Harness {
	if t != nil {
		t.Helper()
	}
	if err := app.Validate(); err != nil {
		if t == nil {
			panic(fmt.Sprintf("pipelinetest: app %s: %v", app.Name(), err))
		}
		t.Fatalf("pipelinetest: app %s: %v", app.Name(), err)
	}
	h := &Harness{t: t, app: app}
	for _, o := range opts {
		o(h)
	}
	if endpoint == "" {
		endpoint = Unreachable
	}
	var policy *access.Policy
	if !h.noAccess {
		policy = access.NewPolicy(app, nil, nil)
	}
	var w io.Writer = io.Discard
	if t != nil {
		w = testWriter{t}
	}
	h.Env = &pipeline.Env{
		AWS: aws.Config{
			Region:           Region,
			Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
			RetryMaxAttempts: 1,
		},
		S3Options: func(s *pipeline.Stage) []func(*s3.Options) {
			o := []func(*s3.Options){func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint); o.UsePathStyle = true }}
			if policy != nil {
				o = append(o, policy.S3Options(s)...)
			}
			return o
		},
		DynamoDBOptions: func(s *pipeline.Stage) []func(*dynamodb.Options) {
			o := []func(*dynamodb.Options){func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) }}
			if policy != nil {
				o = append(o, policy.DynamoDBOptions(s)...)
			}
			return o
		},
		Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return h
}

// Context returns a context bound to the harness's Env, for seeding data
// and checking results with the app's bucket and table handles outside a
// stage (their calls are not a stage's, so no declaration limits them):
//
//	ctx := h.Context()
//	app.Orders.Put(ctx, order)
//
// It ends with the test.
func (h *Harness) Context() context.Context {
	return pipeline.WithEnv(h.baseContext(), h.Env)
}

func (h *Harness) baseContext() context.Context {
	if h.t != nil {
		return h.t.Context()
	}
	return context.Background()
}

// Invoke runs the stage on payload in-process, as Lambda would, and
// returns what it reported: the trigger's filter applied first (unless
// SkipFilters), then the stage's handler with its declared accesses
// enforced (unless SkipAccessChecks).
func (h *Harness) Invoke(s *pipeline.Stage, payload []byte) Result {
	if h.t != nil {
		h.t.Helper()
	}
	if s.App() != h.app {
		err := fmt.Errorf("pipelinetest: stage %s belongs to app %s, not to the harness's app %s", s.Name(), s.App().Name(), h.app.Name())
		if h.t == nil {
			panic(err)
		}
		h.t.Fatal(err)
	}
	var r Result
	if !h.noFilter {
		var err error
		if payload, r.Filtered, err = filter(s, payload); err != nil {
			r.Err = err
			return r
		}
		if payload == nil {
			return r
		}
	}
	r.Invoked = true
	resp, err := plumbing.Invoke(h.baseContext(), s, h.Env, payload)
	r.Err, r.Response = err, resp
	if s.StreamTrigger() != nil && err == nil {
		var br events.DynamoDBTimeWindowEventResponse
		if jerr := json.Unmarshal(resp, &br); jerr == nil {
			for _, f := range br.BatchItemFailures {
				r.Failed = append(r.Failed, f.ItemIdentifier)
			}
			r.State = br.State
		}
	}
	return r
}

// filter removes from payload the records the stage's trigger does not
// take, returning the rest (nil when none is left) and what it removed.
// Stream records go through the evaluator of the local engine
// (triggers.StreamTrigger.Matches); S3 records through the trigger's
// events, prefix and suffix, as S3 matches notifications.
func filter(s *pipeline.Stage, payload []byte) ([]byte, []string, error) {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(payload, &ev); err != nil {
		return payload, nil, nil // the stage reports an unreadable payload itself
	}
	var records []json.RawMessage
	if raw, ok := ev["Records"]; !ok || json.Unmarshal(raw, &records) != nil || len(records) == 0 {
		return payload, nil, nil
	}
	var keep []json.RawMessage
	var filtered []string
	for i, rec := range records {
		ok, id, err := takes(s, rec)
		if err != nil {
			return nil, nil, fmt.Errorf("pipelinetest: stage %s: record %d: %w", s.Name(), i, err)
		}
		if ok {
			keep = append(keep, rec)
		} else {
			filtered = append(filtered, id)
		}
	}
	if len(filtered) == 0 {
		return payload, nil, nil
	}
	if len(keep) == 0 {
		return nil, filtered, nil
	}
	ev["Records"], _ = json.Marshal(keep)
	out, err := json.Marshal(ev)
	return out, filtered, err
}

func takes(s *pipeline.Stage, rec json.RawMessage) (bool, string, error) {
	if t := s.StreamTrigger(); t != nil {
		var r struct {
			Dynamodb struct{ SequenceNumber string }
		}
		json.Unmarshal(rec, &r)
		ok, err := t.Matches(rec)
		return ok, r.Dynamodb.SequenceNumber, err
	}
	t := s.ObjectTrigger()
	var r events.S3EventRecord
	if err := json.Unmarshal(rec, &r); err != nil {
		return false, "", err
	}
	key := r.S3.Object.URLDecodedKey
	if key == "" {
		key = r.S3.Object.Key
	}
	return t.Matches(r.EventName, key), key, nil
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
