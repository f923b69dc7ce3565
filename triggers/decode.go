package triggers

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nanopipe/nanopipe/internal/ddbjson"
)

// StreamEvent is one invocation of a stream stage, decoded.
type StreamEvent[T any] struct {
	Changes []Change[T]
	// Errors is nil when every record decoded; otherwise Errors[i] is the
	// error decoding Changes[i] (whose metadata — Kind, Keys if decodable,
	// SequenceNumber, EventID, ... — is still filled in), and nil for the
	// records that decoded.
	Errors []error
	// Window is non-nil for invocations of a mapping with a tumbling window.
	Window *Window
}

// Window describes the tumbling window of an invocation.
type Window struct {
	// Start and End bound the window.
	Start, End time.Time
	// State is what the previous invocation of the window returned; it is
	// empty, never nil, at the start of a window.
	State map[string]string
	// ShardID is the stream shard the records come from.
	ShardID string
	// Final is true for the last invocation of the window
	// (isFinalInvokeForWindow).
	Final bool
	// TerminatedEarly is true when the window ended before its time
	// (isWindowTerminatedEarly).
	TerminatedEarly bool
}

// eventPool keeps parsed events between invocations: a Lambda instance decodes one
// payload after another, and the record table is the same size each time.
var eventPool = sync.Pool{New: func() any { return new(ddbjson.Event) }}

// DecodeStream decodes a Lambda DynamoDB stream payload. It returns an
// error only when the payload as a whole is unreadable; a record whose
// image does not fit T is reported in Errors.
//
// Images are decoded with the rules of attributevalue.UnmarshalMap
// (`dynamodbav` tags). Old and New point to fresh values, allocated together
// for the batch; an image that fails to decode leaves its pointer nil.
// DecodeStream copies payload once and does not keep it: the caller may
// reuse it. Each Change's raw record refers to that copy.
func DecodeStream[T any](payload []byte) (*StreamEvent[T], error) {
	// One copy per batch: the records' raw JSON and the parsed slices
	// point into it, so the caller's buffer is free again on return.
	buf := make([]byte, len(payload))
	copy(buf, payload)

	ev := eventPool.Get().(*ddbjson.Event)
	defer func() {
		// Drop the references into buf before the event goes back.
		clear(ev.Records)
		ev.Records = ev.Records[:0]
		ev.State = nil
		eventPool.Put(ev)
	}()
	// The images are decoded as the parser reaches them, so the payload is
	// read once.
	st := streamDecoder[T]{expect: int(lastBatch.Load())}
	st.changes = make([]Change[T], 0, st.expect)
	if err := ddbjson.ParseEventFunc(buf, ev, st.image); err != nil {
		return nil, fmt.Errorf("triggers: decode DynamoDB stream payload: %w", err)
	}
	st.grow(len(ev.Records) - 1)
	lastBatch.Store(int64(len(ev.Records)))
	out := &StreamEvent[T]{Changes: st.changes}

	var arn, table string
	for i := range ev.Records {
		r := &ev.Records[i]
		c := &out.Changes[i]
		c.Kind = Kind(r.EventName)
		c.SequenceNumber = r.SequenceNumber
		c.EventID = r.EventID
		c.CreatedAt = r.ApproximateCreationDateTime
		c.SizeBytes = r.SizeBytes
		c.StreamViewType = r.StreamViewType
		c.EventSourceARN = r.EventSourceARN
		if r.EventSourceARN != arn {
			arn, table = r.EventSourceARN, tableFromARN(r.EventSourceARN)
		}
		c.Table = table
		c.Region = r.AWSRegion
		if c.Region == "" {
			c.Region = regionFromARN(r.EventSourceARN)
		}
		c.TTL = r.UserIdentityType == "Service" && r.UserIdentityPrincipalID == "dynamodb.amazonaws.com"
		c.raw = r.Raw
	}
	if st.errs != nil {
		out.Errors = make([]error, len(out.Changes))
		for i, errs := range st.errs {
			if errs != nil {
				r := &ev.Records[i]
				out.Errors[i] = &RecordError{Index: i, EventID: r.EventID, SequenceNumber: r.SequenceNumber, Err: errors.Join(errs...)}
			}
		}
	}

	if ev.HasWindow {
		w := &Window{
			Start:           ev.WindowStart,
			End:             ev.WindowEnd,
			State:           ev.State,
			ShardID:         ev.ShardID,
			Final:           ev.IsFinalInvokeForWindow,
			TerminatedEarly: ev.IsWindowTerminatedEarly,
		}
		if w.State == nil {
			w.State = map[string]string{}
		}
		out.Window = w
	}
	return out, nil
}

// lastBatch is the number of records of the last payload decoded: batches
// of one function are much alike, so it sizes the next one's tables
// without a pass over the payload to count records.
var lastBatch atomic.Int64

// streamDecoder receives the images of a payload from the parser.
type streamDecoder[T any] struct {
	expect  int // records expected, for sizing
	changes []Change[T]
	errs    [][]error // per record, allocated on the first error
	slab    []T       // fresh values for the images, allocated in chunks
}

// grow extends changes to hold record i.
func (st *streamDecoder[T]) grow(i int) {
	for len(st.changes) <= i {
		st.changes = append(st.changes, Change[T]{})
	}
}

// fresh returns a new zero T, from a chunk allocated for many of them.
func (st *streamDecoder[T]) fresh() *T {
	if len(st.slab) == 0 {
		n := max(st.expect, 8)
		st.slab = make([]T, n)
	}
	v := &st.slab[0]
	st.slab = st.slab[1:]
	return v
}

func (st *streamDecoder[T]) fail(i int, err error) {
	if st.errs == nil {
		st.errs = make([][]error, len(st.changes), cap(st.changes))
	}
	for len(st.errs) <= i {
		st.errs = append(st.errs, nil)
	}
	st.errs[i] = append(st.errs[i], err)
}

// image decodes one image of record i in place.
func (st *streamDecoder[T]) image(i int, which ddbjson.Image, dec *ddbjson.ImageDecoder) {
	st.grow(i)
	c := &st.changes[i]
	switch which {
	case ddbjson.Keys:
		keys, err := dec.AttributeMap()
		if err != nil {
			st.fail(i, fmt.Errorf("keys: %w", err))
		}
		c.Keys = keys
	case ddbjson.NewImage:
		v := st.fresh()
		if err := dec.Unmarshal(v); err != nil {
			st.fail(i, fmt.Errorf("new image: %w", err))
			return
		}
		c.New = v
	case ddbjson.OldImage:
		v := st.fresh()
		if err := dec.Unmarshal(v); err != nil {
			st.fail(i, fmt.Errorf("old image: %w", err))
			return
		}
		c.Old = v
	}
}

// RecordError is the error for one stream record that could not be
// decoded; it names the record so that a log line leads back to it.
type RecordError struct {
	// Index is the position of the record in the batch.
	Index          int
	EventID        string
	SequenceNumber string
	// Err says what failed: the keys, the new image or the old image.
	Err error
}

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("triggers: decode record %d (event %s, sequence number %s): %v", e.Index, e.EventID, e.SequenceNumber, e.Err)
}

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }

// tableFromARN extracts the table name from a stream ARN,
// arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL, or returns "".
func tableFromARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// regionFromARN returns the region field of an ARN, or "".
func regionFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}
