package triggers

import (
	"strings"
	"time"
)

// Object is one S3 object event: an object was created or removed.
type Object struct {
	// Bucket is the physical name of the bucket.
	Bucket string
	// Key is the object key, URL-decoded: S3 sends keys form-encoded ("+"
	// for spaces, %-escapes for the rest) and Key is what a GetObject call
	// needs.
	Key string
	// Size is the object's size in bytes (0 for removals).
	Size int64
	// ETag is the entity tag as S3 reports it in events, without quotes.
	ETag string
	// VersionID is set on versioned buckets.
	VersionID string
	// Sequencer orders events of one key: a larger sequencer (compared as
	// hexadecimal strings of equal length) is a later event.
	Sequencer string
	// Event is the event name without its "s3:" prefix, for example
	// "ObjectCreated:Put" or "ObjectRemoved:Delete".
	Event string
	// Time is when S3 finished processing the request.
	Time time.Time
	// Region is the bucket's AWS region.
	Region string
	// RequestID is S3's x-amz-request-id of the request that caused the event.
	RequestID string

	raw []byte
}

// IsCreated reports whether the event is one of the ObjectCreated events.
func (o Object) IsCreated() bool { return strings.HasPrefix(o.Event, "ObjectCreated:") }

// IsRemoved reports whether the event is one of the ObjectRemoved events.
func (o Object) IsRemoved() bool { return strings.HasPrefix(o.Event, "ObjectRemoved:") }
