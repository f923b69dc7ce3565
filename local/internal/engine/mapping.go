package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nanopipe/nanopipe/internal/failreason"
	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// maxPayload is Lambda's limit on a synchronous invocation's payload.
const maxPayload = 6 << 20

// mapping is the event source mapping of one stream stage: a reader per
// shard of the table's stream, each feeding Parallelization lanes.
type mapping struct {
	e       *Engine
	stage   *pipeline.Stage
	trig    *triggers.StreamTrigger
	table   string
	mu      sync.Mutex
	readers map[string]*shardReader
}

func (e *Engine) newMapping(s *pipeline.Stage, t *triggers.StreamTrigger) *mapping {
	table := t.Table
	if n := e.opts.Env.Tables[table]; n != "" {
		table = n
	}
	return &mapping{e: e, stage: s, trig: t, table: table, readers: map[string]*shardReader{}}
}

func (m *mapping) caughtUp() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.readers {
		if !r.caught.Load() {
			return false
		}
	}
	return true
}

// run discovers the table's stream and its shards, and starts a reader per
// shard. A stream enabled later, or replaced, is picked up.
func (m *mapping) run(ctx context.Context) {
	created := m.e.state.createdAt(m.stage.Name(), time.Now())
	src := m.e.opts.Streams
	for {
		arn, err := src.StreamARN(ctx, m.table)
		if err != nil && ctx.Err() == nil {
			m.e.log.Warn("describe table stream", "stage", m.stage.Name(), "table", m.table, "error", err)
		}
		if arn != "" {
			shards, err := src.Shards(ctx, arn)
			if err != nil && ctx.Err() == nil {
				m.e.log.Warn("describe stream", "stage", m.stage.Name(), "stream", arn, "error", err)
			}
			for _, id := range shards {
				key := m.stage.Name() + "|" + arn + "|" + id
				m.mu.Lock()
				if m.readers[key] == nil {
					r := m.newReader(arn, id, key, created)
					m.readers[key] = r
					m.e.wg.Add(1)
					go func() { defer m.e.wg.Done(); r.run(ctx) }()
				}
				m.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// item is one stream record on its way to the stage.
type item struct {
	seq     string
	created time.Time
	arrived time.Time
	json    []byte // the record as Lambda delivers it, with eventSourceARN
}

type shardReader struct {
	m       *mapping
	arn     string
	shard   string
	key     string
	created time.Time
	tr      *tracker
	lanes   []*lane
	caught  atomic.Bool
	space   chan struct{} // lanes signal when they took records
}

func (m *mapping) newReader(arn, shard, key string, created time.Time) *shardReader {
	r := &shardReader{m: m, arn: arn, shard: shard, key: key, created: created, space: make(chan struct{}, 1)}
	r.tr = newTracker(func(seq string) { m.e.state.setCheckpoint(key, seq) })
	for i := 0; i < max(1, m.trig.Parallelization); i++ {
		r.lanes = append(r.lanes, &lane{r: r, signal: make(chan struct{}, 1)})
	}
	return r
}

func (r *shardReader) buffered() int {
	n := 0
	for _, l := range r.lanes {
		n += l.load()
	}
	return n
}

func (r *shardReader) wait(ctx context.Context, d time.Duration, extra <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-extra:
	case <-r.space:
	}
}

func (r *shardReader) run(ctx context.Context) {
	e := r.m.e
	src := e.opts.Streams
	for _, l := range r.lanes {
		e.wg.Add(1)
		go func() { defer e.wg.Done(); l.run(ctx) }()
	}
	cp := e.state.checkpoint(r.key)
	lastRead := cp
	skipBefore := time.Time{}
	if cp == "" && r.m.trig.StartingPosition == triggers.Latest {
		// The mapping started at LATEST when it was first created; after a
		// restart without a checkpoint, records written since then count.
		skipBefore = r.created
	}
	limit := max(1000, 4*r.m.trig.BatchSize)
	var it string
	backoff := e.opts.StreamRetryDelay
	for ctx.Err() == nil {
		if it == "" {
			var err error
			switch {
			case lastRead != "":
				it, err = src.Iterator(ctx, r.arn, r.shard, AfterSequenceNumber, lastRead)
			case !skipBefore.IsZero():
				it, err = src.Iterator(ctx, r.arn, r.shard, TrimHorizon, "")
			default:
				it, err = src.Iterator(ctx, r.arn, r.shard, IteratorType(r.m.trig.StartingPosition), "")
			}
			if err != nil {
				if ctx.Err() == nil {
					e.log.Warn("shard iterator", "stage", r.m.stage.Name(), "shard", r.shard, "error", err)
				}
				r.wait(ctx, backoff, nil)
				backoff = min(2*backoff, e.opts.MaxRetryDelay)
				it = ""
				continue
			}
		}
		if r.buffered() >= limit {
			r.wait(ctx, e.opts.PollInterval, nil)
			continue
		}
		var wake <-chan struct{}
		if n, ok := src.(Notifier); ok {
			wake = n.Changed(r.arn) // taken before the read, so no write is missed
		}
		recs, next, err := src.Records(ctx, it, 1000)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("get records", "stage", r.m.stage.Name(), "shard", r.shard, "error", err)
			}
			it = "" // a fresh iterator after the last record read
			r.wait(ctx, backoff, nil)
			backoff = min(2*backoff, e.opts.MaxRetryDelay)
			continue
		}
		backoff = e.opts.StreamRetryDelay
		now := time.Now()
		for _, rec := range recs {
			lastRead = rec.Sequence
			if !skipBefore.IsZero() && rec.Created.Before(skipBefore) {
				continue
			}
			js := withSourceARN(rec.JSON, r.arn)
			r.tr.add(rec.Sequence)
			ok, err := r.m.trig.Matches(js)
			if err != nil {
				e.log.Warn("filter", "stage", r.m.stage.Name(), "error", err)
				ok = true // let the stage see what the filter could not judge
			}
			if !ok {
				e.stats[r.m.stage.Name()].filtered.Add(1)
				r.tr.markDone(rec.Sequence)
				continue
			}
			r.lanes[r.laneFor(js)].push(&item{seq: rec.Sequence, created: rec.Created, arrived: now, json: js})
		}
		if next == "" {
			// The shard is closed and read to its end.
			for ctx.Err() == nil && r.buffered() > 0 {
				r.wait(ctx, e.opts.PollInterval, nil)
			}
			r.caught.Store(true)
			return
		}
		it = next
		if len(recs) == 0 {
			r.caught.Store(r.buffered() == 0)
			r.wait(ctx, e.opts.PollInterval, wake)
		} else {
			r.caught.Store(false)
		}
	}
}

// laneFor keeps the records of one item in one lane, so their order holds
// with Parallelization above 1.
func (r *shardReader) laneFor(js []byte) int {
	if len(r.lanes) == 1 {
		return 0
	}
	var rec struct {
		DynamoDB struct {
			Keys json.RawMessage `json:"Keys"`
		} `json:"dynamodb"`
	}
	json.Unmarshal(js, &rec)
	h := fnv.New32a()
	h.Write(rec.DynamoDB.Keys)
	return int(h.Sum32() % uint32(len(r.lanes)))
}

// withSourceARN adds the eventSourceARN Lambda puts in each record.
func withSourceARN(rec []byte, arn string) []byte {
	rec = bytes.TrimSpace(rec)
	a, _ := json.Marshal(arn)
	out := make([]byte, 0, len(rec)+len(a)+20)
	out = append(out, rec[:len(rec)-1]...)
	out = append(out, `,"eventSourceARN":`...)
	out = append(out, a...)
	return append(out, '}')
}

// ---- lanes: batching, windows, invocation

type lane struct {
	r      *shardReader
	mu     sync.Mutex
	items  []*item
	signal chan struct{}
	busy   int
	// tumbling window
	winOpen  bool
	winStart time.Time
	state    map[string]string
}

func (l *lane) push(it *item) {
	l.mu.Lock()
	l.items = append(l.items, it)
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

func (l *lane) load() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items) + l.busy
}

