package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/pipeline"
)

// # Backfill
//
// A stage sees what happens after it is deployed; a backfill runs it over
// what exists already: every object under a prefix of its bucket (as an
// ObjectCreated:Put event each), or every item of its table (as INSERT
// records, in batches of the trigger's size), in the event shapes Lambda
// sends. Locally the events go through the local environment (its
// endpoint, its declared-access checks, its metrics and dead letters);
// deployed, through Lambda's Invoke API on the stage's function.
//
// A backfill is rate-limited, keeps a checkpoint so that an interrupted
// run resumes where it stopped (events in flight at the interruption are
// sent again: delivery is at least once, as Lambda's), retries a failed
// event as the trigger says, and dead-letters what fails every attempt.
// Events a resumed run sends again carry the same identity (sequencer,
// event ID), so a stage using an idempotency store skips them.

// BackfillOptions configure a backfill.
type BackfillOptions struct {
	// Stage is the stage to run.
	Stage *pipeline.Stage
	// Prefix narrows an S3 stage's backfill to keys under it; "" takes
	// the trigger's own prefix. Keys the trigger does not match are left
	// out either way.
	Prefix string
	// Rate caps the events (S3) or batches (streams) sent per second; 0
	// sends as fast as Concurrency allows.
	Rate float64
	// Concurrency is how many events or batches are in flight (default 4).
	Concurrency int
	// Retries is how often a failed event or batch is sent again before it
	// is dead-lettered; -1 takes the trigger's retries (S3 default 2;
	// streams at most 3, as a backfill must end).
	Retries int
	// RetryDelay is the wait before the first retry, doubled for each next
	// one (default 1s).
	RetryDelay time.Duration
	// Checkpoint is the file keeping the progress; "" keeps none.
	Checkpoint string
	// DryRun lists what would be sent, to List, and sends nothing.
	DryRun bool
	List   io.Writer
	// Progress, when set, is told of the progress, at most every
	// ProgressEvery (default 200ms) and once at the end.
	Progress      func(BackfillProgress)
	ProgressEvery time.Duration
}

