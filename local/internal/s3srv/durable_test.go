package s3srv

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// refuser is a subscriber that cannot keep the events of keys it is told
// to refuse, a number of times each.
type refuser struct {
	mu     sync.Mutex
	refuse map[string]int
	kept   []string // event name and key of the events it kept
}

func (f *refuser) add(r Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse[r.S3.Object.Key] > 0 {
		f.refuse[r.S3.Object.Key]--
		return errors.New("journal: write: no space left on device")
	}
	f.kept = append(f.kept, r.EventName+" "+r.S3.Object.Key)
	return nil
}

func (f *refuser) set(key string, n int) { f.mu.Lock(); f.refuse[key] = n; f.mu.Unlock() }
func (f *refuser) events() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.kept, ", ")
}

// A change whose event the subscriber cannot keep is not acknowledged: the
// request is answered 500 InternalError, which clients retry, and the
// retry's event is kept. The change itself stays stored.
func TestChangeWithoutDurableEventIsNotAcknowledged(t *testing.T) {
	srv, c, _ := start(t, t.TempDir())
	ctx := context.Background()
	f := &refuser{refuse: map[string]int{}}
	srv.Subscribe(f.add)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}

	f.set("k", 1)
	status, body := raw(t, srv, "PUT", "/bkt/k", map[string]string{"Content-Length": "1"}, "x")
	if status != http.StatusInternalServerError || !strings.Contains(body, "<Code>InternalError</Code>") || !strings.Contains(body, "could not be queued durably: journal: write: no space left on device") {
		t.Fatalf("PUT whose event is not kept: %d %s, want 500 InternalError with the reason", status, body)
	}
	if got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}); err != nil {
		t.Errorf("the object of the refused PUT: %v, want it stored", err)
	} else {
		got.Body.Close()
	}

	// The SDK retries a 500: the retry stores the object again and its
	// event is kept.
	f.set("retried", 1)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("retried"), Body: strings.NewReader("y")}); err != nil {
		t.Fatalf("PutObject with one refusal: %v, want the SDK's retry to succeed", err)
	}

	f.set("k", 10) // more than the SDK's attempts
	_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	if code(err) != "InternalError" {
		t.Errorf("DeleteObject whose event is never kept: %v, want InternalError", err)
	}
	f.set("k", 0)
	// The object is gone, but its events are not: the retried delete
	// sends them.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}

	f.set("retried", 1)
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("retried")}, {Key: aws.String("k")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "retried" || aws.ToString(out.Errors[0].Code) != "InternalError" || len(out.Deleted) != 1 {
		t.Errorf("DeleteObjects with one event refused: errors %+v, deleted %d; want retried InternalError, k deleted", out.Errors, len(out.Deleted))
	}

	// Every change stored has its event: the refused ones are sent again
	// before the key's next event, so a retried PUT yields two.
	want := "ObjectCreated:Put retried, ObjectCreated:Put retried, ObjectCreated:Put k, ObjectRemoved:Delete k"
	if got := f.events(); got != want {
		t.Errorf("events kept: %s\nwant:             %s", got, want)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("retried")}); err != nil {
		t.Fatal(err)
	}
	if got := f.events(); !strings.HasSuffix(got, "ObjectRemoved:Delete retried") {
		t.Errorf("after deleting retried again, events: %s", got)
	}
}

// The records of a change whose event could not be queued outlive a
// restart of the server, also one that compacts the journal in between:
// the client's retry after the restart finds the object gone and sends
// them then, as it would have without the restart.
func TestUnsentEventsOutliveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv, c, _ := start(t, dir)
	f := &refuser{refuse: map[string]int{}}
	srv.Subscribe(f.add)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"gone", "kept"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	f.set("gone", 10) // more than the SDK's attempts
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("gone")}); code(err) != "InternalError" {
		t.Fatalf("DeleteObject whose event is never kept: %v, want InternalError", err)
	}
	srv.Close()

	// Restarted twice (each open compacts the journal), then the client
	// retries.
	for range 2 {
		srv, _, _ := start(t, dir)
		srv.Close()
	}
	_, c, rec := start(t, dir)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	if got := names(rec.take()); len(got) != 1 || got[0] != "ObjectRemoved:Delete gone" {
		t.Errorf("events after the retried delete: %v, want the delete's event, once", got)
	}
	// Sent now, so not again: another restart and delete sends nothing.
	_, c, rec = start(t, dir)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	if got := names(rec.take()); len(got) != 0 {
		t.Errorf("events after a second restart and delete: %v, want none", got)
	}
}

func names(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.EventName+" "+r.S3.Object.Key)
	}
	return out
}
