package ddbjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/internal/lambdasample"
)

var unmarshalSeeds = []string{
	`{}`,
	`null`,
	`{"s":{"S":"x"},"n":{"N":"12"},"I8":{"N":"300"},"bool":{"BOOL":true},"nul":{"NULL":true}}`,
	`{"L":{"L":[{"N":"1"},{"S":"a"},{"M":{"A":{"S":"b"}}}]},"LS":{"SS":["a","b"]},"NS":{"NS":["1.5","2"]}}`,
	`{"Bin":{"B":"AAEqQQ=="},"BS":{"BS":["AAE=",""]},"BArr":{"B":"AQIDBA=="}}`,
	`{"M":{"M":{"k":{"L":[]},"\u006b2":{"SS":[]}}},"MKInt":{"M":{"1":{"S":"x"},"x":{"S":"y"}}}}`,
	`{"T":{"S":"2020-07-30T17:00:00Z"},"PT":{"N":"1480642020"},"MT":{"S":"bad"}}`,
	`{"Rec":{"SS":["a"]},"LRec":{"SS":["a","b"]},"PRec":{"NULL":true},"Stringer":{"S":"x"}}`,
	`{"Nested":{"M":{"E":{"M":{"E":{"M":{"A":{"S":"deep"}}}}}}},"emb_b":{"N":"3"},"PtrA":{"S":"p"}}`,
	`{"as_str":{"S":"12"},"AsStrF":{"S":"1e3"},"as_any":{"S":"5"},"Num":{"N":"1e999"}}`,
	`{"a":{"S":"\ud83d\ude00 \ud800 \\ \" \/"}}`,
	`{"a":{"S":5}}`,
	`{"a":{}}`,
	`{"a":{"S":"x","N":"1"}}`,
	"{\"a\":{\"S\":\"\xff\xfe\"}}",
}

// FuzzUnmarshal checks Unmarshal against attributevalue on every input
// that is a well-formed attribute map: the same value or an error from
// both. On other inputs it must simply not panic.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range unmarshalSeeds {
		f.Add([]byte(s))
	}
	targets := []func() any{
		func() any { return new(diffAll) },
		func() any { return new(map[string]any) },
		func() any { return new(any) },
		func() any { return new(conflicts) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := AttributeMap(data)
		for _, mk := range targets {
			got := mk()
			gotErr := Unmarshal(data, got)
			if err != nil {
				continue // not an attribute map: any outcome but a panic
			}
			if m == nil {
				m = map[string]types.AttributeValue{}
			}
			if hasDuplicateKeys(data) {
				continue // decoded in order here, last one only there
			}
			want := mk()
			wantErr := reference(m, want)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("into %T: Unmarshal error %v, attributevalue error %v", got, gotErr, wantErr)
			}
			if gotErr == nil && !foldCollision(m) && !reflect.DeepEqual(got, want) && !hasNaN(m) {
				t.Fatalf("into %T: got %s, want %s", got, dump(got), dump(want))
			}
		}
	})
}

// FuzzParseEvent checks that ParseEvent accepts only valid JSON and that
// what it returns is consistent with the input.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"Records":[]}`))
	f.Add([]byte(`{"Records":[{"eventID":"1","dynamodb":{"Keys":{"a":{"S":"b"}},"NewImage":null,"SizeBytes":3,"ApproximateCreationDateTime":1.5}}],"window":{"start":"2020-07-30T17:00:00Z"},"state":{"a":"b"}}`))
	f.Add([]byte(`{"Records":[{"eventID":"\u00e9","x":[1,{"y":"\""}]}]}`))
	for _, name := range []string{"dynamodb-event.json", "dynamodb-time-window-event.json", "dynamodb-event-malformed.2.json"} {
		f.Add(lambdasample.Read(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		err := ParseEvent(data, &ev)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) {
				t.Fatalf("error %v is not a SyntaxError with an offset in range", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("ParseEvent accepted invalid JSON %q", data)
		}
		for i, r := range ev.Records {
			if !json.Valid(r.Raw) || !bytes.Contains(data, r.Raw) {
				t.Fatalf("record %d: raw %q is not a valid part of the input", i, r.Raw)
			}
			for _, im := range [][]byte{r.Keys, r.NewImage, r.OldImage} {
				if im != nil && (!json.Valid(im) || im[0] != '{' || !bytes.Contains(r.Raw, im)) {
					t.Fatalf("record %d: image %q is not an object inside the record", i, im)
				}
			}
		}
	})
}

// hasDuplicateKeys reports whether some JSON object in data repeats a name.
func hasDuplicateKeys(data []byte) bool {
	d := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj  bool
		seen map[string]bool
		key  bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: true, seen: map[string]bool{}, key: true})
			case '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.obj && top.key {
				if top.seen[v] {
					return true
				}
				top.seen[v] = true
				top.key = false
				continue
			}
			if top != nil && top.obj {
				top.key = true
			}
		default:
			if top != nil && top.obj {
				top.key = true
			}
		}
	}
}

// hasNaN reports whether an item has a number that parses as NaN, which
// reflect.DeepEqual never finds equal to itself.
func hasNaN(m map[string]types.AttributeValue) bool {
	var walk func(av types.AttributeValue) bool
	walk = func(av types.AttributeValue) bool {
		switch v := av.(type) {
		case *types.AttributeValueMemberN:
			return bytes.Contains(bytes.ToLower([]byte(v.Value)), []byte("nan"))
		case *types.AttributeValueMemberNS:
			for _, n := range v.Value {
				if bytes.Contains(bytes.ToLower([]byte(n)), []byte("nan")) {
					return true
				}
			}
		case *types.AttributeValueMemberL:
			for _, e := range v.Value {
				if walk(e) {
					return true
				}
			}
		case *types.AttributeValueMemberM:
			for _, e := range v.Value {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	for _, v := range m {
		if walk(v) {
			return true
		}
	}
	return false
}
