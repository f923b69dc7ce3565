package pipelinetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/triggers"
)

type photo struct {
	Album string   `dynamodbav:"album"`
	ID    string   `dynamodbav:"id"`
	Tags  []string `dynamodbav:"tags,stringset"`
	Size  int      `dynamodbav:"size"`
}

// The events the harness builds must read as Lambda's own: aws-lambda-go's
// types decode them with every field in place.
func TestEventsReadAsLambdaEvents(t *testing.T) {
	app := pipeline.New("t")
	b := app.Bucket("uploads")
	tb := app.Table("photos", pipeline.PartitionKey("album", pipeline.String), pipeline.SortKey("id", pipeline.String))

	var s3ev events.S3Event
	if err := json.Unmarshal(pipelinetest.S3Event(pipelinetest.CreatedObject(b, "in/a b.jpg", []byte("abc")), pipelinetest.RemovedObject(b, "in/old.jpg")), &s3ev); err != nil {
		t.Fatal(err)
	}
	r := s3ev.Records[0]
	if r.EventName != "ObjectCreated:Put" || r.S3.Bucket.Name != "uploads" || r.S3.Object.Key != "in/a+b.jpg" ||
		r.S3.Object.URLDecodedKey != "in/a b.jpg" || r.S3.Object.Size != 3 || r.S3.Object.ETag != "900150983cd24fb0d6963f7d28e17f72" || r.S3.Object.Sequencer == "" {
		t.Errorf("created record %+v", r)
	}
	if r := s3ev.Records[1]; r.EventName != "ObjectRemoved:Delete" || r.S3.Object.Size != 0 || r.S3.Object.Sequencer <= s3ev.Records[0].S3.Object.Sequencer {
		t.Errorf("removed record %+v", r)
	}

	old := photo{Album: "trip", ID: "1", Tags: []string{"sea"}, Size: 10}
	nu := photo{Album: "trip", ID: "1", Tags: []string{"sea", "sun"}, Size: 12}
	recs := []pipelinetest.StreamRecord{pipelinetest.InsertedItem(tb, old), pipelinetest.ModifiedItem(tb, old, nu), pipelinetest.RemovedItem(tb, nu)}
	var ddb events.DynamoDBEvent
	if err := json.Unmarshal(pipelinetest.StreamEvent(recs...), &ddb); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"INSERT", "MODIFY", "REMOVE"} {
		rec := ddb.Records[i]
		if rec.EventName != want || rec.EventSourceArn != pipelinetest.StreamARN(tb) || rec.Change.StreamViewType != "NEW_AND_OLD_IMAGES" {
			t.Errorf("record %d: %s %s %s", i, rec.EventName, rec.EventSourceArn, rec.Change.StreamViewType)
		}
		if len(rec.Change.Keys) != 2 || rec.Change.Keys["album"].String() != "trip" || rec.Change.Keys["id"].String() != "1" {
			t.Errorf("record %d keys %v", i, rec.Change.Keys)
		}
		if i > 0 && rec.Change.SequenceNumber <= ddb.Records[i-1].Change.SequenceNumber {
			t.Errorf("sequence numbers do not increase: %s after %s", rec.Change.SequenceNumber, ddb.Records[i-1].Change.SequenceNumber)
		}
	}
	if ddb.Records[0].Change.OldImage != nil || ddb.Records[2].Change.NewImage != nil {
		t.Error("insert has an old image or remove a new one")
	}
	if got := ddb.Records[1].Change.NewImage["tags"].StringSet(); fmt.Sprint(got) != "[sea sun]" {
		t.Errorf("modify new tags %v", got)
	}
}

func TestStreamViewOfTheTable(t *testing.T) {
	app := pipeline.New("t")
	tb := app.Table("photos", pipeline.PartitionKey("album", pipeline.String), pipeline.Stream(pipeline.ViewKeysOnly))
	var ddb events.DynamoDBEvent
	json.Unmarshal(pipelinetest.StreamEvent(pipelinetest.InsertedItem(tb, photo{Album: "a"})), &ddb)
	if c := ddb.Records[0].Change; c.NewImage != nil || c.StreamViewType != "KEYS_ONLY" || c.Keys["album"].String() != "a" {
		t.Errorf("KEYS_ONLY record %+v", c)
	}
}

// A test of a user's stage: the harness builds the batch Lambda would send
// and invokes the stage through the runtime's handler.
func ExampleHarness_Invoke() {
	app := pipeline.New("albums")
	photos := app.Table("photos", pipeline.PartitionKey("album", pipeline.String), pipeline.SortKey("id", pipeline.String))
	tag := pipeline.OnChange(app, "tag", photos.Changes(triggers.Modify),
		func(ctx context.Context, c triggers.Change[photo]) error {
			fmt.Println(c.Kind, c.Old.Tags, "->", c.New.Tags)
			if len(c.New.Tags) > 2 {
				return fmt.Errorf("photo %s has too many tags", c.New.ID)
			}
			return nil
		})

	before := photo{Album: "trip", ID: "1", Tags: []string{"sea"}}
	after := photo{Album: "trip", ID: "1", Tags: []string{"sea", "sun", "sand"}}
	bad := pipelinetest.ModifiedItem(photos, before, after)
	res := pipelinetest.New(nil, app, "").Invoke(tag, pipelinetest.StreamEvent(bad))
	fmt.Println(res.Failed[0] == bad.SequenceNumber())
	// Output:
	// MODIFY [sea] -> [sea sun sand]
	// true
}
