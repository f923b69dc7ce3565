package ddbjson

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Unmarshal decodes a DynamoDB-JSON attribute map (an image of a stream
// record, or an item in DynamoDB JSON) into v, which must be a non-nil
// pointer, with the semantics of attributevalue.UnmarshalMap with default
// options. JSON null decodes as an empty map.
//
// Errors from the Go side of decoding wrap the error attributevalue would
// return (*attributevalue.UnmarshalTypeError, *strconv.NumError,
// *attributevalue.UnmarshalError, an Unmarshaler's own error) and name the
// attribute path; errors in the JSON are *SyntaxError.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &pathError{err: &attributevalue.InvalidUnmarshalError{Type: reflect.TypeOf(v)}}
	}
	d := decoder{scanner: scanner{data: data}}
	if null, err := d.null(); err != nil {
		return err
	} else if null {
		if err := d.end(); err != nil {
			return err
		}
		d.scanner = scanner{data: []byte("{}")}
	}
	if d.peek() != '{' {
		return d.unexpected("object")
	}
	err := d.top(planFor(rv.Type()), rv)
	if err == nil {
		err = d.end()
	}
	if err != nil {
		return topError(err)
	}
	return nil
}

// decoder decodes attribute values from the scanner into Go memory, driven
// by plans.
type decoder struct {
	scanner
	// arena holds the bytes of the short strings made so far. An image has
	// dozens of short strings; carving them out of a few shared chunks
	// instead of allocating each is a large part of the decoder's speed.
	// A chunk is never written again where a string points into it, and
	// it is small, so a kept string keeps little else alive.
	arena []byte
}

const (
	arenaChunk = 512 // bytes per chunk
	arenaMax   = 64  // longer strings get their own allocation
)

// string returns b as a new string, from the arena when it is short.
func (d *decoder) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaMax {
		return string(b)
	}
	if cap(d.arena)-len(d.arena) < len(b) {
		d.arena = make([]byte, 0, arenaChunk)
	}
	n := len(d.arena)
	d.arena = append(d.arena, b...)
	return unsafe.String(&d.arena[n], len(b))
}

// top decodes the attribute map at the start of the input into the value rv
// points to, as attributevalue.Decode does with an M value and a pointer.
func (d *decoder) top(p *plan, rv reflect.Value) error {
	switch p.kind {
	case kPtr:
		if p.ptrUnm {
			return d.callUnmarshaler(rv, tM)
		}
		return d.body(p.elem, rv.UnsafePointer(), false, tM)
	case kFallback:
		av, err := d.avBody(tM)
		if err != nil {
			return err
		}
		return unmarshalAV(av, rv.Interface())
	}
	// Only pointer types reach here; every one has a kPtr or kFallback plan.
	return fmt.Errorf("ddbjson: no plan for %s", p.t)
}

// value decodes a whole attribute value object into the value of plan p at
// ptr; asString is the field's `,string` tag option.
func (d *decoder) value(p *plan, ptr unsafe.Pointer, asString bool) error {
	t, err := d.openAV()
	if err != nil {
		return err
	}
	if d.depth++; d.depth > maxDepth {
		return d.errHere("nesting deeper than %d", maxDepth)
	}
	err = d.body(p, ptr, asString, t)
	d.depth--
	if err != nil {
		return err
	}
	return d.closeAV()
}

