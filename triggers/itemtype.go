package triggers

// Checking filters against the Go type a stage decodes items into, with
// attributevalue's rules for naming and encoding struct fields.

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/nanopipe/nanopipe/internal/avfields"
)

// checkItemType verifies the filters against the Go type T that the
// stage decodes items into: every NewImage and OldImage condition must name
// an attribute T has, as attributevalue names them (the dynamodbav tag,
// else the field name; "-" skipped; embedded structs flattened), and test
// it with the type attributevalue stores it as. A filter on an attribute
// the items never have, or with another type, never matches, and Lambda
// drops the records it was meant to pass. Nested paths are followed
// through struct fields; maps, interfaces and types with their own
// MarshalDynamoDBAttributeValue are not checked, nor are item types that
// are not structs. Key conditions are not checked: T may leave keys out.
func (t *StreamTrigger) checkItemType(item reflect.Type) error {
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
		var fi *avfields.Field
		for j := range fields {
			if fields[j].Name == name {
				fi = &fields[j]
				break
			}
		}
		if fi == nil {
			names := make([]string, len(fields))
			for j, f := range fields {
				names[j] = f.Name
			}
			outcome := "a filter on a missing attribute never matches"
			if c.op == opMissing {
				outcome = "a Missing filter on an attribute the items never have always matches"
			}
			return fmt.Errorf("filter on %s: %s has no attribute %q (attributes: %s); %s", c.attr, typ, name, strings.Join(names, ", "), outcome)
		}
		enc := avEncodedAs(fi.Type, fi.Tag)
		if !enc.known {
			return nil
		}
		if i < len(c.attr.path)-1 {
			if enc.letter != "M" {
				return fmt.Errorf("filter on %s: %s stores attribute %q (field %s %s) as %s, not as a map (M), so it has no nested attribute %q", c.attr, typ, name, fi.GoPath, fi.Type, enc.letter, c.attr.path[i+1])
			}
			next := derefItemType(fi.Type)
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
			return fmt.Errorf("filter on %s: %s tests for NULL, but %s stores attribute %q (field %s %s) as %s and never as NULL; make the field a pointer or tag it nullempty, or drop the condition", c.attr, c, typ, name, fi.GoPath, fi.Type, enc.letter)
		}
		if enc.letter == want {
			return nil
		}
		return fmt.Errorf("filter on %s: %s tests %s, but %s stores attribute %q (field %s %s) as %s; %s", c.attr, c, avTypeWords(want), typ, name, fi.GoPath, fi.Type, avTypeWords(enc.letter), avFixFor(enc.letter, c))
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

// avFields lists the attributes of a struct as attributevalue encodes
// them (package avfields), leaving out the rare unexported promoted field
// the encoder skips.
func avFields(t reflect.Type) []avfields.Field {
	var out []avfields.Field
	for _, f := range avfields.Of(t) {
		if f.Exported {
			out = append(out, f)
		}
	}
	return out
}

type avEncoding struct {
	letter   string
	nullable bool
	known    bool
}

var filterTimeType = reflect.TypeFor[time.Time]()

// avEncodedAs says which DynamoDB type attributevalue's default encoder
// stores a Go type as.
func avEncodedAs(t reflect.Type, tag avfields.Tag) avEncoding {
	e := avEncoding{known: true, nullable: tag.NullEmpty}
	for t.Kind() == reflect.Pointer {
		e.nullable = true
		t = t.Elem()
	}
	if avCustomMarshal(t) {
		return avEncoding{}
	}
	number := func() avEncoding {
		if tag.AsString {
			e.letter = TypeString
		} else {
			e.letter = TypeNumber
		}
		return e
	}
	switch {
	case t.ConvertibleTo(filterTimeType):
		// Encoders configured with their own EncodeTime are not known here.
		if tag.UnixTime {
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
		case tag.BinarySet || elem.Kind() == reflect.Slice && elem.Elem().Kind() == reflect.Uint8:
			e.letter = "BS"
		case tag.NumberSet:
			e.letter = "NS"
		case tag.StringSet:
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
