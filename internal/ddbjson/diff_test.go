package ddbjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/nanopipe/nanopipe/internal/avfields"
)

// The differential test generates items, writes them as DynamoDB JSON,
// and checks that Unmarshal gives what attributevalue.UnmarshalMap gives
// for the same JSON (converted with attributevalue.UnmarshalMapJSON): the
// same value, or an error from both.

type diffInner struct {
	A string
	B int
	C []string
	D map[string]int
	E *diffInner
}

type diffEmbedded struct {
	EmbA   string
	EmbB   int `dynamodbav:"emb_b"`
	Shadow string
}

type DiffEmbeddedPtr struct {
	PtrA string
	PtrB []int
}

type myStr string
type myInt int
type myBytes []byte
type myByte uint8
type myIface interface{}
type myTime time.Time

type textKey string

func (k *textKey) UnmarshalText(b []byte) error {
	if string(b) == "bad" {
		return errors.New("bad key")
	}
	*k = textKey("k-" + string(b))
	return nil
}

// recorder is an attributevalue.Unmarshaler that records what it was given.
type recorder struct{ Got string }

func (r *recorder) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		if v.Value == "fail" {
			return errors.New("recorder refuses fail")
		}
		r.Got = "S:" + v.Value
	case *types.AttributeValueMemberN:
		r.Got = "N:" + v.Value
	case *types.AttributeValueMemberNULL:
		r.Got = "NULL"
	case *types.AttributeValueMemberSS:
		r.Got = "SS:" + strings.Join(v.Value, ",")
	case *types.AttributeValueMemberNS:
		r.Got = "NS:" + strings.Join(v.Value, ",")
	case *types.AttributeValueMemberM:
		keys := make([]string, 0, len(v.Value))
		for k := range v.Value {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		r.Got = "M:" + strings.Join(keys, ",")
	default:
		r.Got = fmt.Sprintf("%T", av)
	}
	return nil
}

type diffAll struct {
	S        string `dynamodbav:"s"`
	N        int    `dynamodbav:"n,omitempty"`
	I8       int8
	I16      int16
	I32      int32
	I64      int64
	U        uint
	U8       uint8
	U16      uint16
	U32      uint32
	U64      uint64
	F32      float32
	F64      float64
	Bin      []byte
	MyBin    myBytes
	MyBytes  []myByte
	BArr     [4]byte
	Bool     bool
	PS       *string
	PN       *int
	PP       **int
	L        []any
	LS       []string
	LI       []int
	LP       []*int
	LL       [][]string
	Arr      [3]int
	M        map[string]any
	MS       map[string]string
	MI       map[string]int
	MKInt    map[int]string
	MKUint   map[uint8]bool
	MKBool   map[bool]int
	MKFloat  map[float64]string
	MKNamed  map[myStr]myInt
	MKText   map[textKey]int
	MKPtr    map[*string]int
	MAny     map[string]any
	MNested  map[string]diffInner
	Any      any
	Iface    myIface
	Stringer fmt.Stringer
	T        time.Time
	PT       *time.Time
	MT       myTime
	SS       []string `dynamodbav:"ss,stringset"`
	NS       []float64
	NSInt    []int
	BS       [][]byte
	SSArr    [2]string
	Nested   diffInner
	PNested  *diffInner
	LNested  []diffInner
	AsStr    int     `dynamodbav:"as_str,string"`
	AsStrF   float64 `dynamodbav:",string"`
	AsStrAny any     `dynamodbav:"as_any,string"`
	Num      attributevalue.Number
	MyS      myStr
	MyI      myInt
	Rec      recorder
	PRec     *recorder
	LRec     []recorder
	LPRec    []*recorder
	Ignored  string `dynamodbav:"-"`
	Cplx     complex128
	Uptr     uintptr
	Unexp    string
	unexp    string
	diffEmbedded
	*DiffEmbeddedPtr
}

// A few types that stress the field visibility rules.
type conflictA struct{ X, Y string }
type conflictB struct {
	X string
	Z string `dynamodbav:"Y"`
}
type conflicts struct {
	conflictA
	conflictB
	W string `dynamodbav:"x"`
}

type deepEmbed struct {
	*conflictA
	Inner struct {
		Q int `dynamodbav:"q"`
	}
}

type recTop struct{ recorder }

type diffTarget struct {
	name string
	new  func() any
}