// BackfillProgress counts what a backfill did: events or stream records.
type BackfillProgress struct {
	Stage string `json:"stage"`
	// Listed counts the objects or items read so far; Total is set once
	// the listing is complete.
	Listed int64 `json:"listed"`
	Total  int64 `json:"total,omitempty"`
	// Sent counts invocations, retries included.
	Sent         int64 `json:"sent"`
	Processed    int64 `json:"processed"`
	Failed       int64 `json:"failed"`
	DeadLettered int64 `json:"dead_lettered"`
	// Resumed is set when the run went on from a checkpoint; Skipped
	// counts what the checkpoint said was done before.
	Resumed bool  `json:"resumed,omitempty"`
	Skipped int64 `json:"skipped,omitempty"`
	// Done is set on the last report of a complete run.
	Done    bool          `json:"done"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Letters names where dead letters went.
	Letters string `json:"letters,omitempty"`
}

// backfillTarget is where a backfill sends events and dead letters.
type backfillTarget interface {
	// invoke runs the stage's function on payload; a function error is
	// an error.
	invoke(ctx context.Context, payload []byte) ([]byte, error)
	deadLetter(l backfillLetter) error
	letters() string
}

type backfillLetter struct {
	Stage    string          `json:"stage"`
	Source   string          `json:"source"`
	Error    string          `json:"error"`
	Attempts int             `json:"attempts"`
	Records  int             `json:"records"`
	Summary  string          `json:"summary"`
	Payload  json.RawMessage `json:"payload"`
}

// backfillSource is what a backfill reads: the physical names and clients.
type backfillSource struct {
	s3        *s3.Client
	ddb       *dynamodb.Client
	bucket    string // physical name of an S3 stage's bucket
	table     string // physical name of a stream stage's table
	streamARN string
	region    string
}

// checkpoint is the file a backfill resumes from.
type checkpoint struct {
	Stage string `json:"stage"`
	// Run identifies the backfill: event IDs of stream records derive
	// from it, so that a resumed run resends the same IDs.
	Run string `json:"run"`
	// After is the last key of an S3 backfill up to which every object
	// was handled; StartKey the page of a table scan to go on from
	// (DynamoDB JSON), Seq the sequence numbers used.
	After    string          `json:"after,omitempty"`
	StartKey json.RawMessage `json:"start_key,omitempty"`
	Seq      int64           `json:"seq"`
	Complete bool            `json:"complete"`
	Counts   struct {
		Handled, Processed, Failed, DeadLettered int64
	} `json:"counts"`
}

func readCheckpoint(path, stage string) (*checkpoint, error) {
	cp := &checkpoint{Stage: stage}
	if path == "" {
		return cp, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backfill: read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("backfill: checkpoint %s is not readable (%v); remove it to start over", path, err)
	}
	if cp.Stage != stage {
		return nil, fmt.Errorf("backfill: checkpoint %s belongs to stage %q, not %q; pass another --checkpoint or remove it", path, cp.Stage, stage)
	}
	return cp, nil
}

func (cp *checkpoint) write(path string) error {
	if path == "" {
		return nil
	}
	b, _ := json.MarshalIndent(cp, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// unit is one invocation's worth of work: an S3 event or a stream batch.
type unit struct {
	payload []byte
	records int
	summary string
	// resume is the checkpoint position when this unit is the first one
	// not yet handled; seq the sequence counter after the unit.
	after    string
	startKey json.RawMessage
	seq      int64
	// streams: the records, to retry from the first failed one.
	recs []json.RawMessage
}

type backfill struct {
	opts   BackfillOptions
	src    backfillSource
	target backfillTarget
	cp     *checkpoint
	start  time.Time

	mu       sync.Mutex
	prog     BackfillProgress
	pending  []*unit // listed, in order, not yet all handled
	handled  map[*unit]bool
	lastSent time.Time
	lastProg time.Time
}

func (o *BackfillOptions) defaults() error {
	if o.Stage == nil {
		return errors.New("backfill: no stage given")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 200 * time.Millisecond
	}
	if o.Rate < 0 {
		return fmt.Errorf("backfill: rate %v is negative", o.Rate)
	}
	if t := o.Stage.ObjectTrigger(); t != nil {
		if o.Prefix == "" {
			o.Prefix = t.Prefix
		}
		if !strings.HasPrefix(o.Prefix, t.Prefix) && !strings.HasPrefix(t.Prefix, o.Prefix) {
			return fmt.Errorf("backfill: prefix %q is outside stage %s's trigger prefix %q: no object there would reach the stage", o.Prefix, o.Stage.Name(), t.Prefix)
		}
		if o.Retries < 0 {
			o.Retries = t.Retries
		}
	} else if o.Retries < 0 {
		o.Retries = 3
		if r := o.Stage.StreamTrigger().Retries; r >= 0 && r < 3 {
			o.Retries = r
		}
	}
	return nil
}

func runBackfill(ctx context.Context, opts BackfillOptions, src backfillSource, target backfillTarget) (BackfillProgress, error) {
	if err := opts.defaults(); err != nil {
		return BackfillProgress{}, err
	}
	cp, err := readCheckpoint(opts.Checkpoint, opts.Stage.Name())
	if err != nil {
		return BackfillProgress{}, err
	}
	b := &backfill{opts: opts, src: src, target: target, cp: cp, start: time.Now(), handled: map[*unit]bool{}}
	b.prog.Stage = opts.Stage.Name()
	if target != nil {
		b.prog.Letters = target.letters()
	}
	if cp.Complete {
		return b.prog, fmt.Errorf("backfill: checkpoint %s says stage %s's backfill is complete; remove it to run again", opts.Checkpoint, opts.Stage.Name())
	}
	if cp.Run == "" {
		cp.Run = newRunID()
	} else {
		b.prog.Resumed = true
		b.prog.Skipped = cp.Counts.Handled
		b.prog.Processed, b.prog.Failed, b.prog.DeadLettered = cp.Counts.Processed, cp.Counts.Failed, cp.Counts.DeadLettered
	}
	units := make(chan *unit)
	listErr := make(chan error, 1)
	lctx, stopList := context.WithCancel(ctx)
	defer stopList()
	go func() {
		defer close(units)
		if opts.Stage.ObjectTrigger() != nil {
			listErr <- b.listObjects(lctx, units)
		} else {
			listErr <- b.listItems(lctx, units)
		}
	}()
	if opts.DryRun {
		for u := range units {
			fmt.Fprintf(opts.List, "%s\n", u.summary)
			b.handle(u, 0, 0)
		}
		b.prog.Done = true
		return b.report(true), <-listErr
	}
	var wg sync.WaitGroup
	limiter := newLimiter(opts.Rate)
	for range opts.Concurrency {
		wg.Go(func() {
			for u := range units {
				if ctx.Err() != nil {
					continue // interrupted: the unit stays pending for the resume
				}
				b.send(ctx, u, limiter)
			}
		})
	}
	wg.Wait()
	lerr := <-listErr
	if lerr == nil && ctx.Err() == nil {
		b.mu.Lock()
		cp.Complete = len(b.pending) == 0
		b.prog.Done = cp.Complete
		b.mu.Unlock()
	}
	b.mu.Lock()
	werr := cp.write(opts.Checkpoint)
	b.mu.Unlock()
	prog := b.report(true)
	switch {
	case lerr != nil && !errors.Is(lerr, context.Canceled):
		return prog, lerr
	case ctx.Err() != nil:
		return prog, fmt.Errorf("backfill: interrupted (%w); run it again with the same checkpoint to resume", context.Cause(ctx))
	case werr != nil:
		return prog, fmt.Errorf("backfill: write checkpoint: %w", werr)
	}
	return prog, nil
}

func newRunID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// queue notes a listed unit, in listing order.
func (b *backfill) queue(u *unit) {
	b.mu.Lock()
	b.pending = append(b.pending, u)
	b.prog.Listed += int64(u.records)
	b.mu.Unlock()
}

// handle marks a unit handled and moves the checkpoint over every unit
// handled from the front.
func (b *backfill) handle(u *unit, processed, deadLettered int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handled[u] = true
	b.prog.Processed += int64(processed)
	b.prog.DeadLettered += int64(deadLettered)
	n := 0
	for n < len(b.pending) && b.handled[b.pending[n]] {
		x := b.pending[n]
		delete(b.handled, x)
		b.cp.After, b.cp.StartKey, b.cp.Seq = x.after, x.startKey, x.seq
		b.cp.Counts.Handled += int64(x.records)
		n++
	}
	b.pending = b.pending[n:]
	b.cp.Counts.Processed, b.cp.Counts.Failed, b.cp.Counts.DeadLettered = b.prog.Processed, b.prog.Failed, b.prog.DeadLettered
	if n > 0 && !b.opts.DryRun && time.Since(b.lastSent) > 200*time.Millisecond {
		b.lastSent = time.Now()
		b.cp.write(b.opts.Checkpoint)
	}
	if b.opts.Progress != nil && time.Since(b.lastProg) >= b.opts.ProgressEvery {
		b.lastProg = time.Now()
		p := b.prog
		p.Elapsed = time.Since(b.start)
		b.opts.Progress(p) // under the lock: reports stay in order
	}
}

func (b *backfill) report(final bool) BackfillProgress {
	b.mu.Lock()
	p := b.prog
	b.mu.Unlock()
	p.Elapsed = time.Since(b.start)
	if final && b.opts.Progress != nil {
		b.opts.Progress(p)
	}
	return p
}

// send delivers a unit with retries, dead-lettering what fails them all.
// An interruption leaves the unit unhandled, for the resume.
func (b *backfill) send(ctx context.Context, u *unit, lim *limiter) {
	stream := b.opts.Stage.StreamTrigger() != nil
	recs := u.recs
	payload := u.payload
	var lastErr error
	for attempt := 0; attempt <= b.opts.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(b.opts.RetryDelay << (attempt - 1)):
			}
		}
		if err := lim.wait(ctx); err != nil {
			return
		}
		b.mu.Lock()
		b.prog.Sent++
		b.mu.Unlock()
		resp, err := b.target.invoke(ctx, payload)
		if ctx.Err() != nil {
			return
		}
		if !stream {
			if err == nil {
				b.handle(u, u.records, 0)
				return
			}
			lastErr = err
			b.fail(1)
			continue
		}
		if err != nil {
			lastErr = err
			b.fail(1)
			continue
		}
		failed, perr := failedFrom(resp, recs)
		if perr != nil {
			lastErr = perr
			b.fail(1)
			continue
		}
		ok := len(recs) - failed
		b.mu.Lock()
		b.prog.Processed += int64(ok)
		b.mu.Unlock()
		if failed == 0 {
			b.handle(u, 0, 0)
			return
		}
		b.fail(1)
		// Lambda retries from the first failed record.
		recs = recs[ok:]
		payload = streamPayload(recs)
		lastErr = fmt.Errorf("%d of the batch's records reported failed", failed)
	}
	n := u.records
	if stream {
		n = len(recs)
	}
	letter := backfillLetter{Stage: b.opts.Stage.Name(), Source: "aws:s3", Error: errString(lastErr), Attempts: b.opts.Retries + 1, Records: n, Summary: "backfill " + u.summary, Payload: payload}
	if stream {
		letter.Source = "aws:dynamodb"
	}
	if err := b.target.deadLetter(letter); err != nil {
		// Not lost: the unit stays unhandled, so the checkpoint does not
		// pass it and a resumed run sends it again.
		b.mu.Lock()
		b.prog.Failed++
		b.mu.Unlock()
		return
	}
	b.handle(u, 0, n)
}

func (b *backfill) fail(n int) {
	b.mu.Lock()
	b.prog.Failed += int64(n)
	b.mu.Unlock()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// failedFrom reads a partial batch response: the number of records from
// the first one reported failed to the end (Lambda retries from there).
func failedFrom(resp []byte, recs []json.RawMessage) (int, error) {
	var br events.DynamoDBEventResponse
	if len(resp) == 0 || string(resp) == "null" {
		return 0, nil
	}
	if err := json.Unmarshal(resp, &br); err != nil {
		return 0, fmt.Errorf("the function's response is not a batch response: %v", err)
	}
	if len(br.BatchItemFailures) == 0 {
		return 0, nil
	}
	first := len(recs)
	for _, f := range br.BatchItemFailures {
		for i, r := range recs {
			var x struct {
				DynamoDB struct {
					Seq string `json:"SequenceNumber"`
				} `json:"dynamodb"`
			}
			json.Unmarshal(r, &x)
			if x.DynamoDB.Seq == f.ItemIdentifier && i < first {
				first = i
			}
		}
	}
	if first == len(recs) {
		// An identifier that names no record fails the whole batch, as
		// Lambda treats it.
		return len(recs), nil
	}
	return len(recs) - first, nil
}

func streamPayload(recs []json.RawMessage) []byte {
	b, _ := json.Marshal(map[string][]json.RawMessage{"Records": recs})
	return b
}

// ---- listing

func (b *backfill) listObjects(ctx context.Context, out chan<- *unit) error {
	t := b.opts.Stage.ObjectTrigger()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(b.src.bucket), Prefix: aws.String(b.opts.Prefix)}
	if b.cp.After != "" {
		in.StartAfter = aws.String(b.cp.After)
	}
	p := s3.NewListObjectsV2Paginator(b.src.s3, in)
	var total int64
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("backfill: list s3://%s/%s: %w", b.src.bucket, b.opts.Prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !t.Matches("ObjectCreated:Put", key) {
				continue
			}
			total++
			u := &unit{payload: b.objectEvent(key, o.Size, aws.ToString(o.ETag), aws.ToTime(o.LastModified)), records: 1, summary: fmt.Sprintf("ObjectCreated:Put s3://%s/%s", b.src.bucket, key), after: key}
			b.queue(u)
			select {
			case out <- u:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	b.mu.Lock()
	b.prog.Total = b.prog.Listed
	b.mu.Unlock()
	return nil
}

// objectEvent is the S3 notification Lambda would get for the object's
// upload. Its sequencer derives from the object's modification time, so
// that a resumed backfill sends the same one.
func (b *backfill) objectEvent(key string, size *int64, etag string, modified time.Time) []byte {
	region := b.src.region
	if region == "" {
		region = "us-east-1"
	}
	var rid [8]byte
	rand.Read(rid[:])
	rec := map[string]any{
		"eventVersion": "2.1",
		"eventSource":  "aws:s3",
		"awsRegion":    region,
		"eventTime":    modified.UTC().Format("2006-01-02T15:04:05.000Z"),
		"eventName":    "ObjectCreated:Put",
		"userIdentity": map[string]string{"principalId": "nanopipe-backfill"},
		"requestParameters": map[string]string{
			"sourceIPAddress": "127.0.0.1",
		},
		"responseElements": map[string]string{
			"x-amz-request-id": strings.ToUpper(hex.EncodeToString(rid[:])),
			"x-amz-id-2":       base64.StdEncoding.EncodeToString(rid[:]),
		},
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"configurationId": "nanopipe-backfill",
			"bucket": map[string]any{
				"name":          b.src.bucket,
				"ownerIdentity": map[string]string{"principalId": "nanopipe-backfill"},
				"arn":           "arn:aws:s3:::" + b.src.bucket,
			},
			"object": map[string]any{
				"key":       url.QueryEscape(key),
				"size":      aws.ToInt64(size),
				"eTag":      strings.Trim(etag, `"`),
				"sequencer": fmt.Sprintf("%016X", modified.UnixNano()),
			},
		},
	}
	// S3 form-encodes keys, but keeps '/' as is.
	rec["s3"].(map[string]any)["object"].(map[string]any)["key"] = strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
	p, _ := json.Marshal(map[string]any{"Records": []any{rec}})
	return p
}

