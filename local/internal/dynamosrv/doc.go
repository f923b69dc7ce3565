// Package dynamosrv is the local environment's embedded DynamoDB with
// Streams: an http.Handler speaking the DynamoDB and DynamoDB Streams JSON
// protocols, keeping tables in memory or under a directory.
//
// # What it implements
//
// Tables: CreateTable (global and local secondary indexes, streams,
// on-demand or provisioned), DescribeTable (TableStatus ACTIVE, the latest
// stream ARN and label), UpdateTable (streams, billing, index create and
// delete), DeleteTable, ListTables, Update/DescribeTimeToLive (expired
// items are removed with stream records marked as the service's), tags.
//
// Items: PutItem, GetItem, UpdateItem, DeleteItem with condition, update
// and projection expressions, ExpressionAttributeNames and Values (unused
// ones refused as DynamoDB does), ReturnValues (ALL_OLD, UPDATED_OLD,
// ALL_NEW, UPDATED_NEW) and ReturnValuesOnConditionCheckFailure; Query and
// Scan with key conditions, filters, indexes, Limit (items evaluated),
// ExclusiveStartKey and LastEvaluatedKey, the 1 MB page, parallel scan
// segments; BatchWriteItem, BatchGetItem; TransactWriteItems (with
// CancellationReasons) and TransactGetItems. Numbers keep 38 digits, as
// DynamoDB's do; empty lists, maps and binaries are kept.
//
// Streams: ListStreams, DescribeStream, GetShardIterator (TRIM_HORIZON,
// LATEST, AT_ and AFTER_SEQUENCE_NUMBER) and GetRecords, with KEYS_ONLY,
// NEW_IMAGE, OLD_IMAGE and NEW_AND_OLD_IMAGES records in the shape Lambda
// delivers. A write that fails its condition, a cancelled transaction, and
// a write that changes nothing write no record. Each stream has a fixed
// number of shards; an item's records always go to the same shard, in
// order.
//
// # Checked against DynamoDB Local
//
// The conformance suite (package local/internal/conformance) runs the same tests
// against this package and against DynamoDB Local. Behaviours fixed here
// to match it, as DynamoDB behaves:
//
//   - reserved words (status, name, data, ...) named directly in any
//     expression are refused ("Attribute name is a reserved keyword"); an
//     expression attribute name (#s) is the way to use them;
//   - a Query's FilterExpression may not test the partition or sort key
//     it queries by;
//   - partition key values over 2048 bytes and sort key values over 1024
//     are refused, in items and in keys;
//   - attribute values nested deeper than 32 levels are refused;
//   - a number with spaces around it is not a number;
//   - a number's size (in SizeBytes, item sizes and capacity) is that of
//     DynamoDB's storage: base-100 digits aligned on the decimal point,
//     one byte more, and another for a negative number;
//   - Query and Scan pages without items say "Items": [] (Select COUNT
//     none);
//   - ListTables refuses a Limit outside 1 to 100.
//
// The differential test (package local/internal/difftest) sends seeded
// random workloads to both, request by request, and compares responses,
// item states and stream records; docs/local.md lists what it fixed (update
// expressions on document paths that do not exist, operand checks before
// any item is read, transactions, UPDATED_OLD and UPDATED_NEW, Query's
// LastEvaluatedKey, projections of list elements) and where DynamoDB Local
// itself differs from DynamoDB.
//
// # Limits
//
// As in DynamoDB: an expression holds at most 4 KB, a condition at most
// 300 operators and functions, a document path at most 32 levels; nesting
// in an expression is bounded (parentheses around parentheses are refused),
// so that no request can exhaust the parser's stack. Attribute values nest
// at most 32 levels, in items and in ExpressionAttributeValues; a request
// body holds at most 16 MB and its JSON nests at most 10,000 levels
// (encoding/json's bound), which bounds every other recursion here.
//
// # Why not minidyn
//
// minidyn 0.8.2 serves tables and expressions but has no streams, no write
// hook to build them on, no persistence, and differs from DynamoDB in
// exactly the behaviours code relies on (the ConditionalCheckFailed error,
// ALL_OLD, Query paging with Limit, CancellationReasons, TableStatus, empty
// values, 38-digit numbers). Fixing all that around it would leave little
// of it; this package is written for the purpose instead.
//
// # Persistence
//
// A directory store keeps an append-only journal of changes (tables,
// writes with their stream records) and compacts it at start-up. Stream
// records are retained for 24 hours, as in DynamoDB.
//
// Not implemented: PartiQL, backups, global tables, Kinesis streaming,
// imports and exports, legacy (non-expression) parameters such as Expected
// and KeyConditions, which are refused with a message saying so.
package dynamosrv
