// Package failreason carries why stream records failed from a stage's
// handler to the local engine that invoked it. A partial batch response
// names the failed records but not why; the engine puts a Recorder in the
// invocation's context, the stage's runtime records the error of each
// record it reports failed, and the delivery line and the dead letter then
// say what the stage said.
//
// Out of process (in Lambda, and under `dev --rie`) there is no Recorder:
// the runtime logs one line instead, LogMessage with the attributes SeqKey
// and ErrorKey, and the local emulator runner reads it from the
// function's output into the engine's Recorder.
package failreason

import (
	"context"
	"sync"
)

type key struct{}

// Recorder keeps the error of each failed record, by sequence number.
type Recorder struct {
	mu   sync.Mutex
	errs map[string]string
}

// With returns ctx carrying r.
func With(ctx context.Context, r *Recorder) context.Context {
	return context.WithValue(ctx, key{}, r)
}

// The log line of a record reported failed, when there is no Recorder:
// message LogMessage, the record's sequence number under SeqKey and its
// error under ErrorKey.
const (
	LogMessage = "record reported failed"
	SeqKey     = "sequence_number"
	ErrorKey   = "error"
)

// Record notes err as the reason the record with sequence number seq
// failed; the first reason recorded for a record is kept. It reports
// whether ctx has a Recorder: without one (in Lambda) it does nothing.
func Record(ctx context.Context, seq string, err error) bool {
	r, _ := ctx.Value(key{}).(*Recorder)
	if r == nil {
		return false
	}
	if err == nil {
		return true
	}
	r.record(seq, err.Error())
	return true
}

func (r *Recorder) record(seq, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errs == nil {
		r.errs = map[string]string{}
	}
	if _, ok := r.errs[seq]; !ok {
		r.errs[seq] = reason
	}
}

// RecordReason is Record for a reason read from a log line.
func RecordReason(ctx context.Context, seq, reason string) {
	if r, _ := ctx.Value(key{}).(*Recorder); r != nil && reason != "" {
		r.record(seq, reason)
	}
}

// Reason returns the error recorded for the record seq, or "".
func (r *Recorder) Reason(seq string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs[seq]
}