func (b *backfill) listItems(ctx context.Context, out chan<- *unit) error {
	tb := b.opts.Stage.Table()
	size := b.opts.Stage.StreamTrigger().BatchSize
	if size <= 0 {
		size = 100
	}
	var start map[string]types.AttributeValue
	if len(b.cp.StartKey) > 0 {
		m, err := decodeItem(b.cp.StartKey)
		if err != nil {
			return fmt.Errorf("backfill: checkpoint start key: %w", err)
		}
		start = m
	}
	seq := b.cp.Seq
	for {
		pageStart, pageSeq := encodeItem(start), seq
		res, err := b.src.ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(b.src.table), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("backfill: scan table %s: %w", b.src.table, err)
		}
		for i := 0; i < len(res.Items); i += size {
			var recs []json.RawMessage
			for _, it := range res.Items[i:min(i+size, len(res.Items))] {
				seq++
				recs = append(recs, b.insertRecord(tb, it, seq))
			}
			u := &unit{payload: streamPayload(recs), records: len(recs), recs: recs, startKey: pageStart, seq: pageSeq,
				summary: fmt.Sprintf("%d INSERT records of table %s (items %d-%d of a scan page)", len(recs), b.src.table, i+1, i+len(recs))}
			// Within a page the checkpoint is the page's start: a resume
			// scans it again, with the sequence numbers it had. After its
			// last batch, it is the next page.
			if i+size >= len(res.Items) {
				u.startKey, u.seq = encodeItem(res.LastEvaluatedKey), seq
			}
			b.queue(u)
			select {
			case out <- u:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		start = res.LastEvaluatedKey
	}
	b.mu.Lock()
	b.prog.Total = b.prog.Listed
	b.mu.Unlock()
	return nil
}

// insertRecord is the stream record DynamoDB would write for the item's
// insertion, with an event ID derived from the run and the item's key.
func (b *backfill) insertRecord(tb *pipeline.Table, item map[string]types.AttributeValue, seq int64) json.RawMessage {
	keys := map[string]types.AttributeValue{}
	keyNames := []string{tb.PartitionKey().Name}
	if sk := tb.SortKey(); sk != nil {
		keyNames = append(keyNames, sk.Name)
	}
	for _, k := range keyNames {
		keys[k] = item[k]
	}
	keyJSON := encodeItem(keys)
	id := sha256.Sum256(append([]byte(b.cp.Run+"/"), keyJSON...))
	view := tb.StreamView()
	if view == "" {
		view = pipeline.ViewNewAndOldImages
	}
	ddb := map[string]any{
		"ApproximateCreationDateTime": time.Now().Unix(),
		"Keys":                        keyJSON,
		"SequenceNumber":              fmt.Sprintf("9%020d", seq),
		"SizeBytes":                   len(encodeItem(item)),
		"StreamViewType":              string(view),
	}
	if view == pipeline.ViewNewImage || view == pipeline.ViewNewAndOldImages {
		ddb["NewImage"] = encodeItem(item)
	}
	region := b.src.region
	if region == "" {
		region = "us-east-1"
	}
	r, _ := json.Marshal(map[string]any{
		"eventID":        hex.EncodeToString(id[:16]),
		"eventName":      "INSERT",
		"eventVersion":   "1.1",
		"eventSource":    "aws:dynamodb",
		"awsRegion":      region,
		"dynamodb":       ddb,
		"eventSourceARN": b.src.streamARN,
	})
	return r
}

// encodeItem renders attribute values as DynamoDB JSON, the form stream
// records carry.
func encodeItem(m map[string]types.AttributeValue) json.RawMessage {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = avToJSON(v)
	}
	b, _ := json.Marshal(out)
	return b
}

