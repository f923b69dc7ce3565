package access_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/nanopipe/nanopipe/internal/access"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// The app of the tests: stage "worker" reads in/, writes out/ and only
// deletes trash/ of bucket "files"; it reads table "lookups" and writes
// table "records".
var (
	app     = pipeline.New("grants")
	files   = app.Bucket("files")
	lookups = app.Table("lookups", pipeline.PartitionKey("id", pipeline.String))
	records = app.Table("records", pipeline.PartitionKey("id", pipeline.String))
	worker  = pipeline.OnObject(app, "worker", files.Created(triggers.Prefix("in/")),
		func(context.Context, triggers.Object) error { return nil },
	).Reads(files.Keys("in/", ""), lookups).Writes(files.Keys("out/", ""), records).Deletes(files.Keys("trash/", ""))
)

type clients struct {
	s3  *s3.Client
	ddb *dynamodb.Client
}

func key(k string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: k}}
}

func table(name string) *string { return aws.String(name) }

// cases are calls of stage worker, and the declaration each refused one
// names ("" for an allowed call).
var cases = []struct {
	name string
	call func(context.Context, clients) error
	fix  string
}{
	// Allowed.
	{"get a read key", func(ctx context.Context, c clients) error {
		_, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("files"), Key: aws.String("in/a.txt")})
		return err
	}, ""},
	{"head a read key", func(ctx context.Context, c clients) error {
		_, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("files"), Key: aws.String("in/x/y.txt")})
		return err
	}, ""},
	{"put a written key", func(ctx context.Context, c clients) error {
		_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("files"), Key: aws.String("out/a.txt"), Body: strings.NewReader("x")})
		return err
	}, ""},
	{"copy read to written", func(ctx context.Context, c clients) error {
		_, err := c.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("files"), Key: aws.String("out/b.txt"), CopySource: aws.String("files/in/a%20b.txt")})
		return err
	}, ""},
	{"delete a written key", func(ctx context.Context, c clients) error {
		_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("files"), Key: aws.String("out/a.txt")})
		return err
	}, ""},
	{"delete a deleted key", func(ctx context.Context, c clients) error {
		_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("files"), Key: aws.String("trash/a.txt")})
		return err
	}, ""},
	{"delete objects written and deleted", func(ctx context.Context, c clients) error {
		_, err := c.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("files"), Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{{Key: aws.String("out/a")}, {Key: aws.String("trash/b")}}}})
		return err
	}, ""},
	{"list under a read prefix", func(ctx context.Context, c clients) error {
		_, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("files"), Prefix: aws.String("in/sub/")})
		return err
	}, ""},
	{"multipart upload and abort", func(ctx context.Context, c clients) error {
		if _, err := c.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("files"), Key: aws.String("out/big")}); err != nil && accessError(err) {
			return err
		}
		_, err := c.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("files"), Key: aws.String("out/big"), UploadId: aws.String("1")})
		return err
	}, ""},
	{"get and query a read table", func(ctx context.Context, c clients) error {
		if _, err := c.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: table("lookups"), Key: key("a")}); err != nil && accessError(err) {
			return err
		}
		_, err := c.ddb.Query(ctx, &dynamodb.QueryInput{TableName: table("lookups"), KeyConditionExpression: aws.String("id = :a")})
		return err
	}, ""},
	{"put, update, delete a written table", func(ctx context.Context, c clients) error {
		if _, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: table("records"), Item: key("a")}); err != nil && accessError(err) {
			return err
		}
		if _, err := c.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table("records"), Key: key("a")}); err != nil && accessError(err) {
			return err
		}
		_, err := c.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table("records"), Key: key("a")})
		return err
	}, ""},
	{"batch get read, batch write written", func(ctx context.Context, c clients) error {
		if _, err := c.ddb.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{"lookups": {Keys: []map[string]ddbtypes.AttributeValue{key("a")}}}}); err != nil && accessError(err) {
			return err
		}
		_, err := c.ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{"records": {{PutRequest: &ddbtypes.PutRequest{Item: key("a")}}}}})
		return err
	}, ""},
	{"transaction writing written, checking read", func(ctx context.Context, c clients) error {
		if _, err := c.ddb.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []ddbtypes.TransactGetItem{{Get: &ddbtypes.Get{TableName: table("lookups"), Key: key("a")}}}}); err != nil && accessError(err) {
			return err
		}
		_, err := c.ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
			{Put: &ddbtypes.Put{TableName: table("records"), Item: key("a")}},
			{ConditionCheck: &ddbtypes.ConditionCheck{TableName: table("lookups"), Key: key("a"), ConditionExpression: aws.String("attribute_exists(id)")}},
		}})
		return err
	}, ""},

	// Refused.
	{"put under an undeclared prefix", func(ctx context.Context, c clients) error {
		_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("files"), Key: aws.String("elsewhere/a.txt"), Body: strings.NewReader("x")})
		return err
	}, `s3:PutObject on s3://files/elsewhere/a.txt: no Reads, Writes or Deletes of the stage covers it; add .Writes(<bucket files>.Keys("elsewhere/", "")) to its declaration`},
	{"put under a read prefix", func(ctx context.Context, c clients) error {
		_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("files"), Key: aws.String("in/a.txt"), Body: strings.NewReader("x")})
		return err
	}, `add .Writes(<bucket files>.Keys("in/", ""))`},
	{"get a written key", func(ctx context.Context, c clients) error {
		_, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("files"), Key: aws.String("out/a.txt")})
		return err
	}, `s3:GetObject on s3://files/out/a.txt`},
	{"head a written key", func(ctx context.Context, c clients) error {
		_, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("files"), Key: aws.String("out/a.txt")})
		return err
	}, `add .Reads(<bucket files>.Keys("out/", ""))`},
	{"copy from an unread key", func(ctx context.Context, c clients) error {
		_, err := c.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("files"), Key: aws.String("out/b.txt"), CopySource: aws.String("files/elsewhere/a.txt")})
		return err
	}, `s3:GetObject on s3://files/elsewhere/a.txt`},
	{"delete a read key", func(ctx context.Context, c clients) error {
		_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("files"), Key: aws.String("in/a.txt")})
		return err
	}, `add .Deletes(<bucket files>.Keys("in/", ""))`},
	{"delete objects, one read only", func(ctx context.Context, c clients) error {
		_, err := c.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("files"), Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{{Key: aws.String("out/a")}, {Key: aws.String("in/b")}}}})
		return err
	}, `s3:DeleteObject on s3://files/in/b`},
	{"delete a version", func(ctx context.Context, c clients) error {
		_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("files"), Key: aws.String("out/a"), VersionId: aws.String("v1")})
		return err
	}, `s3:DeleteObjectVersion on s3://files/out/a: no Reads, Writes or Deletes grants it`},
	{"list the whole bucket", func(ctx context.Context, c clients) error {
		_, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("files")})
		return err
	}, `s3:ListBucket on s3://files (prefix ""): no Reads, Writes or Deletes of the stage covers it; add .Reads(<bucket files>.Keys("", ""))`},
	{"list a written prefix", func(ctx context.Context, c clients) error {
		_, err := c.s3.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("files"), Prefix: aws.String("out/")})
		return err
	}, `add .Reads(<bucket files>.Keys("out/", ""))`},
	{"head the bucket", func(ctx context.Context, c clients) error {
		_, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("files")})
		return err
	}, `s3:ListBucket on s3://files (prefix "")`},
	{"get from an undeclared bucket", func(ctx context.Context, c clients) error {
		_, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("other"), Key: aws.String("a")})
		return err
	}, `add the bucket (App.ExistingBucket("other")) and a Reads or Writes of it`},
	{"list buckets", func(ctx context.Context, c clients) error {
		_, err := c.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	}, `s3:ListAllMyBuckets: no Reads, Writes or Deletes grants it`},
	{"put into a read table", func(ctx context.Context, c clients) error {
		_, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: table("lookups"), Item: key("a")})
		return err
	}, `dynamodb:PutItem on table lookups: no Reads, Writes or Deletes of the stage covers it; add .Writes(<table lookups>) to its declaration`},
	{"get from a written table", func(ctx context.Context, c clients) error {
		_, err := c.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: table("records"), Key: key("a")})
		return err
	}, `add .Reads(<table records>)`},
	{"scan a written table", func(ctx context.Context, c clients) error {
		_, err := c.ddb.Scan(ctx, &dynamodb.ScanInput{TableName: table("records")})
		return err
	}, `dynamodb:Scan on table records`},
	{"batch write into a read table", func(ctx context.Context, c clients) error {
		_, err := c.ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{
			"records": {{PutRequest: &ddbtypes.PutRequest{Item: key("a")}}},
			"lookups": {{DeleteRequest: &ddbtypes.DeleteRequest{Key: key("a")}}},
		}})
		return err
	}, `dynamodb:BatchWriteItem on table lookups`},
	{"batch get from a written table", func(ctx context.Context, c clients) error {
		_, err := c.ddb.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{"records": {Keys: []map[string]ddbtypes.AttributeValue{key("a")}}}})
		return err
	}, `dynamodb:BatchGetItem on table records`},
	{"transaction updating a read table", func(ctx context.Context, c clients) error {
		_, err := c.ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
			{Put: &ddbtypes.Put{TableName: table("records"), Item: key("a")}},
			{Update: &ddbtypes.Update{TableName: table("lookups"), Key: key("a"), UpdateExpression: aws.String("SET n = :n")}},
		}})
		return err
	}, `dynamodb:UpdateItem on table lookups`},
	{"transaction reading a written table", func(ctx context.Context, c clients) error {
		_, err := c.ddb.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []ddbtypes.TransactGetItem{{Get: &ddbtypes.Get{TableName: table("records"), Key: key("a")}}}})
		return err
	}, `dynamodb:GetItem on table records`},
	{"query an undeclared table", func(ctx context.Context, c clients) error {
		_, err := c.ddb.Query(ctx, &dynamodb.QueryInput{TableName: table("nope")})
		return err
	}, `App.ExistingTable("nope", ...)`},
	{"list tables", func(ctx context.Context, c clients) error {
		_, err := c.ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
		return err
	}, `dynamodb:ListTables: no Reads, Writes or Deletes grants it`},
	{"create a table", func(ctx context.Context, c clients) error {
		_, err := c.ddb.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: table("new")})
		return err
	}, `dynamodb:CreateTable`},
}

