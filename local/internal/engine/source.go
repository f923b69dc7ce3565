package engine

import (
	"context"
	"time"
)

// ObjectSource is where S3 object events come from: the embedded S3
// server, or an S3 server that posts its events to a webhook.
//
// Subscribe registers fn to receive every S3 event record, as the JSON of
// one element of an S3 notification's "Records" in AWS's exact shape
// (eventVersion 2.1, form-encoded key, sequencer, eTag and size for
// created objects, versionId on versioned buckets). A source normalises
// records that its server writes differently. fn is called after the
// change the record reports is stored; it returns quickly (the engine
// only journals and queues the event) and must not be called concurrently
// for the same key out of order.
//
// fn returns nil once the event is queued durably: it survives a crash of
// the process. An error means it is not (the engine's journal could not
// be written, or the engine is closed): the source must then not
// acknowledge the write that made the record, but answer its client with
// an error the client retries (S3's 500 InternalError), so that the retry
// makes a new event. The change itself may stay stored.
type ObjectSource interface {
	Subscribe(fn func(record []byte) error)
}

// IteratorType is where a shard iterator starts.
type IteratorType string

// Shard iterator types, as the DynamoDB Streams API names them.
const (
	TrimHorizon         IteratorType = "TRIM_HORIZON"
	Latest              IteratorType = "LATEST"
	AtSequenceNumber    IteratorType = "AT_SEQUENCE_NUMBER"
	AfterSequenceNumber IteratorType = "AFTER_SEQUENCE_NUMBER"
)

// StreamRecord is one record as GetRecords returns it.
type StreamRecord struct {
	// Sequence is the record's sequence number (decimal digits).
	Sequence string
	// Created is when the change was written: the record's
	// ApproximateCreationDateTime, or a finer time where the source has one.
	Created time.Time
	// JSON is the record in the GetRecords shape (eventID, eventName,
	// eventVersion, eventSource, awsRegion, dynamodb, userIdentity), without
	// the eventSourceARN Lambda adds.
	JSON []byte
}

// StreamSource reads DynamoDB streams the way an event source mapping
// does, through the operations of the DynamoDB Streams API. Backends: the
// embedded DynamoDB (in-process), and any endpoint speaking the Streams
// API, such as DynamoDB Local, through NewSDKStreams.
//
// Errors are returned as they come; the engine retries reads with backoff.
// A shard that is closed and read to its end returns next == "".
type StreamSource interface {
	// StreamARN returns the ARN of the table's enabled stream, or "" when
	// the table has no enabled stream.
	StreamARN(ctx context.Context, table string) (string, error)
	// Shards returns the IDs of the stream's shards, parents first.
	Shards(ctx context.Context, streamARN string) ([]string, error)
	// Iterator returns a shard iterator (GetShardIterator); seq is used by
	// AtSequenceNumber and AfterSequenceNumber.
	Iterator(ctx context.Context, streamARN, shardID string, typ IteratorType, seq string) (string, error)
	// Records reads up to limit records at the iterator (GetRecords) and
	// returns the iterator after them.
	Records(ctx context.Context, iterator string, limit int) (recs []StreamRecord, next string, err error)
}

// Notifier is implemented by stream sources that can tell when a stream
// has new records, so readers wait for them instead of polling.
type Notifier interface {
	// Changed returns a channel that is closed when the stream gets records
	// after the call.
	Changed(streamARN string) <-chan struct{}
}
