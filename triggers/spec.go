package triggers

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// S3Event is an S3 event type as S3 notification configurations name it.
type S3Event string

// The S3 event types a stage can be bound to.
const (
	ObjectCreated                        S3Event = "s3:ObjectCreated:*"
	ObjectCreatedPut                     S3Event = "s3:ObjectCreated:Put"
	ObjectCreatedPost                    S3Event = "s3:ObjectCreated:Post"
	ObjectCreatedCopy                    S3Event = "s3:ObjectCreated:Copy"
	ObjectCreatedCompleteMultipartUpload S3Event = "s3:ObjectCreated:CompleteMultipartUpload"
	ObjectRemoved                        S3Event = "s3:ObjectRemoved:*"
	ObjectRemovedDelete                  S3Event = "s3:ObjectRemoved:Delete"
	ObjectRemovedDeleteMarkerCreated     S3Event = "s3:ObjectRemoved:DeleteMarkerCreated"
)

// Matches reports whether an event name as it appears in an event record
// ("ObjectCreated:Put", with or without the "s3:" prefix) is covered by e.
// A stage bound to a whole family can use it to tell sub-events apart:
// ObjectCreatedCopy.Matches(obj.Event).
func (e S3Event) Matches(eventName string) bool {
	name := strings.TrimPrefix(eventName, "s3:")
	pattern := strings.TrimPrefix(string(e), "s3:")
	if strings.HasSuffix(pattern, ":*") {
		return strings.HasPrefix(name, strings.TrimSuffix(pattern, "*"))
	}
	return name == pattern
}

func (e S3Event) family() string {
	s := strings.TrimPrefix(string(e), "s3:")
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i]
	}
	return s
}

// StartingPosition is where a new event source mapping starts reading a stream.
type StartingPosition string

// Starting positions Lambda supports for DynamoDB streams.
const (
	// TrimHorizon starts with the oldest record still in the stream (up to
	// 24 hours old): nothing written before the mapping existed is missed.
	TrimHorizon StartingPosition = "TRIM_HORIZON"
	// Latest starts with records written after the mapping is created.
	Latest StartingPosition = "LATEST"
)

// RetryForever, as a stream trigger's retry count, retries a failing batch
// until its records expire from the stream (Lambda's own default).
const RetryForever = -1

// DestinationKind says where records or events that failed for good go.
type DestinationKind string

// Destination kinds.
const (
	// DefaultQueue is a queue nanopipe creates for the stage (an encrypted
	// SQS queue when deployed, the dead-letter store locally).
	DefaultQueue DestinationKind = "default"
	// NoDestination drops what failed for good after logging it. Use it only
	// where losing a failed event is acceptable.
	NoDestination DestinationKind = "none"
	// QueueARN sends failures to an existing SQS queue.
	QueueARN DestinationKind = "sqs"
	// TopicARN sends failures to an existing SNS topic.
	TopicARN DestinationKind = "sns"
)

// Destination is an on-failure destination. The zero value is DefaultQueue.
type Destination struct {
	Kind DestinationKind
	// ARN of the queue or topic for QueueARN and TopicARN.
	ARN string
}

// Queue is an existing SQS queue as on-failure destination.
func Queue(arn string) Destination { return Destination{Kind: QueueARN, ARN: arn} }

// Topic is an existing SNS topic as on-failure destination.
func Topic(arn string) Destination { return Destination{Kind: TopicARN, ARN: arn} }

// Discard is the on-failure destination that keeps nothing.
func Discard() Destination { return Destination{Kind: NoDestination} }

func (d Destination) resolved() Destination {
	if d.Kind == "" {
		d.Kind = DefaultQueue
	}
	return d
}

