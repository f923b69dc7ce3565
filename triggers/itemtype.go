package triggers

// Checking filters against the Go type a stage decodes items into, with
// attributevalue's rules for naming and encoding struct fields.

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// CheckItemType verifies the filters against the Go type T that the
// stage decodes items into: every NewImage and OldImage condition must name
// an attribute T has, as attributevalue names them (the dynamodbav tag,
// else the field name; "-" skipped; embedded structs flattened), and test
// it with the type attributevalue stores it as. A filter on an attribute
// the items never have, or with another type, never matches, and Lambda
// drops the records it was meant to pass. Nested paths are followed
// through struct fields; maps, interfaces and types with their own
// MarshalDynamoDBAttributeValue are not checked, nor are item types that
// are not structs. Key conditions are not checked: T may leave keys out.
func (t *StreamTrigger) CheckItemType(item reflect.Type) error {
	item = derefItemType(item)
	if item == nil || item.Kind() != reflect.Struct || avCustomMarshal(item) {
		return nil
	}
	var errs []error
	for _, f := range t.Filters {
		for _, c := range f.conds {
			if c.attr.image == ImageKeys {
				continue
			}
			if err := checkItemCondition(item, c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func checkItemCondition(item reflect.Type, c Condition) error {
	typ := item
	for i, name := range c.attr.path {
		fields := avFields(typ)
		var fi *avField
		for j := range fields {
			if fields[j].name == name {
				fi = &fields[j]
				break
			}
		}
		if fi == nil {
			names := make([]string, len(fields))
			for j, f := range fields {
				names[j] = f.name
			}
			outcome := "a filter on a missing attribute never matches"
			if c.op == opMissing {
				outcome = "a Missing filter on an attribute the items never have always matches"
			}
			return fmt.Errorf("filter on %s: %s has no attribute %q (attributes: %s); %s", c.attr, typ, name, strings.Join(names, ", "), outcome)
		}
		enc := avEncodedAs(fi.typ, fi.tag)
		if !enc.known {
			return nil
		}
		if i < len(c.attr.path)-1 {
			if enc.letter != "M" {
				return fmt.Errorf("filter on %s: %s stores attribute %q (field %s %s) as %s, not as a map (M), so it has no nested attribute %q", c.attr, typ, name, fi.goName, fi.typ, enc.letter, c.attr.path[i+1])
			}
			next := derefItemType(fi.typ)
			if next.Kind() != reflect.Struct {
				return nil // a Go map: its keys are only known at run time
			}
			typ = next
			continue
		}
		want := c.Type()
		if want == TypeNull {
			if enc.nullable {
				return nil
			}
			return fmt.Errorf("filter on %s: %s tests for NULL, but %s stores attribute %q (field %s %s) as %s and never as NULL; make the field a pointer or tag it nullempty, or drop the condition", c.attr, c, typ, name, fi.goName, fi.typ, enc.letter)
		}
		if enc.letter == want {
			return nil
		}
		return fmt.Errorf("filter on %s: %s tests %s, but %s stores attribute %q (field %s %s) as %s; %s", c.attr, c, avTypeWords(want), typ, name, fi.goName, fi.typ, avTypeWords(enc.letter), avFixFor(enc.letter, c))
	}
	return nil
}

func avTypeWords(letter string) string {
	switch letter {
	case TypeString:
		return "a string (S)"
	case TypeNumber:
		return "a number (N)"
	case TypeBool:
		return "a boolean (BOOL)"
	case TypeBinary:
		return "binary (B)"
	case TypeNull:
		return "NULL"
	case "M":
		return "a map (M)"
	case "L":
		return "a list (L)"
	}
	return "a set (" + letter + ")"
}

func avFixFor(letter string, c Condition) string {
	switch letter {
	case TypeString:
		return "use Equals, OneOf, HasPrefix, HasSuffix, EqualsIgnoreCase or NoneOf"
	case TypeNumber:
		return "use IsNumber"
	case TypeBool:
		return "use IsTrue or IsFalse"
	case TypeBinary:
		return "use As(TypeBinary).Exists() or Missing()"
	case "M":
		return fmt.Sprintf("test a nested attribute, e.g. %s(%s, \"name\")", c.attr.image, quoteAttrPath(c.attr.path))
	}
	return "Lambda filters cannot test lists or sets; test the value in the stage"
}

type avField struct {
	name   string
	goName string
	typ    reflect.Type
	tag    avTag
	index  []int
	tagged bool
}

type avTag struct {
	name                                   string
	ignore, nullEmpty, asString, unixTime  bool
	stringSet, numberSet, binarySet, empty bool
}

func parseAVTag(st reflect.StructTag) avTag {
	raw, ok := st.Lookup("dynamodbav")
	if !ok || raw == "" {
		return avTag{empty: true}
	}
	parts := strings.Split(raw, ",")
	t := avTag{name: parts[0], ignore: parts[0] == "-"}
	for _, o := range parts[1:] {
		switch o {
		case "nullempty":
			t.nullEmpty = true
		case "string":
			t.asString = true
		case "unixtime":
			t.unixTime = true
		case "stringset":
			t.stringSet = true
		case "numberset":
			t.numberSet = true
		case "binaryset":
			t.binarySet = true
		}
	}
	return t
}

// avFields lists the attributes of a struct as attributevalue encodes
// them, in field order: exported fields by tag name or field name, fields
// tagged "-" left out, and untagged embedded structs flattened, with Go's
// rules for names that appear at several depths (the shallowest wins, a
// tagged one breaks a tie, otherwise the name is dropped).
func avFields(t reflect.Type) []avField {
	var all []avField
	type level struct {
		typ   reflect.Type
		index []int
	}
	seen := map[reflect.Type]bool{}
	next := []level{{typ: t}}
	for len(next) > 0 {
		current := next
		next = nil
		for _, l := range current {
			if seen[l.typ] {
				continue
			}
			seen[l.typ] = true
			for i := 0; i < l.typ.NumField(); i++ {
				sf := l.typ.Field(i)
				if !sf.IsExported() && !sf.Anonymous {
					continue
				}
				tag := parseAVTag(sf.Tag)
				if tag.ignore {
					continue
				}
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				index := append(append([]int(nil), l.index...), i)
				if sf.Anonymous && tag.name == "" && ft.Kind() == reflect.Struct {
					next = append(next, level{typ: ft, index: index})
					continue
				}
				if !sf.IsExported() {
					continue
				}
				name := sf.Name
				if tag.name != "" {
					name = tag.name
				}
				all = append(all, avField{name: name, goName: sf.Name, typ: sf.Type, tag: tag, index: index, tagged: tag.name != ""})
			}
		}
	}
	byName := map[string][]avField{}
	for _, f := range all {
		byName[f.name] = append(byName[f.name], f)
	}
	var out []avField
	for _, fs := range byName {
		depth := len(fs[0].index)
		for _, f := range fs {
			depth = min(depth, len(f.index))
		}
		var top []avField
		for _, f := range fs {
			if len(f.index) == depth {
				top = append(top, f)
			}
		}
		var tagged []avField
		for _, f := range top {
			if f.tagged {
				tagged = append(tagged, f)
			}
		}
		switch {
		case len(tagged) == 1:
			out = append(out, tagged[0])
		case len(tagged) == 0 && len(top) == 1:
			out = append(out, top[0])
		}
	}
	sort.Slice(out, func(i, j int) bool { return avIndexLess(out[i].index, out[j].index) })
	return out
}

func avIndexLess(a, b []int) bool {
	for i := range a {
		if i >= len(b) {
			return false
		}
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

type avEncoding struct {
	letter   string
	nullable bool
	known    bool
}

var filterTimeType = reflect.TypeFor[time.Time]()

// avEncodedAs says which DynamoDB type attributevalue's default encoder
// stores a Go type as.
func avEncodedAs(t reflect.Type, tag avTag) avEncoding {
	e := avEncoding{known: true, nullable: tag.nullEmpty}
	for t.Kind() == reflect.Pointer {
		e.nullable = true
		t = t.Elem()
	}
	if avCustomMarshal(t) {
		return avEncoding{}
	}
	number := func() avEncoding {
		if tag.asString {
			e.letter = TypeString
		} else {
			e.letter = TypeNumber
		}
		return e
	}
	switch {
	case t.ConvertibleTo(filterTimeType):
		// Encoders configured with their own EncodeTime are not known here.
		if tag.unixTime {
			e.letter = TypeNumber
		} else {
			e.letter = TypeString
		}
		return e
	case t.Kind() == reflect.String && avNumberLike(t):
		return number()
	}
	switch t.Kind() {
	case reflect.Bool:
		e.letter = TypeBool
	case reflect.String:
		e.letter = TypeString
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return number()
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice {
			e.nullable = true
		}
		elem := t.Elem()
		switch {
		case elem.Kind() == reflect.Uint8:
			e.letter = TypeBinary
		case tag.binarySet || elem.Kind() == reflect.Slice && elem.Elem().Kind() == reflect.Uint8:
			e.letter = "BS"
		case tag.numberSet:
			e.letter = "NS"
		case tag.stringSet:
			e.letter = "SS"
		default:
			e.letter = "L"
		}
	case reflect.Map:
		e.letter, e.nullable = "M", true
	case reflect.Struct:
		e.letter = "M"
	default:
		return avEncoding{} // interfaces are only known at run time
	}
	return e
}

func avNumberLike(t reflect.Type) bool {
	for _, m := range []string{"Float64", "Int64", "String"} {
		if _, ok := t.MethodByName(m); !ok {
			return false
		}
	}
	return true
}

func avCustomMarshal(t reflect.Type) bool {
	const m = "MarshalDynamoDBAttributeValue"
	if _, ok := t.MethodByName(m); ok {
		return true
	}
	_, ok := reflect.PointerTo(t).MethodByName(m)
	return ok
}

func derefItemType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
