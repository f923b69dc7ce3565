// Package triggers describes what fires a stage and what the stage
// receives: S3 object events and DynamoDB stream changes, as plain Go
// values.
//
// # Trigger specs
//
// An ObjectTrigger binds a stage to S3 events of one bucket (created or
// removed, or specific sub-events with Only; Prefix and Suffix filters)
// with Lambda's asynchronous-invoke options (Retries 0-2, MaxEventAge,
// OnFailure). A StreamTrigger binds a stage to a table's stream with every
// option of an event source mapping: kinds of change (Insert, Modify,
// Remove), BatchSize, BatchingWindow, StartAt, Retries, Bisect,
// MaxRecordAge, Parallelization, TumblingWindow, OnFailure and filters.
// Bucket and table handles of package pipeline build them; every value is
// checked against Lambda's documented limits when the option is applied.
//
// # Filters
//
// Where adds a filter made of typed conditions on record attributes
// (NewImage("status").Equals("ready"), NewImage("kind").OneOf("jpg",
// "png"), Key("id").HasPrefix("order#")). A trigger's filters compile to
// Lambda FilterCriteria patterns (Patterns) and are evaluated by Match
// with the same semantics, so the local environment drops exactly the
// records Lambda would. Conditions Lambda cannot evaluate on stream
// records (numeric ranges: DynamoDB numbers arrive as strings) are refused
// with the reason instead of silently dropping every record.
//
// # Events
//
// DecodeStream turns a stream payload into Change values with the old and
// new images decoded into a Go type (`dynamodbav` tags), without going
// through aws-lambda-go's generic event types; DecodeObjects turns an S3
// payload into Object values with URL-decoded keys. BatchResponse is the
// partial batch response a stream stage returns. Record on Change and
// Object reaches aws-lambda-go's event types for the rare case.
package triggers
