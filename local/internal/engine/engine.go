package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Options configure an Engine.
type Options struct {
	// App is the declaration whose stages are delivered to.
	App *pipeline.App
	// Env is what stages run against (clients pointed at the backends).
	Env *pipeline.Env
	// Objects delivers S3 events; nil delivers none.
	Objects ObjectSource
	// Streams reads table streams; nil delivers no stream stages.
	Streams StreamSource
	// DeadLetters receives what failed for good. Required.
	DeadLetters *deadletter.Store
	// StateDir keeps queued S3 events and stream checkpoints so that a
	// restart neither loses nor repeats work; "" keeps them in memory.
	StateDir string
	// Region and Account appear in function ARNs (defaults us-east-1,
	// 000000000000).
	Region, Account string
	// Observer, when set, is told of every invocation attempt and of every
	// event or batch sent to the dead letters. It is called concurrently.
	Observer func(Delivery)
	// AsyncRetryDelay is the wait before the first retry of a failed S3
	// invocation; it doubles for the second. Lambda waits about a minute;
	// the default here is one second, to keep a local loop short.
	AsyncRetryDelay time.Duration
	// StreamRetryDelay is the wait before retrying a failed stream batch;
	// it doubles with each retry up to MaxRetryDelay (defaults 100ms, 5s).
	StreamRetryDelay time.Duration
	MaxRetryDelay    time.Duration
	// PollInterval is how often a stream without a Notifier is polled
	// (default 250ms, as Lambda polls shards four times a second).
	PollInterval time.Duration
	// AsyncConcurrency is how many S3 events of one stage run at once
	// (default 10); a stage's ReservedConcurrency lowers it.
	AsyncConcurrency int
	// Logger receives the engine's own problems (reading a stream, writing
	// state); nil discards them.
	Logger *slog.Logger
	// Invoker, when set, runs the invocations instead of calling the
	// stages in-process: the local environment's runtime interface
	// emulator mode (package rie) delivers through one.
	Invoker Invoker
}

// Invoker runs one invocation of a stage's function out of process, the
// way Lambda's Invoke API does, and returns the function's response.
//
// The ctx carries the invocation's lambdacontext (request ID) and is
// cancelled when the engine stops; the Invoker enforces the function's
// timeout itself. A function error (including a panic or a crash) is a
// non-nil error whose message is the function's errorMessage; an
// invocation that overran the timeout returns an error whose Timeout
// method reports true.
type Invoker interface {
	Invoke(ctx context.Context, s *pipeline.Stage, payload []byte) ([]byte, error)
}

// Outcomes of a Delivery.
const (
	OutcomeOK           = "ok"            // the invocation succeeded
	OutcomeFailed       = "failed"        // the function returned an error or panicked
	OutcomePartial      = "partial"       // a stream batch reported some records failed
	OutcomeTimeout      = "timeout"       // the invocation overran the function's timeout
	OutcomeDeadLettered = "dead-lettered" // sent to the dead letters
	OutcomeDiscarded    = "discarded"     // failed for good with on-failure Discard
)

// Delivery reports one invocation attempt, or one dead-lettering.
type Delivery struct {
	Time  time.Time
	Stage string
	// Source is "aws:s3" or "aws:dynamodb".
	Source string
	// Event describes the event or batch: "ObjectCreated:Put
	// s3://bucket/key", or "3 records shard ... seq A..B".
	Event    string
	Attempt  int
	Records  int
	Duration time.Duration
	Outcome  string
	// Failed is the number of records a stream batch reported as failed.
	Failed int
	Error  string
	// Letter is the dead letter's ID for OutcomeDeadLettered.
	Letter string
}

