package local_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/local/internal/diskfull"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// A write whose event cannot be queued durably (the engine's journal
// cannot be written: here, a full disk) is not acknowledged: S3 answers
// 500 InternalError, which clients retry, with the reason. The object
// stays stored; the retry (once the disk has room) makes a new event.
func TestWriteWithoutDurableEventIsRefused(t *testing.T) {
	app := pipeline.New("durable")
	b := app.Bucket("inbox")
	var c counter
	pipeline.OnObject(app, "count", b.Created(), func(ctx context.Context, o triggers.Object) error {
		c.add(o.Key)
		return nil
	})
	dir := t.TempDir()
	env, err := local.Start(context.Background(), app, local.Options{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	putObject(t, env.S3Client(), "inbox", "before")
	idle(t, env)

	diskfull.Fill(t, filepath.Join(dir, "engine", "async.log"))
	req, _ := http.NewRequest(http.MethodPut, env.Endpoint()+"/inbox/lost", strings.NewReader("x"))
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "<Code>InternalError</Code>") || !strings.Contains(string(body), "no space left on device") {
		t.Fatalf("PUT whose event cannot be journaled: %d %s\nwant 500 InternalError naming the journal's error", resp.StatusCode, body)
	}
	// The SDK retries the 500; with the disk still full, every attempt is
	// refused, and the caller sees the error.
	_, err = env.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("inbox"), Key: aws.String("lost2"), Body: strings.NewReader("x")})
	if err == nil || !strings.Contains(err.Error(), "InternalError") {
		t.Errorf("SDK PutObject with a full disk: %v, want InternalError", err)
	}
	idle(t, env)
	if c.get("before") != 1 {
		t.Errorf("before was delivered %d times", c.get("before"))
	}
}

// A delete whose event cannot be queued (the engine's journal is full) is
// answered 500 and the object is gone; the event is not: the embedded S3
// keeps its record in its own journal, so the client's retry after a
// restart of the environment (a crash, say, before the retry) still
// delivers it. Deliveries are at least once: the retry sends the record
// again even when this run delivered it from memory.
func TestDeleteEventOutlivesRestart(t *testing.T) {
	app := pipeline.New("durable")
	b := app.Bucket("inbox")
	var c counter
	pipeline.OnObject(app, "removed", b.Removed(), func(ctx context.Context, o triggers.Object) error {
		c.add(o.Key)
		return nil
	})
	dir := t.TempDir()
	env := start(t, app, dir, nil, 0)
	putObject(t, env.S3Client(), "inbox", "k")
	idle(t, env)
	diskfull.Fill(t, filepath.Join(dir, "engine", "async.log"))
	req, _ := http.NewRequest(http.MethodDelete, env.Endpoint()+"/inbox/k", nil)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("DELETE whose event cannot be journaled: %d, want 500", resp.StatusCode)
	}
	// The engine still delivers the event in this run, from memory; a
	// crash would lose that delivery, and with it the event, but for the
	// record the embedded S3 keeps.
	idle(t, env)
	before := c.get("k")
	env.Close(context.Background()) // its journal cannot be written: an error is expected

	env = start(t, app, dir, nil, 0)
	if _, err := env.S3Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("inbox"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	idle(t, env)
	if n := c.get("k") - before; n != 1 {
		t.Errorf("the retried delete after the restart delivered the event %d times, want 1", n)
	}
}

// A DynamoDB write and its stream record are one journal line: when it
// cannot be written, the write is refused (500 InternalServerError), not
// applied, and has no stream record.
func TestTableWriteWithoutJournalIsRefused(t *testing.T) {
	app := pipeline.New("durableddb")
	tb := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	var c counter
	type item struct {
		ID string `dynamodbav:"id"`
	}
	pipeline.OnChange(app, "count", tb.Changes(), func(ctx context.Context, ch triggers.Change[item]) error {
		if ch.New != nil {
			c.add(ch.New.ID)
		}
		return nil
	})
	dir := t.TempDir()
	env, err := local.Start(context.Background(), app, local.Options{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	db := env.DynamoDBClient()
	put := func(id string) error {
		_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(tb.Name()), Item: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}})
		return err
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	idle(t, env)
	diskfull.Fill(t, filepath.Join(dir, "dynamodb", "journal.log"))
	if err := put("lost"); err == nil || !strings.Contains(err.Error(), "InternalServerError") || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("PutItem with a full disk: %v, want InternalServerError naming the journal's error", err)
	}
	got, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(tb.Name()), Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "lost"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Item) != 0 {
		t.Errorf("the refused item is readable: %v", got.Item)
	}
	idle(t, env)
	if c.get("before") != 1 || c.get("lost") != 0 {
		t.Errorf("stream deliveries: before %d, lost %d; want 1, 0", c.get("before"), c.get("lost"))
	}
}
