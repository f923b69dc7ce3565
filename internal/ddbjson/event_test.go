package ddbjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/internal/lambdasample"
)

// TestParseEventSamples compares ParseEvent with encoding/json into
// aws-lambda-go's types on the real sample events.
func TestParseEventSamples(t *testing.T) {
	for _, name := range []string{"dynamodb-event.json", "dynamodb-time-window-event.json"} {
		t.Run(name, func(t *testing.T) {
			data := lambdasample.Read(t, name)
			var want events.DynamoDBTimeWindowEvent
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			var ev Event
			if err := ParseEvent(data, &ev); err != nil {
				t.Fatal(err)
			}
			if len(ev.Records) != len(want.Records) || len(ev.Records) == 0 {
				t.Fatalf("%d records, want %d", len(ev.Records), len(want.Records))
			}
			for i, r := range ev.Records {
				w := want.Records[i]
				got := [][2]string{
					{r.EventID, w.EventID}, {r.EventName, w.EventName}, {r.EventVersion, w.EventVersion},
					{r.EventSource, w.EventSource}, {r.AWSRegion, w.AWSRegion}, {r.EventSourceARN, w.EventSourceArn},
					{r.SequenceNumber, w.Change.SequenceNumber}, {r.StreamViewType, w.Change.StreamViewType},
				}
				for _, g := range got {
					if g[0] != g[1] {
						t.Errorf("record %d: got %q, want %q", i, g[0], g[1])
					}
				}
				if w.UserIdentity != nil && (r.UserIdentityType != w.UserIdentity.Type || r.UserIdentityPrincipalID != w.UserIdentity.PrincipalID) {
					t.Errorf("record %d: user identity %q %q", i, r.UserIdentityType, r.UserIdentityPrincipalID)
				}
				if r.SizeBytes != w.Change.SizeBytes {
					t.Errorf("record %d: SizeBytes %d, want %d", i, r.SizeBytes, w.Change.SizeBytes)
				}
				if !r.ApproximateCreationDateTime.Equal(w.Change.ApproximateCreationDateTime.Time) {
					t.Errorf("record %d: time %v, want %v", i, r.ApproximateCreationDateTime, w.Change.ApproximateCreationDateTime)
				}
				// The raw record is the record object of the input.
				var rec events.DynamoDBEventRecord
				if err := json.Unmarshal(r.Raw, &rec); err != nil {
					t.Fatalf("record %d raw: %v", i, err)
				}
				if !reflect.DeepEqual(rec, w) {
					t.Errorf("record %d: raw record decodes differently", i)
				}
				for _, im := range []struct {
					raw  []byte
					want any
				}{{r.Keys, w.Change.Keys}, {r.NewImage, w.Change.NewImage}, {r.OldImage, w.Change.OldImage}} {
					wm := im.want.(map[string]events.DynamoDBAttributeValue)
					if (im.raw == nil) != (wm == nil) {
						t.Errorf("record %d: image presence differs", i)
						continue
					}
					if im.raw == nil {
						continue
					}
					var gm map[string]events.DynamoDBAttributeValue
					if err := json.Unmarshal(im.raw, &gm); err != nil || !reflect.DeepEqual(gm, wm) {
						t.Errorf("record %d: image differs (%v)", i, err)
					}
				}
			}
			if name == "dynamodb-time-window-event.json" {
				if !ev.HasWindow || !ev.WindowStart.Equal(want.Window.Start.Time) || !ev.WindowEnd.Equal(want.Window.End.Time) ||
					!reflect.DeepEqual(ev.State, want.State) || ev.ShardID != want.ShardID || ev.EventSourceARN != want.EventSourceARN ||
					ev.IsFinalInvokeForWindow != want.IsFinalInvokeForWindow || ev.IsWindowTerminatedEarly != want.IsWindowTerminatedEarly {
					t.Errorf("window fields: %+v", ev)
				}
			} else if ev.HasWindow {
				t.Error("window reported for a plain event")
			}
		})
	}
}

func TestParseEventMalformedSample(t *testing.T) {
	data := lambdasample.Read(t, "dynamodb-event-malformed.2.json")
	var ev Event
	err := ParseEvent(data, &ev)
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *SyntaxError", err)
	}
	if se.Offset != len(data) {
		t.Errorf("offset %d, want %d (the truncation)", se.Offset, len(data))
	}
}

