package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/internal/contract"
)

// Env is what stages run against: the physical names of the app's
// resources and the AWS configuration their clients are built from. The
// Lambda runtime builds one at cold start from the environment contract;
// the local environment and test harnesses build their own.
//
// An Env is safe for concurrent use once built; its clients are made once
// per stage, on first use, and reused.
type Env struct {
	// Buckets, Tables and Streams map declared names to physical names and
	// stream ARNs. A declared name missing from the map is used as is.
	Buckets map[string]string
	Tables  map[string]string
	Streams map[string]string
	// AWS is the configuration clients are built from.
	AWS aws.Config
	// S3Options and DynamoDBOptions, when set, return options for the
	// clients of one stage: the local environment points them at its
	// endpoint and enforces the stage's declared accesses with them.
	S3Options       func(*Stage) []func(*s3.Options)
	DynamoDBOptions func(*Stage) []func(*dynamodb.Options)
	// Logger receives the runtime's logs; nil logs JSON to standard output.
	Logger *slog.Logger
	// Metrics receives each invocation's metric lines (see Metric); nil
	// emits none. The Lambda runtime writes them to standard output.
	Metrics io.Writer

	clients sync.Map // *Stage -> *stageClients
}

type stageClients struct {
	once sync.Once
	s3   *s3.Client
	ddb  *dynamodb.Client
}

func (e *Env) clientsFor(s *Stage) *stageClients {
	v, _ := e.clients.LoadOrStore(s, &stageClients{})
	c := v.(*stageClients)
	c.once.Do(func() {
		var so []func(*s3.Options)
		var do []func(*dynamodb.Options)
		if e.S3Options != nil {
			so = e.S3Options(s)
		}
		if e.DynamoDBOptions != nil {
			do = e.DynamoDBOptions(s)
		}
		c.s3 = s3.NewFromConfig(e.AWS, so...)
		c.ddb = dynamodb.NewFromConfig(e.AWS, do...)
	})
	return c
}

func (e *Env) bucketName(b *Bucket) string {
	if n, ok := e.Buckets[b.name]; ok && n != "" {
		return n
	}
	return b.name
}

func (e *Env) tableName(t *Table) string {
	if n, ok := e.Tables[t.name]; ok && n != "" {
		return n
	}
	return t.name
}

func (e *Env) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return defaultLogger()
}

// envFromEnviron builds the Env of a function from the environment
// contract (package internal/contract), returning the stages it serves. Every resource
// those stages touch must be named; a missing variable is a deployment
// error and is reported by name.
func envFromEnviron(app *App, getenv func(string) string, cfg aws.Config) (*Env, []*Stage, error) {
	if got := getenv(contract.App); got != "" && got != app.name {
		return nil, nil, fmt.Errorf("pipeline: %s is %q but this binary declares app %q: the function runs another app's binary; redeploy", contract.App, got, app.name)
	}
	list := getenv(contract.Stages)
	if list == "" {
		return nil, nil, fmt.Errorf("pipeline: %s is not set: the function does not say which stages it serves; deploy with the nanopipe cdk construct or set it to stage names of app %q (%s)", contract.Stages, app.name, strings.Join(stageNames(app.stages), ", "))
	}
	var stages []*Stage
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		s := app.StageNamed(n)
		if s == nil {
			return nil, nil, fmt.Errorf("pipeline: %s names stage %q, which app %q does not declare (it has %s); redeploy after renaming stages", contract.Stages, n, app.name, strings.Join(stageNames(app.stages), ", "))
		}
		stages = append(stages, s)
	}
	env := &Env{Buckets: map[string]string{}, Tables: map[string]string{}, Streams: map[string]string{}, AWS: cfg}
	if getenv(contract.Tracing) != "" {
		env.AWS = traced(cfg, getenv("AWS_XRAY_DAEMON_ADDRESS"))
	}
	var missing []string
	bs, ts := resources(stages)
	for _, b := range bs {
		if v := getenv(contract.BucketVar(b.name)); v != "" {
			env.Buckets[b.name] = v
		} else {
			missing = append(missing, contract.BucketVar(b.name))
		}
	}
	for _, t := range ts {
		if v := getenv(contract.TableVar(t.name)); v != "" {
			env.Tables[t.name] = v
		} else {
			missing = append(missing, contract.TableVar(t.name))
		}
	}
	for _, t := range streamTables(stages) {
		if v := getenv(contract.StreamVar(t.name)); v != "" {
			env.Streams[t.name] = v
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, nil, fmt.Errorf("pipeline: the function's environment lacks %s, needed by stages %s: redeploy with the nanopipe cdk construct, which writes them", strings.Join(missing, ", "), list)
	}
	return env, stages, nil
}

func stageNames(ss []*Stage) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.name
	}
	return out
}

type ctxKey struct{}

// invocation is what a running stage's context carries.
type invocation struct {
	env       *Env
	stage     *Stage
	requestID string
	log       *slog.Logger
	metrics   *metricSet // nil: metrics off
}

func invocationFrom(ctx context.Context) *invocation {
	inv, _ := ctx.Value(ctxKey{}).(*invocation)
	return inv
}

// Logger returns the logger of the running stage, carrying the stage name,
// request id and event id, or slog's default logger outside a stage.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	if inv := invocationFrom(ctx); inv != nil {
		return inv.log
	}
	return slog.Default()
}

type loggerKey struct{}

// stageFrom returns the stage running in ctx, or nil.
func stageFrom(ctx context.Context) *Stage {
	if inv := invocationFrom(ctx); inv != nil {
		return inv.stage
	}
	return nil
}
