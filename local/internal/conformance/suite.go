package conformance

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	stypes "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nanopipe/nanopipe/internal/s3event"
	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Backend describes the backends under test.
type Backend struct {
	// Name names the combination in test names.
	Name string
	// Options selects the backends (DynamoDB, S3, a shared DynamoDB Local
	// set with envhook.SetDynamoDBLocal); the
	// suite sets the rest.
	Options local.Options
	// Settle is how long the engine must stay idle before a test trusts
	// that everything was delivered (default 50ms). A backend whose writes
	// reach its stream a little after they return needs more.
	Settle time.Duration
}

// Run runs every test of the suite against the backend.
func Run(t *testing.T, b Backend) {
	if b.Settle == 0 {
		b.Settle = 50 * time.Millisecond
	}
	tests := []struct {
		name string
		fn   func(*testing.T, *harness)
	}{
		{"S3EventRecords", testS3EventRecords},
		{"S3VersionedBucket", testS3Versioned},
		{"S3Filters", testS3Filters},
		{"S3RetriesAndDeadLetters", testS3DeadLetters},
		{"StreamViewTypesAndKinds", testStreamViews},
		{"StreamAttributeTypes", testStreamAttributeTypes},
		{"StreamRecordSizes", testStreamSizes},
		{"ConditionalWrites", testConditionalWrites},
		{"TableHandles", testTableHandles},
		{"Transactions", testTransactions},
		{"PerItemOrdering", testOrdering},
		{"StreamFilters", testStreamFilters},
		{"PartialBatchBisectDeadLetters", testPartialBatch},
		{"TumblingWindow", testTumblingWindow},
		{"StartAtLatest", testStartAtLatest},
		{"DynamoDBAPI", testDynamoDBAPI},
		{"S3API", testS3API},
		{"Idempotency", testIdempotency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, &harness{b: b}) })
	}
}

type harness struct {
	b   Backend
	env *local.Environment
}

var uniq atomic.Int64

// name returns a resource name no other test uses: a DynamoDB Local shared
// by the tests keeps every table.
func name(base string) string {
	return fmt.Sprintf("c%d%d-%s", time.Now().UnixNano()%1000, uniq.Add(1), base)
}

func (h *harness) start(t *testing.T, app *pipeline.App, observe func(engine.Delivery)) *local.Environment {
	t.Helper()
	opts := h.b.Options
	opts.Addr = "127.0.0.1:0"
	if opts.Shards == 0 {
		opts.Shards = 1 // one batch sees every record, as with DynamoDB Local's one shard
	}
	opts.AsyncRetryDelay = 5 * time.Millisecond
	opts.StreamRetryDelay = time.Millisecond
	opts.MaxRetryDelay = 20 * time.Millisecond
	opts.Observer = observe
	env, err := local.Start(context.Background(), app, opts)
	if err != nil {
		t.Fatalf("start %s: %v", h.b.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		env.Close(ctx)
	})
	h.env = env
	return env
}

// idle waits until everything written so far was delivered.
func (h *harness) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := h.env.WaitIdle(ctx, h.b.Settle); err != nil {
		t.Fatalf("engine did not become idle: %v", err)
	}
}

func (h *harness) letters(t *testing.T) []*deadletter.Letter {
	t.Helper()
	ls, err := h.env.DeadLetters("")
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// recorder keeps what stages received.
type recorder struct {
	mu    sync.Mutex
	items []any
}

func (r *recorder) add(v any) {
	r.mu.Lock()
	r.items = append(r.items, v)
	r.mu.Unlock()
}

func (r *recorder) objects() []triggers.Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []triggers.Object
	for _, v := range r.items {
		if o, ok := v.(triggers.Object); ok {
			out = append(out, o)
		}
	}
	return out
}

func (r *recorder) records() []events.DynamoDBEventRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []events.DynamoDBEventRecord
	for _, v := range r.items {
		if o, ok := v.(events.DynamoDBEventRecord); ok {
			out = append(out, o)
		}
	}
	return out
}

// ---- S3

var (
	eventTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	hexSeq    = regexp.MustCompile(`^[0-9A-F]+$`)
)

