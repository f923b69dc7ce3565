// Package difftest compares the embedded DynamoDB (package dynamosrv) with
// DynamoDB Local, AWS's own implementation, on seeded random workloads.
//
// # What it does
//
// Run generates a stream of operations from a seed: PutItem, UpdateItem
// and DeleteItem with conditions and every ReturnValues option (and
// ReturnValuesOnConditionCheckFailure), nested document paths and list
// indexes, sets, numbers at their precision limits, TransactWriteItems,
// TransactGetItems, BatchWriteItem, BatchGetItem, GetItem, and Query and
// Scan with filters, projections, Limit and pagination. It sends each
// request, byte for byte the same, to both servers and compares:
//
//   - the responses: the HTTP status, the error type (and the
//     cancellation reasons of a cancelled transaction), or the whole body
//     of a success (set members compared as sets, consumed capacity not
//     requested);
//   - the items of the tables a write named, read with a consistent Scan
//     after each write;
//   - at the end, the stream records of every item, for each of the four
//     stream view types (one table each): event names, keys, images and
//     view type, in order.
//
// Error messages are not compared: DynamoDB Local's wording is not
// DynamoDB's in places. Where DynamoDB Local itself differs from DynamoDB
// in what is compared (its stream records write an empty map as {} and
// name the region "ddblocal"), its answer is corrected as
// dynamolocal.FixRecords does before comparing; docs/local.md lists these
// cases.
//
// # Running
//
// The package's test runs two short seeds as part of go test. A longer run
// takes its seeds and operation count from NANOPIPE_DIFFTEST, for example
//
//	NANOPIPE_DIFFTEST='seeds=1-5 ops=2000' go test ./local/internal/difftest -run TestDifferential -v -timeout 30m
//
// Each difference is reported with the operation's number and name, the
// request, and both responses.
package difftest