// body decodes the member of an attribute value object of type t. It
// follows attributevalue's decode: NULL and Unmarshalers first, then
// pointers (allocated as needed), then the conversion for the value type.
func (d *decoder) body(p *plan, ptr unsafe.Pointer, asString bool, t avType) error {
	if p.addrUnm {
		return d.callUnmarshaler(reflect.NewAt(p.t, ptr), t)
	}
	switch p.kind {
	case kFallback:
		return d.fallback(p, ptr, asString, t)
	case kIface:
		if *(*any)(ptr) != nil {
			// What attributevalue does with an interface that already
			// holds a value depends on that value: let it decide.
			return d.fallback(p, ptr, asString, t)
		}
	case kPtr:
		pp := (*unsafe.Pointer)(ptr)
		if t == tNULL {
			if _, err := d.avBool(t); err != nil {
				return err
			}
			*pp = nil
			return nil
		}
		if *pp == nil {
			*pp = reflect.New(p.elem.t).UnsafePointer()
		}
		if p.ptrUnm {
			return d.callUnmarshaler(reflect.NewAt(p.elem.t, *pp), t)
		}
		return d.body(p.elem, *pp, asString, t)
	}

	switch t {
	case tS:
		b, err := d.avString(t)
		if err != nil {
			return err
		}
		if asString {
			return d.numberInto(p, ptr, b)
		}
		return d.stringInto(p, ptr, b)
	case tN:
		b, err := d.avString(t)
		if err != nil {
			return err
		}
		return d.numberInto(p, ptr, b)
	case tB:
		b, err := d.avBinary(t)
		if err != nil {
			return err
		}
		return binaryInto(p, ptr, b)
	case tBOOL:
		b, err := d.avBool(t)
		if err != nil {
			return err
		}
		switch p.kind {
		case kBool:
			*(*bool)(ptr) = b
		case kIface:
			*(*any)(ptr) = b
		default:
			return typeError("bool", p.t)
		}
		return nil
	case tNULL:
		if _, err := d.avBool(t); err != nil {
			return err
		}
		clearValue(p, ptr)
		return nil
	case tL:
		if d.peek() != '[' {
			return d.typed(t, "an array")
		}
		switch p.kind {
		case kSlice, kByteSlice:
			return d.slice(p, ptr, t)
		case kArray:
			return d.array(p, ptr, t)
		case kIface:
			l, err := d.anyBody(t)
			*(*any)(ptr) = l
			return err
		}
		return typeError("list", p.t)
	case tM:
		if d.peek() != '{' {
			return d.typed(t, "an object")
		}
		switch p.kind {
		case kStruct:
			return d.structBody(p, ptr)
		case kMap:
			return d.mapBody(p, ptr)
		case kIface:
			m, err := d.anyBody(t)
			*(*any)(ptr) = m
			return err
		}
		return typeError("map", p.t)
	case tSS, tNS, tBS:
		if d.peek() != '[' {
			return d.typed(t, "an array")
		}
		switch p.kind {
		case kSlice, kByteSlice, kArray:
			if setUnmarshaler(p.elem) {
				return d.wholeSet(p, ptr, t)
			}
			if p.kind == kArray {
				return d.array(p, ptr, t)
			}
			return d.slice(p, ptr, t)
		case kIface:
			l, err := d.anyBody(t)
			*(*any)(ptr) = l
			return err
		}
		switch t {
		case tSS:
			return typeError("string set", p.t)
		case tNS:
			return typeError("number set", p.t)
		}
		return typeError("binary set", p.t)
	}
	return d.errHere("unknown attribute value type")
}

func typeError(what string, t reflect.Type) error {
	return &attributevalue.UnmarshalTypeError{Value: what, Type: t}
}

// clearValue stores the zero value, as attributevalue does for NULL.
func clearValue(p *plan, ptr unsafe.Pointer) {
	switch p.kind {
	case kString:
		*(*string)(ptr) = ""
	case kIface:
		*(*any)(ptr) = nil
	case kSlice, kByteSlice:
		*(*sliceHeader)(ptr) = sliceHeader{}
	case kMap, kPtr:
		*(*unsafe.Pointer)(ptr) = nil
	case kBool:
		*(*bool)(ptr) = false
	default:
		reflect.NewAt(p.t, ptr).Elem().SetZero()
	}
}

// stringInto stores an S value (or an element of an SS), like
// attributevalue's decodeString without the `,string` option.
func (d *decoder) stringInto(p *plan, ptr unsafe.Pointer, b []byte) error {
	if p.isTime {
		s := string(b)
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return &attributevalue.UnmarshalError{Err: err, Value: s, Type: timeType}
		}
		*(*time.Time)(ptr) = tm
		return nil
	}
	switch p.kind {
	case kString:
		*(*string)(ptr) = d.string(b)
	case kIface:
		*(*any)(ptr) = d.string(b)
	default:
		return typeError("string", p.t)
	}
	return nil
}

