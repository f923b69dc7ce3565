package stages

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Target is what Cascade removes when an item goes: the items of a table
// that share a partition key (DeleteItems), or the objects under a key
// prefix (DeleteObjects). Each target declares its own grants.
type Target[T any] struct {
	declare func(s *pipeline.Stage)
	check   func(app *pipeline.App, stage string)
	run     func(ctx context.Context, old T) error
}

// DeleteItems is the Cascade target removing every item of table whose
// partition key is partition(old): a Query of the keys, then batched
// deletes, one DeleteItem each, a few at a time. For a table without sort key that is
// the one item with that key. partition returns the key's value: a string
// for an S key, a number for an N key, []byte for a B key; "" (or nil)
// means there is nothing to remove.
//
// It declares reading the table (the Query) and deleting from it.
func DeleteItems[T any](table *pipeline.Table, partition func(old T) any) Target[T] {
	return Target[T]{
		check: func(app *pipeline.App, stage string) {
			ownTable(app, stage, table, "the DeleteItems table")
			if partition == nil {
				declError(stage, "DeleteItems(%s, nil): pass the function giving the partition key of the items to remove", table.Name())
			}
		},
		declare: func(s *pipeline.Stage) { s.Reads(table).Deletes(table) },
		run: func(ctx context.Context, old T) error {
			v := partition(old)
			if v == nil || v == "" {
				return nil
			}
			return deleteItems(ctx, table, v)
		},
	}
}

// DeleteObjects is the Cascade target removing every object of bucket b
// whose key starts with prefix + under(old): listing them, then deleting
// them 1,000 at a time. under returning "" removes nothing (never the
// whole prefix).
//
// It declares reading (listing) and deleting b.Keys(prefix, "").
func DeleteObjects[T any](b *pipeline.Bucket, prefix string, under func(old T) string) Target[T] {
	return Target[T]{
		check: func(app *pipeline.App, stage string) {
			ownBucket(app, stage, b, "the DeleteObjects bucket")
			if under == nil {
				declError(stage, "DeleteObjects(%s, %q, nil): pass the function giving the key prefix under %q to remove", b.Name(), prefix, prefix)
			}
		},
		declare: func(s *pipeline.Stage) { s.Reads(b.Keys(prefix, "")).Deletes(b.Keys(prefix, "")) },
		run: func(ctx context.Context, old T) error {
			u := under(old)
			if u == "" {
				return nil
			}
			return deleteObjects(ctx, b, prefix+u)
		},
	}
}