func (d Destination) validate() error {
	switch d.resolved().Kind {
	case DefaultQueue, NoDestination:
		if d.ARN != "" {
			return fmt.Errorf("on-failure destination %q takes no ARN; use triggers.Queue(arn) or triggers.Topic(arn) for an existing one", d.Kind)
		}
	case QueueARN:
		if !strings.HasPrefix(d.ARN, "arn:") || !strings.Contains(d.ARN, ":sqs:") {
			return fmt.Errorf("on-failure queue ARN %q is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)", d.ARN)
		}
	case TopicARN:
		if !strings.HasPrefix(d.ARN, "arn:") || !strings.Contains(d.ARN, ":sns:") {
			return fmt.Errorf("on-failure topic ARN %q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", d.ARN)
		}
	default:
		return fmt.Errorf("unknown on-failure destination kind %q", d.Kind)
	}
	return nil
}

// Limits Lambda documents for the options of triggers. Validation refuses
// values outside them at declaration time.
const (
	MinBatchSize            = 1
	MaxBatchSize            = 10000
	MaxBatchingWindow       = 300 * time.Second
	MaxStreamRetries        = 10000
	MinRecordAgeLimit       = 60 * time.Second
	MaxRecordAgeLimit       = 604800 * time.Second
	MinParallelization      = 1
	MaxParallelization      = 10
	MaxTumblingWindow       = 900 * time.Second
	MaxFilters              = 5
	MaxFilterPatternBytes   = 4096
	MaxAsyncRetries         = 2
	MinEventAgeLimit        = 60 * time.Second
	MaxEventAgeLimit        = 21600 * time.Second
	DefaultBatchSize        = 100
	DefaultStreamRetries    = 3
	DefaultAsyncRetries     = 2
	DefaultEventAge         = MaxEventAgeLimit
	DefaultParallelization  = 1
	DefaultStartingPosition = TrimHorizon
	maxS3FilterValueLength  = 1024
)

// ObjectTrigger binds a stage to S3 object events of one bucket. Build it
// with a bucket handle's Created or Removed method; the fields are the
// resolved settings, defaults filled in.
type ObjectTrigger struct {
	// Bucket is the logical (declared) name of the bucket.
	Bucket string
	// Events are the S3 event types, for example ObjectCreated or
	// ObjectCreatedPut and ObjectCreatedCopy.
	Events []S3Event
	// Prefix and Suffix filter object keys; empty matches every key.
	Prefix string
	Suffix string
	// Retries is how often Lambda retries a failed asynchronous invocation (0-2).
	Retries int
	// MaxEventAge is how long Lambda keeps an event queued for retries (1 minute to 6 hours).
	MaxEventAge time.Duration
	// OnFailure receives events that failed every attempt or expired.
	OnFailure Destination

	errs []error
}

// Matches reports whether an event record (event name and URL-decoded key)
// is one this trigger fires on: one of its Events, and a key with its
// Prefix and Suffix. A test can use it to check which keys a declared
// trigger fires on (uploads.Created(Prefix("in/")).Matches("ObjectCreated:Put", key));
// the runtime and the local environment route events with it.
func (t *ObjectTrigger) Matches(eventName, key string) bool {
	if !strings.HasPrefix(key, t.Prefix) || !strings.HasSuffix(key, t.Suffix) {
		return false
	}
	for _, e := range t.Events {
		if e.Matches(eventName) {
			return true
		}
	}
	return false
}

// err returns the problems found while building the trigger, joined, or nil.
func (t *ObjectTrigger) err() error { return errors.Join(t.errs...) }

// StreamTrigger binds a stage to the stream of one DynamoDB table through an
// event source mapping. Build it with a table handle's Changes method; the
// fields are the resolved settings, defaults filled in.
type StreamTrigger struct {
	// Table is the logical (declared) name of the table.
	Table string
	// Kinds restricts the stage to these kinds of change; empty means all.
	// It compiles into the mapping's filter criteria, so records of other
	// kinds never invoke the function.
	Kinds []Kind
	// BatchSize is the most records one invocation receives (1-10,000).
	BatchSize int
	// BatchingWindow is how long Lambda gathers records before invoking
	// (0-5 minutes).
	BatchingWindow time.Duration
	// StartingPosition is where a new mapping starts reading.
	StartingPosition StartingPosition
	// Retries is how often a failing batch is retried (-1 = RetryForever, 0-10,000).
	Retries int
	// Bisect splits a failing batch in two and retries each half.
	Bisect bool
	// MaxRecordAge discards records older than this (1 minute to 7 days) to
	// the on-failure destination; 0 means no limit.
	MaxRecordAge time.Duration
	// Parallelization is how many batches of one shard are processed at once
	// (1-10); order is kept per item key, not per shard, above 1.
	Parallelization int
	// TumblingWindow, when set, groups records into windows of this length
	// (up to 15 minutes) with state carried between invocations.
	TumblingWindow time.Duration
	// OnFailure receives batches that failed every retry or expired.
	OnFailure Destination
	// Filters are OR-ed: a record invokes the stage when it matches one of them.
	Filters []Filter

	errs []error
}