var diffTargets = []diffTarget{
	{"diffAll", func() any { return new(diffAll) }},
	{"*diffAll", func() any { var p *diffAll; return &p }},
	{"diffInner", func() any { return new(diffInner) }},
	{"map[string]any", func() any { return new(map[string]any) }},
	{"map[string]string", func() any { return new(map[string]string) }},
	{"map[string]int", func() any { return new(map[string]int) }},
	{"map[myStr]any", func() any { return new(map[myStr]any) }},
	{"any", func() any { return new(any) }},
	{"conflicts", func() any { return new(conflicts) }},
	{"deepEmbed", func() any { return new(deepEmbed) }},
	{"recorder", func() any { return new(recorder) }},
	{"recTop", func() any { return new(recTop) }},
	{"[]int", func() any { return new([]int) }},
	{"int", func() any { return new(int) }},
}

// genValue makes a random Go value of type t.
func genValue(r *rand.Rand, t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if depth > 3 {
		return v
	}
	switch t {
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Unix(r.Int63n(4e9), 0).UTC()))
		return v
	case reflect.TypeFor[attributevalue.Number]():
		v.SetString(strconv.Itoa(r.Intn(1000)))
		return v
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(r.Intn(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		shift := 64 - t.Bits()
		v.SetInt(int64(r.Uint64()) >> shift)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.Uint64() >> (64 - t.Bits()))
	case reflect.Float32:
		v.SetFloat(float64(float32(r.NormFloat64() * 1000)))
	case reflect.Float64:
		v.SetFloat(r.NormFloat64() * 1e6)
	case reflect.String:
		v.SetString(genString(r))
	case reflect.Slice:
		n := r.Intn(4)
		s := reflect.MakeSlice(t, n, n)
		for i := 0; i < n; i++ {
			s.Index(i).Set(genValue(r, t.Elem(), depth+1))
		}
		v.Set(s)
	case reflect.Array:
		for i := 0; i < t.Len(); i++ {
			v.Index(i).Set(genValue(r, t.Elem(), depth+1))
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.Pointer {
			break
		}
		m := reflect.MakeMap(t)
		for i := r.Intn(4); i > 0; i-- {
			m.SetMapIndex(genValue(r, t.Key(), depth+1), genValue(r, t.Elem(), depth+1))
		}
		v.Set(m)
	case reflect.Pointer:
		if r.Intn(4) > 0 {
			p := reflect.New(t.Elem())
			p.Elem().Set(genValue(r, t.Elem(), depth+1))
			v.Set(p)
		}
	case reflect.Interface:
		if x := genAny(r, depth+1); t.NumMethod() == 0 && x != nil {
			v.Set(reflect.ValueOf(x))
		}
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() {
				v.Field(i).Set(genValue(r, t.Field(i).Type, depth+1))
			}
		}
	}
	return v
}

func genAny(r *rand.Rand, depth int) any {
	k := r.Intn(9)
	if depth > 3 {
		k %= 4
	}
	switch k {
	case 0:
		return genString(r)
	case 1:
		return float64(r.Intn(2000)) / 8
	case 2:
		return r.Intn(2) == 0
	case 3:
		return nil
	case 4:
		l := make([]any, r.Intn(4))
		for i := range l {
			l[i] = genAny(r, depth+1)
		}
		return l
	case 5:
		m := map[string]any{}
		for i := r.Intn(4); i > 0; i-- {
			m[genString(r)] = genAny(r, depth+1)
		}
		return m
	case 6:
		b := make([]byte, r.Intn(5))
		r.Read(b)
		return b
	case 7:
		return []string{genString(r)}
	default:
		return int64(r.Intn(100))
	}
}

var stringPool = []string{"", "a", "hello", "Zebra", "x y", "quote\"d", "back\\slash", "tab\there", "new\nline",
	"ünï", "日本語", "emoji 😀", "\u2028", "</script>", "2021-03-04T05:06:07Z", "2021-03-04T05:06:07.5+02:00",
	"12", "-7", "3.5", "1e3", "true", "fail", "bad", "0x1p3", "+5", "99999999999999999999"}

func genString(r *rand.Rand) string {
	return stringPool[r.Intn(len(stringPool))]
}