// StageStats counts what happened to a stage's events.
type StageStats struct {
	Stage string `json:"stage"`
	// Invocations counts attempts; Succeeded and Failed split them.
	Invocations int64 `json:"invocations"`
	Succeeded   int64 `json:"succeeded"`
	Failed      int64 `json:"failed"`
	// Processed counts S3 events or stream records acknowledged after
	// the stage processed them.
	Processed int64 `json:"processed"`
	// Filtered counts stream records dropped by the trigger's filters.
	Filtered int64 `json:"filtered"`
	// DeadLettered counts events or records sent to the dead letters;
	// Discarded those dropped by on-failure Discard.
	DeadLettered int64 `json:"deadLettered"`
	Discarded    int64 `json:"discarded"`
}

type counters struct {
	invocations, succeeded, failed, processed, filtered, deadLettered, discarded atomic.Int64
}

// Engine delivers events to stages with Lambda's semantics: S3 events as
// asynchronous invocations, stream records through event source mappings.
type Engine struct {
	opts   Options
	stats  map[string]*counters
	async  map[string]*asyncStage
	maps   []*mapping
	state  *state
	ctx    context.Context // invocations: cancelled last, abandoning what still runs
	cancel context.CancelFunc
	run    context.Context // loops (reading, batching, retry waits): cancelled first
	stop   context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger
	busy   atomic.Int64 // queued or running units of work
	closed atomic.Bool
}

