package versity_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/internal/s3event"
	"github.com/nanopipe/nanopipe/local/internal/awsconf"
	"github.com/nanopipe/nanopipe/local/internal/versity"
)

// A request through the proxy whose event the subscriber cannot keep is
// answered 500 InternalError instead of the gateway's success; the
// object stays stored, and the client's retry gets a new event.
func TestChangeWithoutDurableEventIsNotAcknowledged(t *testing.T) {
	ctx := context.Background()
	gw, err := versity.Start(ctx, versity.Options{})
	if err != nil {
		t.Fatalf("versitygw could not be started (run scripts/backends-setup.sh): %v", err)
	}
	t.Cleanup(func() { gw.Close() })
	var (
		mu     sync.Mutex
		refuse = 1
		kept   []string
	)
	gw.Subscribe(func(rec []byte) error {
		o, err := s3event.Decode(rec)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if refuse > 0 {
			refuse--
			return errors.New("journal: write: no space left on device")
		}
		kept = append(kept, o.Event+" "+o.Key)
		return nil
	})
	if err := gw.CreateBucket(ctx, "bkt", false); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gw)
	t.Cleanup(hs.Close)
	c := s3.NewFromConfig(awsconf.Config(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(hs.URL)
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1
	})
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if err == nil || !strings.Contains(err.Error(), "InternalError") || !strings.Contains(err.Error(), "StatusCode: 500") {
		t.Fatalf("PUT whose event is not kept: %v, want 500 InternalError", err)
	}
	if _, err := gw.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}); err != nil {
		t.Errorf("the object of the refused PUT: %v, want it stored", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("y")}); err != nil {
		t.Fatalf("the retried PUT: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(kept, ", "); got != "ObjectCreated:Put k" {
		t.Errorf("events kept: %q, want the retry's", got)
	}
}