// checkRecord checks the fields every S3 record has, in AWS's shape.
func checkRecord(t *testing.T, o triggers.Object, bucket string) {
	t.Helper()
	var raw struct {
		EventVersion string `json:"eventVersion"`
		EventSource  string `json:"eventSource"`
		AWSRegion    string `json:"awsRegion"`
		EventTime    string `json:"eventTime"`
		UserIdentity struct {
			PrincipalID string `json:"principalId"`
		} `json:"userIdentity"`
		ResponseElements map[string]string `json:"responseElements"`
		S3               struct {
			SchemaVersion string `json:"s3SchemaVersion"`
			Bucket        struct {
				Name string `json:"name"`
				ARN  string `json:"arn"`
			} `json:"bucket"`
			Object map[string]any `json:"object"`
		} `json:"s3"`
	}
	js := o.RawRecord()
	if err := json.Unmarshal(js, &raw); err != nil {
		t.Fatalf("record %s: %v", js, err)
	}
	bad := func(what string) { t.Errorf("%s s3://%s/%s: %s in %s", o.Event, bucket, o.Key, what, js) }
	if raw.EventVersion != "2.1" || raw.EventSource != "aws:s3" || raw.AWSRegion != "us-east-1" || raw.S3.SchemaVersion != "1.0" {
		bad("eventVersion 2.1, eventSource aws:s3, awsRegion us-east-1, s3SchemaVersion 1.0 expected")
	}
	if !eventTime.MatchString(raw.EventTime) {
		bad("eventTime not in UTC with milliseconds")
	}
	if raw.UserIdentity.PrincipalID == "" {
		bad("no userIdentity.principalId")
	}
	if raw.ResponseElements["x-amz-request-id"] == "" || raw.ResponseElements["x-amz-id-2"] == "" {
		bad("empty request IDs")
	}
	if raw.S3.Bucket.Name != bucket || raw.S3.Bucket.ARN != "arn:aws:s3:::"+bucket {
		bad("bucket name or ARN wrong")
	}
	if k, _ := raw.S3.Object["key"].(string); k != s3event.EncodeKey(o.Key) {
		bad(fmt.Sprintf("key %q is not the form-encoded %q", k, s3event.EncodeKey(o.Key)))
	}
	if s, _ := raw.S3.Object["sequencer"].(string); !hexSeq.MatchString(s) {
		bad("sequencer not hexadecimal")
	}
	_, hasSize := raw.S3.Object["size"]
	_, hasETag := raw.S3.Object["eTag"]
	if created := strings.HasPrefix(o.Event, "ObjectCreated:"); created != hasSize || created != hasETag {
		bad("size and eTag must be present for created objects only")
	}
	if strings.Contains(o.ETag, `"`) {
		bad("eTag quoted")
	}
	if v, ok := raw.S3.Object["versionId"]; ok && v == nil {
		bad("versionId null")
	}
}

// seqLess compares sequencers as S3 says: as hexadecimal numbers.
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		n := max(len(a), len(b))
		a, b = strings.Repeat("0", n-len(a))+a, strings.Repeat("0", n-len(b))+b
	}
	return a < b
}