func TestParseEventDetails(t *testing.T) {
	payload := `{"Records":[{"eventID":"a\u00e9\ud83d\ude00\n","extra":{"x":[1,2.5e3,{"y":"}\"]"}],"z":null},` +
		`"eventName":"REMOVE","userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"},` +
		`"dynamodb":{"ApproximateCreationDateTime":1700000000.123456789,"Keys":{"id":{"S":"1"}},"NewImage":null,` +
		`"SizeBytes":12,"Unknown":[true,false,null]}},` +
		`{"eventID":"b","dynamodb":{"ApproximateCreationDateTime":1.7e9}}],"more":"ignored"}`
	var ev Event
	ev.Records = make([]Record, 5, 8) // reused, and cleared
	ev.Records[0].EventSource = "stale"
	if err := ParseEvent([]byte(payload), &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 2 {
		t.Fatalf("%d records", len(ev.Records))
	}
	r := ev.Records[0]
	if r.EventID != "aé😀\n" || r.EventName != "REMOVE" || r.EventSource != "" {
		t.Errorf("strings: %q %q %q", r.EventID, r.EventName, r.EventSource)
	}
	if r.UserIdentityType != "Service" || r.UserIdentityPrincipalID != "dynamodb.amazonaws.com" {
		t.Errorf("user identity %q %q", r.UserIdentityType, r.UserIdentityPrincipalID)
	}
	if want := time.Unix(1700000000, 123456789).UTC(); !r.ApproximateCreationDateTime.Equal(want) {
		t.Errorf("time %v, want %v", r.ApproximateCreationDateTime, want)
	}
	if string(r.Keys) != `{"id":{"S":"1"}}` || r.NewImage != nil || r.OldImage != nil || r.SizeBytes != 12 {
		t.Errorf("images %q %q %q %d", r.Keys, r.NewImage, r.OldImage, r.SizeBytes)
	}
	if !strings.HasPrefix(string(r.Raw), `{"eventID"`) || !strings.HasSuffix(string(r.Raw), `]}}`) {
		t.Errorf("raw %s", r.Raw)
	}
	if got := ev.Records[1].ApproximateCreationDateTime; !got.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("exponent time %v", got)
	}
}

func TestParseEventErrors(t *testing.T) {
	for _, c := range []struct {
		in     string
		offset int
	}{
		{``, 0},
		{`[]`, 0},
		{`{"Records":[}`, 12},
		{`{"Records":[{"eventID":5}]}`, 23},
		{`{"Records":[{"eventID":"a\x01"}]}`, 25},
		{`{"Records":[{"eventID":"a\q"}]}`, 25},
		{`{"Records":[{"eventID":"\u12"}]}`, 24},
		{`{"Records":[{"dynamodb":{"Keys":[]}}]}`, 32},
		{`{"Records":[{"dynamodb":{"SizeBytes":1.5}}]}`, 37},
		{`{"Records":[{"dynamodb":{"NewImage":{"a":tru}}}]}`, 41},
		{`{"Records":[{"x":01}]}`, 18},
		{`{"Records":[{"x":-}]}`, 18},
		{`{"Records":[{"x":1.}]}`, 19},
		{`{"Records":[]} x`, 15},
		{`{"window":{"start":"yesterday"}}`, 19},
		{`{"Records":[{"x":{"a" 1}}]}`, 22},
	} {
		var ev Event
		err := ParseEvent([]byte(c.in), &ev)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%s: got %v, want a syntax error", c.in, err)
			continue
		}
		if se.Offset != c.offset {
			t.Errorf("%s: offset %d, want %d (%v)", c.in, se.Offset, c.offset, err)
		}
		if !strings.HasPrefix(err.Error(), "ddbjson: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

// TestParseEventFunc checks that in-place decoding sees every image and
// that a failed decode does not derail the scan.
func TestParseEventFunc(t *testing.T) {
	data := lambdasample.Read(t, "dynamodb-time-window-event.json")
	type item struct {
		ID      int
		Message string
	}
	var got []string
	var ev Event
	err := ParseEventFunc(data, &ev, func(rec int, which Image, dec *ImageDecoder) {
		switch which {
		case Keys:
			m, err := dec.AttributeMap()
			if err != nil {
				t.Error(err)
			}
			got = append(got, "keys:"+m["Id"].(*types.AttributeValueMemberN).Value)
		case NewImage:
			var it item
			if err := dec.Unmarshal(&it); err != nil {
				t.Error(err)
			}
			got = append(got, "new:"+it.Message)
		case OldImage:
			var wrong struct{ Message int }
			if err := dec.Unmarshal(&wrong); err == nil {
				t.Error("string into int decoded")
			}
			got = append(got, "old")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 || got[1] != "new:New item!" || got[3] != "new:This item has changed" || got[4] != "old" || got[6] != "old" {
		t.Errorf("calls: %q", got)
	}
	if len(ev.Records) != 3 || ev.Records[1].OldImage == nil || ev.Records[2].SequenceNumber != "333" {
		t.Errorf("records after failed decodes: %+v", ev.Records)
	}
}