func accessError(err error) bool {
	var ad *access.DeniedError
	var api smithy.APIError
	return errors.As(err, &ad) ||
		(errors.As(err, &api) && (api.ErrorCode() == "AccessDenied" || api.ErrorCode() == "AccessDeniedException" || api.ErrorCode() == "Forbidden"))
}

// sink stands for S3 and DynamoDB: it counts requests and answers them
// all with an empty 200, which is as good as an answer for these tests.
func sink() (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	return srv, &n
}

func newClients(endpoint, appID string, p *access.Policy, s *pipeline.Stage) clients {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), AppID: appID, RetryMaxAttempts: 1}
	so := []func(*s3.Options){func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint); o.UsePathStyle = true }}
	do := []func(*dynamodb.Options){func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) }}
	if p != nil {
		so = append(so, p.S3Options(s)...)
		do = append(do, p.DynamoDBOptions(s)...)
	}
	return clients{s3: s3.NewFromConfig(cfg, so...), ddb: dynamodb.NewFromConfig(cfg, do...)}
}

// TestClientMiddleware checks the calls of a stage's own clients
// (in-process): refused ones fail before anything is sent, with an error
// naming the declaration to add.
func TestClientMiddleware(t *testing.T) {
	srv, sent := sink()
	defer srv.Close()
	p := access.NewPolicy(app, nil, nil)
	c := newClients(srv.URL, "", p, worker)
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := sent.Load()
			err := tc.call(ctx, c)
			if tc.fix == "" {
				if err != nil && accessError(err) {
					t.Fatalf("refused: %v", err)
				}
				if sent.Load() == before {
					t.Errorf("allowed call not sent")
				}
				return
			}
			if err == nil || !accessError(err) {
				t.Fatalf("got %v, want AccessDenied", err)
			}
			if !strings.Contains(err.Error(), tc.fix) {
				t.Errorf("error %q\ndoes not say %q", err, tc.fix)
			}
			var code interface{ ErrorCode() string }
			if !errors.As(err, &code) || code.ErrorCode() != "AccessDenied" {
				t.Errorf("error code of %v is not AccessDenied", err)
			}
			if sent.Load() != before {
				t.Errorf("refused call was sent")
			}
		})
	}
}