func objectsApp(bucketOpts ...pipeline.BucketOption) (*pipeline.App, string, *recorder) {
	app := pipeline.New(name("s3"))
	b := app.Bucket(name("inbox"), bucketOpts...)
	rec := &recorder{}
	fn := func(ctx context.Context, o triggers.Object) error { rec.add(o); return nil }
	pipeline.OnObject(app, "created", b.Created(), fn)
	pipeline.OnObject(app, "removed", b.Removed(), fn)
	return app, b.Name(), rec
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func testS3EventRecords(t *testing.T, h *harness) {
	app, bucket, rec := objectsApp()
	env := h.start(t, app, nil)
	c := env.S3Client()
	ctx := context.Background()
	key := "dir/a b+c ü=%.txt"
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("hello")})
	if err != nil {
		t.Fatal(err)
	}
	putID, _ := awsmiddleware.GetRequestIDMetadata(put.ResultMetadata)
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copy/x.txt"), CopySource: aws.String(bucket + "/" + strings.ReplaceAll(s3event.EncodeKey(key), "+", "%20"))})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("mp/big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("z")}
	var done []stypes.CompletedPart
	for i, p := range parts {
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("mp/big.bin"), UploadId: mp.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, stypes.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	cmp, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("mp/big.bin"), UploadId: mp.UploadId, MultipartUpload: &stypes.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("copy/x.txt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("never/existed")}); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &stypes.Delete{Objects: []stypes.ObjectIdentifier{{Key: aws.String(key)}, {Key: aws.String("missing")}, {Key: aws.String("mp/big.bin")}}}})
	if err != nil || len(del.Errors) > 0 {
		t.Fatalf("DeleteObjects: %v %+v", err, del)
	}
	h.idle(t)

	got := map[string]triggers.Object{}
	var names []string
	for _, o := range rec.objects() {
		checkRecord(t, o, bucket)
		id := o.Event + " " + o.Key
		got[id] = o
		names = append(names, id)
	}
	sort.Strings(names)
	want := []string{
		"ObjectCreated:CompleteMultipartUpload mp/big.bin",
		"ObjectCreated:Copy copy/x.txt",
		"ObjectCreated:Put " + key,
		"ObjectRemoved:Delete copy/x.txt",
		"ObjectRemoved:Delete " + key,
		"ObjectRemoved:Delete mp/big.bin",
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("events:\n %s\nwant\n %s", strings.Join(names, "\n "), strings.Join(want, "\n "))
	}
	p := got["ObjectCreated:Put "+key]
	if p.Size != 5 || p.ETag != md5hex([]byte("hello")) || p.ETag != strings.Trim(aws.ToString(put.ETag), `"`) {
		t.Errorf("Put: size %d eTag %q, want 5 and %s", p.Size, p.ETag, aws.ToString(put.ETag))
	}
	var putRaw struct {
		ResponseElements map[string]string `json:"responseElements"`
	}
	json.Unmarshal(p.RawRecord(), &putRaw)
	if putID == "" || putRaw.ResponseElements["x-amz-request-id"] != putID {
		t.Errorf("Put: record's request ID %q, response's %q", putRaw.ResponseElements["x-amz-request-id"], putID)
	}
	if o := got["ObjectCreated:Copy copy/x.txt"]; o.Size != 5 || o.ETag != strings.Trim(aws.ToString(cp.CopyObjectResult.ETag), `"`) {
		t.Errorf("Copy: size %d eTag %q, want 5 and %s", o.Size, o.ETag, aws.ToString(cp.CopyObjectResult.ETag))
	}
	if o := got["ObjectCreated:CompleteMultipartUpload mp/big.bin"]; o.Size != 5<<20+1 || o.ETag != strings.Trim(aws.ToString(cmp.ETag), `"`) || !strings.HasSuffix(o.ETag, "-2") {
		t.Errorf("CompleteMultipartUpload: size %d eTag %q, want %d and %s", o.Size, o.ETag, 5<<20+1, aws.ToString(cmp.ETag))
	}
	if a, b := got["ObjectCreated:Put "+key].Sequencer, got["ObjectRemoved:Delete "+key].Sequencer; !seqLess(a, b) {
		t.Errorf("sequencer of the delete %s not after the put's %s", b, a)
	}
}

func testS3Versioned(t *testing.T, h *harness) {
	app, bucket, rec := objectsApp(pipeline.Versioned())
	env := h.start(t, app, nil)
	c := env.S3Client()
	ctx := context.Background()
	v1, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("one")})
	if err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	v2, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("two")})
	if err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	marker, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: v1.VersionId}); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	var got []string
	for _, o := range rec.objects() {
		checkRecord(t, o, bucket)
		got = append(got, o.Event+" "+o.VersionID)
	}
	want := []string{
		"ObjectCreated:Put " + aws.ToString(v1.VersionId),
		"ObjectCreated:Put " + aws.ToString(v2.VersionId),
		"ObjectRemoved:DeleteMarkerCreated " + aws.ToString(marker.VersionId),
		"ObjectRemoved:Delete " + aws.ToString(v1.VersionId),
	}
	if aws.ToString(v1.VersionId) == "" || !aws.ToBool(marker.DeleteMarker) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events (name and versionId):\n %s\nwant\n %s", strings.Join(got, "\n "), strings.Join(want, "\n "))
	}
}

