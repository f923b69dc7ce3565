package triggers

import "fmt"

// Batch is a whole stream invocation, for stages that work on all records at
// once (bulk writes, aggregation over a tumbling window). Records of one
// shard are in stream order.
type Batch[T any] struct {
	Changes []Change[T]
	// Window is set for a mapping with a tumbling window.
	Window *Window
	// State is carried to the next invocation of the same window: it starts
	// as the window's state and what the stage leaves here is returned to
	// Lambda, so fold into it only records the stage does not Fail (failed
	// ones come again). When the stage returns an error the window's state
	// is returned unchanged. Nil without a tumbling window.
	State map[string]string

	failed int // index of the earliest failed change, plus one; 0 when none failed
	err    error
}

// Fail marks change i as failed with err. Lambda retries from the earliest
// failed record: it and every record after it are reported, so a later
// record is never acknowledged before an earlier one of the same shard.
func (b *Batch[T]) Fail(i int, err error) {
	if i < 0 || i >= len(b.Changes) {
		panic(fmt.Sprintf("triggers: Batch.Fail(%d) out of range [0,%d)", i, len(b.Changes)))
	}
	if err == nil {
		err = fmt.Errorf("change %d marked failed without an error", i)
	}
	if b.failed == 0 || i+1 < b.failed {
		b.failed, b.err = i+1, err
	}
}

// Failed returns the earliest failed change's index and error, or -1 and nil.
func (b *Batch[T]) Failed() (int, error) {
	return b.failed - 1, b.err
}
