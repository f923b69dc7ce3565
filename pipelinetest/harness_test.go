package pipelinetest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/triggers"
)

type order struct {
	ID     string `dynamodbav:"id"`
	Status string `dynamodbav:"status"`
}

// grantsApp has a stage that writes where it never declared: the
// outcome of the write is kept in *got.
func grantsApp(got *string) (*pipeline.App, *pipeline.Bucket, *pipeline.Stage) {
	app := pipeline.New("grants")
	inbox := app.Bucket("grants-inbox")
	st := pipeline.OnObject(app, "copy", inbox.Created(triggers.Prefix("in/")), func(ctx context.Context, o triggers.Object) error {
		err := inbox.Put(ctx, "elsewhere/"+o.Key, []byte("x"))
		*got = "ok"
		if err != nil {
			*got = err.Error()
			// Code reads the refusal as it reads IAM's once deployed.
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
				*got = "not an AccessDenied API error: " + *got
			}
		}
		return err
	}).Reads(inbox.Keys("in/", "")).Writes(inbox.Keys("out/", ""))
	return app, inbox, st
}

// TestAccessEnforced: an undeclared write fails in the harness exactly as
// it fails under `dev`, with the same message; SkipAccessChecks lets it
// through.
func TestAccessEnforced(t *testing.T) {
	var inDev, inHarness, skipped string
	app, inbox, _ := grantsApp(&inDev)
	env, err := local.Start(context.Background(), app, local.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	if _, err := env.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(inbox.Name()), Key: aws.String("in/a.txt"), Body: strings.NewReader("a")}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.WaitIdle(wctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	hApp, hInbox, st := grantsApp(&inHarness)
	h := pipelinetest.New(t, hApp, env.Endpoint())
	res := h.Invoke(st, pipelinetest.S3Event(pipelinetest.CreatedObject(hInbox, "in/a.txt", []byte("a"))))
	if res.OK() || !strings.Contains(res.Err.Error(), "AccessDenied") {
		t.Fatalf("undeclared write in the harness: %v, want AccessDenied", res.Err)
	}
	if !strings.Contains(inHarness, `add .Writes(<bucket grants-inbox>.Keys("elsewhere/in/", ""))`) {
		t.Errorf("harness error %q does not name the fix", inHarness)
	}
	if inHarness != inDev {
		t.Errorf("the harness says\n%s\nbut dev says\n%s", inHarness, inDev)
	}

	sApp, sInbox, sst := grantsApp(&skipped)
	hs := pipelinetest.New(t, sApp, env.Endpoint(), pipelinetest.SkipAccessChecks())
	if res := hs.Invoke(sst, pipelinetest.S3Event(pipelinetest.CreatedObject(sInbox, "in/b.txt", []byte("b")))); !res.OK() || skipped != "ok" {
		t.Errorf("with SkipAccessChecks: %v, stage saw %q", res.Err, skipped)
	}
	// The harness's own context seeds and checks without a stage's limits.
	data, err := sInbox.Get(hs.Context(), "elsewhere/in/b.txt")
	if err != nil || string(data) != "x" {
		t.Errorf("read back through h.Context(): %q %v", data, err)
	}
}

// TestFiltersApplied: records the trigger's filter rejects never reach
// the stage and are reported as filtered; SkipFilters hands them over.
func TestFiltersApplied(t *testing.T) {
	app := pipeline.New("filters")
	orders := app.Table("orders", pipeline.PartitionKey("id", pipeline.String))
	files := app.Bucket("filters-files")
	var got []string
	ship := pipeline.OnChange(app, "ship", orders.Changes(triggers.Insert, triggers.Where(triggers.NewImage("status").Equals("paid"))),
		func(ctx context.Context, c triggers.Change[order]) error {
			got = append(got, c.New.ID)
			return nil
		})
	csv := pipeline.OnObject(app, "csv", files.Created(triggers.Prefix("in/"), triggers.Suffix(".csv")), func(ctx context.Context, o triggers.Object) error {
		got = append(got, o.Key)
		return nil
	})
	pending := pipelinetest.InsertedItem(orders, order{ID: "o1", Status: "pending"})
	paid := pipelinetest.InsertedItem(orders, order{ID: "o2", Status: "paid"})
	changed := pipelinetest.ModifiedItem(orders, order{ID: "o3", Status: "paid"}, order{ID: "o3", Status: "paid"})

	h := pipelinetest.New(t, app, "")
	res := h.Invoke(ship, pipelinetest.StreamEvent(pending, paid, changed))
	if !res.OK() || !res.Invoked || !slices.Equal(got, []string{"o2"}) || !slices.Equal(res.Filtered, []string{pending.SequenceNumber(), changed.SequenceNumber()}) {
		t.Errorf("filtered batch: stage got %v, result %+v", got, res)
	}
	got = nil
	res = h.Invoke(ship, pipelinetest.StreamEvent(pending))
	if res.Invoked || len(got) != 0 || !slices.Equal(res.Filtered, []string{pending.SequenceNumber()}) {
		t.Errorf("all filtered: stage got %v, result %+v; want no invocation", got, res)
	}
	res = h.Invoke(csv, pipelinetest.S3Event(pipelinetest.CreatedObject(files, "in/a.csv", nil), pipelinetest.CreatedObject(files, "in/b.txt", nil), pipelinetest.RemovedObject(files, "in/c.csv")))
	if !res.OK() || !slices.Equal(got, []string{"in/a.csv"}) || !slices.Equal(res.Filtered, []string{"in/b.txt", "in/c.csv"}) {
		t.Errorf("S3 records: stage got %v, result %+v", got, res)
	}

	got = nil
	raw := pipelinetest.New(t, app, "", pipelinetest.SkipFilters())
	if res := raw.Invoke(ship, pipelinetest.StreamEvent(pending, paid)); !res.OK() || !res.Invoked || len(res.Filtered) != 0 || !slices.Equal(got, []string{"o1", "o2"}) {
		t.Errorf("SkipFilters: stage got %v, result %+v", got, res)
	}
}

// TestContextEndsWithTheTest: h.Context() is the test's, so calls made
// with it after the test stop.
func TestContextEndsWithTheTest(t *testing.T) {
	app := pipeline.New("ctx")
	tb := app.Table("ctx-items", pipeline.PartitionKey("id", pipeline.String))
	var h *pipelinetest.Harness
	t.Run("inner", func(t *testing.T) { h = pipelinetest.New(t, app, "") })
	if err := tb.Put(h.Context(), order{ID: "a"}); err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("put with the context of a finished test: %v, want context.Canceled", err)
	}
}
