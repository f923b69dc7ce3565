package ddbjson

import (
	"bytes"
	"encoding"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/nanopipe/nanopipe/internal/avfields"
)

// planKind is what the decoder does with a Go type.
type planKind uint8

const (
	kOther     planKind = iota // complex, chan, func, uintptr, unsafe.Pointer: only NULL fits
	kBool                      // bool kinds
	kInt                       // int kinds; bits says which
	kUint                      // uint kinds except uintptr
	kFloat32                   // float32 kinds
	kFloat64                   // float64 kinds
	kString                    // string kinds
	kByteSlice                 // exactly []byte
	kSlice                     // other slices
	kArray                     // arrays
	kMap                       // maps with string, number or bool keys
	kStruct                    // structs, including time.Time (isTime)
	kPtr                       // unnamed pointer types
	kIface                     // empty interfaces
	kFallback                  // decoded by attributevalue from a types.AttributeValue
)

// mapFast names map types with a typed fast path.
type mapFast uint8

const (
	mfNone mapFast = iota
	mfString
	mfAny
	mfInt
	mfInt64
	mfFloat64
	mfBool
)

// plan says how to decode into one Go type. Plans are built once per type,
// cached, and never modified after they are published.
type plan struct {
	t    reflect.Type
	kind planKind
	size uintptr
	bits int // kInt, kUint: width in bits

	// addrUnm: the type is named, not a pointer, and its pointer implements
	// attributevalue.Unmarshaler, which attributevalue then calls on the
	// address of the value for every attribute value, NULL included.
	addrUnm bool
	// ptrUnm (kPtr): the pointer type implements Unmarshaler; attributevalue
	// allocates the pointee and calls it, except for NULL.
	ptrUnm bool
	// isTime: the type converts to time.Time, so S values parse as RFC 3339
	// and N values as epoch seconds.
	isTime bool

	elem       *plan          // kPtr: pointee; kSlice, kByteSlice, kArray: element; kMap: value
	elemU8     bool           // kSlice, kArray: the element kind is uint8 (binary targets)
	arrayLen   int            // kArray
	emptySlice unsafe.Pointer // kSlice, kByteSlice: data of a non-nil empty slice
	key        *plan          // kMap: key
	keyErr     error          // kMap: the key kind is unsupported
	fast       mapFast        // kMap
	fields     *fieldTable    // kStruct
}

// field is one decodable field of a struct, after the embedding rules.
type field struct {
	name     string
	plan     *plan
	offset   uintptr // from the struct, or from the last embedded pointer in hops
	hops     []hop   // embedded pointers on the way to the field
	asString bool    // `dynamodbav:",string"`
	ro       bool    // an unexported embedded field: reflect cannot set it
	ascii    bool    // the name is all ASCII
}

// hop is an embedded pointer to a struct on the path to a promoted field.
type hop struct {
	offset     uintptr // of the pointer field, from the previous base
	elem       reflect.Type
	unexported bool // attributevalue panics when it must allocate it
}

// fieldTable holds the fields of a struct in declaration order, with an
// index by exact name: an open-addressing table on a hash of the length
// and two bytes of the name, cheaper than a Go map for short names.
type fieldTable struct {
	fields []field
	slots  []int32 // field index + 1, 0 for empty; len is a power of two
}

func nameHash(name []byte) uint {
	if len(name) == 0 {
		return 0
	}
	return uint(len(name))*0x9e37 ^ uint(name[0])*0x3b ^ uint(name[len(name)-1])*0x1f3
}

func (ft *fieldTable) index() {
	n := 8
	for n < 2*len(ft.fields) {
		n *= 2
	}
	ft.slots = make([]int32, n)
	for i := range ft.fields {
		h := nameHash([]byte(ft.fields[i].name))
		for ft.slots[h&uint(n-1)] != 0 {
			h++
		}
		ft.slots[h&uint(n-1)] = int32(i + 1)
	}
}

