package local_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/local/internal/envhook"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Event is an item of the test tables.
type Event struct {
	ID   string `dynamodbav:"id"`
	N    int    `dynamodbav:"n"`
	Mode string `dynamodbav:"mode"` // "", "fail", "panic", "sleep"
}

// log collects what stages saw and what the engine reported.
type log struct {
	mu         sync.Mutex
	processed  []string // sequence numbers (streams) or keys (S3), in order
	attempts   map[string]int
	deliveries []engine.Delivery
}

func newLog() *log { return &log{attempts: map[string]int{}} }

func (l *log) saw(id string) {
	l.mu.Lock()
	l.attempts[id]++
	l.mu.Unlock()
}

func (l *log) ok(id string) {
	l.mu.Lock()
	l.processed = append(l.processed, id)
	l.mu.Unlock()
}

func (l *log) observe(d engine.Delivery) {
	l.mu.Lock()
	l.deliveries = append(l.deliveries, d)
	l.mu.Unlock()
}

func (l *log) snapshot() ([]string, map[string]int, []engine.Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	att := map[string]int{}
	for k, v := range l.attempts {
		att[k] = v
	}
	return append([]string(nil), l.processed...), att, append([]engine.Delivery(nil), l.deliveries...)
}

func start(t testing.TB, app *pipeline.App, dir string, l *log, shards int) *local.Environment {
	t.Helper()
	opts := local.Options{Dir: dir, Addr: "127.0.0.1:0", Shards: shards, AsyncRetryDelay: 5 * time.Millisecond, StreamRetryDelay: time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}
	if l != nil {
		opts.Observer = l.observe
	}
	env, err := local.Start(context.Background(), app, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		env.Close(ctx)
	})
	return env
}

func idle(t testing.TB, env *local.Environment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := env.WaitIdle(ctx, 30*time.Millisecond); err != nil {
		t.Fatalf("engine did not become idle: %v", err)
	}
}

func putEvents(t testing.TB, env *local.Environment, table string, evs []Event) {
	t.Helper()
	c := env.DynamoDBClient()
	for i := 0; i < len(evs); i += 25 {
		var reqs []types.WriteRequest
		for _, e := range evs[i:min(i+25, len(evs))] {
			item := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: e.ID}, "n": &types.AttributeValueMemberN{Value: strconv.Itoa(e.N)}}
			if e.Mode != "" {
				item["mode"] = &types.AttributeValueMemberS{Value: e.Mode}
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		if _, err := c.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}}); err != nil {
			t.Fatal(err)
		}
	}
}

