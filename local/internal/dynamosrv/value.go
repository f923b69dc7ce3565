package dynamosrv

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"

	"github.com/nanopipe/nanopipe/internal/itemsize"
)

// Kind is a DynamoDB attribute type.
type Kind uint8

// Attribute types, named as DynamoDB's JSON names them.
const (
	KS Kind = iota + 1
	KN
	KB
	KSS
	KNS
	KBS
	KM
	KL
	KNULL
	KBOOL
)

var kindNames = [...]string{KS: "S", KN: "N", KB: "B", KSS: "SS", KNS: "NS", KBS: "BS", KM: "M", KL: "L", KNULL: "NULL", KBOOL: "BOOL"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "?"
}

func kindOf(name string) Kind {
	for k, n := range kindNames {
		if n == name && n != "" {
			return Kind(k)
		}
	}
	return 0
}

// Value is one attribute value. Str holds S, N (canonical text) and B (raw
// bytes); Set holds SS, NS (canonical) and BS (raw) members.
type Value struct {
	K    Kind
	Str  string
	Set  []string
	M    map[string]*Value
	L    []*Value
	Bool bool
}

// Item is an item or a key: attribute name to value.
type Item map[string]*Value

// ValidationError is a value that DynamoDB would refuse.
type valueError struct{ msg string }

func (e valueError) Error() string { return e.msg }

func (v *Value) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	v.encode(&b)
	return b.Bytes(), nil
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

func (v *Value) encode(b *bytes.Buffer) {
	b.WriteString(`{"`)
	b.WriteString(v.K.String())
	b.WriteString(`":`)
	switch v.K {
	case KS, KN:
		writeString(b, v.Str)
	case KB:
		writeString(b, base64.StdEncoding.EncodeToString([]byte(v.Str)))
	case KSS, KNS, KBS:
		b.WriteByte('[')
		for i, s := range v.Set {
			if i > 0 {
				b.WriteByte(',')
			}
			if v.K == KBS {
				s = base64.StdEncoding.EncodeToString([]byte(s))
			}
			writeString(b, s)
		}
		b.WriteByte(']')
	case KM:
		encodeItem(b, v.M)
	case KL:
		b.WriteByte('[')
		for i, e := range v.L {
			if i > 0 {
				b.WriteByte(',')
			}
			e.encode(b)
		}
		b.WriteByte(']')
	case KNULL:
		b.WriteString("true")
	case KBOOL:
		if v.Bool {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	}
	b.WriteByte('}')
}

func encodeItem(b *bytes.Buffer, m map[string]*Value) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, k)
		b.WriteByte(':')
		m[k].encode(b)
	}
	b.WriteByte('}')
}

// MarshalJSON writes the item with sorted attribute names.
func (it Item) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	encodeItem(&b, it)
	return b.Bytes(), nil
}

func (v *Value) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return valueError{"Supplied AttributeValue is not valid JSON: " + err.Error()}
	}
	if len(m) != 1 {
		if len(m) == 0 {
			return valueError{"Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"}
		}
		return valueError{"Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"}
	}
	for name, raw := range m {
		k := kindOf(name)
		v.K = k
		switch k {
		case KS:
			return json.Unmarshal(raw, &v.Str)
		case KN:
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return valueError{"NUMBER_VALUE cannot be converted to String"}
			}
			n, err := canonicalNumber(s)
			if err != nil {
				return err
			}
			v.Str = n
		case KB:
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return valueError{"Invalid Base64 value for a binary attribute"}
			}
			v.Str = string(b)
		case KSS, KNS, KBS:
			var ss []string
			if err := json.Unmarshal(raw, &ss); err != nil {
				return err
			}
			if len(ss) == 0 {
				return valueError{"One or more parameter values were invalid: An " + map[Kind]string{KSS: "string", KNS: "number", KBS: "binary"}[k] + " set  may not be empty"}
			}
			seen := map[string]bool{}
			for i, s := range ss {
				switch k {
				case KNS:
					n, err := canonicalNumber(s)
					if err != nil {
						return err
					}
					ss[i] = n
				case KBS:
					b, err := base64.StdEncoding.DecodeString(s)
					if err != nil {
						return valueError{"Invalid Base64 value for a binary attribute"}
					}
					ss[i] = string(b)
				}
				if seen[ss[i]] {
					return valueError{"One or more parameter values were invalid: Input collection " + fmt.Sprint(ss) + " contains duplicates."}
				}
				seen[ss[i]] = true
			}
			v.Set = ss
		case KM:
			var mm map[string]*Value
			if err := json.Unmarshal(raw, &mm); err != nil {
				return err
			}
			if mm == nil {
				mm = map[string]*Value{}
			}
			v.M = mm
		case KL:
			var l []*Value
			if err := json.Unmarshal(raw, &l); err != nil {
				return err
			}
			if l == nil {
				l = []*Value{}
			}
			v.L = l
		case KNULL:
			var b bool
			if err := json.Unmarshal(raw, &b); err != nil || !b {
				return valueError{"One or more parameter values were invalid: Null attribute value types must have the value of true"}
			}
		case KBOOL:
			if err := json.Unmarshal(raw, &v.Bool); err != nil {
				return err
			}
		default:
			return valueError{"Supplied AttributeValue has an unknown datatype " + name}
		}
	}
	return nil
}