// view returns b as a string without copying, for parsing only: the result
// must not be retained (strconv copies what it keeps in its errors).
func view(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// numberInto stores the text of a number, like attributevalue's
// decodeNumber: the same parsing functions, overflow checks and errors.
func (d *decoder) numberInto(p *plan, ptr unsafe.Pointer, b []byte) error {
	switch p.kind {
	case kIface:
		f, err := strconv.ParseFloat(view(b), 64)
		if err != nil {
			return err
		}
		*(*any)(ptr) = f
	case kString:
		*(*string)(ptr) = d.string(b)
	case kInt:
		n, ok := parseInt(b)
		if !ok {
			var err error
			if n, err = strconv.ParseInt(view(b), 10, 64); err != nil {
				return err
			}
		}
		switch p.bits {
		case 64:
			*(*int64)(ptr) = n
		case 32:
			if n != int64(int32(n)) {
				return overflow(b, p.t)
			}
			*(*int32)(ptr) = int32(n)
		case 16:
			if n != int64(int16(n)) {
				return overflow(b, p.t)
			}
			*(*int16)(ptr) = int16(n)
		case 8:
			if n != int64(int8(n)) {
				return overflow(b, p.t)
			}
			*(*int8)(ptr) = int8(n)
		}
	case kUint:
		n, ok := parseUint(b)
		if !ok {
			var err error
			if n, err = strconv.ParseUint(view(b), 10, 64); err != nil {
				return err
			}
		}
		switch p.bits {
		case 64:
			*(*uint64)(ptr) = n
		case 32:
			if n > math.MaxUint32 {
				return overflow(b, p.t)
			}
			*(*uint32)(ptr) = uint32(n)
		case 16:
			if n > math.MaxUint16 {
				return overflow(b, p.t)
			}
			*(*uint16)(ptr) = uint16(n)
		case 8:
			if n > math.MaxUint8 {
				return overflow(b, p.t)
			}
			*(*uint8)(ptr) = uint8(n)
		}
	case kFloat64:
		f, err := strconv.ParseFloat(view(b), 64)
		if err != nil {
			return err
		}
		*(*float64)(ptr) = f
	case kFloat32:
		f, err := strconv.ParseFloat(view(b), 64)
		if err != nil {
			return err
		}
		if a := math.Abs(f); a > math.MaxFloat32 && a <= math.MaxFloat64 {
			return overflow(b, p.t)
		}
		*(*float32)(ptr) = float32(f)
	default:
		if !p.isTime {
			return typeError("number", p.t)
		}
		s := view(b)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return &attributevalue.UnmarshalError{Err: err, Value: strings.Clone(s), Type: timeType}
		}
		*(*time.Time)(ptr) = time.Unix(n, 0)
	}
	return nil
}

func overflow(b []byte, t reflect.Type) error {
	return &attributevalue.UnmarshalTypeError{Value: "number overflow, " + string(b), Type: t}
}

// parseInt converts a plain decimal of up to 18 digits; anything else is
// left to strconv, which also makes the errors.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		c -= '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int64(c)
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseUint is parseInt for unsigned numbers (no sign accepted).
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		c -= '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + uint64(c)
	}
	return n, true
}

// binaryInto stores a decoded B value (or an element of a BS), like
// attributevalue's decodeBinary. b is freshly allocated and may be kept.
func binaryInto(p *plan, ptr unsafe.Pointer, b []byte) error {
	switch p.kind {
	case kIface:
		*(*any)(ptr) = b
		return nil
	case kByteSlice:
		dst := (*[]byte)(ptr)
		if *dst == nil || cap(*dst) < len(b) {
			*dst = b
		} else {
			*dst = (*dst)[:len(b)]
			copy(*dst, b)
		}
		return nil
	case kSlice:
		if !p.elemU8 {
			break
		}
		sh := (*sliceHeader)(ptr)
		if sh.data == nil || sh.cap < len(b) {
			// A named byte type: the memory of b can be used as is.
			sh.data, sh.len, sh.cap = unsafe.Pointer(unsafe.SliceData(b)), len(b), cap(b)
			if len(b) == 0 {
				sh.data, sh.cap = p.emptySlice, 0
			}
			return nil
		}
		sh.len = len(b)
		copy(unsafe.Slice((*byte)(sh.data), len(b)), b)
		return nil
	case kArray:
		if !p.elemU8 {
			break
		}
		if p.arrayLen != len(b) {
			// attributevalue panics here (reflect.Value.SetLen on an array).
			return &attributevalue.UnmarshalTypeError{Value: fmt.Sprintf("binary of %d bytes", len(b)), Type: p.t}
		}
		copy(unsafe.Slice((*byte)(ptr), len(b)), b)
		return nil
	}
	return typeError("binary", p.t)
}

