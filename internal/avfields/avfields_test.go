package avfields_test

import (
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/nanopipe/nanopipe/internal/avfields"
)

type Base struct {
	ID      string `dynamodbav:"id"`
	Created string
	Shadow  string
}

type Extra struct {
	Note   string
	Shadow string
}

type Tagged struct {
	Shadow string `dynamodbav:"Shadow"`
}

type inner struct {
	Hidden string
}

type Leaf struct{ V string }

type LeftOf struct{ Leaf }

type RightOf struct{ Leaf }

type (
	plain struct {
		Name    string `dynamodbav:"name"`
		Skip    string `dynamodbav:"-"`
		Plain   int
		private string
	}
	embedded struct {
		Base
		Shadow string // shallower: hides Base.Shadow
		Title  string `dynamodbav:"title"`
	}
	embeddedPointer struct {
		*Base
		Size int
	}
	taggedEmbedded struct {
		Base `dynamodbav:"base"`
		Kind string
	}
	clash struct {
		Base
		Extra // Shadow at the same depth in both: dropped
	}
	tagBreaksTie struct {
		Extra
		Tagged // tagged Shadow at the same depth wins
	}
	sameTypeTwice struct {
		LeftOf
		RightOf // Leaf twice at depth 2: V clashes and is dropped
		W       string
	}
	unexportedEmbedded struct {
		inner // its exported fields are promoted
		Own   string
	}
)

// TestOfMatchesAttributeValue compares the names Of lists with the keys
// attributevalue.MarshalMap writes, for every rule of the package comment.
func TestOfMatchesAttributeValue(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want []string
	}{
		{"Plain", plain{Name: "n", Skip: "s", Plain: 1, private: "p"}, []string{"name", "Plain"}},
		{"Embedded", embedded{Base: Base{ID: "1", Created: "c", Shadow: "inner"}, Shadow: "outer", Title: "t"},
			[]string{"id", "Created", "Shadow", "title"}},
		{"EmbeddedPointer", embeddedPointer{Base: &Base{ID: "1", Created: "c", Shadow: "s"}, Size: 2},
			[]string{"id", "Created", "Shadow", "Size"}},
		{"TaggedEmbeddedIsAMap", taggedEmbedded{Base: Base{ID: "1"}, Kind: "k"}, []string{"base", "Kind"}},
		{"ClashDropped", clash{Base: Base{ID: "1", Created: "c", Shadow: "a"}, Extra: Extra{Note: "n", Shadow: "b"}},
			[]string{"id", "Created", "Note"}},
		{"TagBreaksTie", tagBreaksTie{Extra: Extra{Note: "n", Shadow: "a"}, Tagged: Tagged{Shadow: "b"}},
			[]string{"Note", "Shadow"}},
		{"SameTypeTwice", sameTypeTwice{LeftOf: LeftOf{Leaf{V: "l"}}, RightOf: RightOf{Leaf{V: "r"}}, W: "w"}, []string{"W"}},
		{"UnexportedEmbedded", unexportedEmbedded{inner: inner{Hidden: "h"}, Own: "o"}, []string{"Hidden", "Own"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range avfields.Of(reflect.TypeOf(tt.v)) {
				got = append(got, f.Name)
			}
			m, err := attributevalue.MarshalMap(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			var sdk []string
			for k := range m {
				sdk = append(sdk, k)
			}
			sort.Strings(sdk)
			sorted := slices.Sorted(slices.Values(got))
			if !slices.Equal(sorted, sdk) {
				t.Errorf("Of lists %v; attributevalue.MarshalMap writes %v", sorted, sdk)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Of = %v, want %v (in field order)", got, tt.want)
			}
		})
	}
}

func TestOfIndexAndPath(t *testing.T) {
	fs := avfields.Of(reflect.TypeFor[embeddedPointer]())
	if fs[0].Name != "id" || fs[0].GoPath != "Base.ID" || !slices.Equal(fs[0].Index, []int{0, 0}) || fs[0].Type != reflect.TypeFor[string]() {
		t.Errorf("first field = %+v", fs[0])
	}
	var v embeddedPointer
	f, ok := fs[0].In(reflect.ValueOf(&v).Elem())
	if !ok {
		t.Fatal("In: not settable")
	}
	f.SetString("x")
	if v.Base == nil || v.ID != "x" {
		t.Errorf("In did not allocate the embedded pointer: %+v", v)
	}
}

func TestParseTag(t *testing.T) {
	st := reflect.StructTag(`dynamodbav:"n,omitempty,string,unixtime,stringset,numberset,binaryset,nullempty"`)
	got := avfields.ParseTag(st)
	want := avfields.Tag{Name: "n", OmitEmpty: true, NullEmpty: true, AsString: true, UnixTime: true, StringSet: true, NumberSet: true, BinarySet: true}
	if got != want {
		t.Errorf("ParseTag = %+v, want %+v", got, want)
	}
	if got := avfields.ParseTag(`dynamodbav:"-"`); !got.Ignore {
		t.Errorf("ParseTag(-) = %+v", got)
	}
	if got := avfields.ParseTag(`json:"x"`); !got.Empty {
		t.Errorf("ParseTag without dynamodbav = %+v", got)
	}
}
