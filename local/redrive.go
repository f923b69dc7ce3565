package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// # Redrive
//
// What fails every retry of a deployed stage lands in its failure queue
// (the function's on-failure destination) as an invocation record: for
// an S3 stage the failed event with the error; for a stream stage only
// where the batch was (stream, shard, first and last sequence number),
// not its records. Redrive lists these messages and delivers them again
// through the stage's function: a stream batch is read back from the
// stream while the stream retains it (24 hours), an S3 event is rebuilt
// from the object as it is now. A message redriven successfully is
// deleted from the queue; one that fails again, or can no longer be
// rebuilt (records trimmed from the stream, object gone), stays in the
// queue and is reported with the reason.

// RedriveOptions configure a redrive.
type RedriveOptions struct {
	// Stage is the stage whose failure queue is redriven.
	Stage *pipeline.Stage
	// Queue is the queue's URL; "" finds it from the function's
	// on-failure destination.
	Queue string
	// List only lists the messages, leaving them in the queue.
	List bool
	// Max stops after this many messages (0: until the queue is empty).
	Max int
	// Rate caps the invocations per second (0: no limit).
	Rate float64
	// Report, when set, is told of each message as it is handled.
	Report func(RedriveResult)
}

// Outcomes of a RedriveResult.
const (
	RedriveListed        = "listed"        // List: shown, left in the queue
	RedriveDone          = "redriven"      // delivered successfully and deleted from the queue
	RedriveFailed        = "failed"        // delivered and failed again; left in the queue
	RedriveUnrebuildable = "unrebuildable" // its event cannot be rebuilt; left in the queue
)