// sliceHeader is the memory layout of a slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// grow gives the slice at sh room for at least one more element, keeping
// its elements.
func (p *plan) grow(sh *sliceHeader) {
	c := 2 * sh.cap
	if c < 4 {
		c = 4
	}
	nv := reflect.MakeSlice(p.t, c, c)
	if sh.len > 0 {
		reflect.Copy(nv, reflect.NewAt(p.t, unsafe.Pointer(sh)).Elem())
	}
	sh.data, sh.cap = nv.UnsafePointer(), c
}

// elem decodes one element of an L (a whole attribute value) or of a set
// (a string).
func (d *decoder) elem(p *plan, ptr unsafe.Pointer, t avType) error {
	if t == tL {
		return d.value(p, ptr, false)
	}
	return d.setElem(p, ptr, t)
}

// slice decodes an L or a set into a slice. A nil slice grows as elements
// arrive; an existing one is reused the way attributevalue reuses it, which
// needs the element count first.
func (d *decoder) slice(p *plan, ptr unsafe.Pointer, t avType) error {
	sh := (*sliceHeader)(ptr)
	if sh.data != nil {
		return d.reuseSlice(p, sh, t)
	}
	has, err := d.openArray()
	if err != nil {
		return err
	}
	if !has {
		sh.data = p.emptySlice
		return nil
	}
	es := p.elem.size
	for i := 0; ; i++ {
		if i == sh.cap {
			p.grow(sh)
		}
		sh.len = i + 1
		if err := d.elem(p.elem, unsafe.Add(sh.data, uintptr(i)*es), t); err != nil {
			return wrapIndex(err, i)
		}
		more, err := d.more(']')
		if err != nil || !more {
			return err
		}
	}
}

func (d *decoder) reuseSlice(p *plan, sh *sliceHeader, t avType) error {
	start := d.pos
	n, err := d.count()
	if err != nil {
		return err
	}
	d.pos = start
	if n == 0 {
		// attributevalue leaves a non-nil slice untouched for an empty list.
		return d.skip()
	}
	if sh.cap < n {
		sh.data, sh.len, sh.cap = reflect.MakeSlice(p.t, n, n).UnsafePointer(), 0, n
	}
	if _, err := d.openArray(); err != nil {
		return err
	}
	es := p.elem.size
	for i := 0; i < n; i++ {
		sh.len = i + 1
		if err := d.elem(p.elem, unsafe.Add(sh.data, uintptr(i)*es), t); err != nil {
			return wrapIndex(err, i)
		}
		if _, err := d.more(']'); err != nil {
			return err
		}
	}
	return nil
}

// count counts the elements of the array at pos, consuming it.
func (d *decoder) count() (int, error) {
	has, err := d.openArray()
	n := 0
	for has && err == nil {
		if err = d.skip(); err != nil {
			break
		}
		n++
		has, err = d.more(']')
	}
	return n, err
}

// array decodes an L or a set into an array: extra elements are ignored and
// missing ones leave the array's elements as they were.
func (d *decoder) array(p *plan, ptr unsafe.Pointer, t avType) error {
	has, err := d.openArray()
	es := p.elem.size
	for i := 0; has && err == nil; i++ {
		if i < p.arrayLen {
			if err = d.elem(p.elem, unsafe.Add(ptr, uintptr(i)*es), t); err != nil {
				return wrapIndex(err, i)
			}
		} else if err = d.skip(); err != nil {
			return err
		}
		has, err = d.more(']')
	}
	return err
}

// setUnmarshaler reports whether attributevalue finds an Unmarshaler on a
// set element of plan p, which it then calls once with the whole set.
func setUnmarshaler(p *plan) bool {
	if p.addrUnm {
		return true
	}
	for ; p.kind == kPtr; p = p.elem {
		if p.ptrUnm {
			return true
		}
	}
	return false
}

