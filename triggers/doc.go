// Package triggers describes what fires a stage and what the stage
// receives: S3 object events and DynamoDB stream changes, as plain Go
// values.
//
// # Trigger specs
//
// An ObjectTrigger binds a stage to S3 events of one bucket; build it with
// a bucket handle of package pipeline (uploads.Created(...),
// uploads.Removed(...)) and ObjectOption values: Prefix and Suffix
// filters, Only for specific sub-events, and Lambda's asynchronous-invoke
// options (Retries 0-2, MaxEventAge, OnFailure). A StreamTrigger binds a
// stage to a table's stream; build it with a table handle
// (orders.Changes(...)) and StreamOption values: the kinds of change
// (Insert, Modify, Remove), BatchSize, BatchingWindow, StartAt, Retries,
// Bisect, MaxRecordAge, Parallelization, TumblingWindow, OnFailure and
// Where filters.
//
// The two option types are distinct, so an option of one kind of trigger
// given to the other does not compile; Retries and OnFailure are Option,
// which both accept. Every value is checked against Lambda's documented
// limits when the option is applied; a value outside them is a declaration
// error naming the limit.
//
// # Filters
//
// Where adds a filter made of typed conditions on record attributes
// (NewImage("status").Equals("ready"), NewImage("kind").OneOf("jpg",
// "png"), Key("id").HasPrefix("order#")). A trigger's filters compile to
// Lambda FilterCriteria patterns (Patterns) and are evaluated by Matches
// with the same semantics, so the local environment drops exactly the
// records Lambda would. There are no numeric comparisons: DynamoDB numbers
// reach Lambda as strings and AWS documents no numeric operators for
// stream filters, so IsNumber matches a number's exact text. A condition
// that could never match (Exists without As, an empty prefix) is refused
// with the reason instead of silently dropping every record.
//
// # Events
//
// A stage receives Object values (key URL-decoded) or Change values (old
// and new images decoded into a Go type with `dynamodbav` tags), or a
// whole Batch of changes. DecodeObjects and DecodeStream do the decoding
// the runtime does, for tests and tools. RawRecord on Object and Change is
// the record's JSON as Lambda delivered it, for the rare stage that needs
// a field nanopipe does not surface: unmarshal it into aws-lambda-go's
// events types.
package triggers
