package triggers_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nanopipe/nanopipe/internal/lambdasample"
	"github.com/nanopipe/nanopipe/internal/s3event"
	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/triggers"
)

func TestDecodeObjectsGolden(t *testing.T) {
	for _, name := range []string{"s3-event.json", "s3-event-with-decoded.json"} {
		t.Run(name, func(t *testing.T) {
			objs, err := triggers.DecodeObjects(lambdasample.Read(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 {
				t.Fatalf("%d objects, want 1", len(objs))
			}
			o := objs[0]
			want := triggers.Object{
				Bucket: "sourcebucket", Key: "Happy Face.jpg", Size: 1024,
				ETag: "d41d8cd98f00b204e9800998ecf8427e", VersionID: "version", Sequencer: "Happy Sequencer",
				Event: "ObjectCreated:Put", Time: time.Date(1970, 1, 1, 0, 0, 0, 123e6, time.UTC),
				Region: "us-east-1", RequestID: "C3D13FE58DE4C810",
			}
			var rec events.S3EventRecord
			err = json.Unmarshal(o.RawRecord(), &rec)
			if err != nil || rec.S3.Object.URLDecodedKey != "Happy Face.jpg" || rec.S3.Bucket.Arn != "arn:aws:s3:::mybucket" {
				t.Errorf("RawRecord() as events.S3EventRecord = %+v, %v", rec.S3, err)
			}
			if o.Bucket != want.Bucket || o.Key != want.Key || o.Size != want.Size || o.ETag != want.ETag ||
				o.VersionID != want.VersionID || o.Sequencer != want.Sequencer || o.Event != want.Event ||
				!o.Time.Equal(want.Time) || o.Region != want.Region || o.RequestID != want.RequestID {
				t.Errorf("got  %+v\nwant %+v", o, want)
			}
			if !o.IsCreated() || o.IsRemoved() {
				t.Errorf("Created/Removed = %v/%v", o.IsCreated(), o.IsRemoved())
			}
		})
	}
}

func TestKeyEncoding(t *testing.T) {
	tests := []struct{ key, encoded string }{
		{"photo.jpg", "photo.jpg"},
		{"incoming/my photo.jpg", "incoming/my+photo.jpg"},
		{"a+b=c&d.txt", "a%2Bb%3Dc%26d.txt"},
		{"dir/ünïcödé (1).png", "dir/%C3%BCn%C3%AFc%C3%B6d%C3%A9+%281%29.png"},
		{"100%/x?y#z", "100%25/x%3Fy%23z"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := s3event.EncodeKey(tt.key); got != tt.encoded {
				t.Errorf("EncodeKey(%q) = %q, want %q", tt.key, got, tt.encoded)
			}
			payload := `{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"` + tt.encoded + `"}}}]}`
			objs, err := triggers.DecodeObjects([]byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			if objs[0].Key != tt.key || !objs[0].IsRemoved() {
				t.Errorf("decoded key %q, want %q", objs[0].Key, tt.key)
			}
		})
	}
}

func TestDecodeObjectsErrors(t *testing.T) {
	tests := []struct{ name, payload, want string }{
		{"not JSON", `{"Records":`, "decode S3 event"},
		{"no records", `{"Records":[]}`, "no Records"},
		{"bad escape", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a%zz"}}}]}`, `object key "a%zz" is not URL-encoded`},
		{"not an object event", `{"Records":[{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"b"},"object":{"key":"a"}}}]}`, "not an ObjectCreated or ObjectRemoved event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := triggers.DecodeObjects([]byte(tt.payload))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestObjectTriggerMatches(t *testing.T) {
	created := triggerplumbing.NewObjectTrigger("b", []triggers.S3Event{triggers.ObjectCreated}, triggers.Prefix("in/"), triggers.Suffix(".jpg"))
	puts := triggerplumbing.NewObjectTrigger("b", []triggers.S3Event{triggers.ObjectCreated}, triggers.Only(triggers.ObjectCreatedPut, triggers.ObjectCreatedCompleteMultipartUpload))
	tests := []struct {
		t     *triggers.ObjectTrigger
		event string
		key   string
		want  bool
	}{
		{&created, "ObjectCreated:Put", "in/a.jpg", true},
		{&created, "s3:ObjectCreated:Copy", "in/a.jpg", true},
		{&created, "ObjectCreated:Put", "in/a.png", false},
		{&created, "ObjectCreated:Put", "out/a.jpg", false},
		{&created, "ObjectRemoved:Delete", "in/a.jpg", false},
		{&puts, "ObjectCreated:CompleteMultipartUpload", "x", true},
		{&puts, "ObjectCreated:Copy", "x", false},
	}
	for _, tt := range tests {
		if got := tt.t.Matches(tt.event, tt.key); got != tt.want {
			t.Errorf("%v.Matches(%s, %s) = %v, want %v", tt.t.Events, tt.event, tt.key, got, tt.want)
		}
	}
	if err := triggerplumbing.ObjectErr(&puts); err != nil {
		t.Fatal(err)
	}
	bad := triggerplumbing.NewObjectTrigger("b", []triggers.S3Event{triggers.ObjectCreated}, triggers.Only(triggers.ObjectRemovedDelete))
	if err := triggerplumbing.ObjectErr(&bad); err == nil || !strings.Contains(err.Error(), "does not belong to ObjectCreated events") {
		t.Errorf("Only(removed) on Created: %v", err)
	}
}
