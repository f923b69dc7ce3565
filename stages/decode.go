package stages

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/nanopipe/nanopipe/internal/avfields"
	"github.com/nanopipe/nanopipe/pipeline"
)

// rowType describes how rows become values of T: for a struct, which
// field each column name fills.
type rowType struct {
	typ    reflect.Type
	isMap  bool                 // map[string]string or map[string]any
	fields map[string]fieldInfo // column name (exact) -> field
	folded map[string]fieldInfo // lower-cased column name -> field
	attrs  map[string]bool      // attribute names the item will have
	byAttr map[string]string    // attribute name -> Go field path
}

type fieldInfo struct {
	field avfields.Field
	typ   reflect.Type
	name  string // Go field path, for messages
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// newRowType inspects T. Columns match a field by its `csv` tag, else the
// name of its `dynamodbav` tag, else its Go name; an exact match wins over
// one that ignores case.
func newRowType[T any]() (*rowType, error) {
	t := reflect.TypeFor[T]()
	rt := &rowType{typ: t, fields: map[string]fieldInfo{}, folded: map[string]fieldInfo{}, attrs: map[string]bool{}, byAttr: map[string]string{}}
	switch {
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String &&
		(t.Elem().Kind() == reflect.String || t.Elem().Kind() == reflect.Interface && t.Elem().NumMethod() == 0):
		rt.isMap = true
		return rt, nil
	case t.Kind() != reflect.Struct:
		return nil, fmt.Errorf("row type %v is neither a struct nor map[string]any / map[string]string", t)
	}
	rt.walk(t)
	return rt, nil
}

// walk maps the attributes of struct t (package avfields: attributevalue's
// rules, embedded structs included) to columns: a field's `csv` tag, else
// its attribute name; "-" leaves the field out of the columns, though the
// item still has the attribute.
func (rt *rowType) walk(t reflect.Type) {
	for _, f := range avfields.Of(t) {
		if !f.Exported {
			continue
		}
		rt.attrs[f.Name] = true
		rt.byAttr[f.Name] = f.GoPath
		sf := t.FieldByIndex(f.Index[:1])
		for _, x := range f.Index[1:] {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			sf = ft.Field(x)
		}
		col := sf.Tag.Get("csv")
		if col == "-" {
			continue
		}
		if col == "" {
			col = f.Name
		}
		fi := fieldInfo{field: f, typ: f.Type, name: f.GoPath}
		if _, dup := rt.fields[col]; !dup {
			rt.fields[col] = fi
		}
		if _, dup := rt.folded[strings.ToLower(col)]; !dup {
			rt.folded[strings.ToLower(col)] = fi
		}
	}
}

// checkKeys reports a key attribute of the table that T cannot hold.
func (rt *rowType) checkKeys(t *pipeline.Table) error {
	if rt.isMap {
		return nil
	}
	if reflect.PointerTo(rt.typ).Implements(reflect.TypeFor[interface {
		MarshalDynamoDBAttributeValue() (any, error)
	}]()) {
		return nil
	}
	for _, k := range tableKeys(t) {
		if !rt.attrs[k.Name] {
			return fmt.Errorf("row type %v has no field for key attribute %q of table %s; add one tagged `dynamodbav:%q`", rt.typ, k.Name, t.Name(), k.Name)
		}
	}
	return nil
}

// columns maps a header to fields; columns without a field are returned
// as unknown.
func (rt *rowType) columns(header []string) (cols []*fieldInfo, unknown []string) {
	cols = make([]*fieldInfo, len(header))
	if rt.isMap {
		return cols, nil
	}
	for i, h := range header {
		if fi, ok := rt.fields[h]; ok {
			cols[i] = &fi
		} else if fi, ok := rt.folded[strings.ToLower(h)]; ok {
			cols[i] = &fi
		} else {
			unknown = append(unknown, h)
		}
	}
	return cols, unknown
}

// hasColumnFor reports whether a header has a column that fills the
// attribute.
func (rt *rowType) hasColumnFor(attr string, header []string, cols []*fieldInfo) bool {
	if rt.isMap {
		for _, h := range header {
			if h == attr {
				return true
			}
		}
		return false
	}
	field, ok := rt.byAttr[attr]
	if !ok {
		return true // a custom marshaller: the rows will tell
	}
	for _, c := range cols {
		if c != nil && c.name == field {
			return true
		}
	}
	return false
}

// fromCells builds a T from the cells of a delimited row. Empty cells
// leave their field at its zero value.
func fromCells[T any](rt *rowType, header []string, cols []*fieldInfo, cells []string) (T, error) {
	var out T
	if rt.isMap {
		v := reflect.MakeMapWithSize(rt.typ, len(header))
		for i, h := range header {
			v.SetMapIndex(reflect.ValueOf(h), reflect.ValueOf(cells[i]).Convert(rt.typ.Elem()))
		}
		reflect.ValueOf(&out).Elem().Set(v)
		return out, nil
	}
	root := reflect.ValueOf(&out).Elem()
	for i, fi := range cols {
		if fi == nil || cells[i] == "" {
			continue
		}
		v, ok := fi.field.In(root)
		if !ok {
			return out, fmt.Errorf("column %q: field %s cannot be set (it is reached through an unexported embedded pointer)", header[i], fi.name)
		}
		if err := setCell(v, cells[i]); err != nil {
			return out, fmt.Errorf("column %q: %w", header[i], err)
		}
	}
	return out, nil
}

func setCell(v reflect.Value, s string) error {
	if v.Kind() == reflect.Pointer {
		p := reflect.New(v.Type().Elem())
		if err := setCell(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshaler) {
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	if v.Type() == reflect.TypeFor[time.Time]() {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%q is not an RFC 3339 time", s)
		}
		v.Set(reflect.ValueOf(t))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not an integer of %d bits", s, v.Type().Bits())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not an unsigned integer of %d bits", s, v.Type().Bits())
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	case reflect.Interface:
		if v.NumMethod() != 0 {
			return fmt.Errorf("cannot fill %v from text", v.Type())
		}
		v.Set(reflect.ValueOf(s))
	default:
		// Lists, maps and structs: the cell holds their JSON.
		p := reflect.New(v.Type())
		if err := json.Unmarshal([]byte(s), p.Interface()); err != nil {
			return fmt.Errorf("%q is not the JSON of a %v", s, v.Type())
		}
		v.Set(p.Elem())
	}
	return nil
}