// New validates the options and prepares an engine; Start begins delivery.
func New(opts Options) (*Engine, error) {
	if opts.App == nil || opts.Env == nil || opts.DeadLetters == nil {
		return nil, errors.New("engine: App, Env and DeadLetters are required")
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "000000000000"
	}
	if opts.AsyncRetryDelay == 0 {
		opts.AsyncRetryDelay = time.Second
	}
	if opts.StreamRetryDelay == 0 {
		opts.StreamRetryDelay = 100 * time.Millisecond
	}
	if opts.MaxRetryDelay == 0 {
		opts.MaxRetryDelay = 5 * time.Second
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.AsyncConcurrency <= 0 {
		opts.AsyncConcurrency = 10
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opts: opts, stats: map[string]*counters{}, async: map[string]*asyncStage{}, log: log}
	for _, s := range opts.App.Stages() {
		e.stats[s.Name()] = &counters{}
	}
	st, err := openState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	e.state = st
	return e, nil
}

// Start begins delivering: it subscribes to the object source, resumes S3
// events queued before a restart and starts a mapping per stream stage.
func (e *Engine) Start(ctx context.Context) error {
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.run, e.stop = context.WithCancel(e.ctx)
	for _, s := range e.opts.App.Stages() {
		if t := s.ObjectTrigger(); t != nil {
			e.async[s.Name()] = e.newAsyncStage(s, t)
		}
	}
	for _, ev := range e.state.pendingEvents() {
		if as := e.async[ev.Stage]; as != nil {
			e.busy.Add(1)
			as.q.push(ev)
		} else {
			e.state.doneEvent(ev.ID)
		}
	}
	for _, as := range e.async {
		as.start()
	}
	if e.opts.Objects != nil {
		e.opts.Objects.Subscribe(e.onObject)
	}
	if e.opts.Streams != nil {
		for _, s := range e.opts.App.Stages() {
			if t := s.StreamTrigger(); t != nil {
				m := e.newMapping(s, t)
				// A LATEST mapping counts records from its creation: fix that
				// moment now, before Start returns, so a write made right after
				// is never taken for one made before.
				e.state.createdAt(s.Name(), time.Now())
				e.maps = append(e.maps, m)
				e.wg.Add(1)
				go func() { defer e.wg.Done(); m.run(e.run) }()
			}
		}
	}
	e.wg.Add(1)
	go func() { defer e.wg.Done(); e.state.flushLoop(e.run) }()
	return nil
}

// Close stops delivery. Invocations running are given until ctx is done to
// finish; work not finished stays queued (S3 events) or unacknowledged
// (stream records) and is delivered again after a restart.
func (e *Engine) Close(ctx context.Context) error {
	if e.closed.Swap(true) {
		return nil
	}
	if e.cancel == nil {
		return e.state.close()
	}
	for _, as := range e.async {
		as.q.close()
	}
	e.stop()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		e.cancel()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	e.cancel()
	return e.state.close()
}

// Stats returns the counters of every stage, in declaration order.
func (e *Engine) Stats() []StageStats {
	var out []StageStats
	for _, s := range e.opts.App.Stages() {
		c := e.stats[s.Name()]
		out = append(out, StageStats{
			Stage: s.Name(), Invocations: c.invocations.Load(), Succeeded: c.succeeded.Load(), Failed: c.failed.Load(),
			Processed: c.processed.Load(), Filtered: c.filtered.Load(), DeadLettered: c.deadLettered.Load(), Discarded: c.discarded.Load(),
		})
	}
	return out
}

// Idle reports whether nothing is queued, running or waiting for a retry,
// and every stream shard has been read to its end.
func (e *Engine) Idle() bool {
	if e.busy.Load() != 0 {
		return false
	}
	for _, m := range e.maps {
		if !m.caughtUp() {
			return false
		}
	}
	return true
}

// WaitIdle waits until the engine stays idle for settle.
func (e *Engine) WaitIdle(ctx context.Context, settle time.Duration) error {
	var since time.Time
	for {
		if e.Idle() {
			if since.IsZero() {
				since = time.Now()
			} else if time.Since(since) >= settle {
				return nil
			}
		} else {
			since = time.Time{}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (e *Engine) observe(d Delivery) {
	if d.Time.IsZero() {
		d.Time = time.Now()
	}
	if e.opts.Observer != nil {
		e.opts.Observer(d)
	}
}

var errTimedOut = errors.New("timed out")

// invoke runs one invocation of a stage with Lambda's context and timeout.
// An invocation that overruns is abandoned (its goroutine is left to end
// on its own) and reported as a timeout, as Lambda stops the function.
func (e *Engine) invoke(ctx context.Context, s *pipeline.Stage, payload []byte) (resp []byte, err error, timedOut bool, d time.Duration) {
	if e.opts.Invoker != nil {
		return e.invokeOut(ctx, s, payload)
	}
	timeout := s.Function().Timeout
	ictx, cancel := context.WithTimeoutCause(ctx, timeout, errTimedOut)
	defer cancel()
	ictx = lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{
		AwsRequestID:       newRequestID(),
		InvokedFunctionArn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", e.opts.Region, e.opts.Account, s.FunctionName()),
	})
	type result struct {
		resp []byte
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{nil, fmt.Errorf("stage %s panicked outside its handler: %v", s.Name(), r)}
			}
		}()
		r, err := s.Invoke(ictx, e.opts.Env, payload)
		done <- result{r, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err, false, time.Since(start)
	case <-ictx.Done():
		d := time.Since(start)
		if context.Cause(ictx) == errTimedOut {
			return nil, fmt.Errorf("Task timed out after %.2f seconds", timeout.Seconds()), true, d
		}
		return nil, ctx.Err(), false, d
	}
}

// invokeOut runs an invocation through the Invoker.
func (e *Engine) invokeOut(ctx context.Context, s *pipeline.Stage, payload []byte) (resp []byte, err error, timedOut bool, d time.Duration) {
	ictx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newRequestID(),
		InvokedFunctionArn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", e.opts.Region, e.opts.Account, s.FunctionName()),
	})
	start := time.Now()
	resp, err = e.opts.Invoker.Invoke(ictx, s, payload)
	var t interface{ Timeout() bool }
	timedOut = err != nil && ctx.Err() == nil && errors.As(err, &t) && t.Timeout()
	return resp, err, timedOut, time.Since(start)
}

var reqSeq atomic.Uint64

func newRequestID() string {
	n := reqSeq.Add(1)
	t := uint64(time.Now().UnixNano())
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(t>>32), uint16(t>>16), uint16(t), uint16(n>>48), n&0xffffffffffff)
}