// err returns the problems found while building the trigger, joined, or nil.
func (t *StreamTrigger) err() error { return errors.Join(t.errs...) }

// ObjectOption sets one setting of an S3 trigger (Bucket.Created,
// Bucket.Removed). Options of stream triggers do not satisfy it, so giving
// one to an S3 trigger does not compile.
type ObjectOption interface {
	applyObject(*ObjectTrigger)
}

// StreamOption sets one setting of a stream trigger (Table.Changes).
// Options of S3 triggers do not satisfy it, so giving one to a stream
// trigger does not compile.
type StreamOption interface {
	applyStream(*StreamTrigger)
}

// Option is a setting both kinds of trigger take (Retries, OnFailure): it
// is an ObjectOption and a StreamOption.
type Option interface {
	ObjectOption
	StreamOption
}

// objectOption is a setting of S3 triggers only.
type objectOption func(*ObjectTrigger) error

func (o objectOption) applyObject(t *ObjectTrigger) { t.errs = appendErr(t.errs, o(t)) }

// streamOption is a setting of stream triggers only.
type streamOption func(*StreamTrigger) error

func (o streamOption) applyStream(t *StreamTrigger) { t.errs = appendErr(t.errs, o(t)) }

// bothOption is a setting of both kinds of trigger.
type bothOption struct {
	object objectOption
	stream streamOption
}

func (o bothOption) applyObject(t *ObjectTrigger) { o.object.applyObject(t) }
func (o bothOption) applyStream(t *StreamTrigger) { o.stream.applyStream(t) }

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

// newObjectTrigger builds an S3 trigger on the bucket with the given logical
// name. Most code uses a bucket handle's Created or Removed instead.
func newObjectTrigger(bucket string, events []S3Event, opts ...ObjectOption) ObjectTrigger {
	t := ObjectTrigger{
		Bucket:      bucket,
		Events:      append([]S3Event(nil), events...),
		Retries:     DefaultAsyncRetries,
		MaxEventAge: DefaultEventAge,
	}
	for _, o := range opts {
		if o == nil {
			t.errs = append(t.errs, errors.New("nil trigger option"))
			continue
		}
		o.applyObject(&t)
	}
	t.OnFailure = t.OnFailure.resolved()
	if len(t.Events) == 0 {
		t.errs = append(t.errs, errors.New("no S3 event types; use Created, Removed or Only(...)"))
	}
	return t
}

// newStreamTrigger builds a stream trigger on the table with the given
// logical name. Most code uses a table handle's Changes instead.
func newStreamTrigger(table string, opts ...StreamOption) StreamTrigger {
	t := StreamTrigger{
		Table:            table,
		BatchSize:        DefaultBatchSize,
		StartingPosition: DefaultStartingPosition,
		Retries:          DefaultStreamRetries,
		Parallelization:  DefaultParallelization,
	}
	for _, o := range opts {
		if o == nil {
			t.errs = append(t.errs, errors.New("nil trigger option"))
			continue
		}
		o.applyStream(&t)
	}
	t.OnFailure = t.OnFailure.resolved()
	if len(t.Filters) > MaxFilters {
		t.errs = append(t.errs, fmt.Errorf("%d filters: Lambda allows at most %d per event source mapping; merge conditions into fewer Where(...) filters", len(t.Filters), MaxFilters))
	}
	return t
}

