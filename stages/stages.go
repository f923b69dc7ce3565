package stages

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// declError stops the declaration of a misdeclared ready-made stage with
// a message naming the stage and the fix. The exported constructor's
// deferred refusedObject or refusedStream reports it through the app.
func declError(stage, format string, args ...any) {
	panic(declPanic{fmt.Errorf("stages: stage %q: %s", stage, fmt.Sprintf(format, args...))})
}

type declPanic struct{ err error }

func (d declPanic) Error() string { return d.err.Error() }
func (d declPanic) Unwrap() error { return d.err }

// refusedObject, deferred by every constructor of an S3 stage, reports a
// declaration error the way pipeline's own declarations do, through
// App.Report: it panics with the error, unless the app collects errors
// (pipeline.CollectErrors), in which case Validate returns it and the
// constructor still returns a usable stage, so chained calls such as
// .Timeout(...) work. That stage is the one declared so far, or a stand-in
// on the same trigger whose every invocation fails with the declaration
// error (an app that collects errors does not validate, so it never
// deploys). Any other panic goes on.
func refusedObject(app *pipeline.App, name string, t triggers.ObjectTrigger, s **pipeline.Stage) {
	refused(app, name, s, recover(), func(err error) *pipeline.Stage {
		return pipeline.OnObject(app, name, t, func(context.Context, triggers.Object) error { return err })
	})
}

// refusedStream is refusedObject for the constructors of stream stages.
func refusedStream(app *pipeline.App, name string, t triggers.StreamTrigger, s **pipeline.Stage) {
	refused(app, name, s, recover(), func(err error) *pipeline.Stage {
		return pipeline.OnChanges(app, name, t, func(context.Context, *triggers.Batch[map[string]any]) error { return err })
	})
}

func refused(app *pipeline.App, name string, s **pipeline.Stage, r any, standIn func(error) *pipeline.Stage) {
	if r == nil {
		return
	}
	d, ok := r.(declPanic)
	if !ok || app == nil {
		panic(r)
	}
	app.Report(d.err)
	if *s == nil {
		if *s = app.StageNamed(name); *s == nil {
			*s = standIn(d.err)
		}
	}
}

// sourceBucket resolves the bucket an S3 trigger fires on. The trigger
// must come from a bucket of app (Bucket.Created or Bucket.Removed).
func sourceBucket(app *pipeline.App, stage string, t triggers.ObjectTrigger) *pipeline.Bucket {
	if app == nil {
		declError(stage, "the app is nil")
	}
	b := app.BucketNamed(t.Bucket)
	if b == nil {
		declError(stage, "its trigger names bucket %q, which app %q does not declare; build the trigger with a bucket of the app (uploads.Created(...))", t.Bucket, app.Name())
	}
	return b
}

// createdOnly reports whether every event type of t is an ObjectCreated one.
func createdOnly(t triggers.ObjectTrigger) bool {
	for _, e := range t.Events {
		if !triggerplumbing.Overlaps(e, triggers.ObjectCreated) {
			return false
		}
	}
	return len(t.Events) > 0
}

// removedOnly reports whether every event type of t is an ObjectRemoved one.
func removedOnly(t triggers.ObjectTrigger) bool {
	for _, e := range t.Events {
		if !triggerplumbing.Overlaps(e, triggers.ObjectRemoved) {
			return false
		}
	}
	return len(t.Events) > 0
}

// ownTable checks that a table handle belongs to app.
func ownTable(app *pipeline.App, stage string, t *pipeline.Table, what string) {
	if t == nil {
		declError(stage, "%s is nil; pass a table of app %q", what, app.Name())
	}
	if app.TableNamed(t.Name()) != t {
		declError(stage, "%s %q is not a table of app %q; declare it with app.Table", what, t.Name(), app.Name())
	}
}

// ownBucket checks that a bucket handle belongs to app.
func ownBucket(app *pipeline.App, stage string, b *pipeline.Bucket, what string) {
	if b == nil {
		declError(stage, "%s is nil; pass a bucket of app %q", what, app.Name())
	}
	if app.BucketNamed(b.Name()) != b {
		declError(stage, "%s %q is not a bucket of app %q; declare it with app.Bucket", what, b.Name(), app.Name())
	}
}

// sequencerWidth is what S3 sequencers are padded to before comparing.
const sequencerWidth = 32

// normalizeSequencer makes S3 sequencers comparable as strings: S3 says to
// right-pad the shorter of two sequencers with zeros, then compare them
// lexicographically. Upper case keeps the hexadecimal digits in order.
func normalizeSequencer(s string) string {
	s = strings.ToUpper(s)
	if len(s) < sequencerWidth {
		s += strings.Repeat("0", sequencerWidth-len(s))
	}
	return s
}

// apiCode returns the error code of an AWS API error, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// notFound reports whether err says an S3 object (or bucket key) does not
// exist. HeadObject reports it as a bare 404, GetObject as NoSuchKey.
func notFound(err error) bool {
	switch apiCode(err) {
	case "NoSuchKey", "NotFound":
		return true
	}
	return false
}

// preconditionFailed reports whether a conditional S3 request failed
// because the object changed (If-Match / x-amz-copy-source-if-match).
func preconditionFailed(err error) bool {
	return apiCode(err) == "PreconditionFailed"
}

// conditionalCheckFailed reports whether a DynamoDB write was refused by
// its condition expression.
func conditionalCheckFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf) || apiCode(err) == "ConditionalCheckFailedException"
}

// keyString renders an item's key attributes as a stable string, for
// deduplication and object names.
func keyString(item map[string]types.AttributeValue, keys []pipeline.KeyAttr) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(0)
		}
		switch v := item[k.Name].(type) {
		case *types.AttributeValueMemberS:
			b.WriteString(v.Value)
		case *types.AttributeValueMemberN:
			b.WriteString(v.Value)
		case *types.AttributeValueMemberB:
			b.Write(v.Value)
		}
	}
	return b.String()
}

// tableKeys lists a table's key attributes, partition key first.
func tableKeys(t *pipeline.Table) []pipeline.KeyAttr {
	keys := []pipeline.KeyAttr{t.PartitionKey()}
	if sk := t.SortKey(); sk != nil {
		keys = append(keys, *sk)
	}
	return keys
}

// checkKey reports what is wrong with the key attributes of an item about
// to be written to t, in the words DynamoDB would use, or nil.
func checkKey(item map[string]types.AttributeValue, keys []pipeline.KeyAttr, table string) error {
	for _, k := range keys {
		v, ok := item[k.Name]
		if !ok {
			return fmt.Errorf("key attribute %q of table %s is missing", k.Name, table)
		}
		switch k.Type {
		case pipeline.String:
			s, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				return fmt.Errorf("key attribute %q of table %s must be a string", k.Name, table)
			}
			if s.Value == "" {
				return fmt.Errorf("key attribute %q of table %s is empty", k.Name, table)
			}
		case pipeline.Number:
			if _, ok := v.(*types.AttributeValueMemberN); !ok {
				return fmt.Errorf("key attribute %q of table %s must be a number", k.Name, table)
			}
		case pipeline.Binary:
			b, ok := v.(*types.AttributeValueMemberB)
			if !ok {
				return fmt.Errorf("key attribute %q of table %s must be binary", k.Name, table)
			}
			if len(b.Value) == 0 {
				return fmt.Errorf("key attribute %q of table %s is empty", k.Name, table)
			}
		}
	}
	return nil
}