var numberPool = []string{"0", "1", "-1", "12", "127", "128", "-128", "-129", "255", "256", "32767", "32768",
	"65535", "65536", "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296",
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551615",
	"18446744073709551616", "3.5", "-0.25", "1e3", "1E-2", "3.4e38", "3.5e38", "1e309", "-1e309", "+5", "007",
	"", "abc", "1_000", "0x10", "Inf", "-inf", " 1", "1.", ".5", "1480642020"}

// genAV makes a random attribute value, mostly well-formed and sometimes
// odd (numbers that overflow or do not parse).
func genAV(r *rand.Rand, depth int) types.AttributeValue {
	k := r.Intn(10)
	if depth > 3 {
		k %= 5
	}
	switch k {
	case 0:
		return &types.AttributeValueMemberS{Value: genString(r)}
	case 1:
		return &types.AttributeValueMemberN{Value: numberPool[r.Intn(len(numberPool))]}
	case 2:
		return &types.AttributeValueMemberBOOL{Value: r.Intn(2) == 0}
	case 3:
		return &types.AttributeValueMemberNULL{Value: true}
	case 4:
		b := make([]byte, r.Intn(5))
		r.Read(b)
		return &types.AttributeValueMemberB{Value: b}
	case 5:
		l := make([]types.AttributeValue, r.Intn(4))
		for i := range l {
			l[i] = genAV(r, depth+1)
		}
		return &types.AttributeValueMemberL{Value: l}
	case 6:
		m := map[string]types.AttributeValue{}
		for i := r.Intn(4); i > 0; i-- {
			m[genName(r)] = genAV(r, depth+1)
		}
		return &types.AttributeValueMemberM{Value: m}
	case 7:
		ss := make([]string, r.Intn(3))
		for i := range ss {
			ss[i] = genString(r)
		}
		return &types.AttributeValueMemberSS{Value: ss}
	case 8:
		ns := make([]string, r.Intn(3))
		for i := range ns {
			ns[i] = numberPool[r.Intn(len(numberPool))]
		}
		return &types.AttributeValueMemberNS{Value: ns}
	default:
		bs := make([][]byte, r.Intn(3))
		for i := range bs {
			bs[i] = []byte{byte(r.Intn(256))}
		}
		return &types.AttributeValueMemberBS{Value: bs}
	}
}

func genName(r *rand.Rand) string {
	names := []string{"A", "a", "B", "C", "D", "E", "x", "X", "Y", "y", "Z", "q", "1", "true", "1.5", "bad", "k"}
	return names[r.Intn(len(names))]
}

// mutate changes a few attributes of an item (at most two, so that an
// item usually fails, if at all, for the one reason being tested): another
// type, NULL, another letter case, an odd number, extra attributes.
func mutate(r *rand.Rand, m map[string]types.AttributeValue, names []string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for n := r.Intn(3); n > 0 && len(keys) > 0; n-- {
		k := keys[r.Intn(len(keys))]
		v, ok := m[k]
		if !ok {
			continue
		}
		switch r.Intn(7) {
		case 0:
			m[k] = genAV(r, 1)
		case 1:
			m[k] = &types.AttributeValueMemberNULL{Value: true}
		case 2:
			delete(m, k)
			m[strings.ToUpper(k)] = v
		case 3:
			delete(m, k)
			m[strings.ToLower(k)] = v
		case 4:
			m[k] = &types.AttributeValueMemberN{Value: numberPool[r.Intn(len(numberPool))]}
		case 5:
			if l, ok := v.(*types.AttributeValueMemberM); ok {
				mutate(r, l.Value, nil)
			} else {
				m[k] = &types.AttributeValueMemberS{Value: genString(r)}
			}
		case 6:
			name := genName(r)
			if len(names) > 0 && r.Intn(2) == 0 {
				name = names[r.Intn(len(names))]
			}
			m[name] = genAV(r, 1)
		}
	}
}

