package s3srv

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nanopipe/nanopipe/internal/s3event"
)

// TestEventShape checks the JSON of event records against the shape AWS
// documents for S3 event notifications (eventVersion 2.1).
func TestEventShape(t *testing.T) {
	ctx := context.Background()
	srv, c, rec := start(t, "")
	srv.CreateBucket("shape")
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shape"), Key: aws.String("a/é x.txt"), Body: strings.NewReader("12345")})
	c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("shape"), Key: aws.String("a/é x.txt")})
	evs := rec.take()
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs {
		var m map[string]any
		if err := json.Unmarshal(ev.JSON(), &m); err != nil {
			t.Fatal(err)
		}
		get := func(path ...string) any {
			var v any = m
			for _, p := range path {
				mm, ok := v.(map[string]any)
				if !ok {
					return nil
				}
				v = mm[p]
			}
			return v
		}
		for _, p := range [][]string{
			{"eventVersion"}, {"eventSource"}, {"awsRegion"}, {"eventTime"}, {"eventName"},
			{"userIdentity", "principalId"}, {"requestParameters", "sourceIPAddress"},
			{"responseElements", "x-amz-request-id"}, {"responseElements", "x-amz-id-2"},
			{"s3", "s3SchemaVersion"}, {"s3", "configurationId"}, {"s3", "bucket", "name"},
			{"s3", "bucket", "ownerIdentity", "principalId"}, {"s3", "bucket", "arn"},
			{"s3", "object", "key"}, {"s3", "object", "sequencer"},
		} {
			if get(p...) == nil {
				t.Errorf("event %d lacks %s", i, strings.Join(p, "."))
			}
		}
		if get("eventVersion") != "2.1" || get("eventSource") != "aws:s3" || get("s3", "s3SchemaVersion") != "1.0" || get("s3", "bucket", "arn") != "arn:aws:s3:::shape" {
			t.Errorf("event %d constants: %s", i, ev.JSON())
		}
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(get("eventTime").(string)) {
			t.Errorf("eventTime %v", get("eventTime"))
		}
		if key := get("s3", "object", "key"); key != "a/%C3%A9+x.txt" || key != s3event.EncodeKey("a/é x.txt") {
			t.Errorf("key %v is not form-encoded as S3 sends it", key)
		}
		if !regexp.MustCompile(`^[0-9A-F]{18}$`).MatchString(get("s3", "object", "sequencer").(string)) {
			t.Errorf("sequencer %v", get("s3", "object", "sequencer"))
		}
	}
	if evs[0].EventName != "ObjectCreated:Put" || evs[1].EventName != "ObjectRemoved:Delete" {
		t.Errorf("names %s %s", evs[0].EventName, evs[1].EventName)
	}
	obj := evs[1].JSON()
	if strings.Contains(string(obj), `"size"`) || strings.Contains(string(obj), `"eTag"`) || strings.Contains(string(obj), `"versionId"`) {
		t.Errorf("delete event on an unversioned bucket carries size, eTag or versionId: %s", obj)
	}
	if !strings.Contains(string(evs[0].JSON()), `"size":5,"eTag":"827ccb0eea8a706c4c34a16891f84e7b"`) {
		t.Errorf("created event: %s", evs[0].JSON())
	}
}
