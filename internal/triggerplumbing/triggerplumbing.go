// Package triggerplumbing is the part of package triggers that nanopipe's
// own packages need and users do not: building a trigger without a bucket
// or table handle, the errors found while building it (which the app
// reports as declaration errors), checking a stream trigger's filters
// against a stage's item type, and comparing S3 event types. Package
// pipeline, the local environment and the tests use it.
package triggerplumbing

import (
	"reflect"

	"github.com/nanopipe/nanopipe/internal/triggerplumbing/hook"
	"github.com/nanopipe/nanopipe/triggers"
)

// NewObjectTrigger builds an S3 trigger on the bucket with the given
// logical name, as Bucket.Created and Bucket.Removed do.
func NewObjectTrigger(bucket string, events []triggers.S3Event, opts ...triggers.ObjectOption) triggers.ObjectTrigger {
	return hook.NewObjectTrigger.(func(string, []triggers.S3Event, ...triggers.ObjectOption) triggers.ObjectTrigger)(bucket, events, opts...)
}

// NewStreamTrigger builds a stream trigger on the table with the given
// logical name, as Table.Changes does.
func NewStreamTrigger(table string, opts ...triggers.StreamOption) triggers.StreamTrigger {
	return hook.NewStreamTrigger.(func(string, ...triggers.StreamOption) triggers.StreamTrigger)(table, opts...)
}

// ObjectErr returns the problems found while building the trigger, joined,
// or nil.
func ObjectErr(t *triggers.ObjectTrigger) error {
	return hook.ObjectErr.(func(*triggers.ObjectTrigger) error)(t)
}

// StreamErr returns the problems found while building the trigger, joined,
// or nil.
func StreamErr(t *triggers.StreamTrigger) error {
	return hook.StreamErr.(func(*triggers.StreamTrigger) error)(t)
}

// CheckItemType verifies the trigger's filters against the Go type the
// stage decodes items into: every NewImage and OldImage condition must
// name an attribute the type has, as attributevalue names them, and test
// it with the type attributevalue stores it as. See the triggers package
// for the rules; nil means no filter is known to be wrong.
func CheckItemType(t *triggers.StreamTrigger, item reflect.Type) error {
	return hook.CheckItemType.(func(*triggers.StreamTrigger, reflect.Type) error)(t, item)
}

// Overlaps reports whether some event is covered by both e and o.
func Overlaps(e, o triggers.S3Event) bool {
	return e.Matches(string(o)) || o.Matches(string(e))
}
