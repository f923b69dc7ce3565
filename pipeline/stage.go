package pipeline

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/triggers"
)

// Arch is a Lambda instruction set architecture.
type Arch string

// Architectures.
const (
	Arm64  Arch = "arm64"
	X86_64 Arch = "x86_64"
)

// Function is how the Lambda function running a stage (or a group) is
// configured. Zero fields take the defaults: 256 MB, 30 seconds, arm64,
// unreserved concurrency.
type Function struct {
	MemoryMB int
	Timeout  time.Duration
	Arch     Arch
	// ReservedConcurrency caps concurrent executions; nil leaves it unreserved.
	ReservedConcurrency *int
	// Environment adds variables for the stage's own settings. Resource
	// names are provided by the framework and must not be put here.
	Environment map[string]string
}

// Function defaults and Lambda's limits.
const (
	DefaultMemoryMB = 256
	DefaultTimeout  = 30 * time.Second
	DefaultArch     = Arm64
	MinMemoryMB     = 128
	MaxMemoryMB     = 10240
	MaxTimeout      = 900 * time.Second
)

// Stage is a Go function bound to a trigger, with the resources it reads
// and writes. Declare one with OnObject, OnChange, OnChanges, OnS3Event or
// OnStreamEvent; configure it with the chained methods.
type Stage struct {
	app        *App
	name       string
	object     *triggers.ObjectTrigger
	stream     *triggers.StreamTrigger
	reads      []access
	writes     []access
	deletes    []access
	group      string
	loopReason string
	fn         Function
	h          handler
	itemType   reflect.Type
	obs        Observability // the stage's own tracing and log level
}

type handler interface {
	invoke(ctx context.Context, inv *invocation, payload []byte) ([]byte, error)
}

func (a *App) addStage(name string, s *Stage, fnNil bool) *Stage {
	s.app, s.name = a, name
	if !stageNameRE.MatchString(name) {
		a.fail(fmt.Errorf("pipeline: stage %q: use 1-64 letters, digits, '-' or '_', starting with a letter", name))
	}
	if fnNil {
		a.fail(fmt.Errorf("pipeline: stage %q: the handler function is nil; pass the function that processes its events", name))
	}
	if s.object != nil {
		if err := triggerplumbing.ObjectErr(s.object); err != nil {
			a.fail(fmt.Errorf("pipeline: stage %q on bucket %q: %w", name, s.object.Bucket, err))
		}
	}
	if s.stream != nil {
		if err := triggerplumbing.StreamErr(s.stream); err != nil {
			a.fail(fmt.Errorf("pipeline: stage %q on table %q: %w", name, s.stream.Table, err))
		}
		for _, err := range s.checkKeys() {
			a.fail(err)
		}
	}
	if a.claim(name, "stage") {
		a.stages = append(a.stages, s)
	}
	return s
}

// OnObject declares a stage called once per S3 object event of its trigger:
//
//	pipeline.OnObject(app, "thumbnail", uploads.Created(triggers.Prefix("incoming/")), makeThumbnail)
//
// A returned error (or a panic) fails the event: Lambda retries it as the
// trigger's Retries say, then sends it to the on-failure destination.
func OnObject(app *App, name string, t triggers.ObjectTrigger, fn func(context.Context, triggers.Object) error) *Stage {
	return app.addStage(name, &Stage{object: &t, h: objectHandler(fn)}, fn == nil)
}

// OnS3Event declares a stage that receives aws-lambda-go's raw S3 event,
// for the rare stage that needs what Object does not carry.
func OnS3Event(app *App, name string, t triggers.ObjectTrigger, fn func(context.Context, events.S3Event) error) *Stage {
	return app.addStage(name, &Stage{object: &t, h: rawS3Handler(fn)}, fn == nil)
}