// RedriveResult is what happened to one message of the failure queue.
type RedriveResult struct {
	MessageID string `json:"message_id"`
	// Condition is why Lambda gave up (RetriesExhausted,
	// RetryAttemptsExhausted, EventAgeExceeded, RecordAgeExceeded).
	Condition string `json:"condition"`
	// Summary says what the message is about.
	Summary string `json:"summary"`
	// Records is the number of S3 or stream records redriven.
	Records int    `json:"records,omitempty"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// onFailureRecord is the message Lambda sends to an on-failure
// destination: of an asynchronous invocation (with the request payload)
// or of a stream batch (with DDBStreamBatchInfo).
type onFailureRecord struct {
	Version        string `json:"version"`
	Timestamp      string `json:"timestamp"`
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponsePayload json.RawMessage `json:"responsePayload"`
	Batch           *struct {
		ShardID             string `json:"shardId"`
		StartSequenceNumber string `json:"startSequenceNumber"`
		EndSequenceNumber   string `json:"endSequenceNumber"`
		BatchSize           int    `json:"batchSize"`
		StreamArn           string `json:"streamArn"`
	} `json:"DDBStreamBatchInfo"`
}

// Redrive lists the stage's failure queue and, unless opts.List, delivers
// its messages again through the function (see the package documentation
// of the Redrive section). It returns what happened to each message.
func (d *Deployed) Redrive(ctx context.Context, opts RedriveOptions) ([]RedriveResult, error) {
	st := opts.Stage
	if st == nil {
		return nil, errors.New("redrive: no stage given")
	}
	if _, err := d.environment(ctx, st); err != nil {
		return nil, fmt.Errorf("redrive: %w", err)
	}
	queue := opts.Queue
	if queue == "" {
		var err error
		if queue, err = d.failureQueue(ctx, st); err != nil {
			return nil, fmt.Errorf("redrive: %w", err)
		}
	}
	lim := newLimiter(opts.Rate)
	var out []RedriveResult
	seen := map[string]bool{}
	for opts.Max == 0 || len(out) < opts.Max {
		n := int32(10)
		if opts.Max > 0 {
			n = int32(min(10, opts.Max-len(out)))
		}
		res, err := d.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queue), MaxNumberOfMessages: n, WaitTimeSeconds: 1, VisibilityTimeout: 300,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameSentTimestamp},
		})
		if err != nil {
			return out, fmt.Errorf("redrive: receive from %s: %w", queue, err)
		}
		if len(res.Messages) == 0 {
			break
		}
		fresh := 0
		for _, m := range res.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				// Handled in this run already, and visible again: leave it.
				d.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
				continue
			}
			seen[id] = true
			fresh++
			r := d.redriveOne(ctx, st, opts.List, m, lim)
			if r.Outcome == RedriveDone {
				if _, err := d.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
					r.Reason = "redriven, but not deleted from the queue (it will come again): " + err.Error()
				}
			} else {
				// Visible again at once: nothing left the queue.
				d.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
			}
			out = append(out, r)
			if opts.Report != nil {
				opts.Report(r)
			}
		}
		if fresh == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("redrive: interrupted: %w", err)
		}
	}
	return out, nil
}

func (d *Deployed) redriveOne(ctx context.Context, st *pipeline.Stage, list bool, m sqstypes.Message, lim *limiter) RedriveResult {
	r := RedriveResult{MessageID: aws.ToString(m.MessageId)}
	var rec onFailureRecord
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &rec); err != nil || rec.RequestContext.FunctionArn == "" {
		r.Outcome, r.Reason = RedriveUnrebuildable, "not an on-failure record of a Lambda function"
		r.Summary = oneLine(aws.ToString(m.Body), 80)
		return r
	}
	r.Condition = rec.RequestContext.Condition
	if fn := functionOfARN(rec.RequestContext.FunctionArn); fn != functionOfARN(d.Function) {
		r.Outcome, r.Reason = RedriveUnrebuildable, fmt.Sprintf("it is a failure of function %s, not %s", fn, d.Function)
		return r
	}
	var payload []byte
	var reason string
	switch {
	case rec.Batch != nil:
		b := rec.Batch
		r.Summary = fmt.Sprintf("%d records of %s shard %s, sequence %s..%s", b.BatchSize, streamTable(b.StreamArn), b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber)
		if list {
			r.Outcome = RedriveListed
			return r
		}
		payload, r.Records, reason = d.readBatch(ctx, b.StreamArn, b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, b.BatchSize)
	case len(rec.RequestPayload) > 0 && string(rec.RequestPayload) != "null":
		keys, _ := s3Keys(rec.RequestPayload)
		r.Summary = strings.Join(keys, ", ")
		if list {
			r.Outcome = RedriveListed
			return r
		}
		payload, r.Records, reason = d.rebuildS3(ctx, rec.RequestPayload)
	default:
		r.Outcome, r.Reason = RedriveUnrebuildable, "the record holds neither a stream batch nor the event (Lambda leaves out payloads over 256 KB)"
		return r
	}
	if payload == nil {
		r.Outcome, r.Reason = RedriveUnrebuildable, reason
		return r
	}
	if err := lim.wait(ctx); err != nil {
		r.Outcome, r.Reason = RedriveFailed, err.Error()
		return r
	}
	t := &lambdaTarget{d: d}
	resp, err := t.invoke(ctx, payload)
	if err == nil && rec.Batch != nil {
		var recs []json.RawMessage
		var p struct{ Records []json.RawMessage }
		json.Unmarshal(payload, &p)
		recs = p.Records
		var failed int
		if failed, err = failedFrom(resp, recs); err == nil && failed > 0 {
			err = fmt.Errorf("%d of %d records reported failed again", failed, len(recs))
		}
	}
	if err != nil {
		r.Outcome, r.Reason = RedriveFailed, err.Error()
		return r
	}
	r.Outcome = RedriveDone
	return r
}

// readBatch reads the records start..end of a shard back from the
// stream, as Lambda delivered them.
func (d *Deployed) readBatch(ctx context.Context, arn, shard, start, end string, size int) ([]byte, int, string) {
	src := engine.NewSDKStreams(d.ddb, d.streams)
	it, err := src.Iterator(ctx, arn, shard, engine.AtSequenceNumber, start)
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "TrimmedDataAccessException" || ae.ErrorCode() == "ResourceNotFoundException") {
			return nil, 0, fmt.Sprintf("the stream no longer holds the records (%s): it keeps them 24 hours", ae.ErrorCode())
		}
		return nil, 0, "read the stream: " + err.Error()
	}
	last, ok := new(big.Int).SetString(end, 10)
	if !ok {
		return nil, 0, fmt.Sprintf("end sequence number %q is not a number", end)
	}
	var recs []json.RawMessage
	for tries := 0; it != "" && tries < 1000; tries++ {
		got, next, err := src.Records(ctx, it, 1000)
		if err != nil {
			return nil, 0, "read the stream: " + err.Error()
		}
		done := false
		for _, g := range got {
			seq, _ := new(big.Int).SetString(g.Sequence, 10)
			if seq == nil || seq.Cmp(last) > 0 {
				done = true
				break
			}
			recs = append(recs, withSourceARN(g.JSON, arn))
			if seq.Cmp(last) == 0 {
				done = true
				break
			}
		}
		if done || (len(got) == 0 && next == it) {
			break
		}
		it = next
	}
	if len(recs) == 0 {
		return nil, 0, "the stream holds none of the batch's records any more"
	}
	if size > 0 && len(recs) < size {
		return nil, 0, fmt.Sprintf("the stream holds %d of the batch's %d records; the rest were trimmed", len(recs), size)
	}
	return streamPayload(recs), len(recs), ""
}

func withSourceARN(rec []byte, arn string) json.RawMessage {
	a, _ := json.Marshal(arn)
	out := bytes.TrimSuffix(bytes.TrimSpace(rec), []byte("}"))
	out = append(append(append(append([]byte{}, out...), `,"eventSourceARN":`...), a...), '}')
	return out
}

// rebuildS3 rebuilds an S3 event's records from the objects as they are
// now: a created object that is gone cannot be redriven.
func (d *Deployed) rebuildS3(ctx context.Context, payload []byte) ([]byte, int, string) {
	var ev struct {
		Records []map[string]any `json:"Records"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil || len(ev.Records) == 0 {
		return nil, 0, "the event in the record is not an S3 event"
	}
	for _, rec := range ev.Records {
		name, _ := rec["eventName"].(string)
		s3m, _ := rec["s3"].(map[string]any)
		bucket, _ := s3m["bucket"].(map[string]any)
		obj, _ := s3m["object"].(map[string]any)
		if bucket == nil || obj == nil {
			return nil, 0, "the event in the record has no bucket or object"
		}
		if !strings.HasPrefix(name, "ObjectCreated:") {
			continue // a removal is redriven as it was
		}
		bname, _ := bucket["name"].(string)
		ekey, _ := obj["key"].(string)
		key, err := url.QueryUnescape(ekey)
		if err != nil {
			key = ekey
		}
		head, err := d.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bname), Key: aws.String(key)})
		if err != nil {
			var ae smithy.APIError
			if errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey") {
				return nil, 0, fmt.Sprintf("s3://%s/%s is gone: nothing to rebuild the event from", bname, key)
			}
			return nil, 0, fmt.Sprintf("read s3://%s/%s: %v", bname, key, err)
		}
		obj["size"] = aws.ToInt64(head.ContentLength)
		obj["eTag"] = strings.Trim(aws.ToString(head.ETag), `"`)
		if v := aws.ToString(head.VersionId); v != "" && v != "null" {
			obj["versionId"] = v
		}
		if head.LastModified != nil {
			rec["eventTime"] = head.LastModified.UTC().Format("2006-01-02T15:04:05.000Z")
		}
	}
	b, _ := json.Marshal(ev)
	return b, len(ev.Records), ""
}

