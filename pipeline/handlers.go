package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nanopipe/nanopipe/internal/failreason"
	"github.com/nanopipe/nanopipe/triggers"
)

// PanicError is the error a panicking stage becomes: the record or event
// fails like any other, and the process goes on.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("stage panicked: %v", p.Value) }

// call runs one unit of stage work (a record, an object, a batch) with its
// own logger, turning a panic into a PanicError and logging the outcome.
func (inv *invocation) call(ctx context.Context, eventID string, fn func(context.Context) error) (err error) {
	log := inv.log.With(slog.String("event_id", eventID))
	ctx = context.WithValue(ctx, loggerKey{}, log)
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
		d := time.Since(start)
		switch {
		case err == nil:
			log.LogAttrs(ctx, slog.LevelInfo, "processed", slog.String("outcome", "ok"), durationAttr(d))
		default:
			attrs := []slog.Attr{slog.String("outcome", "failed"), durationAttr(d), slog.String("error", err.Error())}
			var pe *PanicError
			if errors.As(err, &pe) {
				attrs[0] = slog.String("outcome", "panic")
				attrs = append(attrs, slog.String("stack", string(pe.Stack)))
			}
			log.LogAttrs(ctx, slog.LevelError, "failed", attrs...)
		}
	}()
	return fn(ctx)
}

// failed notes why the record seq, the first the response reports failed,
// failed (err nil: the handler gave no reason). In-process the engine's
// failreason.Recorder keeps it; elsewhere (Lambda, dev --rie) one log line
// says it, with the record's sequence number, which the local emulator
// runner waits for. Every stream response that reports failures calls it
// once, for the first record it reports.
func (inv *invocation) failed(ctx context.Context, seq string, err error) {
	if failreason.Record(ctx, seq, err) {
		return
	}
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	inv.log.LogAttrs(ctx, slog.LevelWarn, failreason.LogMessage, slog.String(failreason.SeqKey, seq), slog.String(failreason.ErrorKey, reason))
}

func durationAttr(d time.Duration) slog.Attr {
	return slog.Float64("duration_ms", float64(d.Microseconds())/1000)
}

type objectHandler func(context.Context, triggers.Object) error

func (h objectHandler) invoke(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	objs, err := triggers.DecodeObjects(payload)
	if err != nil {
		inv.log.Error("unreadable S3 event", slog.String("outcome", "failed"), slog.String("error", err.Error()))
		inv.metrics.objects(1, 1)
		return nil, err
	}
	var errs []error
	for _, o := range objs {
		id := o.Key + "@" + o.Sequencer
		if err := inv.call(ctx, id, func(ctx context.Context) error { return h(ctx, o) }); err != nil {
			errs = append(errs, fmt.Errorf("stage %s: %s s3://%s/%s: %w", inv.stage.name, o.Event, o.Bucket, o.Key, err))
		}
	}
	inv.metrics.objects(len(objs), len(errs))
	// A failure is returned so that Lambda's asynchronous retries and the
	// on-failure destination apply to the event.
	return []byte("null"), errors.Join(errs...)
}

type rawS3Handler func(context.Context, events.S3Event) error

func (h rawS3Handler) invoke(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	var ev events.S3Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("stage %s: decode S3 event: %w", inv.stage.name, err)
	}
	id := ""
	if len(ev.Records) > 0 {
		id = ev.Records[0].S3.Object.Key + "@" + ev.Records[0].S3.Object.Sequencer
	}
	err := inv.call(ctx, id, func(ctx context.Context) error { return h(ctx, ev) })
	inv.metrics.objects(len(ev.Records), failedAll(len(ev.Records), err))
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", inv.stage.name, err)
	}
	return []byte("null"), nil
}

type changeHandler[T any] func(context.Context, triggers.Change[T]) error

func (h changeHandler[T]) invoke(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	ev, err := triggers.DecodeStream[T](payload)
	if err != nil {
		inv.log.Error("unreadable stream event", slog.String("outcome", "failed"), slog.String("error", err.Error()))
		inv.metrics.records(0, 1, 0, time.Time{})
		return nil, fmt.Errorf("stage %s: %w", inv.stage.name, err)
	}
	failures := []events.DynamoDBBatchItemFailure{}
	for i := range ev.Changes {
		c := ev.Changes[i]
		var err error
		switch {
		case ev.Errors != nil && ev.Errors[i] != nil:
			err = fmt.Errorf("decode record into %T: %w", c.New, ev.Errors[i])
			inv.log.LogAttrs(ctx, slog.LevelError, "failed", slog.String("event_id", c.EventID), slog.String("outcome", "undecodable"), slog.String("error", err.Error()))
		case ctx.Err() != nil:
			// Out of time: report the rest rather than be cut off mid-record.
			err = context.Cause(ctx)
			inv.log.LogAttrs(ctx, slog.LevelWarn, "not processed", slog.String("event_id", c.EventID), slog.String("outcome", "deadline"), slog.String("error", err.Error()))
		default:
			err = inv.call(ctx, c.EventID, func(ctx context.Context) error { return h(ctx, c) })
		}
		if err != nil {
			inv.failed(ctx, c.SequenceNumber, err)
			failures = failuresFrom(ev.Changes[i:])
			break
		}
	}
	var state map[string]string
	if ev.Window != nil {
		state = ev.Window.State
	}
	inv.metrics.records(len(ev.Changes), failedOf(len(failures)), len(failures), oldestChange(ev.Changes))
	return streamResponse(failures, ev.Window, state)
}

