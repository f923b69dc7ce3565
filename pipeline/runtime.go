package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/internal/s3event"
)

// Invoke runs the stage on one Lambda payload against env, as the Lambda
// runtime does: for a stream stage the result is the partial batch
// response JSON; for an S3 stage it is "null", and a failed object makes
// the error non-nil. Local environments and test harnesses call it.
func (s *Stage) Invoke(ctx context.Context, env *Env, payload []byte) ([]byte, error) {
	if env == nil {
		return nil, fmt.Errorf("pipeline: stage %s: Invoke needs an Env", s.name)
	}
	inv := &invocation{env: env, stage: s}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		inv.requestID = lc.AwsRequestID
	}
	inv.log = env.logger().With(slog.String("app", s.app.name), slog.String("stage", s.name), slog.String("request_id", inv.requestID))
	ctx = context.WithValue(ctx, ctxKey{}, inv)
	inv.metrics = startMetrics(env)
	resp, err := s.h.invoke(ctx, inv, payload)
	inv.emitMetrics()
	return resp, err
}

// handler returns the Lambda handler of a function serving the given
// stages: a payload goes to the one stage whose trigger it comes from (S3
// records by bucket, event type and key filters; stream batches by the
// table of their event source ARN).
func (a *App) handler(env *Env, stages []*Stage) (lambda.Handler, error) {
	if len(stages) == 0 {
		return nil, errors.New("pipeline: a handler needs at least one stage")
	}
	return &router{app: a, env: env, stages: stages}, nil
}

type router struct {
	app    *App
	env    *Env
	stages []*Stage
}

func (r *router) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if len(r.stages) == 1 {
		return r.stages[0].Invoke(ctx, r.env, payload)
	}
	p, err := peek(payload)
	if err != nil {
		return nil, err
	}
	switch {
	case p.isS3:
		return r.routeS3(ctx, payload)
	case p.arn != "":
		table := tableFromStreamARN(p.arn)
		for _, s := range r.stages {
			if t := s.Table(); t != nil && (r.env.Streams[t.name] == p.arn || r.env.tableName(t) == table) {
				return s.Invoke(ctx, r.env, payload)
			}
		}
		return nil, fmt.Errorf("pipeline: no stage of %s is triggered by stream %s (table %q): the function's %s does not match its event source mappings; redeploy", strings.Join(stageNames(r.stages), ","), p.arn, table, contract.Stages)
	}
	return nil, fmt.Errorf("pipeline: payload is neither an S3 notification nor a DynamoDB stream batch (stages %s)", strings.Join(stageNames(r.stages), ","))
}

// routeS3 hands every record of an S3 event to the stage whose trigger it
// matches. A record no stage claims is an error, so it is retried and ends
// at the on-failure destination instead of vanishing.
func (r *router) routeS3(ctx context.Context, payload []byte) ([]byte, error) {
	records, err := s3event.Split(payload)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	per := map[*Stage][]json.RawMessage{}
	var order []*Stage
	var errs []error
	for i, raw := range records {
		o, err := s3event.Decode(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("pipeline: S3 event record %d: %w", i, err))
			continue
		}
		var match *Stage
		for _, s := range r.stages {
			if b := s.Bucket(); b != nil && r.env.bucketName(b) == o.Bucket && s.object.Matches(o.Event, o.Key) {
				match = s
				break
			}
		}
		if match == nil {
			errs = append(errs, fmt.Errorf("pipeline: no stage of %s takes %s s3://%s/%s", strings.Join(stageNames(r.stages), ","), o.Event, o.Bucket, o.Key))
			continue
		}
		if per[match] == nil {
			order = append(order, match)
		}
		per[match] = append(per[match], raw)
	}
	for _, s := range order {
		sub, _ := json.Marshal(map[string][]json.RawMessage{"Records": per[s]})
		if _, err := s.Invoke(ctx, r.env, sub); err != nil {
			errs = append(errs, err)
		}
	}
	return []byte("null"), errors.Join(errs...)
}