// reformat rewrites JSON with random white space and escapes, so the
// scanner's slow paths are exercised too.
func reformat(r *rand.Rand, data []byte) []byte {
	var v any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		panic(err)
	}
	var out []byte
	ws := func() {
		if r.Intn(4) == 0 {
			out = append(out, " \n\t\r"[r.Intn(4)])
		}
	}
	var str func(s string)
	str = func(s string) {
		out = append(out, '"')
		for _, c := range s {
			switch {
			case c == '"' || c == '\\':
				out = append(out, '\\', byte(c))
			case c < 0x20 || (r.Intn(8) == 0):
				if c > 0xffff {
					hi, lo := (c-0x10000)>>10+0xd800, (c-0x10000)&0x3ff+0xdc00
					out = fmt.Appendf(out, "\\u%04x\\u%04X", hi, lo)
				} else {
					out = fmt.Appendf(out, "\\u%04x", c)
				}
			case c == '/' && r.Intn(2) == 0:
				out = append(out, '\\', '/')
			default:
				out = append(out, string(c)...)
			}
		}
		out = append(out, '"')
	}
	var val func(v any)
	val = func(v any) {
		ws()
		switch v := v.(type) {
		case map[string]any:
			out = append(out, '{')
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				if i > 0 {
					out = append(out, ',')
				}
				ws()
				str(k)
				ws()
				out = append(out, ':')
				val(v[k])
			}
			ws()
			out = append(out, '}')
		case []any:
			out = append(out, '[')
			for i, e := range v {
				if i > 0 {
					out = append(out, ',')
				}
				val(e)
			}
			ws()
			out = append(out, ']')
		case string:
			str(v)
		case json.Number:
			out = append(out, v...)
		case bool:
			out = strconv.AppendBool(out, v)
		case nil:
			out = append(out, "null"...)
		}
		ws()
	}
	val(v)
	return out
}

// marshal encodes v with attributevalue, or gives an empty item where the
// encoder fails (it panics on some types the decoder accepts).
func marshal(v any) (m map[string]types.AttributeValue) {
	defer func() {
		if recover() != nil || m == nil {
			m = map[string]types.AttributeValue{}
		}
	}()
	m, _ = attributevalue.MarshalMap(v)
	return m
}

// reference runs attributevalue.UnmarshalMap, turning a panic into an error.
func reference(m map[string]types.AttributeValue, out any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return attributevalue.UnmarshalMap(m, out)
}

// checkSame decodes data both ways into fresh targets made by mk (which
// may pre-fill them) and reports differences.
func checkSame(t *testing.T, label string, data []byte, mk func() any) bool {
	t.Helper()
	m, err := attributevalue.UnmarshalMapJSON(data)
	if err != nil {
		t.Fatalf("%s: reference cannot read its own JSON: %v\n%s", label, err, data)
	}
	am, err := AttributeMap(data)
	if err != nil {
		t.Errorf("%s: AttributeMap: %v\n%s", label, err, data)
		return false
	}
	if !reflect.DeepEqual(am, m) {
		t.Errorf("%s: AttributeMap differs from UnmarshalMapJSON\n%s", label, data)
		return false
	}
	want, got := mk(), mk()
	wantErr := reference(m, want)
	gotErr := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("PANIC in Unmarshal: %v", r)
				t.Errorf("%s: Unmarshal panicked: %v\n%s", label, r, data)
			}
		}()
		return Unmarshal(data, got)
	}()
	if wantErr == nil {
		diffStats.ok++
	} else {
		diffStats.failed++
	}
	if (wantErr == nil) != (gotErr == nil) {
		t.Errorf("%s into %T: attributevalue error %v, Unmarshal error %v\n%s", label, want, wantErr, gotErr, data)
		return false
	}
	// Where two names of an item fold to the same field, attributevalue's
	// result depends on map iteration order: only errors are comparable.
	if wantErr == nil && !foldCollision(m) && !reflect.DeepEqual(want, got) {
		t.Errorf("%s into %T: values differ\nwant %s\ngot  %s\n%s", label, want, dump(want), dump(got), data)
		return false
	}
	return true
}

var diffStats struct{ ok, failed int }

func foldCollision(m map[string]types.AttributeValue) bool {
	for k := range m {
		for k2, v := range m {
			if k != k2 && strings.EqualFold(k, k2) {
				return true
			}
			if mv, ok := v.(*types.AttributeValueMemberM); ok && foldCollision(mv.Value) {
				return true
			}
			if lv, ok := v.(*types.AttributeValueMemberL); ok {
				for _, e := range lv.Value {
					if mv, ok := e.(*types.AttributeValueMemberM); ok && foldCollision(mv.Value) {
						return true
					}
				}
			}
		}
	}
	return false
}

func dump(v any) string {
	return fmt.Sprintf("%+v", reflect.ValueOf(v).Elem().Interface())
}

