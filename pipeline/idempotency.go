package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/nanopipe/nanopipe/triggers"
)

// # Idempotency
//
// Lambda delivers events at least once: an S3 event is retried after a
// failure, a stream batch is retried from its first failed record, and a
// backfill, a replay or a redrive sends events again on purpose. An
// Idempotency store remembers which events a stage has handled, so that
// the side effects of an event happen once however often it comes:
//
//	var Done = App.Idempotency("photos-done")
//
//	var Count = pipeline.OnChange(App, "count", Photos.Changes(triggers.Insert), count).
//		Writes(Albums, Done)
//
//	func count(ctx context.Context, c triggers.Change[Photo]) error {
//		return Done.Once(ctx, pipeline.ChangeKey(c), func(ctx context.Context) error { ... })
//	}
//
// The store is a DynamoDB table the declaration creates like any other
// (partition key "id", time to live on "expires"); a stage using it
// declares Writes on it, which grants what the store needs, deployed and
// locally. Each record is keyed by the stage's name and the event's
// identity (ObjectKey, ChangeKey), and goes through two states:
//
//   - in progress: taken by Once before the work starts, with a lock that
//     expires (at the invocation's deadline, or after the stage's timeout):
//     a concurrent delivery of the same event fails with ErrInProgress and
//     is retried later; a delivery after a crash takes over once the lock
//     expired.
//   - completed: written when the work succeeded, kept until it expires
//     (Expiry, default 24 hours, as long as a stream keeps its records); a
//     later delivery is skipped.
//
// When the work fails, the record is removed, so that the retry runs it.
//
// Once guards side effects of any kind, with one gap: a crash after the
// work and before the record says completed makes the retry run the work
// again. OnceWrites closes it for DynamoDB writes: they commit in one
// transaction with the completion, so they happen exactly once.

// Default durations of an Idempotency store.
const (
	DefaultIdempotencyExpiry = 24 * time.Hour
)

// Attributes of an idempotency record.
const (
	idemKey     = "id"
	idemStatus  = "status"
	idemExpires = "expires"
	idemLock    = "lock_until"
	idemToken   = "token"

	statusInProgress = "IN_PROGRESS"
	statusCompleted  = "COMPLETED"
)

// ErrInProgress is returned by Once and OnceWrites when another delivery
// of the same event holds the lock: the event fails, and its retry finds
// the work completed, or the lock expired.
var ErrInProgress = errors.New("pipeline: the event is being handled by another delivery (idempotency lock held); it is retried")

// Idempotency is a store of the events stages have handled. Declare one
// with App.Idempotency; pass it to a stage's Writes.
type Idempotency struct {
	table  *Table
	expiry time.Duration
	lock   time.Duration
}

// IdempotencyOption configures an Idempotency store.
type IdempotencyOption func(*Idempotency)

// Expiry sets how long a completed event is remembered (default 24
// hours). Make it longer than an event can come again: a stream keeps
// records for 24 hours, and an S3 event is retried for up to 6 hours.
func Expiry(d time.Duration) IdempotencyOption { return func(i *Idempotency) { i.expiry = d } }

// LockFor sets how long an in-progress record locks its event when the
// invocation has no deadline (default: the stage's timeout).
func LockFor(d time.Duration) IdempotencyOption { return func(i *Idempotency) { i.lock = d } }

// Idempotency declares an idempotency store: a table named name, with
// partition key "id" (String) and time to live on "expires", which the
// stack creates (or the local environment, locally) like any table.
func (a *App) Idempotency(name string, opts ...IdempotencyOption) *Idempotency {
	i := &Idempotency{expiry: DefaultIdempotencyExpiry}
	for _, o := range opts {
		o(i)
	}
	if i.expiry < time.Minute {
		a.fail(fmt.Errorf("pipeline: idempotency store %q: Expiry(%v) is shorter than a minute; events come again for hours (streams keep records 24 hours)", name, i.expiry))
	}
	if i.lock < 0 {
		a.fail(fmt.Errorf("pipeline: idempotency store %q: LockFor(%v) is negative", name, i.lock))
	}
	i.table = a.Table(name, PartitionKey(idemKey, String), TimeToLive(idemExpires))
	return i
}

