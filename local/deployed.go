package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/pipeline"
)

// Deployed reaches a deployed stage: its function, through Lambda's API,
// and the resources the function's environment names.
type Deployed struct {
	// Function is the name or ARN of the function serving the stage.
	Function string
	// AWS is the configuration the clients are made from (credentials,
	// region; config.LoadDefaultConfig reads the usual sources).
	AWS aws.Config
	// Endpoint, when set, sends every client there instead of AWS
	// (S3 with path-style addressing): tests and emulators.
	Endpoint string
	// Letters is the file (JSON lines) where a backfill writes the events
	// that failed every attempt: a synchronous invocation has no
	// on-failure destination. Default: next to the checkpoint.
	Letters string

	lambda  *lambda.Client
	s3      *s3.Client
	ddb     *dynamodb.Client
	streams *dynamodbstreams.Client
	sqs     *sqs.Client
	env     map[string]string
}

// LoadDeployed makes a Deployed for function with the default AWS
// configuration (environment, shared files) in region ("" keeps the
// configured one). The SDK's endpoint variables (AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_<SERVICE>) apply; endpoint overrides them all.
func LoadDeployed(ctx context.Context, function, region, endpoint string) (*Deployed, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	return &Deployed{Function: function, AWS: cfg, Endpoint: endpoint}, nil
}

func (d *Deployed) clients() {
	if d.lambda != nil {
		return
	}
	ep := d.Endpoint
	pathStyle := ep != "" || os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	d.lambda = lambda.NewFromConfig(d.AWS, func(o *lambda.Options) {
		if ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	d.s3 = s3.NewFromConfig(d.AWS, func(o *s3.Options) {
		if ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
		o.UsePathStyle = pathStyle
	})
	d.ddb = dynamodb.NewFromConfig(d.AWS, func(o *dynamodb.Options) {
		if ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	d.streams = dynamodbstreams.NewFromConfig(d.AWS, func(o *dynamodbstreams.Options) {
		if ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	d.sqs = sqs.NewFromConfig(d.AWS, func(o *sqs.Options) {
		if ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
}

// environment reads the function's configuration: the environment the
// cdk package wrote (physical names, stream ARNs), checked against the
// stage's declaration.
func (d *Deployed) environment(ctx context.Context, st *pipeline.Stage) (map[string]string, error) {
	d.clients()
	if d.env != nil {
		return d.env, nil
	}
	out, err := d.lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(d.Function)})
	if err != nil {
		return nil, fmt.Errorf("read the configuration of function %s: %w", d.Function, err)
	}
	env := map[string]string{}
	if out.Environment != nil {
		env = out.Environment.Variables
	}
	if app := env[contract.App]; app != st.App().Name() {
		return nil, fmt.Errorf("function %s runs app %q, not %q (its %s); name the function of stage %s", d.Function, app, st.App().Name(), contract.App, st.Name())
	}
	if !slices.Contains(strings.Split(env[contract.Stages], ","), st.Name()) {
		return nil, fmt.Errorf("function %s serves stages %q, not %s; name the function of stage %s", d.Function, env[contract.Stages], st.Name(), st.Name())
	}
	d.env = env
	return env, nil
}

func (d *Deployed) source(ctx context.Context, st *pipeline.Stage) (backfillSource, error) {
	env, err := d.environment(ctx, st)
	if err != nil {
		return backfillSource{}, err
	}
	src := backfillSource{s3: d.s3, ddb: d.ddb, region: d.AWS.Region}
	if b := st.Bucket(); b != nil {
		if src.bucket = env[contract.BucketVar(b.Name())]; src.bucket == "" {
			return src, fmt.Errorf("function %s has no %s: redeploy it with the nanopipe cdk construct", d.Function, contract.BucketVar(b.Name()))
		}
	}
	if t := st.Table(); t != nil {
		if src.table = env[contract.TableVar(t.Name())]; src.table == "" {
			return src, fmt.Errorf("function %s has no %s: redeploy it with the nanopipe cdk construct", d.Function, contract.TableVar(t.Name()))
		}
		src.streamARN = env[contract.StreamVar(t.Name())]
	}
	return src, nil
}

// lambdaTarget invokes the function synchronously, as a test event would,
// and writes the events that fail every attempt to a file.
type lambdaTarget struct {
	d    *Deployed
	path string
	mu   sync.Mutex
}

// FunctionError is a function's failure as Lambda's Invoke API reports
// it: the X-Amz-Function-Error kind ("Unhandled") and the error payload.
type FunctionError struct {
	// Function is the function's name or ARN.
	Function string
	// Kind is the X-Amz-Function-Error header's value.
	Kind string
	// Payload is the error payload, JSON with errorMessage and errorType.
	Payload string
}

// Error is the function's name and its error message and type, taken from
// the payload when it is Lambda's error JSON, else the raw payload.
func (e *FunctionError) Error() string {
	var p struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal([]byte(e.Payload), &p) == nil && p.ErrorMessage != "" {
		return fmt.Sprintf("function %s: %s (%s)", e.Function, p.ErrorMessage, e.Kind)
	}
	return fmt.Sprintf("function %s: %s error: %s", e.Function, e.Kind, e.Payload)
}

func (t *lambdaTarget) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := t.d.lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(t.d.Function),
		InvocationType: ltypes.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", t.d.Function, err)
	}
	if out.FunctionError != nil {
		return nil, &FunctionError{Function: t.d.Function, Kind: *out.FunctionError, Payload: string(out.Payload)}
	}
	return out.Payload, nil
}

func (t *lambdaTarget) deadLetter(l backfillLetter) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(t.path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(t.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(letterOf(l))
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

func (t *lambdaTarget) letters() string { return t.path }

// Backfill runs opts.Stage's deployed function over what exists in its
// bucket or table (see Environment.Backfill): the physical names come
// from the function's configuration, the events go through Lambda's
// Invoke API (RequestResponse), and what fails every attempt is written
// to d.Letters.
func (d *Deployed) Backfill(ctx context.Context, opts BackfillOptions) (BackfillProgress, error) {
	if opts.Stage == nil {
		return BackfillProgress{}, errors.New("backfill: no stage given")
	}
	src, err := d.source(ctx, opts.Stage)
	if err != nil {
		return BackfillProgress{}, fmt.Errorf("backfill: %w", err)
	}
	path := d.Letters
	if path == "" {
		path = "backfill-" + opts.Stage.Name() + ".deadletters.jsonl"
		if opts.Checkpoint != "" {
			path = strings.TrimSuffix(opts.Checkpoint, ".json") + ".deadletters.jsonl"
		}
	}
	return runBackfill(ctx, opts, src, &lambdaTarget{d: d, path: path})
}