// OnChange declares a stage called once per stream record, in order, with
// the item images decoded into T:
//
//	pipeline.OnChange(app, "index", photos.Changes(triggers.Insert), func(ctx context.Context, c triggers.Change[Photo]) error { ... })
//
// When a record fails (error or panic), it and every later record of the
// batch are reported as batch item failures and are retried; the records
// before it are acknowledged.
func OnChange[T any](app *App, name string, t triggers.StreamTrigger, fn func(context.Context, triggers.Change[T]) error) *Stage {
	s := &Stage{stream: &t, h: changeHandler[T](fn), itemType: reflect.TypeFor[T]()}
	app.addStage(name, s, fn == nil)
	s.checkFilters()
	return s
}

// OnChanges declares a stage that receives the whole batch, for bulk work
// and tumbling-window aggregation. Mark failed records with Batch.Fail;
// returning an error fails the whole batch.
func OnChanges[T any](app *App, name string, t triggers.StreamTrigger, fn func(context.Context, *triggers.Batch[T]) error) *Stage {
	s := &Stage{stream: &t, h: batchHandler[T](fn), itemType: reflect.TypeFor[T]()}
	app.addStage(name, s, fn == nil)
	s.checkFilters()
	return s
}

// OnStreamEvent declares a stage that receives aws-lambda-go's raw stream
// event and returns the partial batch response itself.
func OnStreamEvent(app *App, name string, t triggers.StreamTrigger, fn func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)) *Stage {
	return app.addStage(name, &Stage{stream: &t, h: rawStreamHandler(fn)}, fn == nil)
}

func (s *Stage) checkFilters() {
	if err := triggerplumbing.CheckItemType(s.stream, s.itemType); err != nil {
		s.app.fail(fmt.Errorf("pipeline: stage %q on table %q: %w", s.name, s.stream.Table, err))
	}
}

// Reads declares what the stage reads: buckets, bucket prefixes, tables.
// Deployed, it becomes the function's read permissions; locally, the
// stage's clients refuse reads of anything else.
func (s *Stage) Reads(rs ...Resource) *Stage {
	s.reads = append(s.reads, s.accesses("Reads", rs)...)
	return s
}

// Writes declares what the stage writes: puts, updates and deletes of
// objects and items.
func (s *Stage) Writes(rs ...Resource) *Stage {
	s.writes = append(s.writes, s.accesses("Writes", rs)...)
	return s
}

// Deletes declares what the stage only deletes. Deletes fire only
// ObjectRemoved triggers and REMOVE stream records, so a stage may delete
// where it is triggered by creations without forming a loop (a move, for
// example).
func (s *Stage) Deletes(rs ...Resource) *Stage {
	s.deletes = append(s.deletes, s.accesses("Deletes", rs)...)
	return s
}

func (s *Stage) accesses(method string, rs []Resource) []access {
	var out []access
	for _, r := range rs {
		if r == nil {
			s.app.fail(fmt.Errorf("pipeline: stage %q: %s(nil); pass a bucket, a bucket prefix or a table of app %q", s.name, method, s.app.name))
			continue
		}
		a := r.access()
		if (a.Bucket != nil && a.Bucket.app != s.app) || (a.Table != nil && a.Table.app != s.app) {
			s.app.fail(fmt.Errorf("pipeline: stage %q: %s(%s) names a resource of another app; declare it in app %q", s.name, method, a, s.app.name))
			continue
		}
		out = append(out, a)
	}
	return out
}

// Group puts the stage into a named group: the stages of a group are
// deployed as one function, routed by event source. Grouping changes no
// stage code.
func (s *Stage) Group(name string) *Stage {
	if !stageNameRE.MatchString(name) {
		s.app.fail(fmt.Errorf("pipeline: stage %q: group name %q: use 1-64 letters, digits, '-' or '_', starting with a letter", s.name, name))
	}
	s.group = name
	return s
}

// AllowLoop accepts that the stage is part of a loop (it writes where it,
// or a stage after it, is triggered) and says why the loop ends. Without
// it such a declaration is refused: a loop re-invokes its stages without
// end, and AWS cannot detect loops through DynamoDB streams at all.
func (s *Stage) AllowLoop(reason string) *Stage {
	if reason == "" {
		s.app.fail(fmt.Errorf("pipeline: stage %q: AllowLoop needs a reason saying why the loop ends", s.name))
		reason = "unspecified"
	}
	s.loopReason = reason
	return s
}