func letters(t testing.TB, env *local.Environment) []*deadletter.Letter {
	t.Helper()
	ls, err := env.DeadLetters("")
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// streamApp declares a table and a stream stage that fails, panics or
// sleeps on records by their mode.
func streamApp(name string, l *log, opts ...triggers.StreamOption) (*pipeline.App, *pipeline.Stage) {
	app := pipeline.New(name)
	events := app.Table("events", pipeline.PartitionKey("id", pipeline.String))
	st := pipeline.OnChange(app, "consume", events.Changes(opts...), func(ctx context.Context, c triggers.Change[Event]) error {
		l.saw(c.SequenceNumber)
		if c.New != nil {
			switch c.New.Mode {
			case "fail":
				return fmt.Errorf("record %s refused", c.New.ID)
			case "panic":
				panic("boom on " + c.New.ID)
			case "sleep":
				select {
				case <-time.After(3 * time.Second):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		l.ok(c.SequenceNumber)
		return nil
	})
	return app, st
}

func TestStreamPartialBatchBisectDeadLetter(t *testing.T) {
	for _, mode := range []string{"fail", "panic"} {
		t.Run(mode, func(t *testing.T) {
			l := newLog()
			app, _ := streamApp("partial", l, triggers.BatchSize(10), triggers.BatchingWindow(time.Second), triggers.Retries(2), triggers.Bisect())
			env := start(t, app, "", l, 1)
			var evs []Event
			for i := 0; i < 10; i++ {
				e := Event{ID: fmt.Sprint("e", i), N: i}
				if i == 4 {
					e.Mode = mode
				}
				evs = append(evs, e)
			}
			putEvents(t, env, "events", evs)
			idle(t, env)
			processed, attempts, deliveries := l.snapshot()
			if len(processed) != 9 {
				t.Fatalf("processed %d records, want 9", len(processed))
			}
			if !sort.SliceIsSorted(processed, func(i, j int) bool { return processed[i] < processed[j] }) {
				t.Errorf("records processed out of order: %v", processed)
			}
			// The first invocation gets all ten, acknowledges four and reports
			// six failed (partial batch response).
			first := deliveries[0]
			if first.Records != 10 || first.Outcome != engine.OutcomePartial || first.Failed != 6 {
				t.Errorf("first delivery: %+v", first)
			}
			ls := letters(t, env)
			if len(ls) != 1 || ls[0].Records != 1 || ls[0].Condition != deadletter.RetryAttemptsExhausted || ls[0].Stream == nil || ls[0].Stream.BatchSize != 1 {
				t.Fatalf("letters: %+v", ls)
			}
			bad := ls[0].Stream.StartSequence
			// Invoked in the batch of 10, in the half [4,5,6], alone, then
			// retried twice: splits do not count as retries.
			if attempts[bad] != 5 {
				t.Errorf("bad record attempted %d times", attempts[bad])
			}
			if !strings.Contains(string(ls[0].Payload), `"eventSourceARN"`) || !strings.Contains(string(ls[0].Payload), `"Keys":{"id":{"S":"e4"}}`) {
				t.Errorf("letter payload/error: %s / %s", ls[0].Payload, ls[0].Error)
			}
			for _, seq := range processed {
				if attempts[seq] != 1 {
					t.Errorf("good record %s invoked %d times", seq, attempts[seq])
				}
			}
			st := env.Stats()[0]
			if st.Processed != 9 || st.DeadLettered != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestStreamTimeout(t *testing.T) {
	l := newLog()
	app, st := streamApp("timeouts", l, triggers.BatchSize(5), triggers.Retries(1))
	st.Timeout(time.Second)
	env := start(t, app, "", l, 1)
	putEvents(t, env, "events", []Event{{ID: "slow", Mode: "sleep"}})
	idle(t, env)
	_, _, deliveries := l.snapshot()
	var timeouts int
	for _, d := range deliveries {
		if d.Outcome == engine.OutcomeTimeout {
			timeouts++
			if d.Duration < time.Second || d.Duration > 2*time.Second {
				t.Errorf("timed out after %s", d.Duration)
			}
		}
	}
	if timeouts != 2 {
		t.Errorf("%d timeouts, want 2 (first attempt and one retry)", timeouts)
	}
	ls := letters(t, env)
	if len(ls) != 1 || !strings.Contains(ls[0].Error, "timed out") || ls[0].Attempts != 2 {
		t.Fatalf("letters %+v", ls)
	}
}

func TestStreamFiltersAndBatching(t *testing.T) {
	l := newLog()
	app, _ := streamApp("filters", l, triggers.Insert, triggers.BatchSize(100), triggers.BatchingWindow(time.Second))
	env := start(t, app, "", l, 1)
	evs := []Event{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	putEvents(t, env, "events", evs)
	evs[0].N = 1 // a MODIFY, filtered out by triggers.Insert
	putEvents(t, env, "events", evs[:1])
	idle(t, env)
	processed, _, deliveries := l.snapshot()
	if len(processed) != 3 {
		t.Errorf("processed %d, want the 3 inserts", len(processed))
	}
	if len(deliveries) != 1 || deliveries[0].Records != 3 {
		t.Errorf("batching window: %d invocations (%+v), want 1 of 3 records", len(deliveries), deliveries)
	}
	if st := env.Stats()[0]; st.Filtered != 1 {
		t.Errorf("filtered %d, want 1", st.Filtered)
	}
}

// TestTenThousandEvents runs 10,000 stream records, 10% of which always
// fail, and checks that every record is either processed or dead-lettered,
// exactly once, and that each shard's records are processed in order.
func TestTenThousandEvents(t *testing.T) {
	const total = 10000
	l := newLog()
	app, _ := streamApp("tenk", l, triggers.BatchSize(100), triggers.Retries(1), triggers.Bisect())
	env := start(t, app, "", l, 4)
	var evs []Event
	for i := 0; i < total; i++ {
		e := Event{ID: fmt.Sprint("item-", i%700), N: i}
		if i%10 == 7 {
			e.Mode = "fail"
		}
		evs = append(evs, e)
	}
	begin := time.Now()
	putEvents(t, env, "events", evs)
	idle(t, env)
	t.Logf("10,000 records with 10%% failures delivered in %s", time.Since(begin).Round(time.Millisecond))

	processed, _, _ := l.snapshot()
	seen := map[string]int{}
	for _, s := range processed {
		seen[s]++
	}
	dead := map[string]int{}
	for _, lt := range letters(t, env) {
		var recs []string
		for _, part := range strings.Split(string(lt.Payload), `"SequenceNumber":"`)[1:] {
			recs = append(recs, part[:strings.IndexByte(part, '"')])
		}
		if len(recs) != lt.Records {
			t.Fatalf("letter %s: %d records in payload, %d counted", lt.ID, len(recs), lt.Records)
		}
		for _, s := range recs {
			dead[s]++
		}
	}
	for s, n := range seen {
		if n != 1 {
			t.Errorf("record %s processed %d times", s, n)
		}
		if dead[s] > 0 {
			t.Errorf("record %s both processed and dead-lettered", s)
		}
	}
	for s, n := range dead {
		if n != 1 {
			t.Errorf("record %s dead-lettered %d times", s, n)
		}
	}
	if len(seen)+len(dead) != total {
		t.Fatalf("processed %d + dead-lettered %d = %d, want %d", len(seen), len(dead), len(seen)+len(dead), total)
	}
	if len(dead) != total/10 {
		t.Errorf("dead-lettered %d, want the %d failing records", len(dead), total/10)
	}
	// Per-shard order: read each shard's sequence through the Streams API and
	// check processing followed it.
	shardOf := streamShards(t, env, "events")
	last := map[string]string{}
	for _, s := range processed {
		sh := shardOf[s]
		if sh == "" {
			t.Fatalf("record %s is in no shard", s)
		}
		if p := last[sh]; p != "" && !(len(p) < len(s) || (len(p) == len(s) && p < s)) {
			t.Fatalf("shard %s: %s processed after %s", sh, s, p)
		}
		last[sh] = s
	}
	if len(last) < 2 {
		t.Errorf("records used %d shards; the test wants several", len(last))
	}
}

// streamShards maps each record's sequence number to its shard.
func streamShards(t testing.TB, env *local.Environment, table string) map[string]string {
	t.Helper()
	src := envhook.Streams(env)
	ctx := context.Background()
	arn, err := src.StreamARN(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	shards, _ := src.Shards(ctx, arn)
	out := map[string]string{}
	for _, sh := range shards {
		it, _ := src.Iterator(ctx, arn, sh, engine.TrimHorizon, "")
		for it != "" {
			recs, next, err := src.Records(ctx, it, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				out[r.Sequence] = sh
			}
			it = next
		}
	}
	return out
}

// objectApp declares a bucket and an S3 stage that fails or panics on
// keys containing "fail" or "panic".
func objectApp(name string, l *log, broken *bool, opts ...triggers.ObjectOption) *pipeline.App {
	app := pipeline.New(name)
	b := app.Bucket("inbox")
	pipeline.OnObject(app, "ingest", b.Created(opts...), func(ctx context.Context, o triggers.Object) error {
		l.saw(o.Key)
		if *broken {
			switch {
			case strings.Contains(o.Key, "fail"):
				return errors.New("cannot ingest " + o.Key)
			case strings.Contains(o.Key, "panic"):
				panic("ingest panicked on " + o.Key)
			}
		}
		l.ok(o.Key)
		return nil
	})
	return app
}

func putObject(t testing.TB, c *s3.Client, bucket, key string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
		t.Fatal(err)
	}
}

func TestObjectRetriesDeadLettersAndReplay(t *testing.T) {
	l := newLog()
	broken := true
	app := objectApp("async", l, &broken, triggers.Retries(2))
	env := start(t, app, t.TempDir(), l, 1)
	c := env.S3Client()
	for _, k := range []string{"ok-1", "fail-2", "panic-3", "a b+c"} {
		putObject(t, c, "inbox", k)
	}
	idle(t, env)
	processed, attempts, _ := l.snapshot()
	sort.Strings(processed)
	if fmt.Sprint(processed) != "[a b+c ok-1]" {
		t.Errorf("processed %v", processed)
	}
	if attempts["fail-2"] != 3 || attempts["panic-3"] != 3 || attempts["ok-1"] != 1 {
		t.Errorf("attempts %v: want 3 for failing keys (first try + 2 retries), 1 for good ones", attempts)
	}
	ls := letters(t, env)
	if len(ls) != 2 {
		t.Fatalf("letters: %+v", ls)
	}
	for _, lt := range ls {
		if lt.Condition != deadletter.RetriesExhausted || lt.Attempts != 3 || lt.Source != "aws:s3" || !strings.Contains(string(lt.Payload), `"eventName":"ObjectCreated:Put"`) {
			t.Errorf("letter %+v", lt)
		}
	}
	// Replay once the stage is fixed: both are delivered, the letters go.
	broken = false
	for _, r := range env.ReplayAll(context.Background(), []string{ls[0].ID, ls[1].ID}) {
		if r.Error != "" {
			t.Fatalf("replay: %+v", r)
		}
	}
	idle(t, env)
	processed, _, _ = l.snapshot()
	if len(processed) != 4 {
		t.Errorf("after replay processed %v", processed)
	}
	if ls := letters(t, env); len(ls) != 0 {
		t.Errorf("letters left after replay: %d", len(ls))
	}
}

func TestStreamReplay(t *testing.T) {
	l := newLog()
	app, _ := streamApp("replay", l, triggers.BatchSize(5), triggers.Retries(0))
	env := start(t, app, "", l, 1)
	putEvents(t, env, "events", []Event{{ID: "x", Mode: "fail"}})
	idle(t, env)
	ls := letters(t, env)
	if len(ls) != 1 {
		t.Fatalf("letters %d", len(ls))
	}
	// Replaying a record that still fails dead-letters it again, once.
	if res := env.ReplayAll(context.Background(), []string{ls[0].ID}); res[0].Error != "" {
		t.Fatal(res[0].Error)
	}
	ls2 := letters(t, env)
	if len(ls2) != 1 || ls2[0].ID == ls[0].ID || ls2[0].Replays != 1 {
		t.Fatalf("after failed replay: %+v", ls2)
	}
	// Fix the item and replay the stored payload: the stage sees the
	// record as it was (mode fail), so replay a letter whose record passes.
	ls2[0].Payload = []byte(strings.Replace(string(ls2[0].Payload), `"mode":{"S":"fail"}`, `"mode":{"S":""}`, -1))
	envhook.Letters(env).Delete(ls2[0].ID)
	envhook.Letters(env).Put(ls2[0])
	if res := env.ReplayAll(context.Background(), []string{ls2[0].ID}); res[0].Error != "" {
		t.Fatal(res[0].Error)
	}
	if ls3 := letters(t, env); len(ls3) != 0 {
		t.Fatalf("letters after successful replay: %+v", ls3)
	}
	if processed, _, _ := l.snapshot(); len(processed) != 1 {
		t.Errorf("processed %v", processed)
	}
}

// TestRestart checks that state survives a restart: objects, items,
// queued S3 events, and stream checkpoints (nothing is delivered twice).
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	l := newLog()
	app, _ := streamApp("restart", l, triggers.BatchSize(10))
	env := start(t, app, dir, l, 2)
	putEvents(t, env, "events", []Event{{ID: "1"}, {ID: "2"}, {ID: "3"}})
	idle(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	env.Close(ctx)
	cancel()

	// A throttled S3 stage (reserved concurrency 0) leaves its event queued.
	l2 := newLog()
	broken := false
	throttled := objectApp("restart2", l2, &broken)
	throttled.Stages()[0].ReservedConcurrency(0)
	dir2 := t.TempDir()
	env2 := start(t, throttled, dir2, l2, 1)
	putObject(t, env2.S3Client(), "inbox", "queued")
	time.Sleep(50 * time.Millisecond)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	env2.Close(ctx)
	cancel()

	env = start(t, app, dir, l, 2)
	out, err := env.DynamoDBClient().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String("events")})
	if err != nil || len(out.Items) != 3 {
		t.Fatalf("items after restart: %v %v", out, err)
	}
	putEvents(t, env, "events", []Event{{ID: "4"}})
	idle(t, env)
	processed, attempts, _ := l.snapshot()
	if len(processed) != 4 {
		t.Errorf("processed %d records over two runs, want 4 (no redelivery of the first 3)", len(processed))
	}
	for s, n := range attempts {
		if n != 1 {
			t.Errorf("record %s delivered %d times", s, n)
		}
	}

	fixed := objectApp("restart2", l2, &broken)
	env2 = start(t, fixed, dir2, l2, 1)
	idle(t, env2)
	if processed, _, _ := l2.snapshot(); len(processed) != 1 || processed[0] != "queued" {
		t.Errorf("queued S3 event after restart: processed %v", processed)
	}
	g, err := env2.S3Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("inbox"), Key: aws.String("queued")})
	if err != nil {
		t.Fatalf("object after restart: %v", err)
	}
	g.Body.Close()
}