// destination names where a trigger's failures go, and whether they are kept.
func destination(d triggers.Destination) (string, bool) {
	switch d.Kind {
	case triggers.NoDestination:
		return "", false
	case triggers.QueueARN, triggers.TopicARN:
		return d.ARN, true
	}
	return "default", true
}

// ---- persistent state: queued S3 events and stream checkpoints

type state struct {
	dir     string
	mu      sync.Mutex
	pending map[string]*asyncEvent
	log     *os.File
	cps     map[string]string    // mapping|shard -> last acknowledged sequence number
	created map[string]time.Time // mapping -> when it was first started
	dirty   bool
}

type asyncLog struct {
	Op string      `json:"op"`
	Ev *asyncEvent `json:"ev,omitempty"`
	ID string      `json:"id,omitempty"`
}

type checkpointFile struct {
	Checkpoints map[string]string    `json:"checkpoints"`
	Created     map[string]time.Time `json:"created"`
}

func openState(dir string) (*state, error) {
	st := &state{dir: dir, pending: map[string]*asyncEvent{}, cps: map[string]string{}, created: map[string]time.Time{}}
	if dir == "" {
		return st, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "checkpoints.json")); err == nil {
		var cf checkpointFile
		if err := json.Unmarshal(b, &cf); err != nil {
			return nil, fmt.Errorf("engine: checkpoints.json: %w", err)
		}
		if cf.Checkpoints != nil {
			st.cps = cf.Checkpoints
		}
		if cf.Created != nil {
			st.created = cf.Created
		}
	}
	path := filepath.Join(dir, "async.log")
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range splitLines(b) {
			var l asyncLog
			if json.Unmarshal(line, &l) != nil {
				continue // a torn last line
			}
			switch l.Op {
			case "enq":
				st.pending[l.Ev.ID] = l.Ev
			case "done":
				delete(st.pending, l.ID)
			}
		}
	}
	// Compact: keep only what is still pending.
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, ev := range st.pendingEvents() {
		enc.Encode(asyncLog{Op: "enq", Ev: ev})
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	st.log, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return st, nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i == len(b) {
			break // no newline: torn
		}
		out = append(out, b[:i])
		b = b[i+1:]
	}
	return out
}

func (st *state) pendingEvents() []*asyncEvent {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*asyncEvent, 0, len(st.pending))
	for _, ev := range st.pending {
		out = append(out, ev)
	}
	sortEvents(out)
	return out
}

func (st *state) appendLog(l asyncLog) error {
	if st.log == nil {
		return nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = st.log.Write(append(b, '\n'))
	return err
}

func (st *state) addEvent(ev *asyncEvent) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dir == "" {
		return nil
	}
	st.pending[ev.ID] = ev
	return st.appendLog(asyncLog{Op: "enq", Ev: ev})
}

func (st *state) doneEvent(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dir == "" {
		return
	}
	delete(st.pending, id)
	st.appendLog(asyncLog{Op: "done", ID: id})
}

func (st *state) checkpoint(key string) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.cps[key]
}

func (st *state) setCheckpoint(key, seq string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.cps[key] = seq
	st.dirty = true
}

// createdAt returns when the mapping was first started, recording now on
// the first call.
func (st *state) createdAt(key string, now time.Time) time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	if t, ok := st.created[key]; ok {
		return t
	}
	st.created[key] = now
	st.dirty = true
	return now
}

func (st *state) flush() error {
	st.mu.Lock()
	if !st.dirty || st.dir == "" {
		st.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(checkpointFile{Checkpoints: st.cps, Created: st.created})
	st.dirty = false
	st.mu.Unlock()
	if err != nil {
		return err
	}
	path := filepath.Join(st.dir, "checkpoints.json")
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func (st *state) flushLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st.flush()
		}
	}
}

func (st *state) close() error {
	err := st.flush()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.log != nil {
		if e := st.log.Close(); err == nil {
			err = e
		}
		st.log = nil
	}
	return err
}