func TestDifferential(t *testing.T) {
	diffStats.ok, diffStats.failed = 0, 0
	defer func() { t.Logf("%d decoded, %d failed alike", diffStats.ok, diffStats.failed) }()
	r := rand.New(rand.NewSource(1))
	iterations := 20000
	if testing.Short() {
		iterations = 2000
	}
	failures := 0
	for i := 0; i < iterations && failures < 10; i++ {
		target := diffTargets[r.Intn(len(diffTargets))]
		// Start from a value of the target type (or of diffAll), so most
		// attributes fit, then break some of them.
		src := reflect.TypeOf(target.new()).Elem()
		if src.Kind() != reflect.Struct || r.Intn(5) == 0 {
			src = reflect.TypeFor[diffAll]()
		}
		item := marshal(genValue(r, src, 0).Interface())
		var names []string
		for k := range item {
			names = append(names, k)
		}
		sort.Strings(names)
		mutate(r, item, names)
		data, err := attributevalue.MarshalMapJSON(item)
		if err != nil {
			t.Fatal(err)
		}
		if r.Intn(2) == 0 {
			data = reformat(r, data)
		}
		mk := target.new
		if r.Intn(4) == 0 {
			// Pre-filled targets: both decoders start from the same
			// (randomly generated) value.
			seed := r.Int63()
			mk = func() any {
				v := target.new()
				rv := reflect.ValueOf(v).Elem()
				rv.Set(genValue(rand.New(rand.NewSource(seed)), rv.Type(), 0))
				return v
			}
		}
		if !checkSame(t, fmt.Sprintf("case %d (%s)", i, target.name), data, mk) {
			failures++
		}
	}
}

// TestDifferentialRandomAV decodes entirely random items (not shaped after
// a type) into every target.
func TestDifferentialRandomAV(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	failures := 0
	for i := 0; i < 1500 && failures < 10; i++ {
		item := map[string]types.AttributeValue{}
		for j := r.Intn(6); j > 0; j-- {
			item[genName(r)] = genAV(r, 0)
		}
		data, err := attributevalue.MarshalMapJSON(item)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range diffTargets {
			if !checkSame(t, fmt.Sprintf("random %d (%s)", i, target.name), data, target.new) {
				failures++
			}
		}
	}
}

// TestDifferentialFields decodes one-attribute items into every field of
// the target structs: each number of the pool as N, NS and S, each string
// as S and SS, and random values of every type.
func TestDifferentialFields(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	var avs []types.AttributeValue
	for _, n := range numberPool {
		avs = append(avs, &types.AttributeValueMemberN{Value: n}, &types.AttributeValueMemberS{Value: n},
			&types.AttributeValueMemberNS{Value: []string{n, "1"}})
	}
	for _, s := range stringPool {
		avs = append(avs, &types.AttributeValueMemberS{Value: s}, &types.AttributeValueMemberSS{Value: []string{s}})
	}
	avs = append(avs,
		&types.AttributeValueMemberNULL{Value: true},
		&types.AttributeValueMemberB{Value: []byte{}},
		&types.AttributeValueMemberB{Value: []byte{1, 2, 3, 4}},
		&types.AttributeValueMemberBS{Value: [][]byte{}},
		&types.AttributeValueMemberSS{Value: []string{}},
		&types.AttributeValueMemberNS{Value: []string{}},
		&types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
	)
	for i := 0; i < 60; i++ {
		avs = append(avs, genAV(r, 0))
	}
	failures := 0
	for _, target := range diffTargets {
		rt := reflect.TypeOf(target.new()).Elem()
		if rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct {
			continue
		}
		for _, name := range fieldNames(rt) {
			for i, av := range avs {
				data, err := attributevalue.MarshalMapJSON(map[string]types.AttributeValue{name: av})
				if err != nil {
					t.Fatal(err)
				}
				if !checkSame(t, fmt.Sprintf("%s.%s #%d", target.name, name, i), data, target.new) {
					if failures++; failures > 20 {
						t.Fatal("too many failures")
					}
				}
			}
		}
	}
}

// fieldNames lists the attribute names a struct's fields go by, recursing
// into embedded structs.
func fieldNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name := sf.Name
		if tag := avfields.ParseTag(sf.Tag); tag.Name != "" {
			name = tag.Name
		}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if sf.Anonymous && ft.Kind() == reflect.Struct {
			names = append(names, fieldNames(ft)...)
			continue
		}
		names = append(names, name)
	}
	return names
}
