// Package failreason carries why stream records failed from a stage's
// handler to the local engine that invoked it in-process. A partial batch
// response names the failed records but not why; the engine puts a
// Recorder in the invocation's context, the stage's runtime records the
// error of each record it reports failed, and the delivery line and the
// dead letter then say what the stage said.
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

// Record notes err as the reason the record with sequence number seq
// failed; the first reason recorded for a record is kept. Without a
// Recorder in ctx (in Lambda) it does nothing.
func Record(ctx context.Context, seq string, err error) {
	r, _ := ctx.Value(key{}).(*Recorder)
	if r == nil || err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errs == nil {
		r.errs = map[string]string{}
	}
	if _, ok := r.errs[seq]; !ok {
		r.errs[seq] = err.Error()
	}
}

// Reason returns the error recorded for the record seq, or "".
func (r *Recorder) Reason(seq string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs[seq]
}