func s3Keys(payload []byte) ([]string, error) {
	objs, err := triggers.DecodeObjects(payload)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s s3://%s/%s", o.Event, o.Bucket, o.Key))
	}
	return out, nil
}

// failureQueue finds the stage's failure queue: the on-failure destination
// of the function's asynchronous invocations (S3 stages) or of the event
// source mapping of the stage's table (stream stages).
func (d *Deployed) failureQueue(ctx context.Context, st *pipeline.Stage) (string, error) {
	var arn string
	if st.ObjectTrigger() != nil {
		cfg, err := d.lambda.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String(d.Function)})
		if err != nil {
			return "", fmt.Errorf("read the asynchronous invocation configuration of %s (pass --queue): %w", d.Function, err)
		}
		if cfg.DestinationConfig != nil && cfg.DestinationConfig.OnFailure != nil {
			arn = aws.ToString(cfg.DestinationConfig.OnFailure.Destination)
		}
	} else {
		table := d.env[contract.TableVar(st.Table().Name())]
		p := lambda.NewListEventSourceMappingsPaginator(d.lambda, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(d.Function)})
		for p.HasMorePages() && arn == "" {
			page, err := p.NextPage(ctx)
			if err != nil {
				return "", fmt.Errorf("list the event source mappings of %s (pass --queue): %w", d.Function, err)
			}
			for _, m := range page.EventSourceMappings {
				if streamTable(aws.ToString(m.EventSourceArn)) == table && m.DestinationConfig != nil && m.DestinationConfig.OnFailure != nil {
					arn = aws.ToString(m.DestinationConfig.OnFailure.Destination)
				}
			}
		}
	}
	if arn == "" {
		return "", fmt.Errorf("function %s has no on-failure destination for stage %s; pass --queue", d.Function, st.Name())
	}
	// arn:aws:sqs:REGION:ACCOUNT:NAME
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return "", fmt.Errorf("the on-failure destination of stage %s is %s, not an SQS queue: redrive reads SQS queues", st.Name(), arn)
	}
	out, err := d.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return "", fmt.Errorf("find the URL of queue %s: %w", arn, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// functionOfARN returns the function name of a name or function ARN
// (with or without a qualifier).
func functionOfARN(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	parts := strings.Split(s, ":")
	if len(parts) >= 7 {
		return parts[6]
	}
	return s
}

// streamTable returns TABLE of arn:aws:dynamodb:R:A:table/TABLE/stream/L.
func streamTable(arn string) string {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok {
		return ""
	}
	t, _, _ := strings.Cut(rest, "/")
	return t
}

// ---- command

func (c *Command) redrive(ctx context.Context, args []string) int {
	fs := c.flags("redrive")
	stage := fs.String("stage", "", "the stage whose failure queue to redrive (required)")
	function := fs.String("function", "", "the name or ARN of the stage's function (required)")
	queue := fs.String("queue", "", "the failure queue's URL (default: the function's on-failure destination)")
	list := fs.Bool("list", false, "list the messages and leave them in the queue")
	maxN := fs.Int("max", 0, "handle at most this many messages (0: all)")
	rate := fs.Float64("rate", 0, "invocations per second; 0 for no limit")
	jsonOut := fs.Bool("json", false, "print one JSON object per message and a summary")
	region := fs.String("region", "", "the AWS region (default: the configured one)")
	endpoint := fs.String("endpoint-url", "", "send every AWS call to this endpoint instead")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	st := c.App.StageNamed(*stage)
	if st == nil || *function == "" {
		fmt.Fprintf(c.Stderr, "%s redrive: name the stage (--stage, one of %s) and its deployed function (--function)\n", c.Name, strings.Join(stageNamesOf(c), ", "))
		return 2
	}
	d, err := LoadDeployed(ctx, *function, *region, *endpoint)
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s redrive: %v\n", c.Name, err)
		return 1
	}
	p := &printer{w: c.Stdout, json: *jsonOut}
	report := func(r RedriveResult) {
		if p.json {
			p.emit(map[string]any{"type": "message", "message_id": r.MessageID, "condition": r.Condition, "summary": r.Summary, "records": r.Records, "outcome": r.Outcome, "reason": r.Reason})
			return
		}
		line := fmt.Sprintf("%s  %-13s %-22s %s", r.MessageID, r.Outcome, r.Condition, r.Summary)
		if r.Reason != "" {
			line += "\n    " + r.Reason
		}
		p.raw(line + "\n")
	}
	start := time.Now()
	res, err := d.Redrive(ctx, RedriveOptions{Stage: st, Queue: *queue, List: *list, Max: *maxN, Rate: *rate, Report: report})
	counts := map[string]int{}
	for _, r := range res {
		counts[r.Outcome]++
	}
	if p.json {
		m := map[string]any{"type": "summary", "stage": st.Name(), "messages": len(res), "redriven": counts[RedriveDone], "failed": counts[RedriveFailed], "unrebuildable": counts[RedriveUnrebuildable], "listed": counts[RedriveListed]}
		if err != nil {
			m["error"] = err.Error()
		}
		p.emit(m)
	} else {
		fmt.Fprintf(c.Stdout, "redrive of stage %s: %d messages, %d redriven, %d failed again, %d cannot be rebuilt, %d listed (%s); what was not redriven stays in the queue\n",
			st.Name(), len(res), counts[RedriveDone], counts[RedriveFailed], counts[RedriveUnrebuildable], counts[RedriveListed], time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s redrive: %v\n", c.Name, err)
		return 1
	}
	if counts[RedriveFailed]+counts[RedriveUnrebuildable] > 0 {
		return 1
	}
	return 0
}