func (l *lane) windowOf(t time.Time) time.Time {
	return t.Truncate(l.r.m.trig.TumblingWindow)
}

// next waits for the next batch: up to BatchSize records (and 6 MB), after
// the batching window, within one tumbling window. final is true when the
// open tumbling window has ended and its final invocation is due.
func (l *lane) next(ctx context.Context) (batch []*item, final bool) {
	trig := l.r.m.trig
	for {
		l.mu.Lock()
		var wait time.Duration = -1
		if len(l.items) == 0 {
			if l.winOpen {
				end := l.winStart.Add(trig.TumblingWindow)
				if !time.Now().Before(end) {
					l.busy++
					l.mu.Unlock()
					return nil, true
				}
				wait = time.Until(end)
			}
		} else {
			first := l.items[0]
			var win time.Time
			if trig.TumblingWindow > 0 {
				win = l.windowOf(first.created)
				if l.winOpen && !win.Equal(l.winStart) {
					l.busy++
					l.mu.Unlock()
					return nil, true
				}
			}
			n, size := 0, 100
			for _, it := range l.items {
				if n == trig.BatchSize || (trig.TumblingWindow > 0 && !l.windowOf(it.created).Equal(win)) {
					break
				}
				if n > 0 && size+len(it.json)+1 > maxPayload {
					break
				}
				n++
				size += len(it.json) + 1
			}
			full := n == trig.BatchSize || n < len(l.items) || size > maxPayload/2
			due := first.arrived.Add(trig.BatchingWindow)
			if full || trig.BatchingWindow == 0 || !time.Now().Before(due) {
				batch = append([]*item(nil), l.items[:n]...)
				l.items = append(l.items[:0:0], l.items[n:]...)
				l.busy += len(batch)
				if trig.TumblingWindow > 0 && !l.winOpen {
					l.winOpen, l.winStart, l.state = true, win, map[string]string{}
				}
				l.mu.Unlock()
				select {
				case l.r.space <- struct{}{}:
				default:
				}
				return batch, false
			}
			wait = time.Until(due)
		}
		l.mu.Unlock()
		var timer *time.Timer
		var tc <-chan time.Time
		if wait >= 0 {
			timer = time.NewTimer(wait)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
		case <-l.signal:
		case <-tc:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil, false
		}
	}
}

