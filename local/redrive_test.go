package local_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

func signedFor(r *http.Request, service string) bool {
	re := regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDFAKE/\d{8}/us-east-1/` + service + `/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`)
	return re.MatchString(r.Header.Get("Authorization")) && r.Header.Get("X-Amz-Date") != ""
}

// fakeAPIs stands in for Lambda (functions, their configuration, their
// on-failure destinations) and SQS (its JSON protocol) on 127.0.0.1,
// checking each request against the API's shape.
type fakeAPIs struct {
	mu        sync.Mutex
	url       string
	functions map[string]map[string]string // name -> environment
	asyncDest map[string]string            // function -> queue ARN
	esmDest   map[string][2]string         // function -> stream ARN, queue ARN
	queues    map[string][]*fakeMsg        // name -> messages
	invoked   map[string][][]byte
	failOn    string
	bad       []string
}

type fakeMsg struct {
	id, body string
	hidden   bool
	deleted  bool
}

func (f *fakeAPIs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	problem := func(s string) { f.bad = append(f.bad, r.Method+" "+r.URL.String()+": "+s) }
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if target := r.Header.Get("X-Amz-Target"); strings.HasPrefix(target, "AmazonSQS.") {
		if !signedFor(r, "sqs") || r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
			problem("not an SQS JSON-protocol request: " + r.Header.Get("Content-Type") + " " + r.Header.Get("Authorization"))
		}
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			problem("body is not JSON")
		}
		queue := func() []*fakeMsg {
			u, _ := in["QueueUrl"].(string)
			return f.queues[u[strings.LastIndex(u, "/")+1:]]
		}
		find := func() *fakeMsg {
			for _, m := range queue() {
				if m.id == in["ReceiptHandle"] {
					return m
				}
			}
			problem(fmt.Sprintf("unknown receipt handle %v", in["ReceiptHandle"]))
			return &fakeMsg{}
		}
		switch target {
		case "AmazonSQS.GetQueueUrl":
			if in["QueueOwnerAWSAccountId"] != "123456789012" {
				problem(fmt.Sprintf("owner %v", in["QueueOwnerAWSAccountId"]))
			}
			reply(200, map[string]string{"QueueUrl": f.url + "/123456789012/" + in["QueueName"].(string)})
		case "AmazonSQS.ReceiveMessage":
			var msgs []map[string]any
			max, _ := in["MaxNumberOfMessages"].(float64)
			for _, m := range queue() {
				if !m.hidden && !m.deleted && len(msgs) < int(max) {
					m.hidden = true
					sum := md5.Sum([]byte(m.body))
					msgs = append(msgs, map[string]any{"MessageId": m.id, "ReceiptHandle": m.id, "Body": m.body, "MD5OfBody": hex.EncodeToString(sum[:]), "Attributes": map[string]string{"SentTimestamp": "1796292000000"}})
				}
			}
			reply(200, map[string]any{"Messages": msgs})
		case "AmazonSQS.DeleteMessage":
			find().deleted = true
			reply(200, map[string]any{})
		case "AmazonSQS.ChangeMessageVisibility":
			if in["VisibilityTimeout"] != 0.0 && in["VisibilityTimeout"] != nil {
				problem(fmt.Sprintf("visibility %v", in["VisibilityTimeout"]))
			}
			find().hidden = false
			reply(200, map[string]any{})
		default:
			problem("unexpected " + target)
			reply(400, map[string]string{"__type": "InvalidAction"})
		}
		return
	}
	if !signedFor(r, "lambda") {
		problem("not signed for lambda: " + r.Header.Get("Authorization"))
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 4 && parts[0] == "2015-03-31" && parts[1] == "functions" && parts[3] == "configuration":
		env, ok := f.functions[parts[2]]
		if !ok {
			reply(404, map[string]string{"Type": "User", "message": "Function not found"})
			return
		}
		reply(200, map[string]any{"FunctionName": parts[2], "Environment": map[string]any{"Variables": env}})
	case r.Method == http.MethodGet && len(parts) == 4 && parts[0] == "2019-09-25" && parts[3] == "event-invoke-config":
		reply(200, map[string]any{"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:" + parts[2], "DestinationConfig": map[string]any{"OnFailure": map[string]string{"Destination": f.asyncDest[parts[2]]}}})
	case r.Method == http.MethodGet && strings.TrimSuffix(r.URL.Path, "/") == "/2015-03-31/event-source-mappings":
		fn := r.URL.Query().Get("FunctionName")
		d := f.esmDest[fn]
		reply(200, map[string]any{"EventSourceMappings": []any{map[string]any{"UUID": "u-1", "EventSourceArn": d[0], "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:" + fn, "DestinationConfig": map[string]any{"OnFailure": map[string]string{"Destination": d[1]}}}}})
	case r.Method == http.MethodPost && len(parts) == 4 && parts[3] == "invocations":
		if r.Header.Get("X-Amz-Invocation-Type") != "RequestResponse" {
			problem("invocation type " + r.Header.Get("X-Amz-Invocation-Type"))
		}
		f.invoked[parts[2]] = append(f.invoked[parts[2]], body)
		if f.failOn != "" && bytes.Contains(body, []byte(f.failOn)) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			io.WriteString(w, `{"errorMessage":"still broken","errorType":"errorString"}`)
			return
		}
		if strings.Contains(string(body), `"aws:dynamodb"`) {
			io.WriteString(w, `{"batchItemFailures":[]}`)
			return
		}
		io.WriteString(w, "null")
	default:
		problem("not an operation redrive uses")
		reply(404, map[string]string{"message": "unknown"})
	}
}

func asyncFailure(function, key string) string {
	b, _ := json.Marshal(map[string]any{
		"version": "1.0", "timestamp": "2026-12-03T10:00:00.000Z",
		"requestContext":  map[string]any{"requestId": "r-1", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:" + function + ":$LATEST", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
		"requestPayload":  map[string]any{"Records": []any{map[string]any{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-12-03T09:00:00.000Z", "eventName": "ObjectCreated:Put", "s3": map[string]any{"s3SchemaVersion": "1.0", "bucket": map[string]any{"name": "shop-uploads", "arn": "arn:aws:s3:::shop-uploads"}, "object": map[string]any{"key": key, "size": 1, "eTag": "old", "sequencer": "0055AED6DCD90281E5"}}}}},
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": map[string]any{"errorMessage": "boom"},
	})
	return string(b)
}

func streamFailure(function, arn, shard, start, end string, size int) string {
	b, _ := json.Marshal(map[string]any{
		"version": "1.0", "timestamp": "2026-12-03T10:00:00.000Z",
		"requestContext":     map[string]any{"requestId": "r-2", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:" + function, "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 4},
		"responseContext":    map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"DDBStreamBatchInfo": map[string]any{"shardId": shard, "startSequenceNumber": start, "endSequenceNumber": end, "batchSize": size, "streamArn": arn, "approximateArrivalOfFirstRecord": "2026-12-03T09:00:00Z", "approximateArrivalOfLastRecord": "2026-12-03T09:00:00Z"},
	})
	return string(b)
}

// TestRedrive lists and redrives two deployed stages' failure queues: S3
// events rebuilt from the objects (one of which is gone), a stream batch
// read back from the stream (and one the stream no longer holds). The
// local environment stands in for S3 and DynamoDB Streams; a local server
// for Lambda and SQS.
func TestRedrive(t *testing.T) {
	fakeAWS(t)
	store := pipeline.New("store")
	store.Bucket("shop-uploads")
	store.Table("shop-orders", pipeline.PartitionKey("id", pipeline.String), pipeline.Stream(pipeline.ViewNewAndOldImages))
	env, err := local.Start(context.Background(), store, local.Options{Addr: "127.0.0.1:0", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	putObject(t, env.S3Client(), "shop-uploads", "incoming/a b.jpg")
	putEvents(t, env, "shop-orders", []Event{{ID: "o1", N: 1}, {ID: "o2", N: 2}, {ID: "o3", N: 3}})
	streams := dynamodbstreams.NewFromConfig(env.AWSConfig(), func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(env.Endpoint()) })
	arn := env.Env().Streams["shop-orders"]
	desc, err := streams.DescribeStream(context.Background(), &dynamodbstreams.DescribeStreamInput{StreamArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	shard := aws.ToString(desc.StreamDescription.Shards[0].ShardId)
	it, _ := streams.GetShardIterator(context.Background(), &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: &shard, ShardIteratorType: "TRIM_HORIZON"})
	recs, err := streams.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil || len(recs.Records) != 3 {
		t.Fatalf("stream records: %v %d", err, len(recs.Records))
	}
	seq := func(i int) string { return aws.ToString(recs.Records[i].Dynamodb.SequenceNumber) }

	app := pipeline.New("shop")
	uploads := app.Bucket("uploads")
	orders := app.Table("orders", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnObject(app, "thumbnail", uploads.Created(), func(context.Context, triggers.Object) error { return nil })
	pipeline.OnChange(app, "count", orders.Changes(), func(context.Context, triggers.Change[Event]) error { return nil })

	fake := &fakeAPIs{
		functions: map[string]map[string]string{
			"shop-thumbnail": {contract.App: "shop", contract.Stages: "thumbnail", contract.BucketVar(uploads.Name()): "shop-uploads"},
			"shop-count":     {contract.App: "shop", contract.Stages: "count", contract.TableVar(orders.Name()): "shop-orders", contract.StreamVar(orders.Name()): arn},
		},
		asyncDest: map[string]string{"shop-thumbnail": "arn:aws:sqs:us-east-1:123456789012:thumbnail-failures"},
		esmDest:   map[string][2]string{"shop-count": {arn, "arn:aws:sqs:us-east-1:123456789012:count-failures"}},
		queues: map[string][]*fakeMsg{
			"thumbnail-failures": {{id: "m1", body: asyncFailure("shop-thumbnail", "incoming/a+b.jpg")}, {id: "m2", body: asyncFailure("shop-thumbnail", "incoming/gone.jpg")}},
			"count-failures":     {{id: "m3", body: streamFailure("shop-count", arn, shard, seq(0), seq(1), 2)}, {id: "m4", body: streamFailure("shop-count", arn, shard, "9"+seq(2), "9"+seq(2), 1)}, {id: "m5", body: "not a record"}},
		},
		invoked: map[string][][]byte{},
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.url = srv.URL
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", srv.URL)
	t.Setenv("AWS_ENDPOINT_URL_SQS", srv.URL)
	t.Setenv("AWS_ENDPOINT_URL_S3", env.Endpoint())
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", env.Endpoint())
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", env.Endpoint())

	var out, errs bytes.Buffer
	cmd := local.Command{App: app, Name: "shop", Stdout: &out, Stderr: &errs}
	run := func(args ...string) int {
		out.Reset()
		errs.Reset()
		return cmd.Run(context.Background(), append([]string{"redrive", "--region", "us-east-1"}, args...))
	}
	if code := run("--stage", "thumbnail", "--function", "shop-thumbnail", "--list"); code != 0 || !strings.Contains(out.String(), "2 messages") || !strings.Contains(out.String(), "ObjectCreated:Put s3://shop-uploads/incoming/a b.jpg") {
		t.Fatalf("list: %d\n%s%s", code, out.String(), errs.String())
	}
	if len(fake.invoked) != 0 {
		t.Fatal("listing invoked the function")
	}
	if code := run("--stage", "thumbnail", "--function", "shop-thumbnail"); code != 1 || !strings.Contains(out.String(), "1 redriven, 0 failed again, 1 cannot be rebuilt") || !strings.Contains(out.String(), "s3://shop-uploads/incoming/gone.jpg is gone") {
		t.Errorf("S3 redrive: %d\n%s%s", code, out.String(), errs.String())
	}
	if code := run("--stage", "count", "--function", "shop-count", "--json"); code != 1 {
		t.Errorf("stream redrive: %d\n%s%s", code, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), `"redriven":1`) || !strings.Contains(out.String(), `"unrebuildable":2`) || !strings.Contains(out.String(), "not an on-failure record") {
		t.Errorf("stream redrive:\n%s", out.String())
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, b := range fake.bad {
		t.Error(b)
	}
	left := map[string]bool{}
	for _, q := range fake.queues {
		for _, m := range q {
			if !m.deleted {
				left[m.id] = true
			}
		}
	}
	if fmt.Sprint(left) != "map[m2:true m4:true m5:true]" {
		t.Errorf("left in the queues: %v, want what could not be redriven", left)
	}
	var s3ev struct {
		Records []struct {
			S3 struct {
				Object struct {
					Key, ETag string
					Size      int64
				}
			}
		}
	}
	if len(fake.invoked["shop-thumbnail"]) != 1 || json.Unmarshal(fake.invoked["shop-thumbnail"][0], &s3ev) != nil || s3ev.Records[0].S3.Object.Size != int64(len("incoming/a b.jpg")) {
		t.Errorf("S3 invocations: %s", fake.invoked["shop-thumbnail"])
	}
	var ddbev struct {
		Records []struct {
			EventSourceARN string `json:"eventSourceARN"`
			EventName      string `json:"eventName"`
			DynamoDB       struct {
				SequenceNumber string
				NewImage       map[string]any
			} `json:"dynamodb"`
		}
	}
	if len(fake.invoked["shop-count"]) != 1 || json.Unmarshal(fake.invoked["shop-count"][0], &ddbev) != nil || len(ddbev.Records) != 2 ||
		ddbev.Records[0].EventSourceARN != arn || ddbev.Records[1].DynamoDB.SequenceNumber != seq(1) || ddbev.Records[0].EventName != "INSERT" || ddbev.Records[0].DynamoDB.NewImage["id"] == nil {
		t.Errorf("stream invocations: %s", fake.invoked["shop-count"])
	}
}
