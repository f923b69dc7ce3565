package pipelinetest

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/pipeline"
)

// Result is what a stage returned for one invocation.
type Result struct {
	// Failed lists the sequence numbers a stream stage reported in
	// batchItemFailures: the records Lambda would retry.
	Failed []string
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

// Unreachable is the endpoint NewEnv uses when none is given: stage code
// that calls AWS fails at once instead of reaching a real account.
const Unreachable = "http://127.0.0.1:1"

// NewEnv returns an Env for invoking stages outside Lambda: declared
// resource names, region us-east-1, static test credentials, and clients
// sent to endpoint (a local environment's, for example) with path-style S3
// addressing and no retries. An empty endpoint means Unreachable.
func NewEnv(endpoint string) *pipeline.Env {
	if endpoint == "" {
		endpoint = Unreachable
	}
	return &pipeline.Env{
		AWS: aws.Config{
			Region:           Region,
			Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
			RetryMaxAttempts: 1,
		},
		S3Options: func(*pipeline.Stage) []func(*s3.Options) {
			return []func(*s3.Options){func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint); o.UsePathStyle = true }}
		},
		DynamoDBOptions: func(*pipeline.Stage) []func(*dynamodb.Options) {
			return []func(*dynamodb.Options){func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) }}
		},
		Logger: slog.New(slog.DiscardHandler),
	}
}

// Invoke runs the stage on payload in-process, as Lambda would, and
// returns what it reported.
func Invoke(ctx context.Context, s *pipeline.Stage, env *pipeline.Env, payload []byte) Result {
	resp, err := s.Invoke(ctx, env, payload)
	r := Result{Err: err, Response: resp}
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

// Harness invokes stages of an app in a test, logging the runtime's
// output to the test log.
type Harness struct {
	t   testing.TB
	Env *pipeline.Env
}

// New returns a harness whose stages reach AWS at endpoint (empty for
// none): see NewEnv. The app's declaration must be valid.
func New(t testing.TB, app *pipeline.App, endpoint string) *Harness {
	t.Helper()
	if err := app.Validate(); err != nil {
		t.Fatalf("pipelinetest: app %s: %v", app.Name(), err)
	}
	env := NewEnv(endpoint)
	env.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &Harness{t: t, Env: env}
}

// Invoke runs the stage on payload.
func (h *Harness) Invoke(s *pipeline.Stage, payload []byte) Result {
	h.t.Helper()
	return Invoke(h.t.Context(), s, h.Env, payload)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
