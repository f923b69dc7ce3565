package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nanopipe/nanopipe/internal/s3event"
	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// asyncEvent is one S3 notification queued for one stage.
type asyncEvent struct {
	ID       string          `json:"id"`
	Stage    string          `json:"stage"`
	Payload  json.RawMessage `json:"payload"`
	Received time.Time       `json:"received"`
	Attempts int             `json:"attempts"`
	Summary  string          `json:"summary"`
	Replays  int             `json:"replays,omitempty"`
}

func sortEvents(evs []*asyncEvent) {
	sort.Slice(evs, func(i, j int) bool { return evs[i].Received.Before(evs[j].Received) })
}

// queue is an unbounded FIFO: S3 requests must never wait for stages.
// signal wakes a waiting worker and is never closed (a push or a wake-up
// may race with close); done is closed once, by close, and wakes them all.
type queue struct {
	mu     sync.Mutex
	items  []*asyncEvent
	signal chan struct{}
	done   chan struct{}
	closed bool
}

func newQueue() *queue { return &queue{signal: make(chan struct{}, 1), done: make(chan struct{})} }

func (q *queue) push(ev *asyncEvent) {
	q.mu.Lock()
	q.items = append(q.items, ev)
	q.mu.Unlock()
	q.wake()
}

// wake wakes one waiting worker, if none is woken yet.
func (q *queue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}

// pop waits for an event; nil means the queue was closed.
func (q *queue) pop(ctx context.Context) *asyncEvent {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil
		}
		if len(q.items) > 0 {
			ev := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			n := len(q.items)
			q.mu.Unlock()
			if n > 0 { // wake another worker
				q.wake()
			}
			return ev
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-q.done:
			return nil
		case <-q.signal:
		}
	}
}

type asyncStage struct {
	e       *Engine
	stage   *pipeline.Stage
	trig    *triggers.ObjectTrigger
	bucket  string
	q       *queue
	workers int
}

func (e *Engine) newAsyncStage(s *pipeline.Stage, t *triggers.ObjectTrigger) *asyncStage {
	bucket := t.Bucket
	if n := e.opts.Env.Buckets[bucket]; n != "" {
		bucket = n
	}
	w := e.opts.AsyncConcurrency
	if rc := s.Function().ReservedConcurrency; rc != nil && *rc < w {
		w = *rc // 0: throttled, events wait until they expire
	}
	return &asyncStage{e: e, stage: s, trig: t, bucket: bucket, q: newQueue(), workers: w}
}

func (as *asyncStage) start() {
	for i := 0; i < as.workers; i++ {
		as.e.wg.Add(1)
		go func() {
			defer as.e.wg.Done()
			for {
				ev := as.q.pop(as.e.run)
				if ev == nil {
					return
				}
				as.attempt(ev)
			}
		}()
	}
	if as.workers == 0 {
		// Throttled: expire queued events at their maximum age.
		as.e.wg.Add(1)
		go func() {
			defer as.e.wg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-as.e.run.Done():
					return
				case <-t.C:
					as.q.mu.Lock()
					var keep, expired []*asyncEvent
					for _, ev := range as.q.items {
						if time.Since(ev.Received) > as.trig.MaxEventAge {
							expired = append(expired, ev)
						} else {
							keep = append(keep, ev)
						}
					}
					as.q.items = keep
					as.q.mu.Unlock()
					for _, ev := range expired {
						as.fail(ev, deadletter.EventAgeExceeded, "throttled: the stage's reserved concurrency is 0")
					}
				}
			}
		}()
	}
}

