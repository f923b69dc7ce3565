package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/internal/s3event"
)

// invoke runs the stage on one Lambda payload against env, as the Lambda
// runtime does: for a stream stage the result is the partial batch
// response JSON; for an S3 stage it is "null", and a failed object makes
// the error non-nil. Local environments and test harnesses call it
// through plumbing.Invoke.
func (s *Stage) invoke(ctx context.Context, env *Env, payload []byte) ([]byte, error) {
	if env == nil {
		return nil, fmt.Errorf("pipeline: stage %s: Invoke needs an Env", s.name)
	}
	inv := &invocation{env: env, stage: s}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		inv.requestID = lc.AwsRequestID
	}
	inv.log = env.logger().With(slog.String("app", s.app.name), slog.String("stage", s.name), slog.String("request_id", inv.requestID))
	ctx = context.WithValue(ctx, ctxKey{}, inv)
	// At the deadline (or when the caller stops the invocation) the
	// invocation ends: Lambda stops the function there. Code that goes on
	// anyway, ignoring ctx, has its later handle calls refused.
	end := &ending{}
	ctx = context.WithValue(ctx, endingKey{}, end)
	stop := context.AfterFunc(ctx, func() { end.set(s, inv.requestID, ctx) })
	defer stop()
	inv.metrics = startMetrics(env)
	resp, err := s.h.invoke(ctx, inv, payload)
	// An invocation that ended at its deadline (or was stopped) writes no
	// metric line: Lambda stops the function there, before the runtime
	// could.
	if ctx.Err() == nil && invocationEnded(ctx) == nil {
		inv.emitMetrics()
	}
	return resp, err
}

type endingKey struct{}

// ending holds why an invocation ended before its stage returned.
type ending struct {
	mu  sync.Mutex
	err error
}

func (e *ending) set(s *Stage, requestID string, ctx context.Context) {
	why := "was stopped"
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		why = fmt.Sprintf("timed out (the stage's timeout is %s)", s.Function().Timeout)
	} else if cause := context.Cause(ctx); cause != nil && cause != context.Canceled {
		why = "ended: " + cause.Error()
	}
	e.mu.Lock()
	e.err = fmt.Errorf("pipeline: stage %s: invocation %s %s; Lambda stops a function there, so this call is refused", s.name, requestID, why)
	e.mu.Unlock()
}

// invocationEnded returns the error refusing a handle call made after the
// invocation of ctx ended (timed out), even through a context that is not
// cancelled (context.WithoutCancel), or nil.
func invocationEnded(ctx context.Context) error {
	e, _ := ctx.Value(endingKey{}).(*ending)
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
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

// Invoke routes a payload to the stage it is for. A function with one
// stage goes through the same checks as a group: what no stage's trigger
// takes is an error, so it is retried and ends at the on-failure
// destination instead of being acknowledged unprocessed.
func (r *router) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	p, err := peek(payload)
	if err != nil {
		return nil, err
	}
	switch {
	case p.isS3:
		return r.routeS3(ctx, payload)
	case p.arn != "":
		if err := p.checkStream(); err != nil {
			return nil, err
		}
		table := tableFromStreamARN(p.arn)
		for _, s := range r.stages {
			if t := s.Table(); t != nil && (r.env.Streams[t.name] == p.arn || r.env.tableName(t) == table) {
				return s.invoke(ctx, r.env, payload)
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
	if len(errs) == 0 && len(order) == 1 {
		// The whole event is for one stage: it gets the payload as sent.
		_, err := order[0].invoke(ctx, r.env, payload)
		return []byte("null"), err
	}
	for _, s := range order {
		sub, _ := json.Marshal(map[string][]json.RawMessage{"Records": per[s]})
		if _, err := s.invoke(ctx, r.env, sub); err != nil {
			errs = append(errs, err)
		}
	}
	return []byte("null"), errors.Join(errs...)
}

// peeked is what routing reads of a payload: where its records come from.
type peeked struct {
	isS3    bool
	arn     string
	records []recordHead
}

// recordHead is the routing view of one record.
type recordHead struct {
	EventSource    string    `json:"eventSource"`
	EventName      string    `json:"eventName"`
	EventSourceARN string    `json:"eventSourceARN"`
	DynamoDB       *struct{} `json:"dynamodb"`
}

// peek reads the records' sources and the stream ARN, which an empty
// tumbling-window invocation carries at the top level, before or after
// its empty Records array.
func peek(payload []byte) (peeked, error) {
	var top struct {
		Records        *[]recordHead `json:"Records"`
		EventSourceARN string        `json:"eventSourceARN"`
	}
	var p peeked
	if err := json.Unmarshal(payload, &top); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "Records" {
			return p, fmt.Errorf("pipeline: payload Records is not an array")
		}
		return p, fmt.Errorf("pipeline: payload is not a JSON object: %w", err)
	}
	if top.Records != nil {
		p.records = *top.Records
	}
	p.arn = top.EventSourceARN
	if len(p.records) > 0 {
		first := p.records[0]
		p.isS3 = first.EventSource == "aws:s3"
		if first.EventSourceARN != "" {
			p.arn = first.EventSourceARN
		}
	}
	return p, nil
}

// checkStream checks that every record of a stream batch is a change of
// the same stream, as Lambda's event source mapping sends them.
func (p peeked) checkStream() error {
	for i, rec := range p.records {
		switch {
		case rec.EventSource != "aws:dynamodb":
			return fmt.Errorf("pipeline: stream batch record %d has eventSource %q, want aws:dynamodb", i, rec.EventSource)
		case rec.EventSourceARN != p.arn:
			return fmt.Errorf("pipeline: stream batch record %d comes from %q, the batch from %q", i, rec.EventSourceARN, p.arn)
		case rec.DynamoDB == nil:
			return fmt.Errorf("pipeline: stream batch record %d has no dynamodb member", i)
		}
		switch rec.EventName {
		case "INSERT", "MODIFY", "REMOVE":
		default:
			return fmt.Errorf("pipeline: stream batch record %d has eventName %q, want INSERT, MODIFY or REMOVE", i, rec.EventName)
		}
	}
	return nil
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