// TestEndpointGuard checks the same calls made by a function under the
// emulator, refused at the endpoint: the request is identified by the
// SDK application ID in its User-Agent, and the refusal comes back as AWS's error with the same
// message (S3 HEAD answers carry no body: the denied callback has it).
func TestEndpointGuard(t *testing.T) {
	backend, sent := sink()
	defer backend.Close()
	p := access.NewPolicy(app, nil, nil)
	var mu sync.Mutex
	var denials []string
	caller := func(r *http.Request) ([]*pipeline.Stage, bool) {
		if access.AppID(r) == "slot-worker-1" {
			return []*pipeline.Stage{worker}, true
		}
		return nil, false
	}
	guard := httptest.NewServer(p.Guard(backend.Config.Handler, caller, func(err error) {
		mu.Lock()
		denials = append(denials, err.Error())
		mu.Unlock()
	}))
	defer guard.Close()
	c := newClients(guard.URL, "slot-worker-1", nil, nil)
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := sent.Load()
			mu.Lock()
			denials = nil
			mu.Unlock()
			err := tc.call(ctx, c)
			if tc.fix == "" {
				if err != nil && accessError(err) {
					t.Fatalf("refused: %v", err)
				}
				if sent.Load() == before {
					t.Errorf("allowed call not passed on")
				}
				return
			}
			if err == nil || !accessError(err) {
				t.Fatalf("got %v, want AccessDenied", err)
			}
			mu.Lock()
			said := strings.Join(denials, "\n")
			mu.Unlock()
			if !strings.Contains(said, tc.fix) {
				t.Errorf("denial %q\ndoes not say %q", said, tc.fix)
			}
			if !strings.HasPrefix(tc.name, "head") && !strings.Contains(err.Error(), tc.fix) {
				t.Errorf("error %q\ndoes not say %q", err, tc.fix)
			}
			if sent.Load() != before {
				t.Errorf("refused request was passed on")
			}
		})
	}
	// Other clients of the endpoint are not checked.
	other := newClients(guard.URL, "", nil, nil)
	before := sent.Load()
	if _, err := other.s3.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil && accessError(err) {
		t.Errorf("a client of no stage was refused: %v", err)
	}
	if sent.Load() == before {
		t.Errorf("a request of no stage was not passed on")
	}
}

// TestPhysicalNames checks that resources are known by the names the
// stages are given, not only the declared ones.
func TestPhysicalNames(t *testing.T) {
	srv, _ := sink()
	defer srv.Close()
	p := access.NewPolicy(app, map[string]string{"files": "grants-dev-files-1a2b"}, map[string]string{"records": "grants-dev-records"})
	c := newClients(srv.URL, "", p, worker)
	ctx := context.Background()
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("grants-dev-files-1a2b"), Key: aws.String("out/a"), Body: strings.NewReader("x")}); err != nil && accessError(err) {
		t.Errorf("put into the physical bucket: %v", err)
	}
	if _, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("arn:aws:dynamodb:us-east-1:000000000000:table/grants-dev-records"), Item: key("a")}); err != nil && accessError(err) {
		t.Errorf("put into the physical table by ARN: %v", err)
	}
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("files"), Key: aws.String("out/a"), Body: strings.NewReader("x")}); err == nil || !accessError(err) {
		t.Errorf("the declared name is not the bucket's name where the stage runs, got %v", err)
	}
}