func avToJSON(v types.AttributeValue) map[string]any {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": x.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": x.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": x.Value}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": x.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": true}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": x.Value}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": x.Value}
	case *types.AttributeValueMemberBS:
		return map[string]any{"BS": x.Value}
	case *types.AttributeValueMemberL:
		l := make([]any, len(x.Value))
		for i, e := range x.Value {
			l[i] = avToJSON(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		m := make(map[string]any, len(x.Value))
		for k, e := range x.Value {
			m[k] = avToJSON(e)
		}
		return map[string]any{"M": m}
	}
	return map[string]any{"NULL": true}
}

func decodeItem(b []byte) (map[string]types.AttributeValue, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	out := map[string]types.AttributeValue{}
	for k, v := range raw {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(v, &one); err != nil {
			return nil, err
		}
		for t, val := range one {
			switch t {
			case "S":
				var s string
				json.Unmarshal(val, &s)
				out[k] = &types.AttributeValueMemberS{Value: s}
			case "N":
				var s string
				json.Unmarshal(val, &s)
				out[k] = &types.AttributeValueMemberN{Value: s}
			case "B":
				var bs []byte
				json.Unmarshal(val, &bs)
				out[k] = &types.AttributeValueMemberB{Value: bs}
			default:
				return nil, fmt.Errorf("key attribute %s has type %s; keys are S, N or B", k, t)
			}
		}
	}
	return out, nil
}

