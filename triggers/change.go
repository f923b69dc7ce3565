package triggers

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Kind is what happened to an item: it was inserted, modified or removed.
type Kind string

// The kinds of change a DynamoDB stream reports. Their values are the
// stream's own eventName values.
const (
	Insert Kind = "INSERT"
	Modify Kind = "MODIFY"
	Remove Kind = "REMOVE"
)

// Change is one record of a DynamoDB stream, with the item images decoded
// into T using `dynamodbav` struct tags (the same rules as
// attributevalue.UnmarshalMap).
//
// Old is nil for inserts and when the stream does not carry old images;
// New is nil for removes and when the stream does not carry new images.
type Change[T any] struct {
	Kind Kind
	// Keys holds the primary key attributes of the changed item.
	Keys map[string]types.AttributeValue
	Old  *T
	New  *T
	// SequenceNumber orders changes of one item; it is also the identifier
	// reported in batchItemFailures.
	SequenceNumber string
	EventID        string
	// CreatedAt is the approximate time the change was written to the stream.
	CreatedAt time.Time
	// SizeBytes is the size of the stream record as DynamoDB reports it.
	SizeBytes int64
	// StreamViewType is KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES.
	StreamViewType string
	// Table is the physical name of the table, taken from the event source ARN.
	Table string
	// EventSourceARN is the ARN of the stream the record came from.
	EventSourceARN string
	// Region is the AWS region of the stream.
	Region string
	// TTL is true when DynamoDB's time-to-live process removed the item
	// (the record's userIdentity is the dynamodb.amazonaws.com service).
	TTL bool

	raw []byte
}

// RawRecord returns the record's JSON exactly as Lambda delivered it, for
// the rare stage that needs a field Change does not carry: unmarshal it
// into aws-lambda-go's events.DynamoDBEventRecord. It is nil for a Change
// that was not decoded from a stream payload.
func (c Change[T]) RawRecord() []byte { return c.raw }