// Table returns the store's table.
func (i *Idempotency) Table() *Table { return i.table }

// Expiry returns how long completed events are remembered.
func (i *Idempotency) Expiry() time.Duration { return i.expiry }

func (i *Idempotency) access() access { return access{Table: i.table} }

// ObjectKey is the identity of an S3 event: what happened (created or
// removed), the bucket, the key, and the version (versioned buckets) or
// the sequencer. Deliveries of one event share it; a new upload of the
// same key has another.
func ObjectKey(o triggers.Object) string {
	what := "created"
	if o.IsRemoved() {
		what = "removed"
	}
	v := o.VersionID
	if v == "" {
		v = o.Sequencer
	}
	return "s3:" + what + ":" + o.Bucket + "/" + o.Key + "@" + v
}

// ChangeKey is the identity of a stream record: its event ID, the same
// in every delivery of the record.
func ChangeKey[T any](c triggers.Change[T]) string { return "ddb:" + c.EventID }

// Once runs fn for the event key unless a delivery of it completed
// before, recording the outcome in the store (see the package
// documentation's Idempotency section). It returns nil when fn succeeds
// or the event was handled already, fn's error when it fails (the record
// is removed so that the retry runs fn again), ErrInProgress when another
// delivery holds the event, or the store's error.
func (i *Idempotency) Once(ctx context.Context, key string, fn func(context.Context) error) error {
	return i.run(ctx, key, func(ctx context.Context, complete types.TransactWriteItem) error {
		if err := fn(ctx); err != nil {
			return err
		}
		_, err := i.table.DynamoDB(ctx).UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: complete.Update.TableName, Key: complete.Update.Key,
			UpdateExpression: complete.Update.UpdateExpression, ConditionExpression: complete.Update.ConditionExpression,
			ExpressionAttributeNames: complete.Update.ExpressionAttributeNames, ExpressionAttributeValues: complete.Update.ExpressionAttributeValues,
		})
		if isConditionFailed(err) {
			// The lock expired while fn ran and another delivery took the
			// event: fn's effects may have happened twice.
			Logger(ctx).Warn("idempotency: the lock expired before the work completed; another delivery took the event over", "key", key)
			return nil
		}
		if err != nil {
			return fmt.Errorf("pipeline: idempotency store %s: record completion of %s: %w", i.table.name, key, err)
		}
		return nil
	})
}

// OnceWrites is Once for work whose effects are DynamoDB writes: fn
// returns them (Put, Update, Delete or ConditionCheck items of tables the
// stage Writes), and they commit in one transaction with the event's
// completion, so that they happen exactly once. With no writes, the event
// is recorded as completed alone. A transaction holds at most 100 items,
// one of which is the completion.
func (i *Idempotency) OnceWrites(ctx context.Context, key string, fn func(context.Context) ([]types.TransactWriteItem, error)) error {
	return i.run(ctx, key, func(ctx context.Context, complete types.TransactWriteItem) error {
		writes, err := fn(ctx)
		if err != nil {
			return err
		}
		items := append(append(make([]types.TransactWriteItem, 0, len(writes)+1), writes...), complete)
		_, err = i.table.DynamoDB(ctx).TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		var tce *types.TransactionCanceledException
		if errors.As(err, &tce) && len(tce.CancellationReasons) == len(items) && aws.ToString(tce.CancellationReasons[len(items)-1].Code) == "ConditionalCheckFailed" {
			// Another delivery took the event over: none of the writes
			// happened, and that delivery makes them.
			Logger(ctx).Warn("idempotency: the lock expired before the writes committed; another delivery makes them", "key", key)
			return ErrInProgress
		}
		if err != nil {
			return fmt.Errorf("pipeline: idempotency store %s: commit the writes of %s: %w", i.table.name, key, err)
		}
		return nil
	})
}