// Cascade declares a stage that, for every item removed from the table
// its trigger watches, removes what belongs to it: items of other tables,
// objects under a prefix. The trigger should take removals only:
//
//	stages.Cascade(app, "forget-album", albums.Changes(triggers.Remove),
//		stages.DeleteItems(photos, func(a Album) any { return a.Name }),
//		stages.DeleteObjects(uploads, "thumbs/", func(a Album) string { return a.Name + "/" }))
//
// The removed item's old image is decoded into T, so the table's stream
// must carry old images (the default NEW_AND_OLD_IMAGES does). Records
// other than removals are acknowledged and ignored.
//
// Removing what is already gone succeeds, so redelivery is harmless, and
// a record whose cascade fails part way is retried (in order, as streams
// are) and finishes the job. A cascade over very many items or objects
// that cannot finish before the function's timeout fails the record and
// goes on where it left off at the retry: what was removed stays removed.
func Cascade[T any](app *pipeline.App, name string, t triggers.StreamTrigger, targets ...Target[T]) (s *pipeline.Stage) {
	defer refusedStream(app, name, t, &s)
	if app == nil {
		declError(name, "the app is nil")
	}
	if len(targets) == 0 {
		declError(name, "Cascade without targets; pass stages.DeleteItems or stages.DeleteObjects")
	}
	if len(t.Kinds) > 0 && !slices.Contains(t.Kinds, triggers.Remove) {
		declError(name, "Cascade acts on removals, but its trigger takes only %v; add triggers.Remove", t.Kinds)
	}
	if tb := app.TableNamed(t.Table); tb != nil {
		switch tb.StreamView() {
		case pipeline.ViewNewImage, pipeline.ViewKeysOnly:
			declError(name, "table %s has a %s stream, without the old images Cascade needs; declare pipeline.Stream(pipeline.ViewNewAndOldImages) or ViewOldImage", tb.Name(), tb.StreamView())
		}
	}
	for _, tg := range targets {
		tg.check(app, name)
	}
	s = pipeline.OnChange(app, name, t, func(ctx context.Context, c triggers.Change[T]) error {
		if c.Kind != triggers.Remove {
			return nil
		}
		if c.Old == nil {
			return fmt.Errorf("cascade: the REMOVE record %s carries no old image; the stream of table %s must include old images", c.EventID, c.Table)
		}
		var errs []error
		for _, tg := range targets {
			if err := tg.run(ctx, *c.Old); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	for _, tg := range targets {
		tg.declare(s)
	}
	return s
}

func deleteItems(ctx context.Context, table *pipeline.Table, value any) error {
	pk := table.PartitionKey()
	av, err := attributevalue.Marshal(value)
	if err != nil {
		return fmt.Errorf("cascade into table %s: partition key %q: %w", table.Name(), pk.Name, err)
	}
	name := table.PhysicalName(ctx)
	client := table.DynamoDB(ctx)
	keys := tableKeys(table)
	if len(keys) == 1 {
		_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &name, Key: map[string]types.AttributeValue{pk.Name: av}})
		if err != nil {
			return fmt.Errorf("cascade into table %s: %w", table.Name(), err)
		}
		return nil
	}
	// Items are removed one DeleteItem each, DefaultWriters at a time: the
	// Deletes grant allows DeleteItem only (IAM cannot limit BatchWriteItem
	// to deletes), and the SDK retries throttled calls.
	names := map[string]string{"#pk": pk.Name, "#sk": keys[1].Name}
	in := &dynamodb.QueryInput{
		TableName:                 &name,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ProjectionExpression:      aws.String("#pk, #sk"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": av},
		ConsistentRead:            aws.Bool(true),
	}
	var (
		mu      sync.Mutex
		removed int
		errs    []error
		wg      sync.WaitGroup
	)
	slots := make(chan struct{}, DefaultWriters)
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) > 0 }
	for p := dynamodb.NewQueryPaginator(client, in); p.HasMorePages() && !failed(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			break
		}
		for _, it := range page.Items {
			if failed() {
				break
			}
			slots <- struct{}{}
			wg.Add(1)
			go func(key map[string]types.AttributeValue) {
				defer func() { <-slots; wg.Done() }()
				_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &name, Key: key})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("item %s: %w", keyString(key, keys), err))
					return
				}
				removed++
			}(it)
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cascade into table %s (%s = %v): %d items removed before: %w", table.Name(), pk.Name, value, removed, err)
	}
	return nil
}

func deleteObjects(ctx context.Context, b *pipeline.Bucket, prefix string) error {
	name := b.PhysicalName(ctx)
	client := b.S3(ctx)
	removed := 0
	for p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &name, Prefix: &prefix}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("cascade into s3://%s/%s: list (%d removed before): %w", name, prefix, removed, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]s3types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = s3types.ObjectIdentifier{Key: o.Key}
		}
		out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &name, Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("cascade into s3://%s/%s: delete (%d removed before): %w", name, prefix, removed, err)
		}
		if len(out.Errors) > 0 {
			var msgs []string
			for _, e := range out.Errors[:min(len(out.Errors), 5)] {
				msgs = append(msgs, fmt.Sprintf("%s: %s %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message)))
			}
			return fmt.Errorf("cascade into s3://%s/%s: %d objects not deleted: %s", name, prefix, len(out.Errors), strings.Join(msgs, "; "))
		}
		removed += len(ids)
	}
	return nil
}