// wholeSet hands a whole set to the Unmarshaler of the first element, as
// attributevalue does (with its default FixUnmarshalIndividualSetValues off).
func (d *decoder) wholeSet(p *plan, ptr unsafe.Pointer, t avType) error {
	av, err := d.avBody(t)
	if err != nil {
		return err
	}
	var n int
	switch v := av.(type) {
	case *types.AttributeValueMemberSS:
		n = len(v.Value)
	case *types.AttributeValueMemberNS:
		n = len(v.Value)
	case *types.AttributeValueMemberBS:
		n = len(v.Value)
	}
	ep := ptr
	if p.kind != kArray {
		sh := (*sliceHeader)(ptr)
		if sh.data == nil || sh.cap < n {
			sh.data, sh.len, sh.cap = reflect.MakeSlice(p.t, n, n).UnsafePointer(), 0, n
		}
		if n == 0 {
			return nil
		}
		sh.len = 1
		ep = sh.data
	} else if n == 0 || p.arrayLen == 0 {
		return nil
	}
	q := p.elem
	if q.addrUnm {
		return callUnmarshalerAV(reflect.NewAt(q.t, ep), av)
	}
	for ; q.kind == kPtr; q = q.elem {
		pp := (*unsafe.Pointer)(ep)
		if *pp == nil {
			*pp = reflect.New(q.elem.t).UnsafePointer()
		}
		if q.ptrUnm {
			return callUnmarshalerAV(reflect.NewAt(q.elem.t, *pp), av)
		}
		ep = *pp
	}
	return nil // unreachable: setUnmarshaler(p.elem) was true
}

// setElem decodes one element of an SS, NS or BS, like the loop of
// attributevalue's decode*Set: pointers are allocated, then the element is
// converted as a lone S, N or B would be.
func (d *decoder) setElem(p *plan, ptr unsafe.Pointer, t avType) error {
	for p.kind == kPtr {
		pp := (*unsafe.Pointer)(ptr)
		if *pp == nil {
			*pp = reflect.New(p.elem.t).UnsafePointer()
		}
		ptr, p = *pp, p.elem
	}
	if t == tBS {
		b, err := d.avBinary(t)
		if err != nil {
			return err
		}
		if p.kind == kFallback || (p.kind == kIface && *(*any)(ptr) != nil) {
			return unmarshalAV(&types.AttributeValueMemberB{Value: b}, reflect.NewAt(p.t, ptr).Interface())
		}
		return binaryInto(p, ptr, b)
	}
	b, err := d.avString(t)
	if err != nil {
		return err
	}
	if p.kind == kFallback || (p.kind == kIface && *(*any)(ptr) != nil) {
		var av types.AttributeValue = &types.AttributeValueMemberS{Value: string(b)}
		if t == tNS {
			av = &types.AttributeValueMemberN{Value: string(b)}
		}
		return unmarshalAV(av, reflect.NewAt(p.t, ptr).Interface())
	}
	if t == tNS {
		return d.numberInto(p, ptr, b)
	}
	return d.stringInto(p, ptr, b)
}

// structBody decodes the object of an M value into a struct.
func (d *decoder) structBody(p *plan, ptr unsafe.Pointer) error {
	ft := p.fields
	has, err := d.openObject()
	hint := 0
	for has && err == nil {
		var k []byte
		if k, err = d.key(); err != nil {
			return err
		}
		i := ft.lookup(k, hint)
		if i < 0 {
			if err = d.skip(); err != nil {
				return err
			}
		} else {
			hint = i + 1
			f := &ft.fields[i]
			base := ptr
			if f.hops != nil {
				if base, err = f.walk(base); err != nil {
					return wrapPath(err, f.name)
				}
			}
			fp := unsafe.Add(base, f.offset)
			if f.ro {
				err = d.roValue(f, fp)
			} else {
				err = d.value(f.plan, fp, f.asString)
			}
			if err != nil {
				return wrapPath(err, f.name)
			}
		}
		has, err = d.more('}')
	}
	return err
}

// walk follows (allocating) the embedded pointers on the way to f.
func (f *field) walk(base unsafe.Pointer) (unsafe.Pointer, error) {
	for _, h := range f.hops {
		pp := (*unsafe.Pointer)(unsafe.Add(base, h.offset))
		if *pp == nil {
			if h.unexported {
				// attributevalue panics setting an unexported field.
				return nil, fmt.Errorf("cannot allocate unexported embedded *%s", h.elem)
			}
			*pp = reflect.New(h.elem).UnsafePointer()
		}
		base = *pp
	}
	return base, nil
}

// roValue decodes into an unexported embedded field, which reflect can
// only write through: a struct's own exported fields can be set, the field
// itself cannot.
func (d *decoder) roValue(f *field, ptr unsafe.Pointer) error {
	if f.plan.kind != kStruct || f.plan.isTime {
		return fmt.Errorf("cannot set unexported embedded field of type %s", f.plan.t)
	}
	t, err := d.openAV()
	if err != nil {
		return err
	}
	if t == tNULL {
		_, err = d.avBool(t) // attributevalue cannot zero it and leaves it
	} else {
		q := *f.plan
		q.addrUnm = false // reflect cannot call methods through the field
		err = d.body(&q, ptr, f.asString, t)
	}
	if err != nil {
		return err
	}
	return d.closeAV()
}

