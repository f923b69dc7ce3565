package triggers_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/internal/ddbjson"
	"github.com/nanopipe/nanopipe/internal/lambdasample"
	"github.com/nanopipe/nanopipe/triggers"
)

// sampleItem covers the attributes of aws-lambda-go's dynamodb-event.json.
type sampleItem struct {
	Val            string `dynamodbav:"val"`
	Key            string `dynamodbav:"key"`
	Asdf1          []byte `dynamodbav:"asdf1"`
	Asdf2          [][]byte
	B2             []byte `dynamodbav:"b2"`
	Binary         []byte
	Boolean        bool
	BinarySet      [][]byte
	List           []any
	Map            struct{ Name string }
	FloatNumber    float64
	IntegerNumber  int
	NumberSet      []float64
	Null           *string
	String         string
	StringSet      []string
	EmptyStringSet []string
	// The time-window sample's attributes.
	ID      int    `dynamodbav:"Id"`
	Message string `dynamodbav:"Message"`
}

// compareWithReference decodes payload with DecodeStream and with the
// reference path (encoding/json into aws-lambda-go's types, conversion to
// the SDK's attribute values, attributevalue.UnmarshalMap) and compares
// every field.
func compareWithReference[T any](t *testing.T, payload []byte) *triggers.StreamEvent[T] {
	t.Helper()
	got, err := triggers.DecodeStream[T](payload)
	if err != nil {
		t.Fatal(err)
	}
	var want events.DynamoDBTimeWindowEvent
	if err := json.Unmarshal(payload, &want); err != nil {
		t.Fatal(err)
	}
	if len(got.Changes) != len(want.Records) || len(got.Changes) == 0 {
		t.Fatalf("%d changes, want %d", len(got.Changes), len(want.Records))
	}
	if got.Errors != nil {
		t.Fatalf("errors: %v", got.Errors)
	}
	image := func(m map[string]events.DynamoDBAttributeValue) *T {
		if m == nil {
			return nil
		}
		v := new(T)
		if err := attributevalue.UnmarshalMap(lambdaToSDKMap(m), v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, c := range got.Changes {
		r := want.Records[i]
		check := func(field string, got, want any) {
			t.Helper()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("change %d: %s = %#v, want %#v", i, field, got, want)
			}
		}
		check("Kind", c.Kind, triggers.Kind(r.EventName))
		check("Keys", c.Keys, lambdaToSDKMap(r.Change.Keys))
		check("New", c.New, image(r.Change.NewImage))
		check("Old", c.Old, image(r.Change.OldImage))
		check("SequenceNumber", c.SequenceNumber, r.Change.SequenceNumber)
		check("EventID", c.EventID, r.EventID)
		check("CreatedAt", c.CreatedAt, r.Change.ApproximateCreationDateTime.UTC())
		check("SizeBytes", c.SizeBytes, r.Change.SizeBytes)
		check("StreamViewType", c.StreamViewType, r.Change.StreamViewType)
		check("EventSourceARN", c.EventSourceARN, r.EventSourceArn)
		check("Region", c.Region, r.AWSRegion)
		check("TTL", c.TTL, r.UserIdentity != nil && r.UserIdentity.Type == "Service" && r.UserIdentity.PrincipalID == "dynamodb.amazonaws.com")
		table := ""
		if parts := strings.Split(r.EventSourceArn, "/"); len(parts) == 4 {
			table = parts[1]
		}
		check("Table", c.Table, table)
		var rec events.DynamoDBEventRecord
		if err := json.Unmarshal(c.RawRecord(), &rec); err != nil {
			t.Fatal(err)
		}
		check("RawRecord()", rec, r)
	}
	return got
}

func TestDecodeStreamSample(t *testing.T) {
	ev := compareWithReference[sampleItem](t, lambdasample.Read(t, "dynamodb-event.json"))
	// Spot checks, so that a reference that decodes nothing cannot pass.
	c := ev.Changes[1]
	if c.New == nil || c.New.IntegerNumber != 123 || c.New.Map.Name != "Joe" || len(c.New.BinarySet) != 2 || c.New.EmptyStringSet == nil {
		t.Errorf("new image %+v", c.New)
	}
	if c.Table != "Example-Table" || !ev.Changes[0].TTL || c.TTL || ev.Window != nil {
		t.Errorf("metadata: table %q, TTL %v %v, window %v", c.Table, ev.Changes[0].TTL, c.TTL, ev.Window)
	}
	if !c.CreatedAt.Equal(time.Unix(1480642020, 0)) || c.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt %v", c.CreatedAt)
	}
	// The same payload into a generic item.
	compareWithReference[map[string]any](t, lambdasample.Read(t, "dynamodb-event.json"))
}

