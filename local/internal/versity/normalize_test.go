package versity

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNormalize turns webhook bodies that versitygw 1.8 posted (testdata)
// into records, and checks each against the record S3 writes for the same
// change.
func TestNormalize(t *testing.T) {
	// The gateway stamped these whole seconds; the webhook received them
	// 123 ms into the second.
	recv := func(s string) time.Time {
		ts, _ := time.Parse(time.RFC3339, s)
		return ts.Add(123 * time.Millisecond)
	}
	tests := []struct {
		file     string
		received string
		size     int64 // filled by the caller for copies and multipart uploads
		want     string
	}{
		{"put", "2026-11-29T07:11:53Z", 0, `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-29T07:11:53.123Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AWS:A3NL1KOZZKExample"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"REQ","x-amz-id-2":"ID2"},"s3":{"s3SchemaVersion":"1.0","configurationId":"","bucket":{"name":"golden","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::golden"},"object":{"key":"dir/a+b%2Bc+%C3%BC.txt","size":3,"eTag":"764efa883dda1e11db47671c4a3bbd9e","sequencer":"SEQ"}}}`},
		{"copy", "2026-11-29T07:11:54Z", 3, `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-29T07:11:54.123Z","eventName":"ObjectCreated:Copy","userIdentity":{"principalId":"AWS:A3NL1KOZZKExample"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"REQ","x-amz-id-2":"ID2"},"s3":{"s3SchemaVersion":"1.0","configurationId":"","bucket":{"name":"golden","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::golden"},"object":{"key":"copy.txt","size":3,"eTag":"764efa883dda1e11db47671c4a3bbd9e","sequencer":"SEQ"}}}`},
		{"complete", "2026-11-29T07:11:55Z", 9000000, `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-29T07:11:55.123Z","eventName":"ObjectCreated:CompleteMultipartUpload","userIdentity":{"principalId":"AWS:A3NL1KOZZKExample"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"REQ","x-amz-id-2":"ID2"},"s3":{"s3SchemaVersion":"1.0","configurationId":"","bucket":{"name":"golden","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::golden"},"object":{"key":"big.bin","size":9000000,"eTag":"59e3cf998da9705cf3c595eda6a5b6be-2","sequencer":"SEQ"}}}`},
		{"delete", "2026-11-29T07:11:56Z", 0, `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-29T07:11:56.123Z","eventName":"ObjectRemoved:Delete","userIdentity":{"principalId":"AWS:A3NL1KOZZKExample"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"REQ","x-amz-id-2":"ID2"},"s3":{"s3SchemaVersion":"1.0","configurationId":"","bucket":{"name":"golden","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::golden"},"object":{"key":"copy.txt","sequencer":"SEQ"}}}`},
		{"deleteobjects", "2026-11-29T07:11:57Z", 0, `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-29T07:11:57.123Z","eventName":"ObjectRemoved:Delete","userIdentity":{"principalId":"AWS:A3NL1KOZZKExample"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"REQ","x-amz-id-2":"ID2"},"s3":{"s3SchemaVersion":"1.0","configurationId":"","bucket":{"name":"golden","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::golden"},"object":{"key":"big.bin","sequencer":"SEQ"}}}`},
		{"tagging", "2026-11-29T07:11:57Z", 0, ``},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "webhook-"+tc.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			evs, err := ParseWebhook(body, recv(tc.received))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(evs) != 0 {
					t.Fatalf("%d events from a body with no object event", len(evs))
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1", len(evs))
			}
			ev := evs[0]
			ev.RequestID, ev.ID2 = "REQ", "ID2"
			if tc.size != 0 {
				ev.Size = tc.size
			}
			got := string(Normalize(ev, false, "SEQ").JSON())
			if got != tc.want {
				t.Errorf("record\n got %s\nwant %s", got, tc.want)
			}
			var any map[string]any
			if err := json.Unmarshal([]byte(got), &any); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestEventTime keeps the gateway's whole second when the webhook got the
// event much later (a replayed or delayed post).
func TestEventTime(t *testing.T) {
	body := []byte(`{"Records":[{"eventTime":"2026-11-29T08:11:53+01:00","eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","sequencer":"A"}}}]}`)
	late, _ := time.Parse(time.RFC3339, "2026-11-29T07:20:00Z")
	evs, err := ParseWebhook(body, late)
	if err != nil || len(evs) != 1 {
		t.Fatal(evs, err)
	}
	if got := Normalize(evs[0], true, "1").EventTime; got != "2026-11-29T07:11:53.000Z" {
		t.Errorf("eventTime %s", got)
	}
	if evs[0].Seq != 10 {
		t.Errorf("sequence %d, want 10 (hexadecimal A)", evs[0].Seq)
	}
}

func TestClassify(t *testing.T) {
	// Classification drives which requests wait for events.
	for _, tc := range []struct {
		method, url, copySrc string
		want                 op
	}{
		{"PUT", "/b/k", "", opPut},
		{"PUT", "/b/k", "/b/src", opCopy},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "", opNone},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "/b/src", opNone},
		{"PUT", "/b/k?tagging", "", opNone},
		{"PUT", "/b", "", opNone},
		{"POST", "/b/k?uploadId=u", "", opComplete},
		{"POST", "/b/k?uploads", "", opNone},
		{"POST", "/b?delete", "", opDeleteObjects},
		{"DELETE", "/b/k", "", opDelete},
		{"DELETE", "/b/k?versionId=v", "", opDelete},
		{"DELETE", "/b/k?uploadId=u", "", opNone},
		{"GET", "/b/k", "", opNone},
	} {
		r, _ := http.NewRequest(tc.method, "http://h"+tc.url, nil)
		if tc.copySrc != "" {
			r.Header.Set("X-Amz-Copy-Source", tc.copySrc)
		}
		if got, _, _ := classify(r); got != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.url, got, tc.want)
		}
	}
}
