// Package engine delivers S3 events and DynamoDB stream records to the
// stages of an app with Lambda's semantics. It is one engine for every
// backend: what it reads comes through two small interfaces,
// ObjectSource (S3 event records) and StreamSource (the operations of the
// DynamoDB Streams API), implemented for the embedded servers of the local
// environment and, through NewSDKStreams, for any endpoint speaking the
// Streams API (DynamoDB Local).
//
// # S3: asynchronous invocation
//
// Each S3 event record a stage's trigger takes becomes one invocation with
// a one-record notification. It is journaled before the S3 request that
// caused it returns; when it cannot be, the object source is told
// (ObjectSource's fn returns an error) and fails the request rather than
// acknowledge it. A failed invocation (an error, a panic, a timeout) is
// retried after a backoff that doubles, up to the trigger's Retries; an
// event that fails every attempt, or that is older than MaxEventAge when
// its turn comes, goes to the on-failure destination (the dead-letter
// store) with condition RetriesExhausted or EventAgeExceeded. At most
// AsyncConcurrency events of a stage run at once, fewer with
// ReservedConcurrency; 0 throttles the stage.
//
// # Streams: event source mapping
//
// A mapping per stream stage reads each shard of the table's stream from
// its checkpoint (or the trigger's StartingPosition), drops records the
// trigger's filters do not Match, and hands batches to the stage: up to
// BatchSize records and 6 MB, gathered for up to BatchingWindow, within one
// tumbling window. Records of a shard are processed in order
// (Parallelization above 1: in order per item key). A batch is retried
// until it succeeds or its Retries are spent:
//
//   - a function error or timeout fails the whole batch;
//   - a partial batch response acknowledges the records before the lowest
//     reported sequence number and retries the rest; a response naming a
//     record not in the batch fails the whole batch;
//   - with Bisect, a failing batch is split in two and the halves retried
//     on their own; a split does not count as a retry;
//   - records older than MaxRecordAge go to the destination unprocessed.
//
// The checkpoint moves past a record only when it and every record before
// it were processed, filtered out or sent to the destination, so nothing
// is acknowledged that was not: a restart resumes after the checkpoint.
// Tumbling windows carry the state a stage returns to the next invocation
// of the window and end with a final invocation.
//
// # Timeouts
//
// An invocation runs with the stage's Function().Timeout as its context
// deadline; one that overruns is abandoned and counts as failed ("Task
// timed out"), as Lambda stops the function.
//
// # Dead letters and replay
//
// What fails for good is kept in a deadletter.Store with its payload,
// condition, error and attempts. Replay delivers a letter again through
// its stage, with the stage's retry policy; what fails again becomes a new
// letter.
package engine