func TestDecodeStreamTimeWindowSample(t *testing.T) {
	payload := lambdasample.Read(t, "dynamodb-time-window-event.json")
	ev := compareWithReference[sampleItem](t, payload)
	var want events.DynamoDBTimeWindowEvent
	if err := json.Unmarshal(payload, &want); err != nil {
		t.Fatal(err)
	}
	w := ev.Window
	if w == nil {
		t.Fatal("no window")
	}
	if !w.Start.Equal(want.Window.Start.Time) || !w.End.Equal(want.Window.End.Time) || !reflect.DeepEqual(w.State, want.State) ||
		w.ShardID != want.ShardID || w.Final != want.IsFinalInvokeForWindow || w.TerminatedEarly != want.IsWindowTerminatedEarly {
		t.Errorf("window %+v, want %+v", w, want.TimeWindowProperties)
	}
	if w.State["1"] != "state1" || ev.Changes[1].Old.Message != "New item!" || ev.Changes[2].New != nil {
		t.Errorf("spot checks failed: %+v", ev.Changes)
	}
}

func TestDecodeStreamMalformed(t *testing.T) {
	_, err := triggers.DecodeStream[sampleItem](lambdasample.Read(t, "dynamodb-event-malformed.2.json"))
	var se *ddbjson.SyntaxError
	if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "triggers: ") {
		t.Fatalf("got %v, want a triggers: error wrapping a syntax error", err)
	}
	for _, payload := range []string{``, `[]`, `{"Records":[{"dynamodb":{"NewImage":{"a":{"S":"x"}}}}]`, `{"Records":[{"dynamodb":{"NewImage":{"a":{"S":"x"}},}}]}`} {
		if _, err := triggers.DecodeStream[sampleItem]([]byte(payload)); err == nil {
			t.Errorf("%q decoded", payload)
		}
	}
}

type strictItem struct {
	PK    string `dynamodbav:"pk"`
	Count int    `dynamodbav:"count"`
}

func TestDecodeStreamRecordError(t *testing.T) {
	payload := []byte(`{"Records":[
		{"eventID":"1","eventName":"INSERT","dynamodb":{"Keys":{"pk":{"S":"a"}},"NewImage":{"pk":{"S":"a"},"count":{"N":"1"}},"SequenceNumber":"11"}},
		{"eventID":"2","eventName":"MODIFY","dynamodb":{"Keys":{"pk":{"S":"b"}},"NewImage":{"pk":{"S":"b"},"count":{"S":"many"}},"OldImage":{"pk":{"S":"b"},"count":{"N":"2"}},"SequenceNumber":"22"}},
		{"eventID":"3","eventName":"REMOVE","dynamodb":{"Keys":{"pk":{"S":5}},"OldImage":{"pk":{"S":"c"},"count":{"N":"3"}},"SequenceNumber":"33"}}
	]}`)
	ev, err := triggers.DecodeStream[strictItem](payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Errors) != 3 || ev.Errors[0] != nil || ev.Errors[1] == nil || ev.Errors[2] == nil {
		t.Fatalf("errors %v", ev.Errors)
	}
	var te *attributevalue.UnmarshalTypeError
	var re *triggers.RecordError
	if !errors.As(ev.Errors[1], &te) || !errors.As(ev.Errors[1], &re) || re.SequenceNumber != "22" ||
		!strings.Contains(ev.Errors[1].Error(), "new image") || !strings.Contains(ev.Errors[1].Error(), "count") {
		t.Errorf("record 1 error %v", ev.Errors[1])
	}
	bad := ev.Changes[1]
	if bad.Kind != triggers.Modify || bad.EventID != "2" || bad.SequenceNumber != "22" || bad.New != nil ||
		bad.Old == nil || bad.Old.Count != 2 || bad.Keys["pk"].(*types.AttributeValueMemberS).Value != "b" {
		t.Errorf("record 1 change %+v", bad)
	}
	if c := ev.Changes[2]; c.Keys != nil || c.Old == nil || c.Old.PK != "c" || !strings.Contains(ev.Errors[2].Error(), "keys") {
		t.Errorf("record 2 change %+v, error %v", c, ev.Errors[2])
	}
	if c := ev.Changes[0]; c.New == nil || c.New.Count != 1 || c.Old != nil {
		t.Errorf("record 0 change %+v", c)
	}
}

