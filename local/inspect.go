package local

import (
	"context"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/local/internal/dynamolocal"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/local/internal/envhook"
	"github.com/nanopipe/nanopipe/local/internal/rie"
)

func init() {
	envhook.Runner = func(env any) *rie.Runner { return env.(*Environment).runner() }
	envhook.Streams = func(env any) engine.StreamSource {
		e := env.(*Environment)
		if e.ddb == nil {
			return nil
		}
		return embeddedStreams{e.ddb}
	}
	envhook.Letters = func(env any) *deadletter.Store { return env.(*Environment).letters }
	envhook.SetDynamoDBLocal = func(opts any, srv *dynamolocal.Server) { opts.(*Options).dynamoDBLocal = srv }
}

// StageStats counts what the engine did with one stage's events since
// Start: invocations (split into succeeded and failed), the S3 events or
// stream records processed, and those the trigger's filters dropped.
type StageStats = engine.StageStats

// DeadLetter is an event or stream batch that failed for good, as the
// deadletters command lists it: the stage, the failure condition and
// error, the attempts, and the Lambda payload that failed.
type DeadLetter = deadletter.Letter

// WaitIdle waits until no event is queued or being delivered and the
// environment has stayed so for settle: a test calls it after writing,
// before it checks what the stages did. settle covers the time a write
// takes to become an event (50ms is plenty for the embedded backends).
// It returns ctx's error when ctx is done first.
func (e *Environment) WaitIdle(ctx context.Context, settle time.Duration) error {
	return e.eng.WaitIdle(ctx, settle)
}

// Stats returns the counters of every stage, in declaration order.
func (e *Environment) Stats() []StageStats { return e.eng.Stats() }

// DeadLetters returns the dead letters of the stage with the given name
// ("" for every stage), oldest first. The error is one of reading the
// store under the state directory.
func (e *Environment) DeadLetters(stage string) ([]*DeadLetter, error) {
	return e.letters.List(stage)
}