func testS3Filters(t *testing.T, h *harness) {
	app := pipeline.New(name("filters"))
	b := app.Bucket(name("inbox"))
	rec := &recorder{}
	pipeline.OnObject(app, "csv", b.Created(triggers.Prefix("in/"), triggers.Suffix(".csv")), func(ctx context.Context, o triggers.Object) error { rec.add(o); return nil })
	env := h.start(t, app, nil)
	c := env.S3Client()
	for _, k := range []string{"in/a.csv", "in/b.txt", "out/c.csv", "in/sub/d.csv"} {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(b.Name()), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	h.idle(t)
	var keys []string
	for _, o := range rec.objects() {
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[in/a.csv in/sub/d.csv]" {
		t.Errorf("delivered %v, want [in/a.csv in/sub/d.csv]", keys)
	}
}

func testS3DeadLetters(t *testing.T, h *harness) {
	app := pipeline.New(name("async"))
	b := app.Bucket(name("inbox"))
	var attempts sync.Map
	pipeline.OnObject(app, "ingest", b.Created(triggers.Retries(1)), func(ctx context.Context, o triggers.Object) error {
		n, _ := attempts.LoadOrStore(o.Key, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		if strings.HasPrefix(o.Key, "fail") {
			return errors.New("cannot ingest " + o.Key)
		}
		return nil
	})
	env := h.start(t, app, nil)
	c := env.S3Client()
	for _, k := range []string{"ok", "fail"} {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(b.Name()), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	h.idle(t)
	for k, want := range map[string]int32{"ok": 1, "fail": 2} {
		n, _ := attempts.Load(k)
		if n == nil || n.(*atomic.Int32).Load() != want {
			t.Errorf("%s attempted %v times, want %d", k, n, want)
		}
	}
	ls := h.letters(t)
	if len(ls) != 1 || ls[0].Condition != deadletter.RetriesExhausted || ls[0].Attempts != 2 || !strings.Contains(string(ls[0].Payload), `"eventName":"ObjectCreated:Put"`) {
		t.Fatalf("letters: %+v", ls)
	}
}

// ---- streams

// streamApp declares a table with the view and a raw stream stage
// recording every record.
func streamApp(view pipeline.StreamView, opts ...triggers.StreamOption) (*pipeline.App, string, *recorder) {
	app := pipeline.New(name("streams"))
	tbl := app.Table(name("items"), pipeline.PartitionKey("id", pipeline.String), pipeline.Stream(view))
	rec := &recorder{}
	pipeline.OnStreamEvent(app, "raw", tbl.Changes(opts...), func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		for _, r := range ev.Records {
			rec.add(r)
		}
		return events.DynamoDBEventResponse{}, nil
	})
	return app, tbl.Name(), rec
}

func item(kv ...string) map[string]dtypes.AttributeValue {
	m := map[string]dtypes.AttributeValue{}
	for i := 0; i < len(kv); i += 2 {
		if strings.HasPrefix(kv[i], "#") {
			m[kv[i][1:]] = &dtypes.AttributeValueMemberN{Value: kv[i+1]}
		} else {
			m[kv[i]] = &dtypes.AttributeValueMemberS{Value: kv[i+1]}
		}
	}
	return m
}

func imageJSON(m map[string]events.DynamoDBAttributeValue) string {
	if m == nil {
		return "-"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func testStreamViews(t *testing.T, h *harness) {
	for _, view := range []pipeline.StreamView{pipeline.ViewKeysOnly, pipeline.ViewNewImage, pipeline.ViewOldImage, pipeline.ViewNewAndOldImages} {
		t.Run(string(view), func(t *testing.T) {
			app, table, rec := streamApp(view)
			env := h.start(t, app, nil)
			db := env.DynamoDBClient()
			ctx := context.Background()
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("id", "a", "#n", "1")}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: item("id", "a"), UpdateExpression: aws.String("SET n = :n"), ExpressionAttributeValues: item("#:n", "2")}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: item("id", "a")}); err != nil {
				t.Fatal(err)
			}
			h.idle(t)
			recs := rec.records()
			if len(recs) != 3 {
				t.Fatalf("%d records, want 3", len(recs))
			}
			one := `{"id":{"S":"a"},"n":{"N":"1"}}`
			two := `{"id":{"S":"a"},"n":{"N":"2"}}`
			want := map[pipeline.StreamView][3][2]string{ // per kind: NewImage, OldImage
				pipeline.ViewKeysOnly:        {{"-", "-"}, {"-", "-"}, {"-", "-"}},
				pipeline.ViewNewImage:        {{one, "-"}, {two, "-"}, {"-", "-"}},
				pipeline.ViewOldImage:        {{"-", "-"}, {"-", one}, {"-", two}},
				pipeline.ViewNewAndOldImages: {{one, "-"}, {two, one}, {"-", two}},
			}[view]
			prev := ""
			for i, r := range recs {
				kind := []string{"INSERT", "MODIFY", "REMOVE"}[i]
				d := r.Change
				if r.EventName != kind || r.EventSource != "aws:dynamodb" || r.EventVersion != "1.1" || r.AWSRegion != "us-east-1" {
					t.Errorf("record %d: eventName %s source %s version %s region %s, want %s aws:dynamodb 1.1 us-east-1", i, r.EventName, r.EventSource, r.EventVersion, r.AWSRegion, kind)
				}
				if !strings.Contains(r.EventSourceArn, ":table/"+table+"/stream/") || r.EventID == "" {
					t.Errorf("record %d: eventSourceARN %q eventID %q", i, r.EventSourceArn, r.EventID)
				}
				if imageJSON(d.Keys) != `{"id":{"S":"a"}}` || d.StreamViewType != string(view) || d.SizeBytes <= 0 {
					t.Errorf("record %d: keys %s view %s size %d", i, imageJSON(d.Keys), d.StreamViewType, d.SizeBytes)
				}
				if ni, oi := imageJSON(d.NewImage), imageJSON(d.OldImage); ni != want[i][0] || oi != want[i][1] {
					t.Errorf("%s record: NewImage %s OldImage %s, want %s and %s", kind, ni, oi, want[i][0], want[i][1])
				}
				if prev != "" && !seqLess(prev, d.SequenceNumber) {
					t.Errorf("sequence numbers not increasing: %s then %s", prev, d.SequenceNumber)
				}
				prev = d.SequenceNumber
				if age := time.Since(d.ApproximateCreationDateTime.Time); age < -time.Second || age > 10*time.Second {
					t.Errorf("record %d: ApproximateCreationDateTime %s is %s from now", i, d.ApproximateCreationDateTime.Time, age)
				}
			}
		})
	}
}