func TestDecodeStreamTestdata(t *testing.T) {
	payload, err := os.ReadFile("testdata/stream-ttl-and-views.json")
	if err != nil {
		t.Fatal(err)
	}
	type session struct {
		PK      string    `dynamodbav:"pk"`
		User    string    `dynamodbav:"user"`
		Expires time.Time `dynamodbav:"expires"`
		Scopes  []string  `dynamodbav:"scopes"`
	}
	ev := compareWithReference[session](t, payload)
	ttl, keysOnly := ev.Changes[0], ev.Changes[1]
	if !ttl.TTL || keysOnly.TTL || ttl.New != nil || ttl.Old == nil || keysOnly.Old != nil || keysOnly.New != nil {
		t.Errorf("TTL %v %v, images %v %v %v %v", ttl.TTL, keysOnly.TTL, ttl.New, ttl.Old, keysOnly.New, keysOnly.Old)
	}
	if ttl.Old.User != `Jürgen "JJ" Müller 😀` || !ttl.Old.Expires.Equal(time.Unix(1717171000, 0)) || len(ttl.Old.Scopes) != 2 {
		t.Errorf("old image %+v", ttl.Old)
	}
	if want := time.Unix(1717171717, 250_000_000).UTC(); !ttl.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt %v, want %v", ttl.CreatedAt, want)
	}
	if ttl.Table != "sessions-prod" || ttl.Region != "eu-central-1" || ttl.StreamViewType != "OLD_IMAGE" || ttl.SizeBytes != 120 {
		t.Errorf("metadata %+v", ttl)
	}
}

// TestDecodeStreamOwnsItsCopy checks that the caller's buffer can be
// reused once DecodeStream returns.
func TestDecodeStreamOwnsItsCopy(t *testing.T) {
	payload := lambdasample.Read(t, "dynamodb-event.json")
	ev, err := triggers.DecodeStream[sampleItem](payload)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(ev.Changes[1].RawRecord())
	for i := range payload {
		payload[i] = 'x'
	}
	c := ev.Changes[1]
	if c.EventID != "f07f8ca4b0b26cb9c4e5e77e42f274ee" || c.New.String != "Hello" || string(c.RawRecord()) != raw {
		t.Errorf("decoded values changed with the caller's buffer: %q %q", c.EventID, c.New.String)
	}
	var rec events.DynamoDBEventRecord
	if err := json.Unmarshal(c.RawRecord(), &rec); err != nil {
		t.Error(err)
	}
}

// TestBenchPayloadMatchesCommon checks that the benchmark's two decoders
// produce the same changes, so that the comparison is between equals.
func TestBenchPayloadMatchesCommon(t *testing.T) {
	payload := benchPayload()
	got, err := triggers.DecodeStream[benchItem](payload)
	if err != nil || got.Errors != nil {
		t.Fatal(err, got.Errors)
	}
	want, err := commonDecode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Changes) != benchRecords || len(want) != benchRecords {
		t.Fatalf("%d and %d changes", len(got.Changes), len(want))
	}
	for i := range want {
		g, w := got.Changes[i], want[i]
		if g.Kind != w.Kind || g.EventID != w.EventID || g.SequenceNumber != w.SequenceNumber ||
			!reflect.DeepEqual(g.Keys, w.Keys) || !reflect.DeepEqual(g.New, w.New) || !reflect.DeepEqual(g.Old, w.Old) {
			t.Fatalf("change %d differs:\n%+v\n%+v", i, g, w)
		}
	}
	if got.Changes[7].New.Lines[3].SKU == "" || len(got.Changes[7].Old.Attrs) != 3 {
		t.Errorf("benchmark items are not filled: %+v", got.Changes[7].New)
	}
}