// onObject routes one S3 event record to every stage whose trigger takes
// it, journaling it before the S3 request that caused it returns. It
// returns an error when an event could not be journaled: the request must
// then fail, not be acknowledged. Such an event is still delivered in this
// run (the change it reports is stored), but would not be after a crash;
// the client's retry makes a new, journaled one.
//
// After Stop, events are journaled only, for the next start: they are the
// writes of invocations finishing, whose requests were acknowledged.
func (e *Engine) onObject(rec []byte) error {
	if e.closed.Load() {
		e.log.Error("S3 event after the engine closed: the write is refused", "record", string(rec))
		return errStateClosed
	}
	o, err := s3event.Decode(rec)
	if err != nil {
		e.log.Error("unreadable S3 event record", "error", err)
		return fmt.Errorf("engine: unreadable S3 event record: %w", err)
	}
	var errs []error
	for _, as := range e.async {
		if as.bucket != o.Bucket || !as.trig.Matches(o.Event, o.Key) {
			continue
		}
		ev := &asyncEvent{
			ID:       newRequestID(),
			Stage:    as.stage.Name(),
			Payload:  notification(rec, "nanopipe-"+as.stage.Name()),
			Received: time.Now().UTC(),
			Summary:  fmt.Sprintf("%s s3://%s/%s", o.Event, o.Bucket, o.Key),
		}
		if err := e.enqueue(as, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// enqueue journals ev and queues it. A journal error is returned; the
// event is queued all the same, for delivery in this run.
func (e *Engine) enqueue(as *asyncStage, ev *asyncEvent) error {
	var jerr error
	if err := e.state.addEvent(ev); err != nil {
		e.log.Error("journal S3 event: the write that caused it is refused", "stage", ev.Stage, "event", ev.Summary, "error", err)
		jerr = fmt.Errorf("engine: journal the event of stage %s (%s): %w", ev.Stage, ev.Summary, err)
	}
	if e.stopping.Load() {
		return jerr // journaled: delivered after the next start
	}
	e.busy.Add(1)
	as.q.push(ev)
	return jerr
}

// notification wraps one record into an S3 notification, naming the
// notification configuration as S3 does in configurationId.
func notification(rec []byte, config string) []byte {
	cfg, _ := json.Marshal(config)
	rec = bytes.Replace(rec, []byte(`"configurationId":""`), append([]byte(`"configurationId":`), cfg...), 1)
	out := make([]byte, 0, len(rec)+16)
	out = append(out, `{"Records":[`...)
	out = append(out, rec...)
	return append(out, "]}"...)
}

func (as *asyncStage) attempt(ev *asyncEvent) {
	e := as.e
	c := e.stats[ev.Stage]
	if age := time.Since(ev.Received); age > as.trig.MaxEventAge {
		as.fail(ev, deadletter.EventAgeExceeded, fmt.Sprintf("event is %s old; the stage's MaxEventAge is %s", age.Round(time.Second), as.trig.MaxEventAge))
		return
	}
	ev.Attempts++
	_, err, timedOut, d := e.invoke(e.ctx, as.stage, ev.Payload)
	if e.ctx.Err() != nil && err != nil {
		// Stopping: the event stays journaled and runs again after a restart.
		e.busy.Add(-1)
		return
	}
	c.invocations.Add(1)
	del := Delivery{Stage: ev.Stage, Source: "aws:s3", Event: ev.Summary, Attempt: ev.Attempts, Records: 1, Duration: d, Outcome: OutcomeOK}
	if err == nil {
		c.succeeded.Add(1)
		c.processed.Add(1)
		e.observe(del)
		e.done(ev)
		e.busy.Add(-1)
		return
	}
	c.failed.Add(1)
	del.Outcome, del.Error = OutcomeFailed, err.Error()
	if timedOut {
		del.Outcome = OutcomeTimeout
	}
	e.observe(del)
	if ev.Attempts > as.trig.Retries {
		as.fail(ev, deadletter.RetriesExhausted, err.Error())
		return
	}
	delay := e.opts.AsyncRetryDelay << (ev.Attempts - 1)
	time.AfterFunc(delay, func() {
		if e.run.Err() != nil {
			e.busy.Add(-1)
			return
		}
		as.q.push(ev)
	})
}

// fail sends an event that failed for good to the stage's destination.
func (as *asyncStage) fail(ev *asyncEvent, condition, reason string) {
	e := as.e
	c := e.stats[ev.Stage]
	dest, keep := destination(as.trig.OnFailure)
	del := Delivery{Stage: ev.Stage, Source: "aws:s3", Event: ev.Summary, Attempt: ev.Attempts, Records: 1, Error: condition + ": " + reason}
	if keep {
		l := &deadletter.Letter{Stage: ev.Stage, Source: "aws:s3", Condition: condition, Error: reason, Attempts: ev.Attempts, Destination: dest, Summary: ev.Summary, Records: 1, Replays: ev.Replays, Payload: ev.Payload}
		if err := e.opts.DeadLetters.Put(l); err != nil {
			// Keep the event queued rather than lose it.
			e.log.Error("dead letter", "stage", ev.Stage, "error", err)
			time.AfterFunc(e.opts.MaxRetryDelay, func() { as.q.push(ev) })
			return
		}
		c.deadLettered.Add(1)
		del.Outcome, del.Letter = OutcomeDeadLettered, l.ID
	} else {
		c.discarded.Add(1)
		del.Outcome = OutcomeDiscarded
	}
	e.observe(del)
	e.done(ev)
	e.busy.Add(-1)
}

// done journals that an event needs no more delivery.
func (e *Engine) done(ev *asyncEvent) {
	if err := e.state.doneEvent(ev.ID); err != nil {
		e.log.Error("journal S3 event done (it is delivered again after a restart)", "stage", ev.Stage, "event", ev.Summary, "error", err)
	}
}