var numberRE = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// canonicalNumber validates a DynamoDB number and returns it as DynamoDB
// returns it: plain decimal, no leading or trailing zeros, at most 38
// significant digits.
func canonicalNumber(s string) (string, error) {
	if !numberRE.MatchString(s) {
		return "", valueError{"A value provided cannot be converted into a number"}
	}
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		var e int
		if _, err := fmt.Sscan(s[i+1:], &e); err != nil || e > 1000 || e < -1000 {
			return "", valueError{"Number overflow. Attempting to store a number with magnitude larger than supported range"}
		}
		exp = e
		s = s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	exp -= len(frac) // value = digits * 10^exp
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return "0", nil
	}
	t := strings.TrimRight(digits, "0")
	exp += len(digits) - len(t)
	digits = t
	if len(digits) > 38 {
		return "", valueError{"Attempting to store more than 38 significant digits in a Number"}
	}
	mag := len(digits) + exp // number of digits before the point
	if mag > 126 {
		return "", valueError{"Number overflow. Attempting to store a number with magnitude larger than supported range"}
	}
	if mag < -129 {
		return "", valueError{"Number underflow. Attempting to store a number with magnitude smaller than supported range"}
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case exp >= 0:
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", exp))
	case mag > 0:
		b.WriteString(digits[:mag])
		b.WriteByte('.')
		b.WriteString(digits[mag:])
	default:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -mag))
		b.WriteString(digits)
	}
	return b.String(), nil
}

// compareNumbers compares two canonical numbers by their text: sign, then
// the length of the integer part, then the digits.
func compareNumbers(a, b string) int {
	na, nb := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	if na != nb {
		if na {
			return -1
		}
		return 1
	}
	if na {
		return compareMagnitudes(b[1:], a[1:])
	}
	return compareMagnitudes(a, b)
}