// mapBody decodes the object of an M value into a map.
func (d *decoder) mapBody(p *plan, ptr unsafe.Pointer) error {
	if p.keyErr != nil {
		return p.keyErr
	}
	mp := (*unsafe.Pointer)(ptr)
	if *mp == nil {
		*mp = reflect.MakeMap(p.t).UnsafePointer()
	}
	switch p.fast {
	case mfString:
		return fastMap(d, p, *(*map[string]string)(ptr))
	case mfAny:
		return fastMap(d, p, *(*map[string]any)(ptr))
	case mfInt:
		return fastMap(d, p, *(*map[string]int)(ptr))
	case mfInt64:
		return fastMap(d, p, *(*map[string]int64)(ptr))
	case mfFloat64:
		return fastMap(d, p, *(*map[string]float64)(ptr))
	case mfBool:
		return fastMap(d, p, *(*map[string]bool)(ptr))
	}
	mv := reflect.NewAt(p.t, ptr).Elem()
	kv := reflect.New(p.key.t)
	ev := reflect.New(p.elem.t)
	has, err := d.openObject()
	for has && err == nil {
		var k []byte
		if k, err = d.key(); err != nil {
			return err
		}
		kv.Elem().SetZero()
		switch p.key.kind {
		case kString:
			kv.Elem().SetString(d.string(k))
		case kBool:
			b, perr := strconv.ParseBool(view(k))
			if perr != nil {
				return keyError(k, p.key.t, perr)
			}
			kv.Elem().SetBool(b)
		default:
			if perr := d.numberInto(p.key, kv.UnsafePointer(), k); perr != nil {
				return keyError(k, p.key.t, perr)
			}
		}
		ev.Elem().SetZero()
		if err = d.value(p.elem, ev.UnsafePointer(), false); err != nil {
			return wrapPath(err, fmt.Sprint(kv.Elem().Interface()))
		}
		mv.SetMapIndex(kv.Elem(), ev.Elem())
		has, err = d.more('}')
	}
	return err
}

func keyError(k []byte, t reflect.Type, err error) error {
	return &attributevalue.UnmarshalTypeError{Value: fmt.Sprintf("map key %q", k), Type: t, Err: err}
}

// fastMap decodes into a map[string]V of a common V without reflection.
func fastMap[V any](d *decoder, p *plan, m map[string]V) error {
	var zero V
	tmp := new(V)
	has, err := d.openObject()
	for has && err == nil {
		var k []byte
		if k, err = d.key(); err != nil {
			return err
		}
		name := d.string(k)
		*tmp = zero
		if err = d.value(p.elem, unsafe.Pointer(tmp), false); err != nil {
			return wrapPath(err, name)
		}
		m[name] = *tmp
		has, err = d.more('}')
	}
	return err
}

