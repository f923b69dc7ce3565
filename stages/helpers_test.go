package stages_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
)

// env is a local environment running an app, with what its engine
// reported.
type env struct {
	*local.Environment
	t  testing.TB
	mu sync.Mutex
	ds []local.Delivery
}

// start runs app on an in-memory local environment: uploads and table
// writes fire its stages as they would in AWS.
func start(t testing.TB, app *pipeline.App) *env {
	t.Helper()
	e := &env{t: t}
	le, err := local.Start(context.Background(), app, local.Options{
		Addr:             "127.0.0.1:0",
		Shards:           1,
		AsyncRetryDelay:  5 * time.Millisecond,
		StreamRetryDelay: time.Millisecond,
		MaxRetryDelay:    20 * time.Millisecond,
		Observer: func(d local.Delivery) {
			e.mu.Lock()
			e.ds = append(e.ds, d)
			e.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Environment = le
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		le.Close(ctx)
	})
	return e
}

// idle waits until every event has been delivered and handled.
func (e *env) idle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.WaitIdle(ctx, 50*time.Millisecond); err != nil {
		e.t.Fatalf("the pipeline did not settle: %v", err)
	}
}

// failures returns the errors of failed deliveries.
func (e *env) failures() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, d := range e.ds {
		if d.Error != "" {
			out = append(out, d.Stage+": "+d.Error)
		}
	}
	return out
}

func (e *env) put(bucket, key string, body []byte) {
	e.t.Helper()
	_, err := e.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) remove(bucket, key string) {
	e.t.Helper()
	if _, err := e.S3Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		e.t.Fatal(err)
	}
}

// get returns an object's content, or nil when there is none.
func (e *env) get(bucket, key string) []byte {
	e.t.Helper()
	out, err := e.S3Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		var nsk interface{ ErrorCode() string }
		if errors.As(err, &nsk) && nsk.ErrorCode() == "NoSuchKey" {
			return nil
		}
		e.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// keys lists a bucket's keys, sorted.
func (e *env) keys(bucket string) []string {
	e.t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(e.S3Client(), &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	sort.Strings(out)
	return out
}

// scan returns every item of a table.
func (e *env) scan(table string) []map[string]types.AttributeValue {
	e.t.Helper()
	var out []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(e.DynamoDBClient(), &dynamodb.ScanInput{TableName: &table})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, page.Items...)
	}
	return out
}

func (e *env) count(table string) int {
	e.t.Helper()
	n := 0
	p := dynamodb.NewScanPaginator(e.DynamoDBClient(), &dynamodb.ScanInput{TableName: &table, Select: types.SelectCount})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		n += int(page.Count)
	}
	return n
}

func s(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}
