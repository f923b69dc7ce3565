package stages

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// IndexedObject is the item Index keeps for an object. Besides these
// attributes the item holds the table's key: the object key under the
// partition key's name, or, for a table with a sort key, the bucket's
// declared name as partition key and the object key as sort key.
type IndexedObject struct {
	// Bucket is the bucket's declared name (the same in every
	// environment); Key the object key.
	Bucket       string            `dynamodbav:"bucket" json:"bucket"`
	Key          string            `dynamodbav:"key" json:"key"`
	Size         int64             `dynamodbav:"size" json:"size"`
	ETag         string            `dynamodbav:"etag" json:"etag"`
	ContentType  string            `dynamodbav:"content_type,omitempty" json:"content_type,omitempty"`
	LastModified time.Time         `dynamodbav:"last_modified" json:"last_modified"`
	VersionID    string            `dynamodbav:"version_id,omitempty" json:"version_id,omitempty"`
	Metadata     map[string]string `dynamodbav:"metadata,omitempty" json:"metadata,omitempty"`
	// Sequencer is the S3 event sequencer of the indexed version, padded
	// to compare as a string: writes conditional on it keep an older
	// event from undoing a newer one.
	Sequencer string `dynamodbav:"sequencer" json:"sequencer"`
}

// Index declares a stage that keeps table in step with the objects its
// trigger fires on: on an ObjectCreated trigger it records each object's
// metadata (HeadObject) as an IndexedObject; on an ObjectRemoved trigger
// it removes the object's item. Declare one of each to index both ways:
//
//	stages.Index(app, "index", uploads.Created(triggers.Prefix("docs/")), objects)
//	stages.Index(app, "unindex", uploads.Removed(triggers.Prefix("docs/")), objects)
//
// The table's partition key must be a string; with a string sort key too,
// the partition key holds the bucket's declared name and the sort key the
// object key, so that one table can index several buckets.
//
// S3 delivers events at least once and not always in order. Every write is
// conditional on the event's sequencer being newer than the one recorded,
// so a redelivered or late event changes nothing, and a creation whose
// object is gone by the time it runs is skipped.
//
// It declares reading the keys its trigger matches (creations only) and
// writing the table.
func Index(app *pipeline.App, name string, t triggers.ObjectTrigger, table *pipeline.Table) (s *pipeline.Stage) {
	defer refusedObject(app, name, t, &s)
	src := sourceBucket(app, name, t)
	ownTable(app, name, table, "the index table")
	created, removed := createdOnly(t), removedOnly(t)
	if !created && !removed {
		declError(name, "Index needs a trigger of one kind, Created or Removed, not %v; declare two stages", t.Events)
	}
	pk, sk := table.PartitionKey(), table.SortKey()
	if pk.Type != pipeline.String || (sk != nil && sk.Type != pipeline.String) {
		declError(name, "index table %s must have string keys (the object key, or the bucket name and the object key)", table.Name())
	}
	x := &indexer{src: src, table: table}
	if removed {
		return pipeline.OnObject(app, name, t, x.remove).Writes(table)
	}
	return pipeline.OnObject(app, name, t, x.put).Reads(src.Keys(t.Prefix, t.Suffix)).Writes(table)
}

type indexer struct {
	src   *pipeline.Bucket
	table *pipeline.Table
}

func (x *indexer) key(objectKey string) map[string]types.AttributeValue {
	pk := x.table.PartitionKey()
	if sk := x.table.SortKey(); sk != nil {
		return map[string]types.AttributeValue{
			pk.Name: &types.AttributeValueMemberS{Value: x.src.Name()},
			sk.Name: &types.AttributeValueMemberS{Value: objectKey},
		}
	}
	return map[string]types.AttributeValue{pk.Name: &types.AttributeValueMemberS{Value: objectKey}}
}

// newer is the condition that the event is newer than what the item
// records (or that there is no item).
const newer = "attribute_not_exists(#seq) OR #seq < :seq"

func (x *indexer) put(ctx context.Context, o triggers.Object) error {
	bucket := x.src.PhysicalName(ctx)
	head, err := x.src.S3(ctx).HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &o.Key})
	if notFound(err) {
		pipeline.Logger(ctx).Info("skipped: the object is gone; its removal's event unindexes it", "source", "s3://"+bucket+"/"+o.Key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("index s3://%s/%s: head: %w", bucket, o.Key, err)
	}
	rec := IndexedObject{
		Bucket:       x.src.Name(),
		Key:          o.Key,
		Size:         aws.ToInt64(head.ContentLength),
		ETag:         trimQuotes(aws.ToString(head.ETag)),
		ContentType:  aws.ToString(head.ContentType),
		LastModified: aws.ToTime(head.LastModified).UTC(),
		VersionID:    aws.ToString(head.VersionId),
		Metadata:     head.Metadata,
		Sequencer:    normalizeSequencer(o.Sequencer),
	}
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return fmt.Errorf("index s3://%s/%s: %w", bucket, o.Key, err)
	}
	for k, v := range x.key(o.Key) {
		item[k] = v
	}
	name := x.table.PhysicalName(ctx)
	_, err = x.table.DynamoDB(ctx).PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &name,
		Item:                      item,
		ConditionExpression:       aws.String(newer),
		ExpressionAttributeNames:  map[string]string{"#seq": "sequencer"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":seq": &types.AttributeValueMemberS{Value: rec.Sequencer}},
	})
	if conditionalCheckFailed(err) {
		pipeline.Logger(ctx).Info("skipped: a newer event is indexed already", "source", "s3://"+bucket+"/"+o.Key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("index s3://%s/%s into table %s: %w", bucket, o.Key, x.table.Name(), err)
	}
	return nil
}

func (x *indexer) remove(ctx context.Context, o triggers.Object) error {
	name := x.table.PhysicalName(ctx)
	_, err := x.table.DynamoDB(ctx).DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &name,
		Key:                       x.key(o.Key),
		ConditionExpression:       aws.String(newer),
		ExpressionAttributeNames:  map[string]string{"#seq": "sequencer"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":seq": &types.AttributeValueMemberS{Value: normalizeSequencer(o.Sequencer)}},
	})
	if conditionalCheckFailed(err) {
		pipeline.Logger(ctx).Info("kept: the object was created again after this removal", "key", o.Key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("unindex %s from table %s: %w", o.Key, x.table.Name(), err)
	}
	return nil
}

func trimQuotes(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
