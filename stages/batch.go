package stages

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// BatchWriteItem's limit: at most 25 put or delete requests per call.
const maxBatchItems = 25

// Retry settings of batch writes. Variables so that tests can shorten them.
var (
	batchAttempts   = 10                    // calls per batch, the first included
	batchBackoff    = 50 * time.Millisecond // before the first retry; doubles
	batchMaxBackoff = 5 * time.Second       // cap of one wait
	sleep           = sleepCtx              // waits, or returns early when ctx ends
	jitter          = func(d time.Duration) time.Duration { return rand.N(d) + 1 }
)

// backoff returns the wait before retry n (0-based): exponential with full
// jitter, as AWS recommends for BatchWriteItem's unprocessed items.
func backoff(n int) time.Duration {
	d := batchBackoff << min(n, 16)
	if d <= 0 || d > batchMaxBackoff {
		d = batchMaxBackoff
	}
	return jitter(d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// retryable reports whether a failed BatchWriteItem call is worth another
// try: throttling and DynamoDB's transient server errors. The SDK has
// retried these already; a longer backoff here gives the table time.
func retryable(err error) bool {
	switch apiCode(err) {
	case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
		"InternalServerError", "ServiceUnavailable", "LimitExceededException":
		return true
	}
	return false
}

// writeBatch writes up to 25 requests with BatchWriteItem, retrying the
// unprocessed items with backoff until all are written or the attempts
// are spent.
func writeBatch(ctx context.Context, client *dynamodb.Client, table string, reqs []types.WriteRequest) error {
	pending := reqs
	for attempt := 0; ; attempt++ {
		out, err := client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{table: pending},
		})
		switch {
		case err != nil && !retryable(err):
			return fmt.Errorf("batch write of %d items to table %s: %w", len(pending), table, err)
		case err != nil:
			// Throttled as a whole: everything is still pending.
		default:
			pending = out.UnprocessedItems[table]
			if len(pending) == 0 {
				return nil
			}
		}
		if attempt+1 >= batchAttempts {
			why := "unprocessed (the table is throttling writes)"
			if err != nil {
				why = err.Error()
			}
			return fmt.Errorf("batch write to table %s: %d of %d items still not written after %d attempts: %s; raise the table's write capacity or lower the stage's writers", table, len(pending), len(reqs), batchAttempts, why)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return fmt.Errorf("batch write to table %s: %d items not written: %w", table, len(pending), err)
		}
	}
}

// writer spreads write requests over concurrent workers, each sending
// BatchWriteItem calls of up to 25 requests. Requests for one item key
// always go to the same worker, in order, so that when a key occurs twice
// the later request wins as if the writes were sequential; within one
// batch the later request replaces the earlier (BatchWriteItem refuses a
// batch naming a key twice).
type writer struct {
	ctx    context.Context
	client *dynamodb.Client
	table  string
	ins    []chan keyed
	wg     sync.WaitGroup

	mu      sync.Mutex
	err     error
	written int64
	failed  chan struct{}
}

type keyed struct {
	key string
	req types.WriteRequest
}

func newWriter(ctx context.Context, client *dynamodb.Client, table string, workers int) *writer {
	w := &writer{ctx: ctx, client: client, table: table, failed: make(chan struct{})}
	for range workers {
		in := make(chan keyed, maxBatchItems*2)
		w.ins = append(w.ins, in)
		w.wg.Add(1)
		go w.work(in)
	}
	return w
}

// add queues one request; it blocks while the worker is busy. It returns
// false once a batch failed: stop adding and call close for the error.
func (w *writer) add(key string, req types.WriteRequest) bool {
	h := fnv.New32a()
	h.Write([]byte(key))
	select {
	case w.ins[h.Sum32()%uint32(len(w.ins))] <- keyed{key, req}:
		return true
	case <-w.failed:
		return false
	}
}

// close sends what is queued, waits for the workers and returns how many
// requests were written and the first error.
func (w *writer) close() (int64, error) {
	for _, in := range w.ins {
		close(in)
	}
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, w.err
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		close(w.failed)
	}
}

func (w *writer) work(in <-chan keyed) {
	defer w.wg.Done()
	batch := make([]types.WriteRequest, 0, maxBatchItems)
	at := map[string]int{}
	broken := false
	flush := func() {
		if len(batch) == 0 || broken {
			batch, at = batch[:0], map[string]int{}
			return
		}
		if err := writeBatch(w.ctx, w.client, w.table, batch); err != nil {
			broken = true
			w.fail(err)
		} else {
			w.mu.Lock()
			w.written += int64(len(batch))
			w.mu.Unlock()
		}
		batch, at = batch[:0], map[string]int{}
	}
	for k := range in {
		if broken {
			continue // drain, so that add never blocks on a dead worker
		}
		if i, ok := at[k.key]; ok {
			batch[i] = k.req
			continue
		}
		at[k.key] = len(batch)
		batch = append(batch, k.req)
		if len(batch) == maxBatchItems {
			flush()
		}
	}
	flush()
}