// Memory sets the function's memory in MB (128-10,240).
func (s *Stage) Memory(mb int) *Stage {
	if mb < MinMemoryMB || mb > MaxMemoryMB {
		s.app.fail(fmt.Errorf("pipeline: stage %q: Memory(%d) out of range: Lambda takes %d to %d MB", s.name, mb, MinMemoryMB, MaxMemoryMB))
	}
	s.fn.MemoryMB = mb
	return s
}

// Timeout sets the function's timeout (1 second to 15 minutes).
func (s *Stage) Timeout(d time.Duration) *Stage {
	if d < time.Second || d > MaxTimeout || d%time.Second != 0 {
		s.app.fail(fmt.Errorf("pipeline: stage %q: Timeout(%v) out of range: Lambda takes whole seconds from 1s to %v", s.name, d, MaxTimeout))
	}
	s.fn.Timeout = d
	return s
}

// Architecture sets the function's instruction set (default arm64).
func (s *Stage) Architecture(a Arch) *Stage {
	if a != Arm64 && a != X86_64 {
		s.app.fail(fmt.Errorf("pipeline: stage %q: Architecture(%q): use pipeline.Arm64 or pipeline.X86_64", s.name, a))
	}
	s.fn.Arch = a
	return s
}

// ReservedConcurrency caps the function's concurrent executions (0 stops it).
func (s *Stage) ReservedConcurrency(n int) *Stage {
	if n < 0 {
		s.app.fail(fmt.Errorf("pipeline: stage %q: ReservedConcurrency(%d) is negative", s.name, n))
	}
	s.fn.ReservedConcurrency = &n
	return s
}

// Setenv sets an environment variable of the stage's function, for the
// stage's own settings (resource names come from the framework).
func (s *Stage) Setenv(key, value string) *Stage {
	if strings.HasPrefix(key, contract.Prefix) {
		s.app.fail(fmt.Errorf("pipeline: stage %q: Setenv(%q): names starting with %s are the framework's", s.name, key, contract.Prefix))
	}
	if s.fn.Environment == nil {
		s.fn.Environment = map[string]string{}
	}
	s.fn.Environment[key] = value
	return s
}

// Name returns the stage's name.
func (s *Stage) Name() string { return s.name }

// App returns the app the stage belongs to.
func (s *Stage) App() *App { return s.app }

// ObjectTrigger returns the S3 trigger, or nil for a stream stage.
func (s *Stage) ObjectTrigger() *triggers.ObjectTrigger { return s.object }

// StreamTrigger returns the stream trigger, or nil for an S3 stage.
func (s *Stage) StreamTrigger() *triggers.StreamTrigger { return s.stream }

// Bucket returns the bucket that triggers an S3 stage, or nil.
func (s *Stage) Bucket() *Bucket {
	if s.object == nil {
		return nil
	}
	return s.app.BucketNamed(s.object.Bucket)
}

// Table returns the table that triggers a stream stage, or nil.
func (s *Stage) Table() *Table {
	if s.stream == nil {
		return nil
	}
	return s.app.TableNamed(s.stream.Table)
}

// GroupName returns the declared group, or "".
func (s *Stage) GroupName() string { return s.group }

// FunctionName is the name of the function the stage is deployed in: its
// group, or its own name.
func (s *Stage) FunctionName() string {
	if s.group != "" {
		return s.group
	}
	return s.name
}

// Function returns the function configuration with defaults filled in.
func (s *Stage) Function() Function {
	f := s.fn
	if f.MemoryMB == 0 {
		f.MemoryMB = DefaultMemoryMB
	}
	if f.Timeout == 0 {
		f.Timeout = DefaultTimeout
	}
	if f.Arch == "" {
		f.Arch = DefaultArch
	}
	return f
}