func failuresFrom[T any](cs []triggers.Change[T]) []events.DynamoDBBatchItemFailure {
	out := make([]events.DynamoDBBatchItemFailure, len(cs))
	for i, c := range cs {
		out[i].ItemIdentifier = c.SequenceNumber
	}
	return out
}

// streamResponse is Lambda's partial batch response: aws-lambda-go's
// DynamoDBEventResponse, or with a tumbling window its
// DynamoDBTimeWindowEventResponse carrying the window's state.
func streamResponse(failures []events.DynamoDBBatchItemFailure, w *triggers.Window, state map[string]string) ([]byte, error) {
	if w == nil {
		return json.Marshal(events.DynamoDBEventResponse{BatchItemFailures: failures})
	}
	return json.Marshal(events.DynamoDBTimeWindowEventResponse{
		TimeWindowEventResponseProperties: events.TimeWindowEventResponseProperties{State: state},
		BatchItemFailures:                 failures,
	})
}

type batchHandler[T any] func(context.Context, *triggers.Batch[T]) error

func (h batchHandler[T]) invoke(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	ev, err := triggers.DecodeStream[T](payload)
	if err != nil {
		inv.log.Error("unreadable stream event", slog.String("outcome", "failed"), slog.String("error", err.Error()))
		inv.metrics.records(0, 1, 0, time.Time{})
		return nil, fmt.Errorf("stage %s: %w", inv.stage.name, err)
	}
	// The batch stage sees the records up to the first one that does not
	// decode; that one and the rest are reported for retry.
	n := len(ev.Changes)
	bad := n
	for i := range ev.Errors {
		if ev.Errors[i] != nil {
			bad = i
			inv.log.LogAttrs(ctx, slog.LevelError, "failed", slog.String("event_id", ev.Changes[i].EventID), slog.String("outcome", "undecodable"), slog.String("error", ev.Errors[i].Error()))
			break
		}
	}
	b := &triggers.Batch[T]{Changes: ev.Changes[:bad], Window: ev.Window}
	if ev.Window != nil {
		b.State = maps.Clone(ev.Window.State)
		if b.State == nil {
			b.State = map[string]string{}
		}
	}
	id := fmt.Sprintf("batch[%d]", n)
	if n > 0 {
		id = fmt.Sprintf("%s..%s", ev.Changes[0].SequenceNumber, ev.Changes[n-1].SequenceNumber)
	}
	from := bad
	state := b.State
	if err := inv.call(ctx, id, func(ctx context.Context) error { return h(ctx, b) }); err != nil {
		// Nothing was processed: keep the window's state as it came.
		from = 0
		if ev.Window != nil {
			state = ev.Window.State
		}
		if n > 0 {
			inv.failed(ctx, ev.Changes[0].SequenceNumber, err)
		}
	} else if i, ferr := b.Failed(); i >= 0 && i < from {
		from = i
		inv.failed(ctx, ev.Changes[i].SequenceNumber, ferr)
	} else if bad < n {
		inv.failed(ctx, ev.Changes[bad].SequenceNumber, ev.Errors[bad])
	}
	inv.metrics.records(n, failedOf(n-from), n-from, oldestChange(ev.Changes))
	return streamResponse(failuresFrom(ev.Changes[from:]), ev.Window, state)
}

type rawStreamHandler func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

func (h rawStreamHandler) invoke(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("stage %s: decode stream event: %w", inv.stage.name, err)
	}
	var resp events.DynamoDBEventResponse
	err := inv.call(ctx, fmt.Sprintf("batch[%d]", len(ev.Records)), func(ctx context.Context) error {
		var err error
		resp, err = h(ctx, ev)
		return err
	})
	if err != nil {
		// The whole batch failed: report every record, keeping the response
		// shape so partial batch handling stays on.
		resp.BatchItemFailures = make([]events.DynamoDBBatchItemFailure, len(ev.Records))
		for i, r := range ev.Records {
			resp.BatchItemFailures[i].ItemIdentifier = r.Change.SequenceNumber
		}
	}
	if resp.BatchItemFailures == nil {
		resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{}
	}
	if len(resp.BatchItemFailures) > 0 {
		// The handler's error, or none: it chose the records itself.
		inv.failed(ctx, resp.BatchItemFailures[0].ItemIdentifier, err)
	}
	inv.metrics.records(len(ev.Records), len(resp.BatchItemFailures), len(resp.BatchItemFailures), oldestRecord(ev.Records))
	return json.Marshal(resp)
}