// run takes the event's lock, runs work with the completion update to
// make (conditional on still holding the lock), and on failure releases
// the lock.
func (i *Idempotency) run(ctx context.Context, key string, work func(context.Context, types.TransactWriteItem) error) error {
	if key == "" {
		return fmt.Errorf("pipeline: idempotency store %s: empty event key; use pipeline.ObjectKey or pipeline.ChangeKey", i.table.name)
	}
	if st := stageFrom(ctx); st != nil {
		key = st.name + "#" + key
	}
	name := i.table.PhysicalName(ctx)
	db := i.table.DynamoDB(ctx)
	now := time.Now()
	token := newToken()
	id := map[string]types.AttributeValue{idemKey: &types.AttributeValueMemberS{Value: key}}
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &name,
		Key:                 id,
		UpdateExpression:    aws.String("SET #s = :progress, #l = :lock, #e = :exp, #t = :tok"),
		ConditionExpression: aws.String("attribute_not_exists(#k) OR #e < :nowsec OR (#s = :progress AND #l < :now)"),
		ExpressionAttributeNames: map[string]string{
			"#k": idemKey, "#s": idemStatus, "#l": idemLock, "#e": idemExpires, "#t": idemToken,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":progress": &types.AttributeValueMemberS{Value: statusInProgress},
			":lock":     num(i.lockUntil(ctx, now).UnixMilli()),
			":exp":      num(now.Add(i.expiry).Unix()),
			":tok":      &types.AttributeValueMemberS{Value: token},
			":nowsec":   num(now.Unix()),
			":now":      num(now.UnixMilli()),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if s, ok := ccf.Item[idemStatus].(*types.AttributeValueMemberS); ok && s.Value == statusCompleted {
			Logger(ctx).Info("idempotency: already handled; skipped", "key", key)
			return nil
		}
		return ErrInProgress
	}
	if err != nil {
		return fmt.Errorf("pipeline: idempotency store %s: lock %s: %w", name, key, err)
	}
	mine := map[string]types.AttributeValue{":tok": &types.AttributeValueMemberS{Value: token}}
	complete := types.TransactWriteItem{Update: &types.Update{
		TableName:                &name,
		Key:                      id,
		UpdateExpression:         aws.String("SET #s = :done REMOVE #l"),
		ConditionExpression:      aws.String("#t = :tok"),
		ExpressionAttributeNames: map[string]string{"#s": idemStatus, "#l": idemLock, "#t": idemToken},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":tok": mine[":tok"], ":done": &types.AttributeValueMemberS{Value: statusCompleted},
		},
	}}
	release := func() { i.release(ctx, db, name, key, id, mine) }
	defer func() {
		if r := recover(); r != nil {
			release()
			panic(r)
		}
	}()
	werr := work(ctx, complete)
	if werr == nil || errors.Is(werr, ErrInProgress) {
		return werr
	}
	release()
	return werr
}

// release removes the in-progress record so that the retry runs the work.
func (i *Idempotency) release(ctx context.Context, db *dynamodb.Client, name, key string, id, mine map[string]types.AttributeValue) {
	// A context already done must not keep the release from being made.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, derr := db.DeleteItem(rctx, &dynamodb.DeleteItemInput{
		TableName: &name, Key: id,
		ConditionExpression:       aws.String("#t = :tok"),
		ExpressionAttributeNames:  map[string]string{"#t": idemToken},
		ExpressionAttributeValues: mine,
	})
	if derr != nil && !isConditionFailed(derr) {
		Logger(ctx).Warn("idempotency: the lock was not released; the retry waits for it to expire", "key", key, "error", derr.Error())
	}
}

// lockUntil is when an in-progress record stops locking its event: the
// invocation's deadline, else LockFor, else the stage's timeout.
func (i *Idempotency) lockUntil(ctx context.Context, now time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	if i.lock > 0 {
		return now.Add(i.lock)
	}
	if st := stageFrom(ctx); st != nil {
		return now.Add(st.Function().Timeout)
	}
	return now.Add(DefaultTimeout)
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
