package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// ErrNoEnv is the error of a bucket or table handle used with a context
// that is neither a running stage's nor bound to an Env with WithEnv. Such
// a handle never falls back to the default AWS configuration: a test
// seeding data, or a goroutine started with context.Background(), must not
// reach a real account, or probe the EC2 metadata service, by accident.
var ErrNoEnv = errors.New("pipeline: handle used outside a stage")

// WithEnv binds ctx to env, for using bucket and table handles outside a
// stage: a test's seeding and assertions (pipelinetest's Harness.Context
// does it), or a script that deliberately reaches AWS:
//
//	cfg, err := config.LoadDefaultConfig(ctx)
//	...
//	ctx = pipeline.WithEnv(ctx, &pipeline.Env{AWS: cfg, Tables: map[string]string{"orders": "prod-orders-1A2B"}})
//	err = app.Orders.Put(ctx, order)
//
// The handles of a running stage always use the stage's own Env.
func WithEnv(ctx context.Context, env *Env) context.Context {
	return context.WithValue(ctx, boundEnvKey{}, env)
}

type boundEnvKey struct{}

// envFrom returns the Env of the running stage, or the Env ctx is bound
// to with no stage; outside both, an error naming the fix.
func envFrom(ctx context.Context, what string) (*Env, *Stage, error) {
	if err := invocationEnded(ctx); err != nil {
		return nil, nil, err
	}
	if inv := invocationFrom(ctx); inv != nil {
		return inv.env, inv.stage, nil
	}
	if env, ok := ctx.Value(boundEnvKey{}).(*Env); ok && env != nil {
		return env, nil, nil
	}
	return nil, nil, fmt.Errorf("%w: %s reaches AWS only with the context of a running stage; in a test use the harness's context (pipelinetest's h.Context()), and to reach AWS from a script bind the context deliberately with pipeline.WithEnv(ctx, &pipeline.Env{AWS: cfg})", ErrNoEnv, what)
}

// refusing returns an API option that fails every operation with err
// before anything is resolved, signed or sent.
func refusing(err error) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("nanopipe.NoEnv",
			func(context.Context, middleware.InitializeInput, middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				return middleware.InitializeOutput{}, middleware.Metadata{}, err
			}), middleware.Before)
	}
}

// PhysicalName returns the bucket's name where the stage runs: the
// deployed name in Lambda, the local one locally. Outside a stage (and a
// context bound with WithEnv) it panics with the error naming the fix.
func (b *Bucket) PhysicalName(ctx context.Context) string {
	env, _, err := envFrom(ctx, "bucket "+b.name)
	if err != nil {
		panic(err)
	}
	return env.bucketName(b)
}

// S3 returns the S3 client of the running stage, made once per stage at
// first use and shared by its invocations. Outside a stage (and a context
// bound with WithEnv), every call of the client fails with ErrNoEnv
// without sending anything.
func (b *Bucket) S3(ctx context.Context) *s3.Client {
	env, st, err := envFrom(ctx, "bucket "+b.name)
	if err != nil {
		return s3.New(s3.Options{Region: "us-east-1", APIOptions: []func(*middleware.Stack) error{refusing(err)}})
	}
	return env.clientsFor(st).s3
}

func (b *Bucket) resolve(ctx context.Context) (string, *s3.Client, error) {
	env, st, err := envFrom(ctx, "bucket "+b.name)
	if err != nil {
		return "", nil, err
	}
	return env.bucketName(b), env.clientsFor(st).s3, nil
}

// Get reads a whole object.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("pipeline: read object %q of bucket %s: %w", key, b.name, err)
	}
	return data, nil
}

// Open streams an object; the caller closes it.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	name, c, err := b.resolve(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &name, Key: &key})
	if err != nil {
		return nil, fmt.Errorf("pipeline: get s3://%s/%s: %w", name, key, err)
	}
	return out.Body, nil
}

// PutOption sets a property of an object Bucket.Put writes.
type PutOption func(*s3.PutObjectInput)

// ContentType sets the object's Content-Type.
func ContentType(t string) PutOption {
	return func(in *s3.PutObjectInput) { in.ContentType = aws.String(t) }
}

// Metadata adds user metadata (x-amz-meta-*) to the object.
func Metadata(m map[string]string) PutOption {
	return func(in *s3.PutObjectInput) {
		if in.Metadata == nil {
			in.Metadata = map[string]string{}
		}
		for k, v := range m {
			in.Metadata[k] = v
		}
	}
}

// Put writes an object:
//
//	uploads.Put(ctx, "thumbs/a.png", png, pipeline.ContentType("image/png"))
func (b *Bucket) Put(ctx context.Context, key string, data []byte, opts ...PutOption) error {
	name, c, err := b.resolve(ctx)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: &name, Key: &key, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}
	for _, o := range opts {
		o(in)
	}
	if _, err := c.PutObject(ctx, in); err != nil {
		return fmt.Errorf("pipeline: put s3://%s/%s: %w", name, key, err)
	}
	return nil
}

// Delete removes an object (a delete marker on versioned buckets).
func (b *Bucket) Delete(ctx context.Context, key string) error {
	name, c, err := b.resolve(ctx)
	if err != nil {
		return err
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &name, Key: &key}); err != nil {
		return fmt.Errorf("pipeline: delete s3://%s/%s: %w", name, key, err)
	}
	return nil
}

// PhysicalName returns the table's name where the stage runs. Outside a
// stage (and a context bound with WithEnv) it panics with the error naming
// the fix.
func (t *Table) PhysicalName(ctx context.Context) string {
	env, _, err := envFrom(ctx, "table "+t.name)
	if err != nil {
		panic(err)
	}
	return env.tableName(t)
}

// DynamoDB returns the DynamoDB client of the running stage. Outside a
// stage (and a context bound with WithEnv), every call of the client fails
// with ErrNoEnv without sending anything.
func (t *Table) DynamoDB(ctx context.Context) *dynamodb.Client {
	env, st, err := envFrom(ctx, "table "+t.name)
	if err != nil {
		return dynamodb.New(dynamodb.Options{Region: "us-east-1", APIOptions: []func(*middleware.Stack) error{refusing(err)}})
	}
	return env.clientsFor(st).ddb
}

func (t *Table) resolve(ctx context.Context) (string, *dynamodb.Client, error) {
	env, st, err := envFrom(ctx, "table "+t.name)
	if err != nil {
		return "", nil, err
	}
	return env.tableName(t), env.clientsFor(st).ddb, nil
}