// Prefix restricts an S3 trigger to keys that start with p ("incoming/").
func Prefix(p string) ObjectOption {
	return objectOption(func(t *ObjectTrigger) error {
		if len(p) > maxS3FilterValueLength {
			return fmt.Errorf("Prefix is %d bytes; S3 allows at most %d", len(p), maxS3FilterValueLength)
		}
		if t.Prefix != "" {
			return fmt.Errorf("Prefix given twice (%q and %q); S3 allows one prefix per trigger: declare two stages or use a common prefix", t.Prefix, p)
		}
		t.Prefix = p
		return nil
	})
}

// Suffix restricts an S3 trigger to keys that end with s (".jpg").
func Suffix(s string) ObjectOption {
	return objectOption(func(t *ObjectTrigger) error {
		if len(s) > maxS3FilterValueLength {
			return fmt.Errorf("Suffix is %d bytes; S3 allows at most %d", len(s), maxS3FilterValueLength)
		}
		if t.Suffix != "" {
			return fmt.Errorf("Suffix given twice (%q and %q); S3 allows one suffix per trigger: declare two stages, one per suffix", t.Suffix, s)
		}
		t.Suffix = s
		return nil
	})
}

// Only narrows an S3 trigger to specific sub-events of its family, for
// example Created(Only(ObjectCreatedPut, ObjectCreatedCompleteMultipartUpload)).
func Only(events ...S3Event) ObjectOption {
	return objectOption(func(t *ObjectTrigger) error {
		if len(events) == 0 {
			return errors.New("Only() without event types; name at least one, e.g. Only(triggers.ObjectCreatedPut)")
		}
		family := ""
		for _, e := range t.Events {
			family = e.family()
		}
		for _, e := range events {
			if !knownS3Event(e) {
				return fmt.Errorf("Only(%q): unknown S3 event type; use the triggers.ObjectCreated* or triggers.ObjectRemoved* constants", e)
			}
			if family != "" && e.family() != family {
				return fmt.Errorf("Only(%q) does not belong to %s events; bind a separate stage to the bucket's %s events", e, family, e.family())
			}
		}
		t.Events = append([]S3Event(nil), events...)
		return nil
	})
}

func knownS3Event(e S3Event) bool {
	switch e {
	case ObjectCreated, ObjectCreatedPut, ObjectCreatedPost, ObjectCreatedCopy, ObjectCreatedCompleteMultipartUpload,
		ObjectRemoved, ObjectRemovedDelete, ObjectRemovedDeleteMarkerCreated:
		return true
	}
	return false
}

// Retries sets how often a failure is retried: for S3 triggers, Lambda's
// asynchronous retries (0-2, default 2); for stream triggers, the retries of
// a failing batch (RetryForever or 0-10,000, default 3).
func Retries(n int) Option {
	return bothOption{
		object: func(t *ObjectTrigger) error {
			if n < 0 || n > MaxAsyncRetries {
				return fmt.Errorf("Retries(%d) out of range: Lambda retries an asynchronous (S3) invocation 0 to %d times", n, MaxAsyncRetries)
			}
			t.Retries = n
			return nil
		},
		stream: func(t *StreamTrigger) error {
			if n < RetryForever || n > MaxStreamRetries {
				return fmt.Errorf("Retries(%d) out of range: use triggers.RetryForever (-1) or 0 to %d", n, MaxStreamRetries)
			}
			t.Retries = n
			return nil
		}}
}

// MaxEventAge sets how long Lambda keeps an S3 event for retries (1 minute
// to 6 hours, whole seconds; default 6 hours).
func MaxEventAge(d time.Duration) ObjectOption {
	return objectOption(func(t *ObjectTrigger) error {
		if d < MinEventAgeLimit || d > MaxEventAgeLimit || d%time.Second != 0 {
			return fmt.Errorf("MaxEventAge(%v) out of range: Lambda takes whole seconds from %v to %v", d, MinEventAgeLimit, MaxEventAgeLimit)
		}
		t.MaxEventAge = d
		return nil
	})
}

// OnFailure sets where events or records that failed for good are sent.
// The default is a queue nanopipe creates for the stage.
func OnFailure(d Destination) Option {
	f := func(dst *Destination) error {
		if err := d.validate(); err != nil {
			return err
		}
		*dst = d.resolved()
		return nil
	}
	return bothOption{
		object: func(t *ObjectTrigger) error { return f(&t.OnFailure) },
		stream: func(t *StreamTrigger) error { return f(&t.OnFailure) }}
}