func (l *lane) run(ctx context.Context) {
	for {
		batch, final := l.next(ctx)
		if ctx.Err() != nil {
			return
		}
		if final {
			l.r.m.finalInvoke(ctx, l)
			l.mu.Lock()
			l.busy--
			l.mu.Unlock()
			continue
		}
		l.r.m.process(ctx, l.r.m.e.ctx, l, batch, l.r.tr.markDone, 0)
		l.mu.Lock()
		l.busy -= len(batch)
		l.mu.Unlock()
		select {
		case l.r.space <- struct{}{}:
		default:
		}
	}
}

// ---- processing a batch with Lambda's retry semantics

type batchOutcome struct {
	failedFrom int // index of the first record to retry; len(batch) when all succeeded
	state      map[string]string
	hasState   bool
	outcome    string
	err        string
}

// interpret reads a stream invocation's result as Lambda does: a function
// error fails the whole batch; a partial batch response names the records
// to retry, and Lambda retries from the lowest of them; a response that is
// not valid (unparsable, an empty identifier, an identifier not in the
// batch) fails the whole batch.
func interpret(batch []*item, resp []byte, err error, timedOut bool) batchOutcome {
	if err != nil {
		o := batchOutcome{failedFrom: 0, outcome: OutcomeFailed, err: err.Error()}
		if timedOut {
			o.outcome = OutcomeTimeout
		}
		return o
	}
	var r struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
		State map[string]string `json:"state"`
	}
	if len(bytes.TrimSpace(resp)) == 0 || string(bytes.TrimSpace(resp)) == "null" {
		return batchOutcome{failedFrom: len(batch), outcome: OutcomeOK}
	}
	if e := json.Unmarshal(resp, &r); e != nil {
		return batchOutcome{failedFrom: 0, outcome: OutcomeFailed, err: "invalid partial batch response: " + e.Error()}
	}
	o := batchOutcome{failedFrom: len(batch), outcome: OutcomeOK, state: r.State, hasState: r.State != nil}
	if len(r.BatchItemFailures) == 0 {
		return o
	}
	pos := make(map[string]int, len(batch))
	for i, it := range batch {
		pos[it.seq] = i
	}
	for _, f := range r.BatchItemFailures {
		if f.ItemIdentifier == nil || *f.ItemIdentifier == "" {
			return batchOutcome{failedFrom: 0, outcome: OutcomeFailed, err: "invalid partial batch response: an itemIdentifier is empty"}
		}
		i, ok := pos[*f.ItemIdentifier]
		if !ok {
			return batchOutcome{failedFrom: 0, outcome: OutcomeFailed, err: "invalid partial batch response: itemIdentifier " + *f.ItemIdentifier + " is not in the batch"}
		}
		if i < o.failedFrom {
			o.failedFrom = i
		}
	}
	o.outcome = OutcomePartial
	o.err = fmt.Sprintf("%d of %d records reported failed, from %s", len(batch)-o.failedFrom, len(batch), batch[o.failedFrom].seq)
	return o
}

