// Package pipeline declares event-driven pipelines on AWS and runs their
// stages in Lambda.
//
// A pipeline is an App: its resources (S3 buckets and DynamoDB tables, new
// or existing) and its stages (Go functions bound to triggers), each with
// what it reads and writes. The one declaration drives the Lambda runtime
// (this package), the local environment (package local) and the
// CloudFormation synthesis (package cdk).
//
//	var App = pipeline.New("photos")
//
//	var (
//		uploads = App.Bucket("photos-uploads")
//		photos  = App.Table("photos", pipeline.PartitionKey("id", pipeline.String))
//	)
//
//	var thumbnail = pipeline.OnObject(App, "thumbnail",
//		uploads.Created(triggers.Prefix("incoming/"), triggers.Suffix(".jpg")),
//		makeThumbnail, // func(ctx context.Context, o triggers.Object) error
//	).Reads(uploads.Keys("incoming/", "")).Writes(uploads.Keys("thumbs/", ""), photos)
//
//	var index = pipeline.OnChange(App, "index",
//		photos.Changes(triggers.Insert, triggers.BatchSize(100), triggers.Bisect()),
//		indexPhoto, // func(ctx context.Context, c triggers.Change[Photo]) error
//	)
//
// # Declaration errors
//
// Mistakes fail where they are declared, with a message naming the stage,
// the resource and the fix: option values outside Lambda's limits,
// duplicate names, options of the wrong trigger kind, filters on
// attributes the item type lacks. Problems only the whole app shows are
// found by Validate (which Main, the local environment and the cdk package
// call): S3 triggers that overlap on one bucket (S3 refuses them at deploy),
// loops through S3 prefixes or DynamoDB streams (refused unless a stage of
// the loop says why it ends with AllowLoop), stream triggers on existing
// tables without a stream ARN, groups that cannot be routed.
//
// New panics on the first error; with the CollectErrors option errors
// accumulate and Validate returns them all, for programs that build
// pipelines dynamically.
//
// # Stages
//
// OnObject calls a function per S3 object event, with the key URL-decoded.
// OnChange calls a function per stream record, in order, with the item
// images decoded into a Go type using `dynamodbav` tags; OnChanges hands
// over the whole batch (bulk work, tumbling windows). OnS3Event and
// OnStreamEvent give aws-lambda-go's raw events for the rare stage that
// needs them.
//
// Failures follow Lambda's rules and lose nothing. For a stream, the first
// failing record and every record after it are reported in
// batchItemFailures, so Lambda retries from there and per-shard order is
// kept; for S3, a failed object fails the invocation, so Lambda's
// asynchronous retries and the on-failure destination apply. A panicking
// stage is a failed record, never a crashed process.
//
// # Runtime
//
// One binary serves every stage of an app:
//
//	func main() { app.App.Main() }
//
// Deployed, each function's environment names the stages it serves (one,
// or a group declared with Stage.Group, routed by event source) and the
// physical names of the resources they touch, in NANOPIPE_* variables the
// cdk package writes (NANOPIPE_LOG_LEVEL, debug, info, warn or error, sets
// the log level). Stage code reaches resources through their handles
// (Bucket.Get, Table.Put, Bucket.S3, Table.DynamoDB, PhysicalName), whose
// clients are built once per cold start, and never reads names from the
// environment itself. Logs are JSON lines from log/slog carrying the app,
// stage, request id, event id, outcome and duration; Logger(ctx) gives the
// stage the same logger.
//
// # Handles
//
// Table.Get, Delete and Update take the item, a change's Keys or a key
// map; Update, Query (of a table or of an Index declared with
// GlobalIndex or LocalIndex) and If conditions are built with
// aws-sdk-go-v2's feature/dynamodb/expression. Outside a running stage a
// handle reaches AWS only through a context bound with WithEnv (a test
// harness's context is one); otherwise it returns ErrNoEnv and sends
// nothing.
package pipeline
