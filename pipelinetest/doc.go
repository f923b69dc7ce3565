// Package pipelinetest tests stages without Lambda or AWS: it builds the
// events Lambda would deliver from typed Go values, invokes a stage
// in-process through the runtime's handler, and returns what the stage
// reported.
//
// # Events
//
// CreatedObject, CreatedObjectBy and RemovedObject build S3 event records
// (keys form-encoded as S3 sends them); S3Event wraps them into a payload.
// InsertedItem, ModifiedItem and RemovedItem build DynamoDB stream records
// from items of a declared table, taking the keys by the table's key
// schema; StreamEvent wraps them.
//
// # Invoking
//
//	h := pipelinetest.New(t, app.App, "")
//	res := h.Invoke(app.CountAlbums, pipelinetest.StreamEvent(
//		pipelinetest.InsertedItem(app.Photos, app.Photo{ID: "a/1.jpg", Album: "a"}),
//	))
//	// res.Failed lists the sequence numbers Lambda would retry.
//
// Harness.Invoke does around the handler what Lambda and IAM do around a
// deployed function:
//
//   - it applies the trigger's filter first, with the local environment's
//     evaluator: records it does not take are listed in Result.Filtered
//     and never reach the stage, which is not called at all when none is
//     left (SkipFilters turns this off);
//   - it refuses calls the stage's Reads, Writes and Deletes do not allow,
//     with the check and message of the local environment (`dev`), before
//     anything is sent (SkipAccessChecks turns this off).
//
// Stages that call AWS get clients sent to the endpoint given to New (a
// local environment's), or, when it is empty, to an unreachable address
// on 127.0.0.1. Harness.Context returns a context bound to the same
// endpoint, for seeding and checking data with the app's handles; a
// handle used outside a stage with any other context returns
// pipeline.ErrNoEnv instead of reaching AWS.
package pipelinetest