func recordsPayload(items []*item, extra func(*bytes.Buffer)) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it.json)
	}
	b.WriteByte(']')
	if extra != nil {
		extra(&b)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (l *lane) windowFields(final bool) func(*bytes.Buffer) {
	if l == nil || l.r.m.trig.TumblingWindow == 0 {
		return nil
	}
	return func(b *bytes.Buffer) {
		state, _ := json.Marshal(l.state)
		if l.state == nil {
			state = []byte("{}")
		}
		arn, _ := json.Marshal(l.r.arn)
		shard, _ := json.Marshal(l.r.shard)
		fmt.Fprintf(b, `,"window":{"start":%q,"end":%q},"state":%s,"shardId":%s,"eventSourceARN":%s,"isFinalInvokeForWindow":%t,"isWindowTerminatedEarly":false`,
			l.winStart.UTC().Format(time.RFC3339), l.winStart.Add(l.r.m.trig.TumblingWindow).UTC().Format(time.RFC3339), state, shard, arn, final)
	}
}

func describeBatch(items []*item, shard string) string {
	if len(items) == 0 {
		return "window end, shard " + shard
	}
	if len(items) == 1 {
		return fmt.Sprintf("1 record seq %s shard %s", items[0].seq, shard)
	}
	return fmt.Sprintf("%d records seq %s..%s shard %s", len(items), items[0].seq, items[len(items)-1].seq, shard)
}

func (m *mapping) backoff(retries int) time.Duration {
	d := m.e.opts.StreamRetryDelay
	for i := 1; i < retries && d < m.e.opts.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, m.e.opts.MaxRetryDelay)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// process delivers a batch until every record is processed or sent to the
// on-failure destination: retries with backoff, bisecting a failing batch
// (a split does not count as a retry, as in Lambda), honouring partial
// batch responses and the maximum record age. ack is called with the
// sequence number of every record that is done with. When ctx ends
// first, the records not acknowledged stay unacknowledged.
func (m *mapping) process(ctx, ictx context.Context, l *lane, batch []*item, ack func(string), replays int) {
	e := m.e
	c := e.stats[m.stage.Name()]
	shard := ""
	if l != nil {
		shard = l.r.shard
	}
	type segment struct {
		items   []*item
		retries int
		invokes int
	}
	queue := []*segment{{items: batch}}
	for len(queue) > 0 && ctx.Err() == nil {
		seg := queue[0]
		if m.trig.MaxRecordAge > 0 {
			var fresh, old []*item
			cut := time.Now().Add(-m.trig.MaxRecordAge)
			for _, it := range seg.items {
				if it.created.Before(cut) {
					old = append(old, it)
				} else {
					fresh = append(fresh, it)
				}
			}
			if len(old) > 0 {
				if !m.deadLetter(ctx, l, old, deadletter.RecordAgeExceeded, fmt.Sprintf("records older than the stage's MaxRecordAge %s", m.trig.MaxRecordAge), seg.invokes, ack, replays) {
					return
				}
				seg.items = fresh
			}
			if len(seg.items) == 0 {
				queue = queue[1:]
				continue
			}
		}
		payload := recordsPayload(seg.items, l.windowFields(false))
		seg.invokes++
		why := &failreason.Recorder{}
		resp, err, timedOut, d := e.invoke(failreason.With(ictx, why), m.stage, payload)
		if ictx.Err() != nil {
			return
		}
		o := interpret(seg.items, resp, err, timedOut)
		if o.outcome == OutcomePartial {
			if r := why.Reason(seg.items[o.failedFrom].seq); r != "" {
				o.err += ": " + r
			}
		}
		c.invocations.Add(1)
		del := Delivery{Stage: m.stage.Name(), Source: "aws:dynamodb", Event: describeBatch(seg.items, shard), Attempt: seg.retries + 1, Records: len(seg.items), Duration: d, Outcome: o.outcome, Error: o.err, Failed: len(seg.items) - o.failedFrom}
		if o.outcome == OutcomeOK {
			c.succeeded.Add(1)
		} else {
			c.failed.Add(1)
		}
		e.observe(del)
		for _, it := range seg.items[:o.failedFrom] {
			ack(it.seq)
		}
		c.processed.Add(int64(o.failedFrom))
		if l != nil && o.hasState {
			l.mu.Lock()
			l.state = o.state
			l.mu.Unlock()
		}
		if o.failedFrom == len(seg.items) {
			queue = queue[1:]
			continue
		}
		rest := seg.items[o.failedFrom:]
		if m.trig.Bisect && len(rest) > 1 {
			h := len(rest) / 2
			queue = append([]*segment{{items: rest[:h], retries: seg.retries, invokes: seg.invokes}, {items: rest[h:], retries: seg.retries, invokes: seg.invokes}}, queue[1:]...)
			continue
		}
		seg.retries++
		seg.items = rest
		if m.trig.Retries != triggers.RetryForever && seg.retries > m.trig.Retries {
			if !m.deadLetter(ctx, l, rest, deadletter.RetryAttemptsExhausted, o.err, seg.invokes, ack, replays) {
				return
			}
			queue = queue[1:]
			continue
		}
		if !sleep(ctx, m.backoff(seg.retries)) {
			return
		}
	}
}

// deadLetter sends records that failed for good to the destination. It
// keeps trying to store them until it can (or ctx ends, leaving them
// unacknowledged), so that nothing is dropped silently.
func (m *mapping) deadLetter(ctx context.Context, l *lane, items []*item, condition, reason string, attempts int, ack func(string), replays int) bool {
	e := m.e
	c := e.stats[m.stage.Name()]
	dest, keep := destination(m.trig.OnFailure)
	shard, arn := "", ""
	if l != nil {
		shard, arn = l.r.shard, l.r.arn
	}
	if arn == "" && len(items) > 0 {
		var rec struct {
			ARN string `json:"eventSourceARN"`
		}
		json.Unmarshal(items[0].json, &rec)
		arn = rec.ARN
	}
	del := Delivery{Stage: m.stage.Name(), Source: "aws:dynamodb", Event: describeBatch(items, shard), Attempt: attempts, Records: len(items), Error: condition + ": " + reason}
	if keep {
		letter := &deadletter.Letter{
			Stage: m.stage.Name(), Source: "aws:dynamodb", Condition: condition, Error: reason, Attempts: attempts,
			Destination: dest, Summary: describeBatch(items, shard), Records: len(items), Replays: replays,
			Stream:  &deadletter.Batch{StreamARN: arn, ShardID: shard, BatchSize: len(items)},
			Payload: recordsPayload(items, l.windowFields(len(items) == 0)),
		}
		if len(items) > 0 {
			letter.Stream.StartSequence, letter.Stream.EndSequence = items[0].seq, items[len(items)-1].seq
		}
		for {
			err := e.opts.DeadLetters.Put(letter)
			if err == nil {
				break
			}
			e.log.Error("dead letter", "stage", m.stage.Name(), "error", err)
			if !sleep(ctx, e.opts.MaxRetryDelay) {
				return false
			}
		}
		c.deadLettered.Add(int64(len(items)))
		del.Outcome, del.Letter = OutcomeDeadLettered, letter.ID
	} else {
		c.discarded.Add(int64(len(items)))
		del.Outcome = OutcomeDiscarded
	}
	e.observe(del)
	for _, it := range items {
		ack(it.seq)
	}
	return true
}

// finalInvoke closes a tumbling window: an invocation without records,
// flagged final, carrying the window's state.
func (m *mapping) finalInvoke(ctx context.Context, l *lane) {
	e := m.e
	c := e.stats[m.stage.Name()]
	for retries := 0; ctx.Err() == nil; retries++ {
		payload := recordsPayload(nil, l.windowFields(true))
		resp, err, timedOut, d := e.invoke(e.ctx, m.stage, payload)
		if e.ctx.Err() != nil {
			return
		}
		o := interpret(nil, resp, err, timedOut)
		c.invocations.Add(1)
		e.observe(Delivery{Stage: m.stage.Name(), Source: "aws:dynamodb", Event: describeBatch(nil, l.r.shard), Attempt: retries + 1, Duration: d, Outcome: o.outcome, Error: o.err})
		if o.outcome == OutcomeOK {
			c.succeeded.Add(1)
			break
		}
		c.failed.Add(1)
		if m.trig.Retries != triggers.RetryForever && retries >= m.trig.Retries {
			m.deadLetter(ctx, l, nil, deadletter.RetryAttemptsExhausted, "final invocation of tumbling window failed: "+o.err, retries+1, func(string) {}, 0)
			break
		}
		if !sleep(ctx, m.backoff(retries+1)) {
			return
		}
	}
	l.mu.Lock()
	l.winOpen, l.state = false, nil
	l.mu.Unlock()
}

// ---- checkpoint tracking

// tracker acknowledges a shard's records in order: the checkpoint moves to
// a record only when it and every record before it are done.
type tracker struct {
	mu      sync.Mutex
	base    int64
	seqs    []string
	done    []bool
	index   map[string]int64
	advance func(seq string)
}

func newTracker(advance func(string)) *tracker {
	return &tracker{index: map[string]int64{}, advance: advance}
}

func (t *tracker) add(seq string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.index[seq] = t.base + int64(len(t.seqs))
	t.seqs = append(t.seqs, seq)
	t.done = append(t.done, false)
}

func (t *tracker) markDone(seq string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[seq]
	if !ok {
		return
	}
	t.done[i-t.base] = true
	n := 0
	for n < len(t.done) && t.done[n] {
		delete(t.index, t.seqs[n])
		n++
	}
	if n > 0 {
		last := t.seqs[n-1]
		t.seqs = append(t.seqs[:0:0], t.seqs[n:]...)
		t.done = append(t.done[:0:0], t.done[n:]...)
		t.base += int64(n)
		t.advance(last)
	}
}

// ---- replay

// ErrUnknownStage is returned when a letter names a stage the app does not
// declare.
var ErrUnknownStage = errors.New("engine: dead letter names a stage the app does not declare")

// Replay delivers a dead letter again through its stage with the stage's
// retry policy, and removes it from the store. An S3 event is queued as a
// new asynchronous invocation; a stream batch is processed at once (its
// records go through retries, bisection and partial batch responses
// again). What fails again becomes a new letter.
func (e *Engine) Replay(ctx context.Context, id string) error {
	l, err := e.opts.DeadLetters.Get(id)
	if err != nil {
		return err
	}
	s := e.opts.App.StageNamed(l.Stage)
	if s == nil {
		return fmt.Errorf("%w: %s", ErrUnknownStage, l.Stage)
	}
	switch {
	case s.ObjectTrigger() != nil:
		as := e.async[s.Name()]
		if as == nil {
			return errors.New("engine: not started")
		}
		ev := &asyncEvent{ID: newRequestID(), Stage: s.Name(), Payload: l.Payload, Received: time.Now().UTC(), Summary: l.Summary, Replays: l.Replays + 1}
		if err := e.enqueue(as, ev); err != nil {
			// Not durable: the letter stays, to be replayed again.
			return err
		}
		return e.opts.DeadLetters.Delete(id)
	case s.StreamTrigger() != nil:
		var p struct {
			Records []json.RawMessage `json:"Records"`
		}
		if err := json.Unmarshal(l.Payload, &p); err != nil {
			return fmt.Errorf("engine: letter %s: %w", id, err)
		}
		var items []*item
		now := time.Now()
		for _, r := range p.Records {
			var rec struct {
				DynamoDB struct {
					Seq     string `json:"SequenceNumber"`
					Created int64  `json:"ApproximateCreationDateTime"`
				} `json:"dynamodb"`
			}
			json.Unmarshal(r, &rec)
			// A replayed record is as old as the replay: MaxRecordAge would
			// otherwise send it straight back.
			items = append(items, &item{seq: rec.DynamoDB.Seq, created: now, arrived: now, json: r})
		}
		var m *mapping
		e.mu.Lock()
		maps := e.maps
		e.mu.Unlock()
		for _, x := range maps {
			if x.stage == s {
				m = x
			}
		}
		if m == nil {
			m = e.newMapping(s, s.StreamTrigger())
		}
		e.busy.Add(1)
		defer e.busy.Add(-1)
		acked := 0
		m.process(ctx, ctx, nil, items, func(string) { acked++ }, l.Replays+1)
		if acked != len(items) {
			return fmt.Errorf("engine: replay of %s interrupted: %w", id, ctx.Err())
		}
		return e.opts.DeadLetters.Delete(id)
	}
	return fmt.Errorf("engine: stage %s has no trigger", s.Name())
}