// anyBody decodes the member of an attribute value of type t into the
// types attributevalue gives an empty interface.
func (d *decoder) anyBody(t avType) (any, error) {
	if d.depth++; d.depth > maxDepth {
		return nil, d.errHere("nesting deeper than %d", maxDepth)
	}
	defer func() { d.depth-- }()
	switch t {
	case tS:
		b, err := d.avString(t)
		if err != nil {
			return nil, err
		}
		return d.string(b), nil
	case tN:
		b, err := d.avString(t)
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(view(b), 64)
		if err != nil {
			return nil, err
		}
		return f, nil
	case tB:
		b, err := d.avBinary(t)
		if err != nil {
			return nil, err
		}
		return b, nil
	case tBOOL:
		b, err := d.avBool(t)
		if err != nil {
			return nil, err
		}
		return b, nil
	case tNULL:
		_, err := d.avBool(t)
		return nil, err
	case tL:
		if d.peek() != '[' {
			return nil, d.typed(t, "an array")
		}
		l := []any{}
		has, err := d.openArray()
		for i := 0; has && err == nil; i++ {
			var at avType
			if at, err = d.openAV(); err != nil {
				return nil, err
			}
			var v any
			if v, err = d.anyBody(at); err != nil {
				return nil, wrapIndex(err, i)
			}
			if err = d.closeAV(); err != nil {
				return nil, err
			}
			l = append(l, v)
			has, err = d.more(']')
		}
		if err != nil {
			return nil, err
		}
		return l, nil
	case tM:
		if d.peek() != '{' {
			return nil, d.typed(t, "an object")
		}
		m := map[string]any{}
		has, err := d.openObject()
		for has && err == nil {
			var k []byte
			if k, err = d.key(); err != nil {
				return nil, err
			}
			name := d.string(k)
			var at avType
			if at, err = d.openAV(); err != nil {
				return nil, err
			}
			var v any
			if v, err = d.anyBody(at); err != nil {
				return nil, wrapPath(err, name)
			}
			if err = d.closeAV(); err != nil {
				return nil, err
			}
			m[name] = v
			has, err = d.more('}')
		}
		if err != nil {
			return nil, err
		}
		return m, nil
	case tSS, tNS:
		if d.peek() != '[' {
			return nil, d.typed(t, "an array of strings")
		}
		var ss []string
		var ns []float64
		if t == tSS {
			ss = []string{}
		} else {
			ns = []float64{}
		}
		has, err := d.openArray()
		for has && err == nil {
			var b []byte
			if b, err = d.avString(t); err != nil {
				return nil, err
			}
			if t == tSS {
				ss = append(ss, d.string(b))
			} else {
				f, perr := strconv.ParseFloat(view(b), 64)
				if perr != nil {
					return nil, perr
				}
				ns = append(ns, f)
			}
			has, err = d.more(']')
		}
		if err != nil {
			return nil, err
		}
		if t == tSS {
			return ss, nil
		}
		return ns, nil
	case tBS:
		av, err := d.avBody(t)
		if err != nil {
			return nil, err
		}
		return av.(*types.AttributeValueMemberBS).Value, nil
	}
	return nil, d.errHere("unknown attribute value type")
}

// callUnmarshaler builds the types.AttributeValue of the member of type t
// and hands it to the Unmarshaler that ptr (a pointer Value) implements.
func (d *decoder) callUnmarshaler(ptr reflect.Value, t avType) error {
	av, err := d.avBody(t)
	if err != nil {
		return err
	}
	return callUnmarshalerAV(ptr, av)
}

func callUnmarshalerAV(ptr reflect.Value, av types.AttributeValue) error {
	return ptr.Interface().(attributevalue.Unmarshaler).UnmarshalDynamoDBAttributeValue(av)
}

// fallback decodes the member of type t through attributevalue itself.
func (d *decoder) fallback(p *plan, ptr unsafe.Pointer, asString bool, t avType) error {
	av, err := d.avBody(t)
	if err != nil {
		return err
	}
	if s, ok := av.(*types.AttributeValueMemberS); ok && asString {
		// With `,string`, attributevalue decodes an S exactly as an N.
		av = &types.AttributeValueMemberN{Value: s.Value}
	}
	return unmarshalAV(av, reflect.NewAt(p.t, ptr).Interface())
}

// unmarshalAV runs attributevalue.Unmarshal, turning its panics (it has
// some on odd targets) into errors.
func unmarshalAV(av types.AttributeValue, out any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("attributevalue panicked decoding %T into %T: %v", av, out, r)
		}
	}()
	return attributevalue.Unmarshal(av, out)
}

// pathError is a decoding error with the attribute path where it happened.
type pathError struct {
	segs []string // innermost first; list indexes as "[i]"
	err  error
}

// Error implements error.
func (e *pathError) Error() string {
	var b strings.Builder
	if len(e.segs) == 0 {
		b.WriteString("ddbjson: unmarshal item: ")
	} else {
		b.WriteString("ddbjson: unmarshal attribute ")
		for i := len(e.segs) - 1; i >= 0; i-- {
			s := e.segs[i]
			if i != len(e.segs)-1 && !strings.HasPrefix(s, "[") {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.err.Error())
	return b.String()
}

// Unwrap returns the error attributevalue would have returned.
func (e *pathError) Unwrap() error { return e.err }

// wrapPath adds a path segment to an error on its way up.
func wrapPath(err error, seg string) error {
	switch e := err.(type) {
	case *SyntaxError:
		return err
	case *pathError:
		e.segs = append(e.segs, seg)
		return e
	}
	return &pathError{segs: []string{seg}, err: err}
}

func wrapIndex(err error, i int) error {
	return wrapPath(err, "["+strconv.Itoa(i)+"]")
}

func topError(err error) error {
	switch err.(type) {
	case *SyntaxError, *pathError:
		return err
	}
	return &pathError{err: err}
}
