// Package local runs a nanopipe app on one machine, with no AWS account:
// an embedded S3 and DynamoDB (with streams) behind one endpoint on
// 127.0.0.1, and an engine delivering their events to the app's stages
// with Lambda's semantics.
//
// # Running an app
//
// An app's binary runs Command.Main, which serves the stages with
// App.Main when it runs in Lambda and the local commands otherwise:
//
//	func main() {
//		local.Command{App: app.App, Name: "go run ./examples/photos"}.Main()
//	}
//
// and "go run ./examples/photos dev" starts the environment: it creates the
// declared buckets and tables under their declared names, serves S3 (REST,
// path-style), DynamoDB and DynamoDB Streams (JSON protocols, told apart by
// the X-Amz-Target header) on one endpoint (default 127.0.0.1:4566), prints
// ready-to-paste AWS CLI commands and a line per delivery, and a summary
// when stopped. State (objects, items, stream records, queued events,
// stream checkpoints, dead letters) is kept under --dir and survives a
// restart. The same binary serves Lambda when it runs there (Command.Main),
// so an app has one main.
//
// # Delivery
//
// S3 events are asynchronous invocations: retried with backoff up to the
// trigger's Retries, dropped to the dead letters when they fail every
// attempt or outlive MaxEventAge. Stream records go through an event
// source mapping per stage, reading the stream through the Streams API's
// operations: batch size, batching window, starting position, per-shard
// order, retries, bisection, maximum record age, partial batch responses,
// filters (the trigger's own Matches), tumbling windows and on-failure
// destinations.
//
// # Dead letters
//
// What failed for good is kept (payload, condition, error, attempts) in a
// store under the state directory. "deadletters" lists it; "replay"
// delivers letters again through their stage, through the running dev
// server when there is one.
//
// # Declared accesses
//
// A stage may only touch what its Reads, Writes and Deletes declare: the
// grants the cdk package writes into its function's role. A call outside
// them is refused with an AccessDenied error naming the declaration to
// add; Options.AllowUndeclared (dev --enforce=false)
// turns the check off.
//
// # The real Lambda entry path
//
// With Options.RIE (dev --rie) the stages run out of process: the app's
// Lambda binary, built as the cdk package builds it, under AWS's Runtime
// Interface Emulator, one emulator per concurrent invocation of a function.
// dev --watch also rebuilds the binary when its Go files
// change and restarts only those processes.
//
// # Backends
//
// Tables and buckets live in the embedded servers unless Options.DynamoDB or Options.S3 (flags --dynamodb and
// --s3) choose DynamoDB Local or the versitygw S3
// gateway. The endpoint forwards to the chosen server
// and the engine reads it through the same interfaces,
// with the external servers' events and records normalised to AWS's
// shapes. One conformance suite of pipeline behaviours runs over
// every combination.
//
// # In tests
//
// Start returns an Environment whose clients (S3Client, DynamoDBClient)
// reach the endpoint and which can be waited on until its deliveries are
// done (WaitIdle), with its counters (Stats) and dead letters
// (DeadLetters) to check. Pass
// Addr "127.0.0.1:0" for a free port and Dir "" to keep state in memory.
package local