func compareMagnitudes(a, b string) int {
	ia, fa, _ := strings.Cut(a, ".")
	ib, fb, _ := strings.Cut(b, ".")
	if ia == "0" {
		ia = ""
	}
	if ib == "0" {
		ib = ""
	}
	if len(ia) != len(ib) {
		if len(ia) < len(ib) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(ia, ib); c != 0 {
		return c
	}
	return strings.Compare(fa, fb)
}

// addNumbers returns a+b (or a-b) as a canonical number.
func addNumbers(a, b string, sub bool) (string, error) {
	ra, _ := new(big.Rat).SetString(a)
	rb, _ := new(big.Rat).SetString(b)
	if sub {
		rb.Neg(rb)
	}
	places := max(fracDigits(a), fracDigits(b))
	return canonicalNumber(new(big.Rat).Add(ra, rb).FloatString(places))
}

func fracDigits(n string) int {
	if i := strings.IndexByte(n, '.'); i >= 0 {
		return len(n) - i - 1
	}
	return 0
}

// compare orders two scalar values of the same kind (S, N, B); ok is false
// for values that cannot be ordered against each other.
func compare(a, b *Value) (int, bool) {
	if a == nil || b == nil || a.K != b.K {
		return 0, false
	}
	switch a.K {
	case KS, KB:
		return strings.Compare(a.Str, b.Str), true
	case KN:
		return compareNumbers(a.Str, b.Str), true
	}
	return 0, false
}

// equal reports whether two values are the same value (sets compare as sets).
func equal(a, b *Value) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.K != b.K {
		return false
	}
	switch a.K {
	case KS, KB:
		return a.Str == b.Str
	case KN:
		return a.Str == b.Str // canonical
	case KBOOL:
		return a.Bool == b.Bool
	case KNULL:
		return true
	case KSS, KNS, KBS:
		if len(a.Set) != len(b.Set) {
			return false
		}
		m := make(map[string]bool, len(a.Set))
		for _, s := range a.Set {
			m[s] = true
		}
		for _, s := range b.Set {
			if !m[s] {
				return false
			}
		}
		return true
	case KL:
		if len(a.L) != len(b.L) {
			return false
		}
		for i := range a.L {
			if !equal(a.L[i], b.L[i]) {
				return false
			}
		}
		return true
	case KM:
		return equalItems(a.M, b.M)
	}
	return false
}

func equalItems(a, b map[string]*Value) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !equal(v, b[k]) {
			return false
		}
	}
	return true
}

// clone deep-copies a value.
func (v *Value) clone() *Value {
	if v == nil {
		return nil
	}
	c := &Value{K: v.K, Str: v.Str, Bool: v.Bool}
	if v.Set != nil {
		c.Set = append([]string(nil), v.Set...)
	}
	if v.M != nil {
		c.M = make(map[string]*Value, len(v.M))
		for k, e := range v.M {
			c.M[k] = e.clone()
		}
	}
	if v.L != nil {
		c.L = make([]*Value, len(v.L))
		for i, e := range v.L {
			c.L[i] = e.clone()
		}
	}
	return c
}

func (it Item) clone() Item {
	if it == nil {
		return nil
	}
	c := make(Item, len(it))
	for k, v := range it {
		c[k] = v.clone()
	}
	return c
}

// size is the value's size as DynamoDB counts it toward the 400 KB item
// limit: itemsize.Value's rules, over this package's values.
func (v *Value) size() int {
	switch v.K {
	case KS, KB:
		return len(v.Str)
	case KN:
		return numberSize(v.Str)
	case KSS, KBS:
		n := 0
		for _, s := range v.Set {
			n += len(s)
		}
		return n
	case KNS:
		n := 0
		for _, s := range v.Set {
			n += numberSize(s)
		}
		return n
	case KM:
		n := itemsize.Container
		for k, e := range v.M {
			n += itemsize.Element + len(k) + e.size()
		}
		return n
	case KL:
		n := itemsize.Container
		for _, e := range v.L {
			n += itemsize.Element + e.size()
		}
		return n
	}
	return 1 // BOOL, NULL
}

func numberSize(n string) int { return itemsize.Number(n) }

func (it Item) size() int {
	n := 0
	for k, v := range it {
		n += len(k) + v.size()
	}
	return n
}

// maxNesting is how many levels of maps and lists DynamoDB allows in an
// attribute value, the value itself counting as the first.
const maxNesting = 32

// errNesting is DynamoDB's refusal of a value nested too deep.
var errNesting = valueError{"Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"}

// validateValue checks what DynamoDB checks of every attribute value it
// stores, nesting included.
func validateValue(v *Value) error { return validateLevel(v, 1) }

func validateLevel(v *Value, level int) error {
	if v == nil || v.K == 0 {
		return valueError{"Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"}
	}
	switch v.K {
	case KM, KL:
		if level >= maxNesting {
			return errNesting
		}
	}
	switch v.K {
	case KM:
		for _, e := range v.M {
			if err := validateLevel(e, level+1); err != nil {
				return err
			}
		}
	case KL:
		for _, e := range v.L {
			if err := validateLevel(e, level+1); err != nil {
				return err
			}
		}
	}
	return nil
}
