package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/local/internal/diskfull"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// source is an ObjectSource the test drives.
type source struct {
	mu sync.Mutex
	fn func([]byte) error
}

func (s *source) Subscribe(fn func([]byte) error) { s.mu.Lock(); s.fn = fn; s.mu.Unlock() }

// put reports a new object and returns what the engine answered.
func (s *source) put(key string) error {
	s.mu.Lock()
	fn := s.fn
	s.mu.Unlock()
	return fn([]byte(fmt.Sprintf(`{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"x"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"1","x-amz-id-2":"2"},"s3":{"s3SchemaVersion":"1.0","configurationId":"","bucket":{"name":"inbox","ownerIdentity":{"principalId":"x"},"arn":"arn:aws:s3:::inbox"},"object":{"key":%q,"size":1,"eTag":"e","sequencer":"01"}}}`, key)))
}

type seen struct {
	mu   sync.Mutex
	keys map[string]int
}

func (s *seen) add(k string) { s.mu.Lock(); s.keys[k]++; s.mu.Unlock() }
func (s *seen) n(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[k]
}

func newEngine(t *testing.T, dir string, src *source, block chan struct{}) (*Engine, *seen) {
	t.Helper()
	app := pipeline.New("eng")
	b := app.Bucket("inbox")
	tb := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	s := &seen{keys: map[string]int{}}
	pipeline.OnObject(app, "ingest", b.Created(), func(ctx context.Context, o triggers.Object) error {
		if block != nil && o.Key == "block" {
			<-block
		}
		s.add(o.Key)
		return nil
	})
	type item struct {
		ID string `dynamodbav:"id"`
	}
	pipeline.OnChange(app, "index", tb.Changes(), func(context.Context, triggers.Change[item]) error { return nil })
	letters, err := deadletter.Open("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{App: app, Env: &pipeline.Env{Logger: slog.New(slog.DiscardHandler)}, Objects: src, DeadLetters: letters, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e, s
}

func waitIdle(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.WaitIdle(ctx, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// Events that arrive while the engine stops (the writes of invocations
// finishing) are journaled and delivered after the next start; events
// delivered before are not delivered again.
func TestEventsDuringStopAreKeptForTheNextStart(t *testing.T) {
	dir := t.TempDir()
	src := &source{}
	block := make(chan struct{})
	e, s := newEngine(t, dir, src, block)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := src.put("before"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	if err := src.put("block"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	if err := src.put("during"); err != nil { // as a finishing invocation's write would
		t.Fatal(err)
	}
	close(block)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.n("block") != 1 || s.n("during") != 0 {
		t.Fatalf("before the restart: block %d, during %d", s.n("block"), s.n("during"))
	}

	src2 := &source{}
	e2, s2 := newEngine(t, dir, src2, nil)
	if err := e2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e2.Close(context.Background())
	waitIdle(t, e2)
	if s2.n("during") != 1 || s2.n("before") != 0 || s2.n("block") != 0 {
		t.Errorf("after the restart: %v, want only during, once", s2.keys)
	}
}

// An event that cannot be journaled is refused to its source (which then
// fails the write, so the client retries), yet delivered in this run; an
// event after Close is refused too.
func TestUnjournaledEventIsRefused(t *testing.T) {
	dir := t.TempDir()
	src := &source{}
	e, s := newEngine(t, dir, src, nil)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := src.put("ok"); err != nil {
		t.Fatal(err)
	}
	diskfull.Fill(t, filepath.Join(dir, "async.log"))
	err := src.put("lost")
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "stage ingest") {
		t.Fatalf("put with a full disk: %v, want the journal's error naming the stage", err)
	}
	waitIdle(t, e)
	if s.n("ok") != 1 || s.n("lost") != 1 {
		t.Errorf("delivered in this run: %v, want ok and lost once each", s.keys)
	}
	e.Close(context.Background())
	if err := src.put("late"); err == nil {
		t.Error("an event after Close was accepted")
	}
}

// Idle may be called while Start runs (the status endpoint does): run
// with -race.
func TestIdleDuringStart(t *testing.T) {
	src := &source{}
	e, _ := newEngine(t, t.TempDir(), src, nil)
	e.opts.Streams = noStreams{}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				e.Idle()
			}
		}
	}()
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(done)
	e.Close(context.Background())
}

// noStreams has tables without streams.
type noStreams struct{}

func (noStreams) StreamARN(context.Context, string) (string, error) { return "", nil }
func (noStreams) Shards(context.Context, string) ([]string, error)  { return nil, nil }
func (noStreams) Iterator(context.Context, string, string, IteratorType, string) (string, error) {
	return "", nil
}
func (noStreams) Records(context.Context, string, int) ([]StreamRecord, string, error) {
	return nil, "", nil
}

// The queue's journal survives a torn last line and compacts to what is
// pending.
func TestStateJournal(t *testing.T) {
	dir := t.TempDir()
	st, err := openState(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := st.addEvent(&asyncEvent{ID: fmt.Sprint(i), Stage: "s", Received: time.Unix(int64(i), 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.doneEvent("1"); err != nil {
		t.Fatal(err)
	}
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
	if err := st.addEvent(&asyncEvent{ID: "late", Stage: "s"}); err == nil {
		t.Error("journaling into a closed state succeeded")
	}
	st2, err := openState(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.close()
	var ids []string
	for _, ev := range st2.pendingEvents() {
		ids = append(ids, ev.ID)
	}
	if fmt.Sprint(ids) != "[0 2]" {
		t.Errorf("pending after reopen: %v, want [0 2]", ids)
	}
}