type peeked struct {
	isS3 bool
	arn  string
}

// peek reads just enough of a payload to route it: the event source of the
// first record and the stream ARN (also present on empty tumbling-window
// invocations).
func peek(payload []byte) (peeked, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	var p peeked
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return p, fmt.Errorf("pipeline: payload is not a JSON object")
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return p, fmt.Errorf("pipeline: read payload: %w", err)
		}
		key, _ := kt.(string)
		switch key {
		case "eventSourceARN":
			if err := dec.Decode(&p.arn); err != nil {
				return p, fmt.Errorf("pipeline: read payload: %w", err)
			}
		case "Records":
			if t, err := dec.Token(); err != nil || t != json.Delim('[') {
				return p, fmt.Errorf("pipeline: payload Records is not an array")
			}
			if !dec.More() {
				return p, nil
			}
			var first struct {
				EventSource    string `json:"eventSource"`
				EventSourceARN string `json:"eventSourceARN"`
			}
			if err := dec.Decode(&first); err != nil {
				return p, fmt.Errorf("pipeline: read payload record: %w", err)
			}
			p.isS3 = first.EventSource == "aws:s3"
			if first.EventSourceARN != "" {
				p.arn = first.EventSourceARN
			}
			return p, nil
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return p, fmt.Errorf("pipeline: read payload: %w", err)
			}
		}
	}
	return p, nil
}

// tableFromStreamARN returns NAME of arn:aws:dynamodb:R:A:table/NAME/stream/LABEL.
func tableFromStreamARN(arn string) string {
	i := strings.Index(arn, ":table/")
	if i < 0 {
		return ""
	}
	rest := arn[i+len(":table/"):]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

var (
	loggerOnce sync.Once
	stdLogger  *slog.Logger
)

func defaultLogger() *slog.Logger {
	loggerOnce.Do(func() {
		level := slog.LevelInfo
		switch strings.ToLower(os.Getenv(contract.LogLevel)) {
		case "debug":
			level = slog.LevelDebug
		case "warn", "warning":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		}
		stdLogger = slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
	})
	return stdLogger
}

// Main is the entry point of the app's Lambda binary:
//
//	func main() { photos.App.Main() }
//
// It validates the declaration, and in Lambda (AWS_LAMBDA_RUNTIME_API set)
// serves the stages named by the function's environment, with AWS clients
// made once per cold start. Outside Lambda it explains how to run the app
// and exits with status 2.
func (a *App) Main() {
	if err := a.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "nanopipe: app %q is misdeclared:\n%v\n", a.name, err)
		os.Exit(2)
	}
	if os.Getenv(contract.Describe) != "" {
		os.Stdout.Write(a.Describe())
		os.Exit(0)
	}
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		fmt.Fprintf(os.Stderr, "nanopipe: app %q (%d stages) is a Lambda binary: it serves stages when AWS_LAMBDA_RUNTIME_API is set.\n"+
			"Deploy it with the cdk package, run it locally with the nanopipe local environment, or test stages with pipelinetest.\n", a.name, len(a.stages))
		os.Exit(2)
	}
	ctx := context.Background()
	h, err := a.lambdaHandler(ctx)
	if err != nil {
		// An init failure: Lambda reports it and retries the cold start.
		defaultLogger().Error("init failed", slog.String("app", a.name), slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h)
}

func (a *App) lambdaHandler(ctx context.Context) (lambda.Handler, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("pipeline: load AWS configuration: %w", err)
	}
	env, stages, err := envFromEnviron(a, os.Getenv, cfg)
	if err != nil {
		return nil, err
	}
	env.Metrics = metricsOutput(os.Getenv)
	// Build the clients during init, which Lambda runs before the first
	// invocation's clock starts.
	for _, s := range stages {
		env.clientsFor(s)
	}
	return a.handler(env, stages)
}
