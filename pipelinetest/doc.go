// Package pipelinetest tests stages without Lambda or AWS: it builds the
// events Lambda would deliver from typed Go values, invokes a stage
// in-process exactly as the runtime does, and returns what the stage
// reported.
//
// # Events
//
// Created, CreatedBy and Removed build S3 event records (keys form-encoded
// as S3 sends them); S3Event wraps them into a payload. Insert, Modify and
// Remove build DynamoDB stream records from items of a declared table,
// taking the keys by the table's key schema; StreamEvent wraps them.
//
// # Invoking
//
//	h := pipelinetest.New(t, app.App, "")
//	res := h.Invoke(app.CountAlbums, pipelinetest.StreamEvent(
//		pipelinetest.InsertedItem(app.Photos, app.Photo{ID: "a/1.jpg", Album: "a"}),
//	))
//	// res.Failed lists the sequence numbers Lambda would retry.
//
// Stages that call AWS get clients sent to the endpoint given to New (a
// local environment's), or to an unreachable address when it is empty, so
// a test never reaches a real account by accident.
package pipelinetest