func testStreamAttributeTypes(t *testing.T, h *harness) {
	app, table, rec := streamApp(pipeline.ViewNewImage)
	env := h.start(t, app, nil)
	it := map[string]dtypes.AttributeValue{
		"id":    &dtypes.AttributeValueMemberS{Value: "all"},
		"s":     &dtypes.AttributeValueMemberS{Value: "text ü"},
		"n":     &dtypes.AttributeValueMemberN{Value: "001.50"},
		"big":   &dtypes.AttributeValueMemberN{Value: "12345678901234567890123456789012345678"},
		"neg":   &dtypes.AttributeValueMemberN{Value: "-0.000100"},
		"b":     &dtypes.AttributeValueMemberB{Value: []byte{0, 1, 2, 255}},
		"ss":    &dtypes.AttributeValueMemberSS{Value: []string{"x", "y"}},
		"ns":    &dtypes.AttributeValueMemberNS{Value: []string{"1", "2.50"}},
		"bs":    &dtypes.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
		"t":     &dtypes.AttributeValueMemberBOOL{Value: true},
		"null":  &dtypes.AttributeValueMemberNULL{Value: true},
		"l":     &dtypes.AttributeValueMemberL{Value: []dtypes.AttributeValue{&dtypes.AttributeValueMemberS{Value: "e"}, &dtypes.AttributeValueMemberM{Value: map[string]dtypes.AttributeValue{}}}},
		"el":    &dtypes.AttributeValueMemberL{Value: []dtypes.AttributeValue{}},
		"m":     &dtypes.AttributeValueMemberM{Value: map[string]dtypes.AttributeValue{"k": &dtypes.AttributeValueMemberN{Value: "10"}, "e": &dtypes.AttributeValueMemberM{Value: map[string]dtypes.AttributeValue{}}}},
		"empty": &dtypes.AttributeValueMemberM{Value: map[string]dtypes.AttributeValue{}},
	}
	if _, err := env.DynamoDBClient().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	recs := rec.records()
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	got := map[string]string{}
	for k, v := range recs[0].Change.NewImage {
		b, _ := json.Marshal(v)
		got[k] = string(b)
	}
	want := map[string]string{
		"id": `{"S":"all"}`, "s": `{"S":"text ü"}`, "n": `{"N":"1.5"}`,
		"big": `{"N":"12345678901234567890123456789012345678"}`, "neg": `{"N":"-0.0001"}`,
		"b": `{"B":"AAEC/w=="}`, "ss": `{"SS":["x","y"]}`, "ns": `{"NS":["1","2.5"]}`, "bs": `{"BS":["AQ==","Ag=="]}`,
		"t": `{"BOOL":true}`, "null": `{"NULL":true}`,
		"l": `{"L":[{"S":"e"},{"M":{}}]}`, "el": `{"L":[]}`,
		"m": `{"M":{"e":{"M":{}},"k":{"N":"10"}}}`, "empty": `{"M":{}}`,
	}
	for k, w := range want {
		g := got[k]
		if k == "ns" || k == "ss" || k == "bs" { // sets have no order
			g = sortedSet(g)
		}
		if g != w {
			t.Errorf("NewImage %s = %s, want %s", k, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("NewImage has %d attributes, want %d", len(got), len(want))
	}
}

func sortedSet(js string) string {
	var m map[string][]string
	if json.Unmarshal([]byte(js), &m) != nil {
		return js
	}
	for k := range m {
		sort.Strings(m[k])
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func testConditionalWrites(t *testing.T, h *harness) {
	app, table, rec := streamApp(pipeline.ViewNewAndOldImages)
	env := h.start(t, app, nil)
	db := env.DynamoDBClient()
	ctx := context.Background()
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("id", "a", "#n", "1")}); err != nil {
		t.Fatal(err)
	}
	var ccf *dtypes.ConditionalCheckFailedException
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("id", "a", "#n", "2"), ConditionExpression: aws.String("attribute_not_exists(id)")})
	if !errors.As(err, &ccf) {
		t.Errorf("conditional put on an existing item: %v, want ConditionalCheckFailedException", err)
	}
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: item("id", "a"), UpdateExpression: aws.String("SET n = :n"), ConditionExpression: aws.String("n = :old"), ExpressionAttributeValues: item("#:n", "3", "#:old", "7"), ReturnValuesOnConditionCheckFailure: dtypes.ReturnValuesOnConditionCheckFailureAllOld})
	if !errors.As(err, &ccf) {
		t.Fatalf("conditional update: %v, want ConditionalCheckFailedException", err)
	}
	if imageOf(ccf.Item) != `{"id":"a","n":"1"}` {
		t.Errorf("ConditionalCheckFailedException item %s, want the old item", imageOf(ccf.Item))
	}
	_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: item("id", "a"), ConditionExpression: aws.String("attribute_not_exists(id)")})
	if !errors.As(err, &ccf) {
		t.Errorf("conditional delete: %v, want ConditionalCheckFailedException", err)
	}
	// Writes that change nothing write no record either.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("id", "a", "#n", "1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: item("id", "nothing")}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: item("id", "a"), UpdateExpression: aws.String("SET n = :n"), ExpressionAttributeValues: item("#:n", "1")}); err != nil {
		t.Fatal(err)
	}
	// A conditional write that holds does write one.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("id", "a", "#n", "4"), ConditionExpression: aws.String("n = :one"), ExpressionAttributeValues: item("#:one", "1")}); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	var kinds []string
	for _, r := range rec.records() {
		kinds = append(kinds, r.EventName+" "+imageJSON(r.Change.NewImage))
	}
	want := []string{`INSERT {"id":{"S":"a"},"n":{"N":"1"}}`, `MODIFY {"id":{"S":"a"},"n":{"N":"4"}}`}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v", kinds, want)
	}
}