// ---- rate limiting

type limiter struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	return &limiter{every: time.Duration(float64(time.Second) / rate)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l.every == 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.every)
	l.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(at)):
		return nil
	}
}

// ---- local target

// localTarget sends events through a running local environment: in
// process with the environment's Env (declared accesses enforced,
// metrics counted), or to the emulator with Options.RIE; dead letters go
// to its store, where deadletters and replay find them.
type localTarget struct {
	env   *Environment
	stage *pipeline.Stage
}

func (t localTarget) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if r := t.env.runner(); r != nil {
		return r.Invoke(ctx, t.stage, payload)
	}
	return plumbing.Invoke(ctx, t.stage, t.env.Env(), payload)
}

func (t localTarget) deadLetter(l backfillLetter) error {
	return t.env.letters.Put(letterOf(l))
}

func (t localTarget) letters() string { return "the local dead letters" }

// Backfill runs opts.Stage over what exists in the environment: every
// object under the prefix of its bucket, or every item of its table.
// It returns the counts, and an error when it was interrupted (resume with
// the same Checkpoint) or could not read its source.
func (e *Environment) Backfill(ctx context.Context, opts BackfillOptions) (BackfillProgress, error) {
	if opts.Stage == nil || opts.Stage.App() != e.app {
		return BackfillProgress{}, fmt.Errorf("backfill: the stage is not one of app %s", e.app.Name())
	}
	src := backfillSource{s3: e.S3Client(), ddb: e.DynamoDBClient()}
	if b := opts.Stage.Bucket(); b != nil {
		src.bucket = b.Name()
	}
	if t := opts.Stage.Table(); t != nil {
		src.table = t.Name()
		src.streamARN = e.env.Streams[t.Name()]
	}
	return runBackfill(ctx, opts, src, localTarget{env: e, stage: opts.Stage})
}

func letterOf(l backfillLetter) *deadletter.Letter {
	now := time.Now().UTC()
	return &deadletter.Letter{
		ID: deadletter.NewID(now), Stage: l.Stage, Source: l.Source, Time: now,
		Condition: deadletter.RetriesExhausted, Error: l.Error, Attempts: l.Attempts,
		Destination: "backfill", Summary: l.Summary, Records: l.Records, Payload: l.Payload,
	}
}
