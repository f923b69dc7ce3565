package ddbjson

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

type tableItem struct {
	ID      string            `dynamodbav:"id"`
	Count   int8              `dynamodbav:"count"`
	Price   float64           `dynamodbav:"price"`
	Name    string            // matched case-insensitively as "name"
	Skip    string            `dynamodbav:"-"`
	AsStr   int               `dynamodbav:"as_str,string"`
	When    time.Time         `dynamodbav:"when"`
	Epoch   time.Time         `dynamodbav:"epoch"`
	Data    []byte            `dynamodbav:"data"`
	Tags    []string          `dynamodbav:"tags"`
	Nums    []int             `dynamodbav:"nums"`
	Set     map[string]bool   `dynamodbav:"set"`
	Any     any               `dynamodbav:"any"`
	Labels  map[string]string `dynamodbav:"labels"`
	Lines   []tableLine       `dynamodbav:"lines"`
	Rec     recorder          `dynamodbav:"rec"`
	Ptr     *int              `dynamodbav:"ptr"`
	Version int64             `dynamodbav:"version"`
}

type tableLine struct {
	Qty int `dynamodbav:"qty"`
}

func TestUnmarshalTable(t *testing.T) {
	one := 1
	cases := []struct {
		name string
		in   string
		pre  tableItem // the target's value before decoding
		want tableItem
		err  string // substring of the error; "" for success
	}{
		{name: "scalars", in: `{"id":{"S":"a\"b\u00e9"},"count":{"N":"-12"},"price":{"N":"1.5e2"},"name":{"S":"x"},"Skip":{"S":"no"}}`,
			want: tableItem{ID: `a"bé`, Count: -12, Price: 150, Name: "x"}},
		{name: "escaped key", in: `{"\u0069d":{"\u0053":"k"}}`, want: tableItem{ID: "k"}},
		{name: "white space", in: " { \"id\" : { \"S\" : \"k\" } , \"count\" :{\"N\":\"1\"}\n}\t", want: tableItem{ID: "k", Count: 1}},
		{name: "string option", in: `{"as_str":{"S":"42"}}`, want: tableItem{AsStr: 42}},
		{name: "times", in: `{"when":{"S":"2020-07-30T17:00:00Z"},"epoch":{"N":"1480642020"}}`,
			want: tableItem{When: time.Date(2020, 7, 30, 17, 0, 0, 0, time.UTC), Epoch: time.Unix(1480642020, 0)}},
		{name: "binary", in: `{"data":{"B":"AAEqQQ=="}}`, want: tableItem{Data: []byte{0, 1, 42, 65}}},
		{name: "sets", in: `{"tags":{"SS":["a","b"]},"nums":{"NS":["1","2"]}}`, want: tableItem{Tags: []string{"a", "b"}, Nums: []int{1, 2}}},
		{name: "list", in: `{"nums":{"L":[{"N":"3"},{"NULL":true}]}}`, want: tableItem{Nums: []int{3, 0}}},
		{name: "empty list is not nil", in: `{"tags":{"L":[]}}`, want: tableItem{Tags: []string{}}},
		{name: "interface number", in: `{"any":{"N":"7"}}`, want: tableItem{Any: 7.0}},
		{name: "interface list", in: `{"any":{"L":[{"S":"x"},{"BOOL":true},{"NULL":true}]}}`, want: tableItem{Any: []any{"x", true, nil}}},
		{name: "interface map", in: `{"any":{"M":{"k":{"SS":["v"]},"n":{"NS":["1.5"]}}}}`,
			want: tableItem{Any: map[string]any{"k": []string{"v"}, "n": []float64{1.5}}}},
		{name: "map of strings", in: `{"labels":{"M":{"a":{"S":"1"},"b":{"N":"2"}}}}`, want: tableItem{Labels: map[string]string{"a": "1", "b": "2"}}},
		{name: "nested", in: `{"lines":{"L":[{"M":{"qty":{"N":"1"}}},{"M":{"QTY":{"N":"2"}}}]}}`, want: tableItem{Lines: []tableLine{{1}, {2}}}},
		{name: "unmarshaler", in: `{"rec":{"N":"5"}}`, want: tableItem{Rec: recorder{"N:5"}}},
		{name: "unmarshaler gets NULL", in: `{"rec":{"NULL":true}}`, want: tableItem{Rec: recorder{"NULL"}}},
		{name: "NULL clears", in: `{"id":{"NULL":true},"ptr":{"NULL":true}}`, pre: tableItem{ID: "old", Ptr: &one}, want: tableItem{}},
		{name: "absent keeps", in: `{}`, pre: tableItem{ID: "old"}, want: tableItem{ID: "old"}},
		{name: "unknown attributes skipped", in: `{"zzz":{"M":{"a":{"L":[{"S":"}\""}]}}},"id":{"S":"k"}}`, want: tableItem{ID: "k"}},
		{name: "null item", in: `null`, want: tableItem{}},

		{name: "overflow", in: `{"count":{"N":"128"}}`, err: `ddbjson: unmarshal attribute count: unmarshal failed, cannot unmarshal number overflow, 128 into Go value type int8`},
		{name: "string into int", in: `{"count":{"S":"1"}}`, err: `cannot unmarshal string into Go value type int8`},
		{name: "bad number", in: `{"version":{"N":"1x"}}`, err: `strconv.ParseInt: parsing "1x": invalid syntax`},
		{name: "set into map", in: `{"set":{"SS":["a"]}}`, err: `cannot unmarshal string set into Go value type map[string]bool`},
		{name: "error path", in: `{"lines":{"L":[{"M":{}},{"M":{"qty":{"BOOL":true}}}]}}`, err: `ddbjson: unmarshal attribute lines[1].qty: unmarshal failed, cannot unmarshal bool`},
		{name: "bad time", in: `{"when":{"S":"yesterday"}}`, err: `cannot unmarshal "yesterday" into time.Time`},
		{name: "unmarshaler error", in: `{"rec":{"S":"fail"}}`, err: `ddbjson: unmarshal attribute rec: recorder refuses fail`},
		{name: "S not a string", in: `{"id":{"S":5}}`, err: `ddbjson: malformed JSON at offset 11: S attribute value must be a string`},
		{name: "unknown type", in: `{"id":{"X":"5"}}`, err: `unknown attribute value type "X"`},
		{name: "empty value", in: `{"id":{}}`, err: `attribute value object has no type member`},
		{name: "two types", in: `{"id":{"S":"a","N":"1"}}`, err: `attribute value object has more than one member`},
		{name: "bad base64", in: `{"data":{"B":"!!"}}`, err: `B attribute value is not valid base64`},
		{name: "trailing data", in: `{} {}`, err: `after the top-level value`},
		{name: "truncated", in: `{"id":{"S":"a"}`, err: `unexpected end of input`},
		{name: "not an object", in: `[]`, err: `ddbjson: malformed JSON at offset 0: unexpected '[', expected object`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.pre
			err := Unmarshal([]byte(c.in), &got)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestUnmarshalErrorTypes(t *testing.T) {
	var it tableItem
	err := Unmarshal([]byte(`{"count":{"N":"300"}}`), &it)
	var te *attributevalue.UnmarshalTypeError
	if !errors.As(err, &te) || te.Type != reflect.TypeFor[int8]() {
		t.Errorf("overflow: %v does not wrap an UnmarshalTypeError for int8", err)
	}
	err = Unmarshal([]byte(`{"version":{"N":"x"}}`), &it)
	var ne *strconv.NumError
	if !errors.As(err, &ne) {
		t.Errorf("parse: %v does not wrap a NumError", err)
	}
	var ie *attributevalue.InvalidUnmarshalError
	if err := Unmarshal([]byte(`{}`), it); !errors.As(err, &ie) {
		t.Errorf("non-pointer: %v", err)
	}
	if err := Unmarshal([]byte(`{}`), (*tableItem)(nil)); !errors.As(err, &ie) {
		t.Errorf("nil pointer: %v", err)
	}
	var se *SyntaxError
	if err := Unmarshal([]byte(`{"a":`), &it); !errors.As(err, &se) || se.Offset != 5 {
		t.Errorf("syntax: %v", err)
	}
}

func TestAttributeMap(t *testing.T) {
	m, err := AttributeMap([]byte(`{"id":{"N":"101"},"b":{"B":"AAE="},"l":{"L":[{"NULL":true}]},"s":{"SS":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]types.AttributeValue{
		"id": &types.AttributeValueMemberN{Value: "101"},
		"b":  &types.AttributeValueMemberB{Value: []byte{0, 1}},
		"l":  &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberNULL{Value: true}}},
		"s":  &types.AttributeValueMemberSS{Value: []string{}},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %#v", m)
	}
	if m, err := AttributeMap([]byte(`null`)); m != nil || err != nil {
		t.Errorf("null: %v %v", m, err)
	}
	if _, err := AttributeMap([]byte(`{"a":{"S":1}}`)); err == nil {
		t.Error("malformed attribute value accepted")
	}
}

// TestPlanCache checks that concurrent first uses of a type agree (run
// with -race to check the publication of plans).
func TestPlanCache(t *testing.T) {
	type fresh struct {
		A int
		B []fresh
	}
	done := make(chan fresh)
	for i := 0; i < 4; i++ {
		go func() {
			var f fresh
			if err := Unmarshal([]byte(`{"A":{"N":"1"},"B":{"L":[{"M":{"A":{"N":"2"}}}]}}`), &f); err != nil {
				t.Error(err)
			}
			done <- f
		}()
	}
	for i := 0; i < 4; i++ {
		if f := <-done; f.A != 1 || len(f.B) != 1 || f.B[0].A != 2 {
			t.Errorf("got %+v", f)
		}
	}
}
