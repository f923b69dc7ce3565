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

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/local/internal/journal"
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
	opts     Options
	stats    map[string]*counters
	async    map[string]*asyncStage
	handlers map[*pipeline.Stage]lambda.Handler // in-process: one function per stage
	mu       sync.Mutex                         // guards maps
	maps     []*mapping
	state    *state
	ctx      context.Context // invocations: cancelled last, abandoning what still runs
	cancel   context.CancelFunc
	run      context.Context // loops (reading, batching, retry waits): cancelled first
	stop     context.CancelFunc
	wg       sync.WaitGroup
	log      *slog.Logger
	busy     atomic.Int64 // queued or running units of work
	stopping atomic.Bool  // Stop was called: events are journaled, not queued
	closed   atomic.Bool  // Close was called: the state is closed
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
	e.handlers = map[*pipeline.Stage]lambda.Handler{}
	for _, s := range opts.App.Stages() {
		e.stats[s.Name()] = &counters{}
		// In-process, each stage is a function of its own, checking what it
		// receives as the deployed function does.
		h, err := plumbing.Handler(opts.App, opts.Env, []*pipeline.Stage{s})
		if err != nil {
			return nil, fmt.Errorf("engine: stage %s: %w", s.Name(), err)
		}
		e.handlers[s] = h
	}
	st, err := openState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	e.state = st
	return e, nil
}

// Start begins delivering: it resumes S3 events queued before a restart,
// subscribes to the object source, and starts a mapping per stream
// stage. The subscription is in place before any stage runs, so a write
// of a stage always has its event.
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
		} else if err := e.state.doneEvent(ev.ID); err != nil {
			e.log.Error("journal S3 event", "stage", ev.Stage, "error", err)
		}
	}
	if e.opts.Objects != nil {
		e.opts.Objects.Subscribe(e.onObject)
	}
	for _, as := range e.async {
		as.start()
	}
	if e.opts.Streams != nil {
		var maps []*mapping
		for _, s := range e.opts.App.Stages() {
			if t := s.StreamTrigger(); t != nil {
				// A LATEST mapping counts records from its creation: fix that
				// moment now, before Start returns, so a write made right after
				// is never taken for one made before.
				e.state.createdAt(s.Name(), time.Now())
				maps = append(maps, e.newMapping(s, t))
			}
		}
		e.mu.Lock()
		e.maps = maps
		e.mu.Unlock()
		for _, m := range maps {
			e.wg.Add(1)
			go func() { defer e.wg.Done(); m.run(e.run) }()
		}
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.state.flushLoop(e.run, func(err error) { e.log.Error("write stream checkpoints", "error", err) })
	}()
	return nil
}

// Stop stops delivery. Invocations running are given until ctx is done to
// finish; work not finished stays queued (S3 events) or unacknowledged
// (stream records) and is delivered again after a restart. S3 events that
// arrive after Stop (the writes of invocations finishing) are journaled
// for the next start, until Close.
func (e *Engine) Stop(ctx context.Context) error {
	if e.stopping.Swap(true) || e.cancel == nil {
		return nil
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
	return nil
}

// Close stops delivery as Stop does, then writes and closes the state.
func (e *Engine) Close(ctx context.Context) error {
	err := e.Stop(ctx)
	if e.closed.Swap(true) {
		return err
	}
	if cerr := e.state.close(); err == nil {
		err = cerr
	}
	return err
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
	e.mu.Lock()
	maps := e.maps
	e.mu.Unlock()
	for _, m := range maps {
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
		r, err := e.handlers[s].Invoke(ictx, payload)
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
	log     *journal.Journal     // async.log: "enq" and "done" of queued S3 events
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
	lines := 0
	j, err := journal.Open(filepath.Join(dir, "async.log"), func(line []byte) error {
		lines++
		var l asyncLog
		if err := json.Unmarshal(line, &l); err != nil {
			return err
		}
		switch {
		case l.Op == "enq" && l.Ev != nil:
			st.pending[l.Ev.ID] = l.Ev
		case l.Op == "done":
			delete(st.pending, l.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if lines == len(st.pending) {
		st.log = j // every line is an event still pending: nothing to compact
		return st, nil
	}
	// Compact: keep only what is still pending.
	err = j.Rewrite(func(emit func(any) error) error {
		for _, ev := range st.pendingEvents() {
			if err := emit(asyncLog{Op: "enq", Ev: ev}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("engine: %w", err)
	}
	st.log = j
	return st, nil
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

// addEvent journals a queued event; once it returns nil the event
// survives a crash of the process.
func (st *state) addEvent(ev *asyncEvent) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dir == "" {
		return nil
	}
	if st.log == nil {
		return errStateClosed
	}
	if err := st.log.Append(asyncLog{Op: "enq", Ev: ev}); err != nil {
		return err
	}
	st.pending[ev.ID] = ev
	return nil
}

// doneEvent journals that an event needs no more delivery. An error
// leaves it pending: it is delivered again after a restart.
func (st *state) doneEvent(id string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dir == "" {
		return nil
	}
	if st.log == nil {
		return errStateClosed
	}
	delete(st.pending, id)
	return st.log.Append(asyncLog{Op: "done", ID: id})
}

var errStateClosed = errors.New("engine: the state is closed")

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

func (st *state) flushLoop(ctx context.Context, report func(error)) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := st.flush(); err != nil {
				report(err)
			}
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
