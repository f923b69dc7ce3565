package dynamolocal

import (
	"strings"
	"testing"
	"time"
)

func TestFixRecords(t *testing.T) {
	// DynamoDB Local writes {} for empty maps in stream records.
	in := `{"Records":[{"eventID":"1","eventName":"INSERT","awsRegion":"ddblocal","dynamodb":{"ApproximateCreationDateTime":1795935780.000,"Keys":{"id":{"S":"a"}},"NewImage":{"id":{"S":"a"},"l":{"L":[{}]},"m":{},"n":{"M":{"x":{}}},"s":{"S":"{}"}},"SequenceNumber":"000000000000000000001","SizeBytes":27,"StreamViewType":"NEW_IMAGE"}}],"NextShardIterator":"it"}`
	got := string(FixRecords([]byte(in), "us-east-1"))
	for _, want := range []string{`"l":{"L":[{"M":{}}]}`, `"m":{"M":{}}`, `"n":{"M":{"x":{"M":{}}}}`, `"s":{"S":"{}"}`, `"awsRegion":"us-east-1"`, `"ApproximateCreationDateTime":1795935780.000`, `"NextShardIterator":"it"`} {
		if !strings.Contains(got, want) {
			t.Errorf("fixed body lacks %s:\n%s", want, got)
		}
	}
	if body := `{"Records":[]}`; string(FixRecords([]byte(body), "us-east-1")) != body {
		t.Error("a body without empty maps changed")
	}
}

func TestDated(t *testing.T) {
	minute := time.Date(2026, 11, 29, 7, 3, 0, 0, time.UTC)
	for _, tc := range []struct {
		first, want time.Time
	}{
		{minute.Add(20 * time.Second), minute.Add(20 * time.Second)}, // read within its minute: when read
		{minute.Add(-time.Second), minute},                           // clocks disagree: the minute
		{minute.Add(time.Hour), minute.Add(59 * time.Second)},        // read long after: the minute's end
	} {
		if got := dated(minute, tc.first); !got.Equal(tc.want) {
			t.Errorf("first read %s: dated %s, want %s", tc.first, got, tc.want)
		}
	}
	js := withCreated([]byte(`{"dynamodb":{"ApproximateCreationDateTime":1795935780,"Keys":{}}}`), 1795935801)
	if string(js) != `{"dynamodb":{"ApproximateCreationDateTime":1795935801,"Keys":{}}}` {
		t.Errorf("withCreated: %s", js)
	}
}
