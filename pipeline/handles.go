package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var (
	fallbackOnce sync.Once
	fallbackEnv  *Env
)

// envFrom returns the Env of the running stage, or, outside a stage, one
// built once from the default AWS configuration with declared names.
func envFrom(ctx context.Context) (*Env, *Stage) {
	if inv := invocationFrom(ctx); inv != nil {
		return inv.env, inv.stage
	}
	fallbackOnce.Do(func() {
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			cfg = aws.Config{}
		}
		fallbackEnv = &Env{AWS: cfg}
	})
	return fallbackEnv, nil
}

// PhysicalName returns the bucket's name where the stage runs: the
// deployed name in Lambda, the declared name locally.
func (b *Bucket) PhysicalName(ctx context.Context) string {
	env, _ := envFrom(ctx)
	return env.bucketName(b)
}

// S3 returns the S3 client of the running stage, made once per stage at
// first use and shared by its invocations.
func (b *Bucket) S3(ctx context.Context) *s3.Client {
	env, st := envFrom(ctx)
	return env.clientsFor(st).s3
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
		return nil, fmt.Errorf("pipeline: read s3://%s/%s: %w", b.PhysicalName(ctx), key, err)
	}
	return data, nil
}

// Open streams an object; the caller closes it.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := invocationEnded(ctx); err != nil {
		return nil, err
	}
	name := b.PhysicalName(ctx)
	out, err := b.S3(ctx).GetObject(ctx, &s3.GetObjectInput{Bucket: &name, Key: &key})
	if err != nil {
		return nil, fmt.Errorf("pipeline: get s3://%s/%s: %w", name, key, err)
	}
	return out.Body, nil
}

// Put writes an object; contentType may be empty.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if err := invocationEnded(ctx); err != nil {
		return err
	}
	name := b.PhysicalName(ctx)
	in := &s3.PutObjectInput{Bucket: &name, Key: &key, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}
	if contentType != "" {
		in.ContentType = &contentType
	}
	if _, err := b.S3(ctx).PutObject(ctx, in); err != nil {
		return fmt.Errorf("pipeline: put s3://%s/%s: %w", name, key, err)
	}
	return nil
}

// Delete removes an object (a delete marker on versioned buckets).
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := invocationEnded(ctx); err != nil {
		return err
	}
	name := b.PhysicalName(ctx)
	if _, err := b.S3(ctx).DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &name, Key: &key}); err != nil {
		return fmt.Errorf("pipeline: delete s3://%s/%s: %w", name, key, err)
	}
	return nil
}

// PhysicalName returns the table's name where the stage runs.
func (t *Table) PhysicalName(ctx context.Context) string {
	env, _ := envFrom(ctx)
	return env.tableName(t)
}

// DynamoDB returns the DynamoDB client of the running stage.
func (t *Table) DynamoDB(ctx context.Context) *dynamodb.Client {
	env, st := envFrom(ctx)
	return env.clientsFor(st).ddb
}

// Put writes an item, marshalled with attributevalue.MarshalMap
// (`dynamodbav` tags).
func (t *Table) Put(ctx context.Context, item any) error {
	if err := invocationEnded(ctx); err != nil {
		return err
	}
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return fmt.Errorf("pipeline: put into table %s: marshal %T: %w", t.name, item, err)
	}
	name := t.PhysicalName(ctx)
	if _, err := t.DynamoDB(ctx).PutItem(ctx, &dynamodb.PutItemInput{TableName: &name, Item: av}); err != nil {
		return fmt.Errorf("pipeline: put into table %s: %w", name, err)
	}
	return nil
}

// ErrNotFound is returned by Table.Get when no item has the key.
var ErrNotFound = errors.New("pipeline: item not found")

// Get reads the item with the given key (a struct or map holding the key
// attributes) into out. It returns ErrNotFound when there is none.
func (t *Table) Get(ctx context.Context, key, out any) error {
	if err := invocationEnded(ctx); err != nil {
		return err
	}
	k, err := attributevalue.MarshalMap(key)
	if err != nil {
		return fmt.Errorf("pipeline: get from table %s: marshal key %T: %w", t.name, key, err)
	}
	name := t.PhysicalName(ctx)
	res, err := t.DynamoDB(ctx).GetItem(ctx, &dynamodb.GetItemInput{TableName: &name, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("pipeline: get from table %s: %w", name, err)
	}
	if res.Item == nil {
		return ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return fmt.Errorf("pipeline: get from table %s: unmarshal into %T: %w", name, out, err)
	}
	return nil
}

// Delete removes the item with the given key.
func (t *Table) Delete(ctx context.Context, key any) error {
	if err := invocationEnded(ctx); err != nil {
		return err
	}
	k, err := attributevalue.MarshalMap(key)
	if err != nil {
		return fmt.Errorf("pipeline: delete from table %s: marshal key %T: %w", t.name, key, err)
	}
	name := t.PhysicalName(ctx)
	if _, err := t.DynamoDB(ctx).DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &name, Key: k}); err != nil {
		return fmt.Errorf("pipeline: delete from table %s: %w", name, err)
	}
	return nil
}
