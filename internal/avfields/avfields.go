// Package avfields lists the attributes of a Go struct as the AWS SDK's
// attributevalue package names them (`dynamodbav` struct tags), once for
// nanopipe: the stream decoder (internal/ddbjson), the filter checks of
// package triggers and the row decoder of package stages all use it, so
// they cannot disagree on which attribute a field is.
//
// The rules are encoding/json's, which attributevalue follows: exported
// fields, named by their tag or else their Go name; fields tagged "-"
// left out; untagged embedded structs (and pointers to structs) flattened
// into the outer struct, walked breadth first; of fields with the same
// name, the shallowest wins, a tagged one breaks a tie at the same depth,
// and a name that still clashes is dropped (an embedded struct type that
// appears twice at one depth clashes with itself).
package avfields

import (
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Tag is a parsed `dynamodbav` struct tag.
type Tag struct {
	Name                            string
	Ignore                          bool // "-"
	OmitEmpty, NullEmpty            bool
	AsString, UnixTime              bool
	StringSet, NumberSet, BinarySet bool
	Empty                           bool // no tag, or an empty one
}

// ParseTag parses the `dynamodbav` tag of st.
func ParseTag(st reflect.StructTag) Tag {
	raw := st.Get("dynamodbav")
	if raw == "" {
		return Tag{Empty: true}
	}
	name, opts, _ := strings.Cut(raw, ",")
	t := Tag{Name: name}
	if name == "-" {
		t = Tag{Ignore: true}
	}
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		switch o {
		case "omitempty":
			t.OmitEmpty = true
		case "nullempty":
			t.NullEmpty = true
		case "string":
			t.AsString = true
		case "unixtime":
			t.UnixTime = true
		case "stringset":
			t.StringSet = true
		case "numberset":
			t.NumberSet = true
		case "binaryset":
			t.BinarySet = true
		}
	}
	return t
}

// Field is one attribute of a struct type.
type Field struct {
	// Name is the attribute name: the tag's name, or the Go field name.
	Name string
	// FromTag reports whether Name comes from the tag.
	FromTag bool
	// Index is the field's index sequence, as for reflect.Value.FieldByIndex,
	// through embedded structs and pointers to structs.
	Index []int
	// GoPath is the Go field path for messages, e.g. "Base.ID".
	GoPath string
	// Type is the field's declared type.
	Type reflect.Type
	Tag  Tag
	// Exported is false for the rare field promoted from an unexported
	// embedded non-struct type: attributevalue skips it when encoding,
	// and reflection cannot set it.
	Exported bool
}

var cache sync.Map // reflect.Type -> []Field

// Of returns the attributes of struct type t in field order (by Index).
// The result is shared: callers must not modify it.
func Of(t reflect.Type) []Field {
	if v, ok := cache.Load(t); ok {
		return v.([]Field)
	}
	fs := walk(t)
	v, _ := cache.LoadOrStore(t, fs)
	return v.([]Field)
}

type level struct {
	typ   reflect.Type
	index []int
	path  string
}

func walk(t reflect.Type) []Field {
	var found []Field
	next := []level{{typ: t}}
	var current []level
	count, nextCount := map[reflect.Type]int{}, map[reflect.Type]int{}
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current, next = next, nil
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, l := range current {
			if visited[l.typ] {
				continue
			}
			visited[l.typ] = true
			for i := 0; i < l.typ.NumField(); i++ {
				sf := l.typ.Field(i)
				if !sf.IsExported() && !sf.Anonymous {
					continue
				}
				tag := ParseTag(sf.Tag)
				if tag.Ignore {
					continue
				}
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				index := append(l.index[:len(l.index):len(l.index)], i)
				if sf.Anonymous && tag.Name == "" && ft.Kind() == reflect.Struct {
					nextCount[ft]++
					if nextCount[ft] == 1 {
						next = append(next, level{typ: ft, index: index, path: l.path + sf.Name + "."})
					}
					continue
				}
				f := Field{Name: sf.Name, Index: index, GoPath: l.path + sf.Name, Type: sf.Type, Tag: tag, Exported: sf.IsExported()}
				if tag.Name != "" {
					f.Name, f.FromTag = tag.Name, true
				}
				found = append(found, f)
				if count[l.typ] > 1 {
					// The same embedded type twice at one depth: a second
					// copy makes the name clash below.
					found = append(found, f)
				}
			}
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		a, c := found[i], found[j]
		if a.Name != c.Name {
			return a.Name < c.Name
		}
		if len(a.Index) != len(c.Index) {
			return len(a.Index) < len(c.Index)
		}
		if a.FromTag != c.FromTag {
			return a.FromTag
		}
		return IndexLess(a.Index, c.Index)
	})
	var visible []Field
	for i := 0; i < len(found); {
		j := i + 1
		for j < len(found) && found[j].Name == found[i].Name {
			j++
		}
		if f, ok := dominant(found[i:j]); ok {
			visible = append(visible, f)
		}
		i = j
	}
	sort.Slice(visible, func(i, j int) bool { return IndexLess(visible[i].Index, visible[j].Index) })
	return visible
}

// dominant picks the field a group of same-named fields resolves to.
func dominant(fs []Field) (Field, bool) {
	depth := len(fs[0].Index)
	tagged := -1
	for i, f := range fs {
		if len(f.Index) > depth {
			fs = fs[:i]
			break
		}
		if f.FromTag {
			if tagged >= 0 {
				return Field{}, false
			}
			tagged = i
		}
	}
	if tagged >= 0 {
		return fs[tagged], true
	}
	if len(fs) > 1 {
		return Field{}, false
	}
	return fs[0], true
}

// IndexLess orders index sequences as the fields appear in the struct.
func IndexLess(a, b []int) bool {
	for k, x := range a {
		if k >= len(b) {
			return false
		}
		if x != b[k] {
			return x < b[k]
		}
	}
	return len(a) < len(b)
}

// In returns the field of the addressable struct value v, allocating nil
// embedded pointers on the way, as a decoder does. It returns false when
// the field cannot be set: it is unexported, or a nil embedded pointer on
// the way is.
func (f Field) In(v reflect.Value) (reflect.Value, bool) {
	if !f.Exported {
		return reflect.Value{}, false
	}
	for k, x := range f.Index {
		if k > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, v.CanSet()
}