// lookup finds the field for an attribute name as attributevalue does: the
// exact name first, then the first field whose name matches under Unicode
// case folding. hint is the field to try first.
func (ft *fieldTable) lookup(name []byte, hint int) int {
	if hint < len(ft.fields) && ft.fields[hint].name == string(name) {
		return hint
	}
	mask := uint(len(ft.slots) - 1)
	for h := nameHash(name); ; h++ {
		j := ft.slots[h&mask]
		if j == 0 {
			break
		}
		if ft.fields[j-1].name == string(name) {
			return int(j - 1)
		}
	}
	// Unicode folding can change lengths (the Kelvin sign folds to k), but
	// two ASCII names of different lengths never match.
	ascii := isASCII(name)
	for i := range ft.fields {
		f := &ft.fields[i]
		if ascii && f.ascii && len(f.name) != len(name) {
			continue
		}
		if bytes.EqualFold([]byte(f.name), name) {
			return i
		}
	}
	return -1
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

var (
	unmarshalerType     = reflect.TypeFor[attributevalue.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType            = reflect.TypeFor[time.Time]()
	byteSliceType       = reflect.TypeFor[[]byte]()
	stringType          = reflect.TypeFor[string]()
	anyType             = reflect.TypeFor[any]()
)

var (
	plans  sync.Map // reflect.Type → *plan
	planMu sync.Mutex
)

// planFor returns the plan for t, building and caching it on first use.
func planFor(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	planMu.Lock()
	defer planMu.Unlock()
	b := planBuilder{building: map[reflect.Type]*plan{}}
	p := b.plan(t)
	// Publish only complete plans: a recursive type's plan refers to
	// itself and is finished only now.
	for t, p := range b.building {
		plans.Store(t, p)
	}
	return p
}

type planBuilder struct {
	building map[reflect.Type]*plan
}

func (b *planBuilder) plan(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	if p, ok := b.building[t]; ok {
		return p
	}
	p := &plan{t: t, size: t.Size()}
	b.building[t] = p
	if t.Kind() != reflect.Pointer && t.Name() != "" && reflect.PointerTo(t).Implements(unmarshalerType) {
		p.addrUnm = true
	}
	switch t.Kind() {
	case reflect.Bool:
		p.kind = kBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.kind, p.bits = kInt, t.Bits()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		p.kind, p.bits = kUint, t.Bits()
	case reflect.Float32:
		p.kind = kFloat32
	case reflect.Float64:
		p.kind = kFloat64
	case reflect.String:
		p.kind = kString
	case reflect.Interface:
		// Only the empty interface has a fast path: attributevalue panics
		// storing a string or a map into any other interface type.
		if t.NumMethod() == 0 {
			p.kind = kIface
		} else {
			p.kind = kFallback
		}
	case reflect.Pointer:
		// attributevalue does not look for an Unmarshaler on the pointee of
		// a named pointer type; rather than model that, let it decode.
		if t.Name() != "" {
			p.kind = kFallback
			break
		}
		p.kind = kPtr
		p.ptrUnm = t.Implements(unmarshalerType)
		p.elem = b.plan(t.Elem())
	case reflect.Slice:
		p.kind = kSlice
		if t == byteSliceType {
			p.kind = kByteSlice
		}
		p.elem = b.plan(t.Elem())
		p.elemU8 = t.Elem().Kind() == reflect.Uint8
		p.emptySlice = reflect.MakeSlice(t, 0, 0).UnsafePointer()
	case reflect.Array:
		p.kind = kArray
		p.elem = b.plan(t.Elem())
		p.elemU8 = t.Elem().Kind() == reflect.Uint8
		p.arrayLen = t.Len()
	case reflect.Map:
		kt := t.Key()
		if reflect.PointerTo(kt).Implements(textUnmarshalerType) || kt.Implements(textUnmarshalerType) {
			p.kind = kFallback
			break
		}
		p.kind = kMap
		switch kt.Kind() {
		case reflect.Bool, reflect.String,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			p.key = b.plan(kt)
		default:
			p.keyErr = &attributevalue.UnmarshalTypeError{
				Value: "map key must be string, number, bool, or TextUnmarshaler",
				Type:  kt,
			}
		}
		p.elem = b.plan(t.Elem())
		if kt == stringType {
			switch t.Elem() {
			case stringType:
				p.fast = mfString
			case anyType:
				p.fast = mfAny
			case reflect.TypeFor[int]():
				p.fast = mfInt
			case reflect.TypeFor[int64]():
				p.fast = mfInt64
			case reflect.TypeFor[float64]():
				p.fast = mfFloat64
			case reflect.TypeFor[bool]():
				p.fast = mfBool
			}
		}
	case reflect.Struct:
		p.kind = kStruct
		p.isTime = t.ConvertibleTo(timeType)
		p.fields = b.fieldTable(t)
	default:
		p.kind = kOther
	}
	return p
}

// fieldTable lists the fields attributevalue decodes into, with its
// rules for names (package avfields): exported fields and those promoted
// from embedded structs, through pointers too.
func (b *planBuilder) fieldTable(t reflect.Type) *fieldTable {
	ft := &fieldTable{}
	for _, f := range avfields.Of(t) {
		ft.fields = append(ft.fields, b.field(t, f))
	}
	ft.index()
	return ft
}

// field resolves the memory path of a candidate field of struct t.
func (b *planBuilder) field(t reflect.Type, c avfields.Field) field {
	f := field{name: c.Name, asString: c.Tag.AsString, ascii: isASCII([]byte(c.Name))}
	cur := t
	for k, x := range c.Index {
		if k > 0 && cur.Kind() == reflect.Pointer && cur.Elem().Kind() == reflect.Struct {
			// The previous step was an embedded pointer: it is allocated
			// (when nil) and followed.
			cur = cur.Elem()
		}
		sf := cur.Field(x)
		f.offset += sf.Offset
		last := k == len(c.Index)-1
		if !last && sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct {
			f.hops = append(f.hops, hop{offset: f.offset, elem: sf.Type.Elem(), unexported: !sf.IsExported()})
			f.offset = 0
		}
		if last && !sf.IsExported() {
			f.ro = true
		}
		cur = sf.Type
	}
	f.plan = b.plan(cur)
	return f
}