// applyStream makes a Kind a stream trigger option that restricts the
// trigger to that kind of change. Several may be given:
// Changes(triggers.Insert, triggers.Modify).
func (k Kind) applyStream(t *StreamTrigger) {
	switch k {
	case Insert, Modify, Remove:
	default:
		t.errs = append(t.errs, fmt.Errorf("unknown kind of change %q; use triggers.Insert, triggers.Modify or triggers.Remove", string(k)))
		return
	}
	for _, have := range t.Kinds {
		if have == k {
			return
		}
	}
	t.Kinds = append(t.Kinds, k)
}

// BatchSize sets the most records one invocation receives (1-10,000, default 100).
func BatchSize(n int) StreamOption {
	return streamOption(func(t *StreamTrigger) error {
		if n < MinBatchSize || n > MaxBatchSize {
			return fmt.Errorf("BatchSize(%d) out of range: Lambda takes %d to %d records for DynamoDB streams", n, MinBatchSize, MaxBatchSize)
		}
		t.BatchSize = n
		return nil
	})
}

// BatchingWindow sets how long Lambda gathers records before invoking (0 to
// 5 minutes, whole seconds).
func BatchingWindow(d time.Duration) StreamOption {
	return streamOption(func(t *StreamTrigger) error {
		if d < 0 || d > MaxBatchingWindow || d%time.Second != 0 {
			return fmt.Errorf("BatchingWindow(%v) out of range: Lambda takes whole seconds from 0 to %v", d, MaxBatchingWindow)
		}
		t.BatchingWindow = d
		return nil
	})
}

// StartAt sets where a new event source mapping starts reading (default TrimHorizon).
func StartAt(p StartingPosition) StreamOption {
	return streamOption(func(t *StreamTrigger) error {
		if p != TrimHorizon && p != Latest {
			return fmt.Errorf("StartAt(%q): DynamoDB streams support triggers.TrimHorizon and triggers.Latest only", p)
		}
		t.StartingPosition = p
		return nil
	})
}

// Bisect splits a failing batch in two and retries the halves separately,
// isolating a bad record in few retries.
func Bisect() StreamOption {
	return streamOption(func(t *StreamTrigger) error { t.Bisect = true; return nil })
}

// MaxRecordAge sends records older than d to the on-failure destination
// instead of processing them (1 minute to 7 days, whole seconds).
func MaxRecordAge(d time.Duration) StreamOption {
	return streamOption(func(t *StreamTrigger) error {
		if d < MinRecordAgeLimit || d > MaxRecordAgeLimit || d%time.Second != 0 {
			return fmt.Errorf("MaxRecordAge(%v) out of range: Lambda takes whole seconds from %v to %v (leave it unset for no limit)", d, MinRecordAgeLimit, MaxRecordAgeLimit)
		}
		t.MaxRecordAge = d
		return nil
	})
}

// Parallelization sets how many batches of one shard run at once (1-10).
// Above 1, order is kept per item key instead of per shard.
func Parallelization(n int) StreamOption {
	return streamOption(func(t *StreamTrigger) error {
		if n < MinParallelization || n > MaxParallelization {
			return fmt.Errorf("Parallelization(%d) out of range: Lambda takes %d to %d batches per shard", n, MinParallelization, MaxParallelization)
		}
		t.Parallelization = n
		return nil
	})
}

// TumblingWindow groups records into windows of length d (up to 15 minutes,
// whole seconds) whose state a batch stage carries between invocations.
func TumblingWindow(d time.Duration) StreamOption {
	return streamOption(func(t *StreamTrigger) error {
		if d <= 0 || d > MaxTumblingWindow || d%time.Second != 0 {
			return fmt.Errorf("TumblingWindow(%v) out of range: Lambda takes whole seconds from 1s to %v", d, MaxTumblingWindow)
		}
		t.TumblingWindow = d
		return nil
	})
}