func imageOf(m map[string]dtypes.AttributeValue) string {
	out := map[string]string{}
	for k, v := range m {
		switch v := v.(type) {
		case *dtypes.AttributeValueMemberS:
			out[k] = v.Value
		case *dtypes.AttributeValueMemberN:
			out[k] = v.Value
		default:
			out[k] = fmt.Sprintf("%T", v)
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func testTransactions(t *testing.T, h *harness) {
	app, table, rec := streamApp(pipeline.ViewNewAndOldImages)
	env := h.start(t, app, nil)
	db := env.DynamoDBClient()
	ctx := context.Background()
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("id", "a", "#n", "1")}); err != nil {
		t.Fatal(err)
	}
	tbl := aws.String(table)
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []dtypes.TransactWriteItem{
		{Put: &dtypes.Put{TableName: tbl, Item: item("id", "x", "#n", "1")}},
		{Update: &dtypes.Update{TableName: tbl, Key: item("id", "a"), UpdateExpression: aws.String("SET n = n + :one"), ExpressionAttributeValues: item("#:one", "1")}},
		{ConditionCheck: &dtypes.ConditionCheck{TableName: tbl, Key: item("id", "zz"), ConditionExpression: aws.String("attribute_not_exists(id)")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []dtypes.TransactWriteItem{
		{Put: &dtypes.Put{TableName: tbl, Item: item("id", "y", "#n", "1")}},
		{Delete: &dtypes.Delete{TableName: tbl, Key: item("id", "x"), ConditionExpression: aws.String("n = :nine"), ExpressionAttributeValues: item("#:nine", "9")}},
	}})
	var tce *dtypes.TransactionCanceledException
	if !errors.As(err, &tce) {
		t.Fatalf("cancelled transaction: %v, want TransactionCanceledException", err)
	}
	var reasons []string
	for _, r := range tce.CancellationReasons {
		reasons = append(reasons, aws.ToString(r.Code))
	}
	if fmt.Sprint(reasons) != "[None ConditionalCheckFailed]" {
		t.Errorf("cancellation reasons %v, want [None ConditionalCheckFailed]", reasons)
	}
	h.idle(t)
	var got []string
	for _, r := range rec.records() {
		got = append(got, r.EventName+" "+imageJSON(r.Change.NewImage))
	}
	sort.Strings(got[1:])
	want := []string{`INSERT {"id":{"S":"a"},"n":{"N":"1"}}`, `INSERT {"id":{"S":"x"},"n":{"N":"1"}}`, `MODIFY {"id":{"S":"a"},"n":{"N":"2"}}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v (the cancelled transaction writes none)", got, want)
	}
}

// Item is the typed item of the ordering and batch tests.
type Item struct {
	ID   string `dynamodbav:"id"`
	N    int    `dynamodbav:"n"`
	Mode string `dynamodbav:"mode"`
}

func testOrdering(t *testing.T, h *harness) {
	app := pipeline.New(name("order"))
	tbl := app.Table(name("items"), pipeline.PartitionKey("id", pipeline.String))
	var mu sync.Mutex
	seen := map[string][]int{}
	pipeline.OnChange(app, "order", tbl.Changes(triggers.BatchSize(7), triggers.Parallelization(2)), func(ctx context.Context, c triggers.Change[Item]) error {
		mu.Lock()
		defer mu.Unlock()
		seen[c.New.ID] = append(seen[c.New.ID], c.New.N)
		return nil
	})
	env := h.start(t, app, nil)
	db := env.DynamoDBClient()
	for n := 0; n < 12; n++ {
		for _, id := range []string{"a", "b", "c", "d", "e"} {
			if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(tbl.Name()), Item: item("id", id, "#n", fmt.Sprint(n))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.idle(t)
	mu.Lock()
	defer mu.Unlock()
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if fmt.Sprint(seen[id]) != "[0 1 2 3 4 5 6 7 8 9 10 11]" {
			t.Errorf("item %s: changes in order %v", id, seen[id])
		}
	}
}

func testStreamFilters(t *testing.T, h *harness) {
	app := pipeline.New(name("sfilter"))
	tbl := app.Table(name("items"), pipeline.PartitionKey("id", pipeline.String))
	var mu sync.Mutex
	var got []string
	pipeline.OnChange(app, "go", tbl.Changes(triggers.Insert, triggers.Where(triggers.NewImage("mode").Equals("go"))), func(ctx context.Context, c triggers.Change[Item]) error {
		mu.Lock()
		got = append(got, c.New.ID)
		mu.Unlock()
		return nil
	})
	env := h.start(t, app, nil)
	db := env.DynamoDBClient()
	put := func(id, mode string) {
		if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(tbl.Name()), Item: item("id", id, "mode", mode)}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", "go")
	put("b", "stop")
	put("c", "go")
	put("a", "go2") // a MODIFY: not an insert
	put("b", "go")  // a MODIFY to go: not an insert
	h.idle(t)
	mu.Lock()
	defer mu.Unlock()
	sort.Strings(got)
	if fmt.Sprint(got) != "[a c]" {
		t.Errorf("delivered %v, want [a c]", got)
	}
	if st := env.Stats()[0]; st.Filtered != 3 {
		t.Errorf("filtered %d, want 3", st.Filtered)
	}
}

func testPartialBatch(t *testing.T, h *harness) {
	app := pipeline.New(name("partial"))
	tbl := app.Table(name("items"), pipeline.PartitionKey("id", pipeline.String))
	var mu sync.Mutex
	attempts := map[string]int{}
	var processed []string
	pipeline.OnChange(app, "consume", tbl.Changes(triggers.BatchSize(10), triggers.BatchingWindow(time.Second), triggers.Retries(2), triggers.Bisect()), func(ctx context.Context, c triggers.Change[Item]) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[c.New.ID]++
		if c.New.Mode == "fail" {
			return fmt.Errorf("record %s refused", c.New.ID)
		}
		processed = append(processed, c.New.ID)
		return nil
	})
	var dmu sync.Mutex
	var deliveries []engine.Delivery
	env := h.start(t, app, func(d engine.Delivery) { dmu.Lock(); deliveries = append(deliveries, d); dmu.Unlock() })
	var reqs []dtypes.WriteRequest
	for i := 0; i < 10; i++ {
		it := item("id", fmt.Sprint("e", i), "#n", fmt.Sprint(i))
		if i == 4 {
			it["mode"] = &dtypes.AttributeValueMemberS{Value: "fail"}
		}
		reqs = append(reqs, dtypes.WriteRequest{PutRequest: &dtypes.PutRequest{Item: it}})
	}
	if _, err := env.DynamoDBClient().BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]dtypes.WriteRequest{tbl.Name(): reqs}}); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	mu.Lock()
	defer mu.Unlock()
	if len(processed) != 9 {
		t.Fatalf("processed %v, want the 9 good records", processed)
	}
	for id, n := range attempts {
		if id != "e4" && n != 1 {
			t.Errorf("good record %s invoked %d times", id, n)
		}
	}
	dmu.Lock()
	first := deliveries[0]
	dmu.Unlock()
	if first.Records != 10 || first.Outcome != engine.OutcomePartial {
		t.Errorf("first delivery %+v, want 10 records, partial", first)
	}
	ls := h.letters(t)
	if len(ls) != 1 || ls[0].Condition != deadletter.RetryAttemptsExhausted || ls[0].Records != 1 || ls[0].Stream == nil || !strings.Contains(string(ls[0].Payload), `"Keys":{"id":{"S":"e4"}}`) {
		t.Fatalf("letters %+v", ls)
	}
	// Records of one batch: a partial response retries from the failed
	// one, bisection halves, and splits are not retries.
	if attempts["e4"] < 3 {
		t.Errorf("failing record attempted %d times", attempts["e4"])
	}
}

// testStreamSizes checks the records' SizeBytes, which DynamoDB computes
// from its storage format: a number takes a byte per pair of digits
// aligned on the decimal point, one more, and one more again when
// negative.
func testStreamSizes(t *testing.T, h *harness) {
	app, table, rec := streamApp(pipeline.ViewNewImage)
	env := h.start(t, app, nil)
	want := map[string]int64{ // INSERT of {id: "x", v: N}: 3 for the key, 4 for the image's id and v, N's size
		"1": 9, "-1": 10, "1.5": 10, "-1.5": 11, "-0.5": 10, "0.001": 9, "-0.0001234": 12,
		"123456789": 13, "-1e10": 10, "0": 8, "10.01": 10, "99": 9,
	}
	i := 0
	ids := map[string]string{}
	for n := range want {
		id := string(rune('a' + i))
		i++
		ids[id] = n
		if _, err := env.DynamoDBClient().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]dtypes.AttributeValue{"id": &dtypes.AttributeValueMemberS{Value: id}, "v": &dtypes.AttributeValueMemberN{Value: n}}}); err != nil {
			t.Fatal(err)
		}
	}
	h.idle(t)
	recs := rec.records()
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for _, r := range recs {
		n := ids[r.Change.Keys["id"].String()]
		if r.Change.SizeBytes != want[n] {
			t.Errorf("number %s: SizeBytes %d, want %d", n, r.Change.SizeBytes, want[n])
		}
	}
}

// testTumblingWindow checks that a window's state is carried between its
// invocations and handed whole to the final one: records must be dated
// to the second (DynamoDB Local dates them to the minute).
func testTumblingWindow(t *testing.T, h *harness) {
	app := pipeline.New(name("windows"))
	tbl := app.Table(name("items"), pipeline.PartitionKey("id", pipeline.String))
	var mu sync.Mutex
	var finals []string
	pipeline.OnChanges(app, "sum", tbl.Changes(triggers.BatchSize(2), triggers.TumblingWindow(time.Second)), func(ctx context.Context, b *triggers.Batch[Item]) error {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		fmt.Sscan(b.State["sum"], &n)
		for _, c := range b.Changes {
			n += c.New.N
		}
		b.State["sum"] = fmt.Sprint(n)
		if b.Window != nil && b.Window.Final {
			finals = append(finals, b.State["sum"])
		}
		return nil
	})
	env := h.start(t, app, nil)
	// Write early in a second, so that the writes share a window.
	for now := time.Now(); now.Sub(now.Truncate(time.Second)) > 300*time.Millisecond; now = time.Now() {
		time.Sleep(10 * time.Millisecond)
	}
	var reqs []dtypes.WriteRequest
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		reqs = append(reqs, dtypes.WriteRequest{PutRequest: &dtypes.PutRequest{Item: item("id", id, "#n", fmt.Sprint(i+1))}})
	}
	if _, err := env.DynamoDBClient().BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]dtypes.WriteRequest{tbl.Name(): reqs}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := len(finals) > 0
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(finals) != "[15]" {
		t.Fatalf("final window states %v, want [15]", finals)
	}
}

// testStartAtLatest checks that a LATEST mapping delivers what is written
// after it started: records must not look older than they are.
func testStartAtLatest(t *testing.T, h *harness) {
	app, table, rec := streamApp(pipeline.ViewNewImage, triggers.StartAt(triggers.Latest))
	env := h.start(t, app, nil)
	time.Sleep(100 * time.Millisecond) // the mapping has started
	for _, id := range []string{"a", "b", "c"} {
		if _, err := env.DynamoDBClient().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("id", id)}); err != nil {
			t.Fatal(err)
		}
	}
	h.idle(t)
	if n := len(rec.records()); n != 3 {
		t.Errorf("%d records delivered, want the 3 written after the mapping started", n)
	}
}
