package engine

import (
	"context"
	"sync"
	"testing"
)

// The queue of an S3 stage is closed when the engine stops, while S3
// requests may still push and workers wake each other: neither may panic
// (a send on a closed channel ends the process), and every worker returns.
func TestQueueCloseWhilePushing(t *testing.T) {
	q := newQueue()
	q.close()
	q.push(&asyncEvent{ID: "after-close"}) // a request racing the stop
	q.close()                              // closing twice is closing once
	if ev := q.pop(context.Background()); ev != nil {
		t.Fatalf("pop after close returned %v, want nil", ev)
	}

	for range 50 {
		q := newQueue()
		var workers, pushers sync.WaitGroup
		for range 4 {
			workers.Go(func() {
				for q.pop(context.Background()) != nil {
				}
			})
		}
		for range 4 {
			pushers.Go(func() {
				for range 200 {
					q.push(&asyncEvent{})
				}
			})
		}
		q.close()
		pushers.Wait()
		workers.Wait()
	}
}
