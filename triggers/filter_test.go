package triggers

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFilterPatternGolden(t *testing.T) {
	tests := []struct {
		name string
		cond Condition
		want string
	}{
		{"Equals", NewImage("status").Equals("ready"), `{"dynamodb":{"NewImage":{"status":{"S":["ready"]}}}}`},
		{"EqualsEmpty", NewImage("note").Equals(""), `{"dynamodb":{"NewImage":{"note":{"S":[""]}}}}`},
		{"OneOfSortedUnique", NewImage("status").OneOf("ready", "failed", "ready"), `{"dynamodb":{"NewImage":{"status":{"S":["failed","ready"]}}}}`},
		{"HasPrefix", NewImage("key").HasPrefix("incoming/"), `{"dynamodb":{"NewImage":{"key":{"S":[{"prefix":"incoming/"}]}}}}`},
		{"HasSuffix", NewImage("key").HasSuffix(".jpg"), `{"dynamodb":{"NewImage":{"key":{"S":[{"suffix":".jpg"}]}}}}`},
		{"EqualsIgnoreCase", NewImage("tier").EqualsIgnoreCase("Gold"), `{"dynamodb":{"NewImage":{"tier":{"S":[{"equals-ignore-case":"Gold"}]}}}}`},
		{"NoneOf", OldImage("status").NoneOf("deleted", "archived"), `{"dynamodb":{"OldImage":{"status":{"S":[{"anything-but":["archived","deleted"]}]}}}}`},
		{"ExistsString", NewImage("thumb").As(TypeString).Exists(), `{"dynamodb":{"NewImage":{"thumb":{"S":[{"exists":true}]}}}}`},
		{"MissingNumber", NewImage("size").As(TypeNumber).Missing(), `{"dynamodb":{"NewImage":{"size":{"N":[{"exists":false}]}}}}`},
		{"ExistsKey", Key("id").As(TypeString).Exists(), `{"dynamodb":{"Keys":{"id":{"S":[{"exists":true}]}}}}`},
		{"IsNumberInteger", NewImage("size").IsNumber(1024), `{"dynamodb":{"NewImage":{"size":{"N":["1024"]}}}}`},
		{"IsNumberFraction", NewImage("ratio").IsNumber(0.5), `{"dynamodb":{"NewImage":{"ratio":{"N":["0.5"]}}}}`},
		{"IsNumberNegative", NewImage("delta").IsNumber(-3.25), `{"dynamodb":{"NewImage":{"delta":{"N":["-3.25"]}}}}`},
		{"IsNumberNegativeZero", NewImage("delta").IsNumber(math.Copysign(0, -1)), `{"dynamodb":{"NewImage":{"delta":{"N":["0"]}}}}`},
		{"IsNumberNoExponent", NewImage("tiny").IsNumber(1e-6), `{"dynamodb":{"NewImage":{"tiny":{"N":["0.000001"]}}}}`},
		{"IsNumberLargeExact", NewImage("big").IsNumber(1<<53 - 1), `{"dynamodb":{"NewImage":{"big":{"N":["9007199254740991"]}}}}`},
		{"IsTrue", NewImage("public").IsTrue(), `{"dynamodb":{"NewImage":{"public":{"BOOL":[true]}}}}`},
		{"IsFalse", NewImage("public").IsFalse(), `{"dynamodb":{"NewImage":{"public":{"BOOL":[false]}}}}`},
		{"IsNull", NewImage("deletedAt").IsNull(), `{"dynamodb":{"NewImage":{"deletedAt":{"NULL":[true]}}}}`},
		{"KeyEquals", Key("pk").Equals("user#1"), `{"dynamodb":{"Keys":{"pk":{"S":["user#1"]}}}}`},
		{"KeyNumber", Key("version").IsNumber(7), `{"dynamodb":{"Keys":{"version":{"N":["7"]}}}}`},
		{"NestedMap", NewImage("address", "city").Equals("Oslo"), `{"dynamodb":{"NewImage":{"address":{"M":{"city":{"S":["Oslo"]}}}}}}`},
		{"DeepNestedMap", OldImage("a", "b", "c").IsTrue(), `{"dynamodb":{"OldImage":{"a":{"M":{"b":{"M":{"c":{"BOOL":[true]}}}}}}}}`},
		{"NoHTMLEscaping", NewImage("expr").Equals("a<b&c>d"), `{"dynamodb":{"NewImage":{"expr":{"S":["a<b&c>d"]}}}}`},
		{"Quotes", NewImage("title").Equals(`say "hi"`), `{"dynamodb":{"NewImage":{"title":{"S":["say \"hi\""]}}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newStreamTrigger("photos", Where(tt.cond))
			if err := tr.err(); err != nil {
				t.Fatalf("Err() = %v", err)
			}
			if len(tr.Filters) != 1 {
				t.Fatalf("got %d filters, want 1", len(tr.Filters))
			}
			got, err := tr.Filters[0].Pattern()
			if err != nil {
				t.Fatalf("Pattern: %v", err)
			}
			if got != tt.want {
				t.Errorf("Pattern:\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("pattern is not valid JSON: %s", got)
			}
		})
	}
}

func TestFilterAndedConditionsGolden(t *testing.T) {
	tr := newStreamTrigger("photos", Where(
		NewImage("status").Equals("ready"),
		OldImage("status").NoneOf("ready"),
		NewImage("address", "city").Equals("Oslo"),
		NewImage("address", "zip").HasPrefix("03"),
		Key("id").HasPrefix("photo#"),
	))
	if err := tr.err(); err != nil {
		t.Fatal(err)
	}
	got, err := tr.Filters[0].Pattern()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"dynamodb":{"Keys":{"id":{"S":[{"prefix":"photo#"}]}},"NewImage":{"address":{"M":{"city":{"S":["Oslo"]},"zip":{"S":[{"prefix":"03"}]}}},"status":{"S":["ready"]}},"OldImage":{"status":{"S":[{"anything-but":["ready"]}]}}}}`
	if got != want {
		t.Errorf("Pattern:\n got %s\nwant %s", got, want)
	}
}

func TestFilterAccessors(t *testing.T) {
	tr := newStreamTrigger("photos", Where(NewImage("address", "city").Equals("Oslo"), NewImage("thumb").As(TypeString).Missing(), Key("id").IsNumber(3)))
	if err := tr.err(); err != nil {
		t.Fatal(err)
	}
	conds := tr.Filters[0].Conditions()
	type view struct{ image, path, typ, str string }
	var got []view
	for _, c := range conds {
		got = append(got, view{c.Attr().Image(), strings.Join(c.Attr().Path(), "/"), c.Type(), c.String()})
	}
	want := []view{
		{"NewImage", "address/city", "S", `Equals("Oslo")`},
		{"NewImage", "thumb", "S", "Missing()"},
		{"Keys", "id", "N", "IsNumber(3)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("conditions:\n got %+v\nwant %+v", got, want)
	}
	// The accessors hand out copies: changing them leaves the filter alone.
	conds[0].Attr().Path()[0] = "changed"
	p := conds[0].Attr().Path()
	p[0] = "changed"
	if again := tr.Filters[0].Conditions()[0].Attr().Path()[0]; again != "address" {
		t.Errorf("filter path changed through an accessor: %q", again)
	}
	if got := NewImage("size").Exists().Type(); got != "" {
		t.Errorf("untyped Exists Type() = %q, want empty", got)
	}
}

func TestPatternsKindsFolding(t *testing.T) {
	tests := []struct {
		name string
		opts []StreamOption
		want []string
	}{
		{"NoKindsNoFilters", nil, nil},
		{"KindsOnly", []StreamOption{Insert}, []string{`{"eventName":["INSERT"]}`}},
		{"KindsSorted", []StreamOption{Remove, Insert}, []string{`{"eventName":["INSERT","REMOVE"]}`}},
		{"KindsRepeated", []StreamOption{Modify, Modify}, []string{`{"eventName":["MODIFY"]}`}},
		{"FilterWithoutKinds", []StreamOption{Where(NewImage("status").Equals("ready"))},
			[]string{`{"dynamodb":{"NewImage":{"status":{"S":["ready"]}}}}`}},
		{"KindsFoldedIntoFilter", []StreamOption{Insert, Modify, Where(NewImage("status").Equals("ready"))},
			[]string{`{"dynamodb":{"NewImage":{"status":{"S":["ready"]}}},"eventName":["INSERT","MODIFY"]}`}},
		{"KindsAfterWhere", []StreamOption{Where(NewImage("status").Equals("ready")), Insert},
			[]string{`{"dynamodb":{"NewImage":{"status":{"S":["ready"]}}},"eventName":["INSERT"]}`}},
		{"FiltersOredInDeclarationOrder", []StreamOption{Modify,
			Where(NewImage("status").Equals("ready")),
			Where(NewImage("priority").IsTrue(), OldImage("priority").IsFalse())},
			[]string{
				`{"dynamodb":{"NewImage":{"status":{"S":["ready"]}}},"eventName":["MODIFY"]}`,
				`{"dynamodb":{"NewImage":{"priority":{"BOOL":[true]}},"OldImage":{"priority":{"BOOL":[false]}}},"eventName":["MODIFY"]}`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newStreamTrigger("photos", tt.opts...)
			if err := tr.err(); err != nil {
				t.Fatal(err)
			}
			got, err := tr.Patterns()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Patterns:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestPatternsDeterministic(t *testing.T) {
	build := func(reverse bool) StreamTrigger {
		conds := []Condition{
			NewImage("status").OneOf("b", "a", "c"),
			NewImage("z").IsTrue(),
			NewImage("address", "zip").Equals("0301"),
			NewImage("address", "city").Equals("Oslo"),
			OldImage("m").NoneOf("y", "x"),
			Key("id").HasPrefix("p#"),
		}
		kinds := []StreamOption{Modify, Insert}
		if reverse {
			for i, j := 0, len(conds)-1; i < j; i, j = i+1, j-1 {
				conds[i], conds[j] = conds[j], conds[i]
			}
			kinds = []StreamOption{Insert, Modify}
		}
		return newStreamTrigger("photos", append(kinds, Where(conds...))...)
	}
	a, b := build(false), build(true)
	first, err := a.Patterns()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("DeclarationOrder", func(t *testing.T) {
		second, err := b.Patterns()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, second) {
			t.Errorf("order of declaration changed the patterns:\n%q\n%q", first, second)
		}
	})
	t.Run("Repeated", func(t *testing.T) {
		for i := 0; i < 100; i++ {
			again, err := a.Patterns()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(first, again) {
				t.Fatalf("compilation %d differs:\n%q\n%q", i, first, again)
			}
		}
	})
}

func TestFilterValidationErrors(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name string
		opts []StreamOption
		want []string // substrings of the error
	}{
		{"EmptyWhere", []StreamOption{Where()}, []string{"Where: no conditions", "leave Where out"}},
		{"ZeroCondition", []StreamOption{Where(Condition{})}, []string{"empty Condition", "NewImage"}},
		{"NoAttributeName", []StreamOption{Where(NewImage().Equals("x"))}, []string{"NewImage() without an attribute name"}},
		{"EmptyAttributeName", []StreamOption{Where(NewImage("").Equals("x"))}, []string{"empty attribute name"}},
		{"EmptyNestedName", []StreamOption{Where(OldImage("a", "").Equals("x"))}, []string{`OldImage "a."`, "empty attribute name"}},
		{"EmptyKeyName", []StreamOption{Where(Key("").Equals("x"))}, []string{"empty attribute name"}},
		{"InvalidUTF8Value", []StreamOption{Where(NewImage("s").Equals("\xff"))}, []string{"not valid UTF-8"}},
		{"SameAttributeTwice", []StreamOption{Where(NewImage("key").HasPrefix("a/"), NewImage("key").HasSuffix(".jpg"))},
			[]string{`NewImage "key" is tested twice (HasPrefix("a/") and HasSuffix(".jpg"))`, "AND-ed", "OR-ed", "OneOf"}},
		{"SameAttributeDifferentTypes", []StreamOption{Where(NewImage("v").Equals("1"), NewImage("v").IsNumber(1))}, []string{"tested twice"}},
		{"ValueAndNestedMap", []StreamOption{Where(NewImage("address").Equals("x"), NewImage("address", "city").Equals("Oslo"))},
			[]string{`NewImage "address" and NewImage "address.city" are both tested`}},
		{"NaN", []StreamOption{Where(NewImage("size").IsNumber(math.NaN()))}, []string{"NaN is not a number DynamoDB can store"}},
		{"Inf", []StreamOption{Where(NewImage("size").IsNumber(math.Inf(1)))}, []string{"+Inf is not a number DynamoDB can store"}},
		{"BeyondExactIntegers", []StreamOption{Where(NewImage("id").IsNumber(1 << 60))}, []string{"2^53"}},
		{"TooSmall", []StreamOption{Where(NewImage("x").IsNumber(1e-200))}, []string{"1E-130"}},
		{"UntypedExists", []StreamOption{Where(NewImage("thumb").Exists())}, []string{"leaf values", `NewImage("thumb").As(triggers.TypeString).Exists()`}},
		{"UntypedMissing", []StreamOption{Where(NewImage("a", "b").Missing())}, []string{`NewImage("a", "b").As(triggers.TypeString).Missing()`}},
		{"NonLeafType", []StreamOption{Where(NewImage("tags").As("L").Exists())}, []string{`As("L") is not a type a filter can test`}},
		{"DeclaredTypeConflict", []StreamOption{Where(NewImage("size").As(TypeNumber).Equals("x"))}, []string{`declared As("N") but Equals("x") tests type S`}},
		{"KeyBool", []StreamOption{Where(Key("id").IsTrue())}, []string{"key attributes are strings, numbers or binary"}},
		{"KeyNull", []StreamOption{Where(Key("id").IsNull())}, []string{"key attributes are strings, numbers or binary"}},
		{"KeyMissing", []StreamOption{Where(Key("id").As(TypeString).Missing())}, []string{"every stream record carries its key attributes"}},
		{"EmptyPrefix", []StreamOption{Where(NewImage("k").HasPrefix(""))}, []string{"empty prefix or suffix matches every string"}},
		{"EmptySuffix", []StreamOption{Where(NewImage("k").HasSuffix(""))}, []string{"empty prefix or suffix"}},
		{"OneOfNothing", []StreamOption{Where(NewImage("k").OneOf())}, []string{"OneOf(): no values given"}},
		{"NoneOfNothing", []StreamOption{Where(NewImage("k").NoneOf())}, []string{"NoneOf(): no values given"}},
		{"PatternTooLong", []StreamOption{Where(NewImage("k").OneOf(long+"1", long+"2", long+"3", long+"4", long+"5"))},
			[]string{"bytes; Lambda takes at most 4096 (MaxFilterPatternBytes)"}},
		{"TooManyFilters", []StreamOption{
			Where(NewImage("a").Equals("1")), Where(NewImage("a").Equals("2")), Where(NewImage("a").Equals("3")),
			Where(NewImage("a").Equals("4")), Where(NewImage("a").Equals("5")), Where(NewImage("a").Equals("6"))},
			[]string{"6 filters", "at most 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newStreamTrigger("photos", tt.opts...)
			err := tr.err()
			if err == nil {
				t.Fatalf("Err() = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if _, perr := tr.Patterns(); perr == nil {
				t.Errorf("Patterns() succeeded on a trigger whose filters were refused")
			}
		})
	}
}

func TestFilterRefusedWhereIsLeftOut(t *testing.T) {
	tr := newStreamTrigger("photos", Insert, Where(NewImage("status").Equals("ready"), NewImage("thumb").Exists()))
	if len(tr.Filters) != 0 {
		t.Errorf("refused filter was added: %d filters", len(tr.Filters))
	}
	_, err := tr.Patterns()
	if err == nil || !strings.Contains(err.Error(), "a Where filter was refused") {
		t.Errorf("Patterns() error = %v, want refusal", err)
	}
	if _, err := tr.Matches([]byte(`{"eventName":"INSERT"}`)); err == nil {
		t.Errorf("Match() on a trigger with a refused filter succeeded")
	}
	if tr.err() == nil {
		t.Errorf("Err() = nil")
	}
	var f Filter
	if _, err := f.Pattern(); err == nil || !strings.Contains(err.Error(), "no conditions") {
		t.Errorf("zero Filter Pattern() error = %v", err)
	}
}

func TestPatternsDeadFilter(t *testing.T) {
	tests := []struct {
		name string
		opts []StreamOption
		want string // "" when the filter can match
	}{
		{"OldImageOnInserts", []StreamOption{Insert, Where(OldImage("status").Equals("a"))}, "carry no OldImage"},
		{"NewImageOnRemoves", []StreamOption{Remove, Where(NewImage("status").Equals("a"))}, "carry no NewImage"},
		{"BothImagesWithoutModifies", []StreamOption{Insert, Remove, Where(NewImage("s").Equals("a"), OldImage("s").Equals("b"))}, "only MODIFY records carry both images"},
		{"OldImageMissingOnInserts", []StreamOption{Insert, Where(OldImage("status").As(TypeString).Missing())}, ""},
		{"OldImageOnInsertsAndModifies", []StreamOption{Insert, Modify, Where(OldImage("status").Equals("a"))}, ""},
		{"KeysOnRemoves", []StreamOption{Remove, Where(Key("id").Equals("a"))}, ""},
		{"NoKinds", []StreamOption{Where(NewImage("s").Equals("a"), OldImage("s").Equals("b"))}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newStreamTrigger("photos", tt.opts...)
			if err := tr.err(); err != nil {
				t.Fatal(err)
			}
			_, err := tr.Patterns()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Patterns() error = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "never match")):
				t.Errorf("Patterns() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// filterStreamRecord builds a stream record as Lambda delivers it, with the
// images given as DynamoDB JSON.
func filterStreamRecord(kind Kind, keys, newImage, oldImage string) []byte {
	var ddb []string
	ddb = append(ddb, `"ApproximateCreationDateTime": 1717171717`)
	ddb = append(ddb, `"Keys": `+keys)
	if newImage != "" {
		ddb = append(ddb, `"NewImage": `+newImage)
	}
	if oldImage != "" {
		ddb = append(ddb, `"OldImage": `+oldImage)
	}
	ddb = append(ddb, `"SequenceNumber": "4421584500000000017450439091"`, `"SizeBytes": 187`, `"StreamViewType": "NEW_AND_OLD_IMAGES"`)
	return []byte(fmt.Sprintf(`{
		"eventID": "c81e728d9d4c2f636f067f89cc14862c",
		"eventName": %q,
		"eventVersion": "1.1",
		"eventSource": "aws:dynamodb",
		"awsRegion": "eu-west-1",
		"dynamodb": {%s},
		"eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/photos/stream/2024-06-01T00:00:00.000"
	}`, kind, strings.Join(ddb, ", ")))
}

const (
	filterPhotoKeys  = `{"id": {"S": "photo#42"}}`
	filterPhotoReady = `{"id": {"S": "photo#42"}, "status": {"S": "ready"}, "size": {"N": "2048"}, "key": {"S": "incoming/cat.JPG"},
		"public": {"BOOL": true}, "deletedAt": {"NULL": true}, "tier": {"S": "GOLD"},
		"address": {"M": {"city": {"S": "Oslo"}, "zip": {"S": "0301"}}},
		"tags": {"SS": ["cat", "pet"]}, "thumb": {"B": "aGVsbG8="}}`
	filterPhotoNew = `{"id": {"S": "photo#42"}, "status": {"S": "new"}, "size": {"N": "512"}, "public": {"BOOL": false},
		"address": {"M": {"city": {"S": "Bergen"}}}, "tags": {"L": [{"S": "cat"}]}}`
)

func TestMatchOperators(t *testing.T) {
	insert := filterStreamRecord(Insert, filterPhotoKeys, filterPhotoReady, "")
	modify := filterStreamRecord(Modify, filterPhotoKeys, filterPhotoReady, filterPhotoNew)
	remove := filterStreamRecord(Remove, filterPhotoKeys, "", filterPhotoNew)
	tests := []struct {
		name   string
		opts   []StreamOption
		record []byte
		want   bool
	}{
		{"NoCriteriaPassesAll", nil, remove, true},
		{"KindMatches", []StreamOption{Insert}, insert, true},
		{"KindDiffers", []StreamOption{Insert}, modify, false},
		{"KindsOred", []StreamOption{Insert, Remove}, remove, true},
		{"EqualsTrue", []StreamOption{Where(NewImage("status").Equals("ready"))}, insert, true},
		{"EqualsFalse", []StreamOption{Where(NewImage("status").Equals("Ready"))}, insert, false},
		{"EqualsWrongType", []StreamOption{Where(NewImage("size").Equals("2048"))}, insert, false},
		{"EqualsAbsentImage", []StreamOption{Where(NewImage("status").Equals("ready"))}, remove, false},
		{"OneOfTrue", []StreamOption{Where(NewImage("status").OneOf("failed", "ready"))}, insert, true},
		{"OneOfFalse", []StreamOption{Where(NewImage("status").OneOf("failed", "new"))}, insert, false},
		{"HasPrefixTrue", []StreamOption{Where(NewImage("key").HasPrefix("incoming/"))}, insert, true},
		{"HasPrefixFalse", []StreamOption{Where(NewImage("key").HasPrefix("outgoing/"))}, insert, false},
		{"HasPrefixNotInside", []StreamOption{Where(NewImage("key").HasPrefix("cat"))}, insert, false},
		{"HasPrefixOnNumberNever", []StreamOption{Where(NewImage("size").As(TypeString).Exists())}, insert, false},
		{"HasSuffixTrue", []StreamOption{Where(NewImage("key").HasSuffix(".JPG"))}, insert, true},
		{"HasSuffixCaseSensitive", []StreamOption{Where(NewImage("key").HasSuffix(".jpg"))}, insert, false},
		{"HasSuffixNotInside", []StreamOption{Where(NewImage("key").HasSuffix("cat"))}, insert, false},
		{"EqualsIgnoreCaseTrue", []StreamOption{Where(NewImage("tier").EqualsIgnoreCase("gold"))}, insert, true},
		{"EqualsIgnoreCaseFalse", []StreamOption{Where(NewImage("tier").EqualsIgnoreCase("golden"))}, insert, false},
		{"NoneOfTrue", []StreamOption{Where(NewImage("status").NoneOf("failed", "deleted"))}, insert, true},
		{"NoneOfFalse", []StreamOption{Where(NewImage("status").NoneOf("ready"))}, insert, false},
		{"NoneOfAbsentNever", []StreamOption{Where(NewImage("missing").NoneOf("x"))}, insert, false},
		{"NoneOfOtherTypeNever", []StreamOption{Where(NewImage("size").NoneOf("x"))}, insert, false},
		{"ExistsTrue", []StreamOption{Where(NewImage("thumb").As(TypeBinary).Exists())}, insert, true},
		{"ExistsOtherType", []StreamOption{Where(NewImage("thumb").As(TypeString).Exists())}, insert, false},
		{"ExistsAbsent", []StreamOption{Where(NewImage("nothing").As(TypeString).Exists())}, insert, false},
		{"MissingAbsent", []StreamOption{Where(NewImage("nothing").As(TypeString).Missing())}, insert, true},
		{"MissingPresent", []StreamOption{Where(NewImage("status").As(TypeString).Missing())}, insert, false},
		{"MissingWholeImage", []StreamOption{Where(OldImage("status").As(TypeString).Missing())}, insert, true},
		{"IsNumberTrue", []StreamOption{Where(NewImage("size").IsNumber(2048))}, insert, true},
		{"IsNumberFalse", []StreamOption{Where(NewImage("size").IsNumber(2049))}, insert, false},
		{"IsNumberOldImage", []StreamOption{Where(OldImage("size").IsNumber(512))}, modify, true},
		{"IsTrueTrue", []StreamOption{Where(NewImage("public").IsTrue())}, insert, true},
		{"IsTrueFalse", []StreamOption{Where(OldImage("public").IsTrue())}, modify, false},
		{"IsFalseTrue", []StreamOption{Where(OldImage("public").IsFalse())}, modify, true},
		{"IsNullTrue", []StreamOption{Where(NewImage("deletedAt").IsNull())}, insert, true},
		{"IsNullAbsent", []StreamOption{Where(OldImage("deletedAt").IsNull())}, modify, false},
		{"KeyEquals", []StreamOption{Where(Key("id").HasPrefix("photo#"))}, remove, true},
		{"NestedTrue", []StreamOption{Where(NewImage("address", "city").Equals("Oslo"))}, insert, true},
		{"NestedFalse", []StreamOption{Where(OldImage("address", "city").Equals("Oslo"))}, modify, false},
		{"NestedAbsentEntry", []StreamOption{Where(OldImage("address", "zip").As(TypeString).Missing())}, modify, true},
		{"NestedThroughNonMap", []StreamOption{Where(NewImage("status", "x").As(TypeString).Exists())}, insert, false},
		{"AndAllHold", []StreamOption{Where(NewImage("status").Equals("ready"), OldImage("status").Equals("new"))}, modify, true},
		{"AndOneFails", []StreamOption{Where(NewImage("status").Equals("ready"), OldImage("status").Equals("ready"))}, modify, false},
		{"OrSecondFilter", []StreamOption{Where(NewImage("status").Equals("failed")), Where(NewImage("public").IsTrue())}, insert, true},
		{"OrNoFilter", []StreamOption{Where(NewImage("status").Equals("failed")), Where(NewImage("public").IsFalse())}, insert, false},
		{"KindsAndFilter", []StreamOption{Modify, Where(NewImage("status").Equals("ready"))}, insert, false},
		{"KindsAndFilterHold", []StreamOption{Modify, Where(NewImage("status").Equals("ready"))}, modify, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newStreamTrigger("photos", tt.opts...)
			if err := tr.err(); err != nil {
				t.Fatal(err)
			}
			got, err := tr.Matches(tt.record)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				p, _ := tr.Patterns()
				t.Errorf("Match() = %v, want %v; patterns %q", got, tt.want, p)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	tr := newStreamTrigger("photos", Insert)
	for name, rec := range map[string]string{
		"NotJSON":       `{"eventName": `,
		"NotAnObject":   `["INSERT"]`,
		"TrailingValue": `{"eventName":"INSERT"} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := tr.Matches([]byte(rec)); err == nil {
				t.Errorf("Match(%s) succeeded", rec)
			}
		})
	}
	t.Run("NoCriteriaStillNeedsJSON", func(t *testing.T) {
		none := newStreamTrigger("photos")
		if _, err := none.Matches([]byte("nope")); err == nil {
			t.Errorf("Match on invalid JSON succeeded")
		}
	})
}

// TestMatchPatternSemantics pins down the evaluator's reading of Lambda's
// rules on hand-written patterns, and its refusal of operators nanopipe
// never emits (numeric, which cannot match DynamoDB numbers, among them).
func TestMatchPatternSemantics(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		record  string
		want    bool
	}{
		{"NumbersMatchByText", `{"n":[300]}`, `{"n":300.0}`, false},
		{"NumberNotString", `{"n":["300"]}`, `{"n":300}`, false},
		{"ExistsNotOnIntermediateNode", `{"o":[{"exists":true}]}`, `{"o":{"S":"x"}}`, false},
		{"ExistsFalseOnIntermediateNode", `{"o":[{"exists":false}]}`, `{"o":{"S":"x"}}`, true},
		{"ArrayAnyElement", `{"L":{"S":["b"]}}`, `{"L":[{"S":"a"},{"S":"b"}]}`, true},
		{"ArrayNoElement", `{"L":{"S":["c"]}}`, `{"L":[{"S":"a"},{"S":"b"}]}`, false},
		{"EmptyArrayHasNoValue", `{"L":[{"exists":true}]}`, `{"L":[]}`, false},
		{"AlternativesOred", `{"a":["x",{"prefix":"y"}]}`, `{"a":"yes"}`, true},
		{"ExistsFalseOrValue", `{"a":["x",{"exists":false}]}`, `{"b":1}`, true},
		{"NullLiteral", `{"a":[null]}`, `{"a":null}`, true},
		{"BoolLiteral", `{"a":[true]}`, `{"a":"true"}`, false},
		{"PrefixOnlyStrings", `{"a":[{"prefix":"1"}]}`, `{"a":12}`, false},
		{"AnythingButSingle", `{"a":[{"anything-but":"x"}]}`, `{"a":"y"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := decodeFilterJSON([]byte(tt.record))
			if err != nil {
				t.Fatal(err)
			}
			got, err := matchPattern(tt.pattern, rec)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("matchPattern(%s, %s) = %v, want %v", tt.pattern, tt.record, got, tt.want)
			}
		})
	}
	for name, pattern := range map[string]string{
		"UnknownOperator": `{"a":[{"wildcard":"x*"}]}`,
		"OrOperator":      `{"$or":[{"a":["x"]},{"b":["y"]}]}`,
		"ScalarValue":     `{"a":"x"}`,
		"EmptyRules":      `{"a":[]}`,
		"BadExists":       `{"a":[{"exists":"yes"}]}`,
		"Numeric":         `{"a":[{"numeric":[">",1]}]}`,
		"BadRuleOnAbsent": `{"missing":[{"prefix":1}]}`,
	} {
		t.Run("Refuses"+name, func(t *testing.T) {
			if _, err := matchPattern(pattern, map[string]any{"a": "x"}); err == nil {
				t.Errorf("matchPattern(%s) accepted a pattern it does not implement", pattern)
			}
		})
	}
}

// refFilterMatch evaluates a trigger directly on the decoded record, without
// patterns: the reference that Match must agree with.
func refFilterMatch(t *testing.T, tr *StreamTrigger, record []byte) bool {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal(record, &rec); err != nil {
		t.Fatal(err)
	}
	if len(tr.Kinds) > 0 {
		ok := false
		for _, k := range tr.Kinds {
			ok = ok || rec["eventName"] == string(k)
		}
		if !ok {
			return false
		}
	}
	if len(tr.Filters) == 0 {
		return true
	}
	for _, f := range tr.Filters {
		all := true
		for _, c := range f.Conditions() {
			all = all && refFilterCond(c, rec)
		}
		if all {
			return true
		}
	}
	return false
}

// refFilterValue is the typed attribute value object ({"S": "x"}) at the
// condition's attribute, or nil.
func refFilterValue(a Attr, rec map[string]any) map[string]any {
	ddb, _ := rec["dynamodb"].(map[string]any)
	node, _ := ddb[a.Image()].(map[string]any)
	var v map[string]any
	for i, p := range a.Path() {
		if i > 0 {
			node, _ = v["M"].(map[string]any)
		}
		v, _ = node[p].(map[string]any)
		if v == nil {
			return nil
		}
	}
	return v
}

func refFilterCond(c Condition, rec map[string]any) bool {
	v := refFilterValue(c.Attr(), rec)
	s, isS := v["S"].(string)
	in := func(list []string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	switch c.op {
	case opEquals, opOneOf:
		return isS && in(c.strs)
	case opPrefix:
		return isS && strings.HasPrefix(s, c.strs[0])
	case opSuffix:
		return isS && strings.HasSuffix(s, c.strs[0])
	case opEqualsIgnoreCase:
		return isS && strings.EqualFold(s, c.strs[0])
	case opNoneOf:
		return isS && !in(c.strs)
	case opExists, opMissing:
		_, present := v[c.Type()]
		return present == (c.op == opExists)
	case opIsNumber:
		n, ok := v["N"].(string)
		f, err := strconv.ParseFloat(n, 64)
		return ok && err == nil && f == c.nums[0]
	case opTrue, opFalse:
		b, ok := v["BOOL"].(bool)
		return ok && b == (c.op == opTrue)
	case opNull:
		return v["NULL"] == true
	}
	panic("refCond: unexpected condition " + c.String())
}

func TestMatchAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewSource(20240601))
	pick := func(xs []string) string { return xs[rng.Intn(len(xs))] }
	statuses := []string{"ready", "READY", "new", "failed", "ready-2", "already-2x", ""}
	// A random attribute value: usually of the expected type, sometimes of
	// another, sometimes absent.
	value := func(kind string) string {
		switch r := rng.Intn(10); {
		case r == 0:
			return ""
		case r == 1:
			return `{"N": "7"}`
		case r == 2:
			return `{"BOOL": true}`
		}
		switch kind {
		case "S":
			return fmt.Sprintf(`{"S": %q}`, pick(statuses))
		case "N":
			return fmt.Sprintf(`{"N": %q}`, pick([]string{"0", "7", "1024", "2048", "0.5", "-3"}))
		case "BOOL":
			return fmt.Sprintf(`{"BOOL": %v}`, rng.Intn(2) == 0)
		case "NULL":
			return `{"NULL": true}`
		}
		return fmt.Sprintf(`{"M": {"city": {"S": %q}}}`, pick([]string{"Oslo", "oslo", "Bergen"}))
	}
	image := func() string {
		var parts []string
		for _, a := range []struct{ name, kind string }{
			{"status", "S"}, {"size", "N"}, {"public", "BOOL"}, {"deletedAt", "NULL"}, {"address", "M"}, {"key", "S"},
		} {
			if v := value(a.kind); v != "" {
				parts = append(parts, fmt.Sprintf("%q: %s", a.name, v))
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	record := func() []byte {
		keys := fmt.Sprintf(`{"id": {"S": %q}}`, pick([]string{"photo#1", "album#1"}))
		switch rng.Intn(3) {
		case 0:
			return filterStreamRecord(Insert, keys, image(), "")
		case 1:
			return filterStreamRecord(Modify, keys, image(), image())
		}
		return filterStreamRecord(Remove, keys, "", image())
	}
	condition := func(img func(...string) Attr, attr string) Condition {
		a := img(attr)
		switch attr {
		case "status", "key":
			switch rng.Intn(8) {
			case 0:
				return a.Equals(pick(statuses))
			case 1:
				return a.OneOf(pick(statuses), pick(statuses))
			case 2:
				return a.HasPrefix("rea")
			case 3:
				return a.HasSuffix("-2")
			case 4:
				return a.EqualsIgnoreCase("ready")
			case 5:
				return a.NoneOf(pick(statuses))
			case 6:
				return a.As(TypeString).Exists()
			}
			return a.As(TypeString).Missing()
		case "size":
			if rng.Intn(2) == 0 {
				return a.IsNumber([]float64{7, 1024, 0.5, -3}[rng.Intn(4)])
			}
			return a.As(TypeNumber).Exists()
		case "public":
			if rng.Intn(2) == 0 {
				return a.IsTrue()
			}
			return a.IsFalse()
		case "deletedAt":
			if rng.Intn(2) == 0 {
				return a.IsNull()
			}
			return a.As(TypeNull).Missing()
		}
		return img("address", "city").EqualsIgnoreCase("OSLO")
	}
	filter := func() StreamOption {
		var conds []Condition
		for _, img := range []func(...string) Attr{NewImage, OldImage} {
			for _, attr := range []string{"status", "size", "public", "deletedAt", "address", "key"} {
				if rng.Intn(5) == 0 {
					conds = append(conds, condition(img, attr))
				}
			}
		}
		if rng.Intn(4) == 0 {
			conds = append(conds, Key("id").HasPrefix("photo#"))
		}
		if len(conds) == 0 {
			conds = append(conds, condition(NewImage, "status"))
		}
		return Where(conds...)
	}
	var passed, dropped, dead int
	for i := 0; i < 400; i++ {
		var opts []StreamOption
		for _, k := range []StreamOption{Insert, Modify, Remove} {
			if rng.Intn(3) == 0 {
				opts = append(opts, k)
			}
		}
		for n := rng.Intn(4); n > 0; n-- {
			opts = append(opts, filter())
		}
		tr := newStreamTrigger("photos", opts...)
		if err := tr.err(); err != nil {
			t.Fatalf("trigger %d: %v", i, err)
		}
		if _, err := tr.Patterns(); err != nil {
			if !strings.Contains(err.Error(), "never match") {
				t.Fatalf("trigger %d: %v", i, err)
			}
			dead++
			continue
		}
		for j := 0; j < 25; j++ {
			rec := record()
			got, err := tr.Matches(rec)
			if err != nil {
				t.Fatalf("trigger %d record %d: %v", i, j, err)
			}
			if want := refFilterMatch(t, &tr, rec); got != want {
				p, _ := tr.Patterns()
				t.Fatalf("trigger %d: Match() = %v, reference %v\npatterns %q\nrecord %s", i, got, want, p, rec)
			}
			if got {
				passed++
			} else {
				dropped++
			}
		}
	}
	t.Logf("%d records passed, %d dropped; %d triggers refused as never matching", passed, dropped, dead)
	if passed < 500 || dropped < 500 {
		t.Errorf("generator too one-sided: %d passed, %d dropped", passed, dropped)
	}
}

type photoItem struct {
	ID      string `dynamodbav:"id"`
	Status  string `dynamodbav:"status"`
	Size    int64  `dynamodbav:"size"`
	private string
}

type itemMeta struct {
	Camera string
	Flash  bool `dynamodbav:"flash"`
}

type ItemAudit struct {
	By string `dynamodbav:"by"`
}

type itemPlace struct {
	City string `dynamodbav:"city"`
	Zip  string `dynamodbav:"zip"`
}

type itemCustomAV struct{ v string }

func (itemCustomAV) MarshalDynamoDBAttributeValue() (any, error) { return nil, nil }

type richFilterItem struct {
	itemMeta                           // flattened
	ItemAudit     `dynamodbav:"audit"` // tagged embedded struct: a map attribute
	ID            string               `dynamodbav:"id"`
	Ignored       string               `dynamodbav:"-"`
	Title         *string              `dynamodbav:"title"`
	Count         int                  `dynamodbav:"count,string"`
	Ratio         float64              `dynamodbav:"ratio"`
	Created       time.Time            `dynamodbav:"created"`
	Expires       time.Time            `dynamodbav:"expires,unixtime"`
	Raw           []byte               `dynamodbav:"raw"`
	Tags          []string             `dynamodbav:"tags,stringset"`
	Items         []string             `dynamodbav:"items"`
	Place         itemPlace            `dynamodbav:"place"`
	PlacePtr      *itemPlace           `dynamodbav:"placePtr"`
	Attrs         map[string]string    `dynamodbav:"attrs"`
	Any           any                  `dynamodbav:"any"`
	Custom        itemCustomAV         `dynamodbav:"custom"`
	Version       json.Number          `dynamodbav:"version"`
	Note          string               `dynamodbav:"note,nullempty"`
	Published     bool                 `dynamodbav:"published"`
	UntaggedField string
}

func TestCheckItemType(t *testing.T) {
	tests := []struct {
		name string
		item reflect.Type
		cond Condition
		want string // "" for no error
	}{
		{"MissingAttribute", reflect.TypeFor[photoItem](), NewImage("staus").Equals("ready"),
			`filter on NewImage "staus": triggers.photoItem has no attribute "staus" (attributes: id, status, size); a filter on a missing attribute never matches`},
		{"PointerItem", reflect.TypeFor[*photoItem](), OldImage("staus").Equals("ready"), `triggers.photoItem has no attribute "staus"`},
		{"MissingOnAbsentAttribute", reflect.TypeFor[photoItem](), NewImage("gone").As(TypeString).Missing(), "always matches"},
		{"Present", reflect.TypeFor[photoItem](), NewImage("status").Equals("ready"), ""},
		{"FieldNameNotTagName", reflect.TypeFor[photoItem](), NewImage("Status").Equals("ready"), `has no attribute "Status"`},
		{"StringOnNumber", reflect.TypeFor[photoItem](), NewImage("size").Equals("1024"),
			`Equals("1024") tests a string (S), but triggers.photoItem stores attribute "size" (field Size int64) as a number (N); use IsNumber`},
		{"NumberOnString", reflect.TypeFor[photoItem](), NewImage("status").IsNumber(1), "stores attribute \"status\" (field Status string) as a string (S); use Equals"},
		{"BoolOnString", reflect.TypeFor[photoItem](), NewImage("status").IsTrue(), "tests a boolean (BOOL)"},
		{"NumberMatches", reflect.TypeFor[photoItem](), NewImage("size").IsNumber(1), ""},
		{"TypedExistsMismatch", reflect.TypeFor[photoItem](), NewImage("size").As(TypeString).Exists(), "as a number (N)"},
		{"UnexportedNotAnAttribute", reflect.TypeFor[photoItem](), NewImage("private").Equals("x"), `has no attribute "private"`},
		{"KeysNotChecked", reflect.TypeFor[photoItem](), Key("pk").Equals("x"), ""},
		{"EmbeddedFlattened", reflect.TypeFor[richFilterItem](), NewImage("flash").IsTrue(), ""},
		{"EmbeddedFieldName", reflect.TypeFor[richFilterItem](), NewImage("Camera").Equals("x"), ""},
		{"TaggedEmbeddedIsMap", reflect.TypeFor[richFilterItem](), NewImage("audit", "by").Equals("x"), ""},
		{"TaggedEmbeddedNotFlattened", reflect.TypeFor[richFilterItem](), NewImage("by").Equals("x"), `has no attribute "by"`},
		{"DashSkipped", reflect.TypeFor[richFilterItem](), NewImage("Ignored").Equals("x"), `has no attribute "Ignored"`},
		{"AttributeListInFieldOrder", reflect.TypeFor[richFilterItem](), NewImage("nope").Equals("x"),
			"(attributes: Camera, flash, audit, id, title, count, ratio, created, expires, raw, tags, items, place, placePtr, attrs, any, custom, version, note, published, UntaggedField)"},
		{"PointerString", reflect.TypeFor[richFilterItem](), NewImage("title").HasPrefix("A"), ""},
		{"PointerNullable", reflect.TypeFor[richFilterItem](), NewImage("title").IsNull(), ""},
		{"NullOnPlainString", reflect.TypeFor[richFilterItem](), NewImage("id").IsNull(), "never as NULL"},
		{"NullEmptyTag", reflect.TypeFor[richFilterItem](), NewImage("note").IsNull(), ""},
		{"StringOption", reflect.TypeFor[richFilterItem](), NewImage("count").Equals("3"), ""},
		{"StringOptionNotNumber", reflect.TypeFor[richFilterItem](), NewImage("count").IsNumber(3), "as a string (S)"},
		{"FloatNumber", reflect.TypeFor[richFilterItem](), NewImage("ratio").IsNumber(0.5), ""},
		{"TimeIsString", reflect.TypeFor[richFilterItem](), NewImage("created").HasPrefix("2024-"), ""},
		{"UnixTimeIsNumber", reflect.TypeFor[richFilterItem](), NewImage("expires").HasPrefix("17"), "as a number (N)"},
		{"BytesAreBinary", reflect.TypeFor[richFilterItem](), NewImage("raw").As(TypeBinary).Exists(), ""},
		{"BytesNotString", reflect.TypeFor[richFilterItem](), NewImage("raw").Equals("x"), "as binary (B)"},
		{"StringSet", reflect.TypeFor[richFilterItem](), NewImage("tags").Equals("x"), "as a set (SS); Lambda filters cannot test lists or sets"},
		{"List", reflect.TypeFor[richFilterItem](), NewImage("items").Equals("x"), "as a list (L)"},
		{"NestedStruct", reflect.TypeFor[richFilterItem](), NewImage("place", "city").Equals("Oslo"), ""},
		{"NestedPointerStruct", reflect.TypeFor[richFilterItem](), NewImage("placePtr", "zip").Equals("0301"), ""},
		{"NestedMissing", reflect.TypeFor[richFilterItem](), NewImage("place", "country").Equals("NO"),
			`filter on NewImage "place.country": triggers.itemPlace has no attribute "country" (attributes: city, zip)`},
		{"NestedWrongType", reflect.TypeFor[richFilterItem](), NewImage("place", "city").IsTrue(), "tests a boolean (BOOL)"},
		{"MapAsValue", reflect.TypeFor[richFilterItem](), NewImage("place").Equals("x"), `as a map (M); test a nested attribute, e.g. NewImage("place", "name")`},
		{"NestedThroughScalar", reflect.TypeFor[richFilterItem](), NewImage("id", "x").Equals("y"), `as S, not as a map (M), so it has no nested attribute "x"`},
		{"NestedGoMapUnchecked", reflect.TypeFor[richFilterItem](), NewImage("attrs", "anything").Equals("y"), ""},
		{"InterfaceUnchecked", reflect.TypeFor[richFilterItem](), NewImage("any").IsTrue(), ""},
		{"CustomMarshalerUnchecked", reflect.TypeFor[richFilterItem](), NewImage("custom").IsNumber(1), ""},
		{"JSONNumberIsNumber", reflect.TypeFor[richFilterItem](), NewImage("version").IsNumber(2), ""},
		{"BoolField", reflect.TypeFor[richFilterItem](), NewImage("published").IsFalse(), ""},
		{"MapItemPasses", reflect.TypeFor[map[string]any](), NewImage("whatever").Equals("x"), ""},
		{"InterfaceItemPasses", reflect.TypeFor[any](), NewImage("whatever").Equals("x"), ""},
		{"NilItemPasses", nil, NewImage("whatever").Equals("x"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newStreamTrigger("photos", Where(tt.cond))
			if err := tr.err(); err != nil {
				t.Fatal(err)
			}
			err := tr.checkItemType(tt.item)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckItemType() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("CheckItemType() = nil, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("CheckItemType() = %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("AllProblemsReported", func(t *testing.T) {
		tr := newStreamTrigger("photos",
			Where(NewImage("staus").Equals("ready")),
			Where(NewImage("size").Equals("big"), OldImage("status").Equals("new")))
		err := tr.checkItemType(reflect.TypeFor[photoItem]())
		if err == nil {
			t.Fatal("CheckItemType() = nil")
		}
		if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 2 {
			t.Errorf("got %d errors, want 2: %v", n, err)
		}
		if !strings.Contains(err.Error(), `"staus"`) || !strings.Contains(err.Error(), `"size"`) {
			t.Errorf("error misses a problem: %v", err)
		}
	})
}
