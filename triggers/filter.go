package triggers

// This file is the filter DSL (Attr, Condition, Where) and its compiler to
// Lambda FilterCriteria patterns; match.go evaluates the compiled patterns
// as Lambda does, and itemtype.go checks filters against a stage's item
// type.
//
// Filters of stream triggers compile to the FilterCriteria of the Lambda
// event source mapping, so records that match no filter never invoke the
// stage: Lambda drops them from the batch for good (the stream iterator
// moves past them). The same compiled patterns are evaluated locally by
// StreamTrigger.Matches, so a stage behaves the same on a developer machine
// as in AWS.
//
// What AWS documents, and how it shaped this file:
//
//   - Lambda filter patterns use EventBridge's syntax. Up to MaxFilters
//     filters per mapping are OR-ed; a record passes when one matches and
//     is discarded when none does. Within a pattern every key is AND-ed and
//     the entries of one key's rule list are OR-ed. A pattern string is at
//     most MaxFilterPatternBytes long (4096; CloudFormation's Filter.Pattern
//     limit, counted here in bytes, which is never less than characters).
//   - A key of the pattern must be present in the record for the record to
//     match, except for {"exists": false}.
//   - "DynamoDB event filtering doesn't support the use of numeric operators
//     (numeric equals and numeric range)": stream records carry N values as
//     JSON strings, and numeric rules only match JSON numbers. A numeric
//     pattern would therefore match nothing and Lambda would drop every
//     record. Conditions offer no numeric comparisons for that reason, and
//     IsNumber compiles to an exact string match instead.
//   - The exists operator only sees leaf nodes. A DynamoDB attribute is an
//     object such as {"S": "x"}, never a leaf, so Exists and Missing must
//     name the type letter: {"status": {"S": [{"exists": true}]}}. Hence
//     Attr.As.
//   - Exact matching is character by character; equals-ignore-case folds
//     case. AWS does not say which case folding; Unicode simple folding
//     (strings.EqualFold) is assumed here.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The images of a stream record a condition can test, as the record's
// "dynamodb" object names them.
const (
	ImageNew  = "NewImage"
	ImageOld  = "OldImage"
	ImageKeys = "Keys"
)

// DynamoDB type letters a condition can test, as stream records spell them.
// Only leaf types are listed: Lambda's exists operator cannot see lists,
// maps or sets as a whole.
const (
	TypeString = "S"
	TypeNumber = "N"
	TypeBinary = "B"
	TypeBool   = "BOOL"
	TypeNull   = "NULL"
)

// Attr names an attribute of a stream record: a top-level attribute of the
// new or old item image, a nested attribute reached through maps (M), or a
// key attribute. Build it with NewImage, OldImage or Key.
type Attr struct {
	image string
	path  []string
	typ   string
}

// NewImage names an attribute of the item as it is after the change
// (dynamodb.NewImage). More than one path element walks nested maps:
// NewImage("address", "city") is the city attribute of the address map.
// REMOVE records and streams without new images carry no NewImage.
func NewImage(path ...string) Attr {
	return Attr{image: ImageNew, path: append([]string(nil), path...)}
}

// OldImage names an attribute of the item as it was before the change
// (dynamodb.OldImage). INSERT records and streams without old images carry
// no OldImage.
func OldImage(path ...string) Attr {
	return Attr{image: ImageOld, path: append([]string(nil), path...)}
}

// Key names a primary key attribute (dynamodb.Keys), present in every
// record whatever the stream's view type.
func Key(name string) Attr {
	return Attr{image: ImageKeys, path: []string{name}}
}

// Image is the part of the record the attribute is read from: "NewImage",
// "OldImage" or "Keys".
func (a Attr) Image() string { return a.image }

// Path is the attribute's name, then the names of nested map entries.
func (a Attr) Path() []string { return append([]string(nil), a.path...) }

// Type is the DynamoDB type letter declared with As, or "".
func (a Attr) Type() string { return a.typ }

// As declares the attribute's DynamoDB type (TypeString, TypeNumber,
// TypeBinary, TypeBool or TypeNull). Exists and Missing need it, because
// Lambda's exists operator only sees the value under the type letter:
// NewImage("thumbnail").As(TypeString).Exists(). Other conditions imply
// their type; declaring a different one is refused by Where.
func (a Attr) As(typ string) Attr {
	a.path = append([]string(nil), a.path...)
	a.typ = typ
	return a
}

// String renders the attribute as messages show it: NewImage "address.city".
func (a Attr) String() string {
	return fmt.Sprintf("%s %q", a.image, strings.Join(a.path, "."))
}

type opKind int

const (
	opNone opKind = iota
	opEquals
	opOneOf
	opPrefix
	opSuffix
	opEqualsIgnoreCase
	opNoneOf
	opExists
	opMissing
	opIsNumber
	opTrue
	opFalse
	opNull
)

// Condition is one test on one attribute of a stream record. Build it with
// the methods of Attr and combine conditions with Where.
type Condition struct {
	attr Attr
	op   opKind
	strs []string
	nums []float64
}

func (a Attr) cond(op opKind, strs []string, nums ...float64) Condition {
	return Condition{attr: a.As(a.typ), op: op, strs: append([]string(nil), strs...), nums: nums}
}

// Equals holds when the attribute is the string s: {"S": ["s"]}. Equals("")
// tests for the empty string.
func (a Attr) Equals(s string) Condition { return a.cond(opEquals, []string{s}) }

// OneOf holds when the attribute is one of the strings: {"S": ["a", "b"]}.
func (a Attr) OneOf(values ...string) Condition { return a.cond(opOneOf, values) }

// HasPrefix holds when the attribute is a string starting with p:
// {"S": [{"prefix": "p"}]}.
func (a Attr) HasPrefix(p string) Condition { return a.cond(opPrefix, []string{p}) }

// HasSuffix holds when the attribute is a string ending with s:
// {"S": [{"suffix": "s"}]}.
func (a Attr) HasSuffix(s string) Condition { return a.cond(opSuffix, []string{s}) }

// EqualsIgnoreCase holds when the attribute is a string equal to s up to
// case: {"S": [{"equals-ignore-case": "s"}]}.
func (a Attr) EqualsIgnoreCase(s string) Condition {
	return a.cond(opEqualsIgnoreCase, []string{s})
}

// NoneOf holds when the attribute is a string other than all of values:
// {"S": [{"anything-but": [...]}]}. Like Lambda's anything-but, it needs a
// value: an absent attribute, or one of another type, does not match.
func (a Attr) NoneOf(values ...string) Condition { return a.cond(opNoneOf, values) }

// Exists holds when the attribute is present with the type declared by As:
// {"S": [{"exists": true}]}.
func (a Attr) Exists() Condition { return a.cond(opExists, nil) }

// Missing holds when the attribute is absent, or present with another type
// than the one declared by As: {"S": [{"exists": false}]}.
func (a Attr) Missing() Condition { return a.cond(opMissing, nil) }

// IsNumber holds when the attribute is the number n. DynamoDB numbers reach
// Lambda as strings and AWS documents no numeric operators for them, so the
// pattern matches the number's text as DynamoDB stores it (plain decimal,
// leading and trailing zeroes trimmed): IsNumber(1024) is {"N": ["1024"]}.
func (a Attr) IsNumber(n float64) Condition { return a.cond(opIsNumber, nil, n) }

// IsTrue holds when the attribute is the boolean true: {"BOOL": [true]}.
func (a Attr) IsTrue() Condition { return a.cond(opTrue, nil) }

// IsFalse holds when the attribute is the boolean false: {"BOOL": [false]}.
func (a Attr) IsFalse() Condition { return a.cond(opFalse, nil) }

// IsNull holds when the attribute is DynamoDB's NULL: {"NULL": [true]}.
func (a Attr) IsNull() Condition { return a.cond(opNull, nil) }

// Attr is the attribute the condition tests.
func (c Condition) Attr() Attr { return c.attr.As(c.attr.typ) }

// Type is the DynamoDB type letter the condition tests: "S", "N", "BOOL"
// or "NULL"; for Exists and Missing, the type declared with As ("" when
// none was, which Where refuses).
func (c Condition) Type() string {
	switch c.op {
	case opEquals, opOneOf, opPrefix, opSuffix, opEqualsIgnoreCase, opNoneOf:
		return TypeString
	case opIsNumber:
		return TypeNumber
	case opTrue, opFalse:
		return TypeBool
	case opNull:
		return TypeNull
	}
	return c.attr.typ
}

// String renders the condition as code would write it: Equals("ready").
func (c Condition) String() string {
	quoted := func() string {
		q := make([]string, len(c.strs))
		for i, s := range c.strs {
			q[i] = strconv.Quote(s)
		}
		return strings.Join(q, ", ")
	}
	num := func(i int) string {
		if i < len(c.nums) {
			return strconv.FormatFloat(c.nums[i], 'g', -1, 64)
		}
		return "?"
	}
	switch c.op {
	case opEquals:
		return "Equals(" + quoted() + ")"
	case opOneOf:
		return "OneOf(" + quoted() + ")"
	case opPrefix:
		return "HasPrefix(" + quoted() + ")"
	case opSuffix:
		return "HasSuffix(" + quoted() + ")"
	case opEqualsIgnoreCase:
		return "EqualsIgnoreCase(" + quoted() + ")"
	case opNoneOf:
		return "NoneOf(" + quoted() + ")"
	case opExists:
		return "Exists()"
	case opMissing:
		return "Missing()"
	case opIsNumber:
		return "IsNumber(" + num(0) + ")"
	case opTrue:
		return "IsTrue()"
	case opFalse:
		return "IsFalse()"
	case opNull:
		return "IsNull()"
	}
	return "Condition{}"
}

// Filter is one filter pattern of a stream trigger: a record matches when
// every one of its conditions holds. Build it with Where.
type Filter struct {
	conds []Condition
}

// Conditions are the AND-ed conditions of the filter.
func (f Filter) Conditions() []Condition {
	out := make([]Condition, len(f.conds))
	for i, c := range f.conds {
		out[i] = c.Attr().cond(c.op, c.strs, c.nums...)
	}
	return out
}

// Pattern is the filter's Lambda pattern JSON, without the eventName rule
// that the trigger's Kinds add (see StreamTrigger.Patterns). Keys are
// sorted, so the same filter always compiles to the same text.
func (f Filter) Pattern() (string, error) {
	tree, err := f.compile()
	if err != nil {
		return "", err
	}
	p, err := encodePattern(tree)
	if err != nil {
		return "", err
	}
	if len(p) > MaxFilterPatternBytes {
		return "", fmt.Errorf("filter pattern is %d bytes; Lambda takes at most %d (MaxFilterPatternBytes) per filter: use fewer or shorter values, or split the filter into several Where filters", len(p), MaxFilterPatternBytes)
	}
	return p, nil
}

// whereError marks an error recorded by a refused Where, so Patterns can
// refuse to compile filter criteria that miss the filter.
type whereError struct{ err error }

func (e whereError) Error() string { return e.err.Error() }
func (e whereError) Unwrap() error { return e.err }

// Where adds one filter to a stream trigger: a record passes when all the
// conditions hold. Several Where options are OR-ed, up to MaxFilters:
//
//	Changes(Insert, Where(NewImage("status").Equals("ready")),
//		Where(NewImage("priority").IsTrue()))
//
// Filters run in Lambda before the function is invoked; a record that
// matches no filter is dropped, never retried and never sent to the
// on-failure destination. A condition Lambda would never match (a
// malformed one, or Exists without As) is refused with an error on the
// trigger, and the filter is left out.
func Where(conds ...Condition) StreamOption {
	return streamOption(func(t *StreamTrigger) error {
		f := Filter{conds: make([]Condition, len(conds))}
		for i, c := range conds {
			f.conds[i] = c.Attr().cond(c.op, c.strs, c.nums...)
		}
		if _, err := f.Pattern(); err != nil {
			return whereError{fmt.Errorf("Where: %w", err)}
		}
		t.Filters = append(t.Filters, f)
		return nil
	})
}

// validate checks everything Lambda would reject or silently never match.
func (f Filter) validate() error {
	if len(f.conds) == 0 {
		return errors.New("no conditions: a filter needs at least one, e.g. Where(NewImage(\"status\").Equals(\"ready\")); leave Where out to take every record")
	}
	var errs []error
	for _, c := range f.conds {
		if err := c.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Within one pattern an attribute has a single rule list whose entries
	// are OR-ed, while the conditions of a filter are AND-ed: two
	// conditions on one attribute cannot be written in one pattern.
	for i, a := range f.conds {
		for _, b := range f.conds[i+1:] {
			if a.attr.image != b.attr.image {
				continue
			}
			pa, pb := a.attr.path, b.attr.path
			switch {
			case pathsEqual(pa, pb):
				return fmt.Errorf("%s is tested twice (%s and %s): the conditions of one Where are AND-ed, but a Lambda pattern holds one rule list per attribute whose entries are OR-ed, so both cannot be required at once; use OneOf for alternatives, or two Where filters for either-or", a.attr, a, b)
			case pathIsPrefix(pa, pb) || pathIsPrefix(pb, pa):
				short, long := a.attr, b.attr
				if len(pb) < len(pa) {
					short, long = long, short
				}
				return fmt.Errorf("%s and %s are both tested: a DynamoDB attribute is either a value or a map, so one filter cannot test it as both; test only the nested attribute", short, long)
			}
		}
	}
	return nil
}

func (c Condition) validate() error {
	if c.op == opNone {
		return errors.New("empty Condition: build conditions from NewImage, OldImage or Key, e.g. NewImage(\"status\").Equals(\"ready\")")
	}
	a := c.attr
	switch a.image {
	case ImageNew, ImageOld, ImageKeys:
	default:
		return fmt.Errorf("%s: condition on an attribute built without NewImage, OldImage or Key", c)
	}
	if len(a.path) == 0 {
		return fmt.Errorf("%s() without an attribute name: write %s(\"status\"), or %s(\"address\", \"city\") for a nested attribute", a.image, a.image, a.image)
	}
	for _, p := range a.path {
		if p == "" {
			return fmt.Errorf("%s %s: empty attribute name in the path; DynamoDB attribute names are at least one character", a, c)
		}
		if !utf8.ValidString(p) {
			return fmt.Errorf("%s: attribute name %q is not valid UTF-8, which DynamoDB requires", c, p)
		}
	}
	what := fmt.Sprintf("%s %s", a, c)
	switch a.typ {
	case "", TypeString, TypeNumber, TypeBinary, TypeBool, TypeNull:
	default:
		return fmt.Errorf("%s: As(%q) is not a type a filter can test; Lambda's exists operator only sees leaf values, so use TypeString, TypeNumber, TypeBinary, TypeBool or TypeNull (for lists, sets and maps, test a nested attribute instead)", what, a.typ)
	}
	if a.typ != "" && c.op != opExists && c.op != opMissing && a.typ != c.Type() {
		return fmt.Errorf("%s: the attribute is declared As(%q) but %s tests type %s; drop As or use a condition for %s values", what, a.typ, c, c.Type(), a.typ)
	}
	if a.image == ImageKeys {
		switch c.Type() {
		case "", TypeString, TypeNumber, TypeBinary:
		default:
			return fmt.Errorf("%s: key attributes are strings, numbers or binary (S, N or B), never %s, so this filter would match nothing", what, c.Type())
		}
		if c.op == opMissing {
			return fmt.Errorf("%s: every stream record carries its key attributes, so a missing key never matches and every record would be dropped", what)
		}
	}
	for _, s := range c.strs {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%s: value %q is not valid UTF-8; DynamoDB strings are UTF-8, so it can never match", what, s)
		}
	}
	switch c.op {
	case opOneOf, opNoneOf:
		if len(c.strs) == 0 {
			return fmt.Errorf("%s: no values given; name at least one", what)
		}
	case opPrefix, opSuffix:
		if c.strs[0] == "" {
			return fmt.Errorf("%s: an empty prefix or suffix matches every string; use As(TypeString).Exists() to test that the attribute is a string", what)
		}
	case opExists, opMissing:
		if a.typ == "" {
			return fmt.Errorf("%s: Lambda's exists operator only sees leaf values, and a DynamoDB attribute's value sits under its type letter ({\"S\": \"...\"}), so declare the type: %s(%s).As(triggers.TypeString).%s", what, a.image, quoteAttrPath(a.path), c)
		}
	}
	for _, n := range c.nums {
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("%s: %v is not a number DynamoDB can store; use a finite value", what, n)
		}
	}
	switch c.op {
	case opIsNumber:
		if _, err := dynamoNumber(c.nums[0]); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// dynamoNumber renders n as DynamoDB returns numbers in stream records.
// AWS documents that DynamoDB numbers are variable length with leading and
// trailing zeroes trimmed; records show ordinary values in plain decimal
// ("1024", "0.5"), which is what attributevalue sends too. AWS does not
// document the text for magnitudes near DynamoDB's limits (1E-130,
// 1E+126), where exponent notation is possible; IsNumber is exact only
// for the plain-decimal range.
func dynamoNumber(n float64) (string, error) {
	const maxExact = 1 << 53
	if math.Abs(n) >= maxExact {
		return "", fmt.Errorf("%v is beyond the integers a float64 holds exactly (2^53), so the pattern would name a rounded number; large identifiers belong in string attributes", n)
	}
	if n != 0 && math.Abs(n) < 1e-130 {
		return "", fmt.Errorf("%v is smaller than DynamoDB's smallest number (1E-130)", n)
	}
	if n == 0 {
		return "0", nil // DynamoDB has no negative zero.
	}
	return strconv.FormatFloat(n, 'f', -1, 64), nil
}

// compile validates the filter and builds its pattern as nested maps.
func (f Filter) compile() (map[string]any, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	images := map[string]any{}
	for _, c := range f.conds {
		// image → a → M → b → TYPE → rules; validate has ruled out two
		// conditions whose paths would collide.
		node := images
		steps := append([]string{c.attr.image}, interleaveM(c.attr.path)...)
		for _, s := range steps {
			next, ok := node[s].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[s] = next
			}
			node = next
		}
		node[c.Type()] = c.rules()
	}
	return map[string]any{"dynamodb": images}, nil
}

// interleaveM turns a, b, c into a, M, b, M, c: how DynamoDB JSON nests a
// map attribute's entries.
func interleaveM(path []string) []string {
	out := make([]string, 0, 2*len(path))
	for i, p := range path {
		if i > 0 {
			out = append(out, "M")
		}
		out = append(out, p)
	}
	return out
}

// rules is the condition's rule list, the value under its type letter.
func (c Condition) rules() []any {
	switch c.op {
	case opEquals, opOneOf:
		vals := sortedUniqueStrings(c.strs)
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = v
		}
		return out
	case opPrefix:
		return []any{map[string]any{"prefix": c.strs[0]}}
	case opSuffix:
		return []any{map[string]any{"suffix": c.strs[0]}}
	case opEqualsIgnoreCase:
		return []any{map[string]any{"equals-ignore-case": c.strs[0]}}
	case opNoneOf:
		vals := sortedUniqueStrings(c.strs)
		list := make([]any, len(vals))
		for i, v := range vals {
			list[i] = v
		}
		return []any{map[string]any{"anything-but": list}}
	case opExists:
		return []any{map[string]any{"exists": true}}
	case opMissing:
		return []any{map[string]any{"exists": false}}
	case opIsNumber:
		s, _ := dynamoNumber(c.nums[0])
		return []any{s}
	case opTrue:
		return []any{true}
	case opFalse:
		return []any{false}
	case opNull:
		return []any{true}
	}
	return nil
}

// encodePattern renders a pattern deterministically: encoding/json sorts
// map keys, and HTML escaping is off so the template shows "<" as is.
func encodePattern(tree map[string]any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return "", fmt.Errorf("triggers: encode filter pattern: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// Patterns are the trigger's FilterCriteria patterns, one per filter, in
// the order the filters were declared. The trigger's Kinds are folded into
// every pattern as an "eventName" rule, or make up the only pattern when
// there are no filters. Patterns is nil when the trigger has neither Kinds
// nor Filters: the mapping then has no filter criteria and every record
// invokes the stage.
//
// The cdk package deploys these patterns and App.Describe shows them; a
// test can call Patterns on orders.Changes(...) to see what a filter
// compiles to. The error names a problem that makes the criteria
// incomplete or invalid (a refused Where, more than MaxFilters filters,
// an unknown Kind, a pattern over MaxFilterPatternBytes); the app reports the same problem as a declaration error.
//
// Filtering on eventName, a record's metadata, follows the general Lambda
// documentation (patterns may include metadata properties); the DynamoDB
// page also says its mappings "only support filtering on the dynamodb
// key", which reads as naming the data key rather than excluding metadata,
// and AWS's own CDK examples filter DynamoDB streams on eventName.
func (t *StreamTrigger) Patterns() ([]string, error) {
	for _, err := range t.errs {
		var we whereError
		if errors.As(err, &we) {
			return nil, fmt.Errorf("triggers: stream trigger on %q: a Where filter was refused, so its filter criteria would be incomplete: %w", t.Table, err)
		}
	}
	if len(t.Filters) > MaxFilters {
		return nil, fmt.Errorf("triggers: stream trigger on %q has %d filters; Lambda allows at most %d per event source mapping", t.Table, len(t.Filters), MaxFilters)
	}
	if len(t.Kinds) == 0 && len(t.Filters) == 0 {
		return nil, nil
	}
	var kinds []any
	if len(t.Kinds) > 0 {
		names := make([]string, 0, len(t.Kinds))
		for _, k := range t.Kinds {
			switch k {
			case Insert, Modify, Remove:
			default:
				return nil, fmt.Errorf("triggers: stream trigger on %q: unknown kind of change %q; use triggers.Insert, triggers.Modify or triggers.Remove", t.Table, k)
			}
			names = append(names, string(k))
		}
		for _, n := range sortedUniqueStrings(names) {
			kinds = append(kinds, n)
		}
	}
	if len(t.Filters) == 0 {
		p, err := encodePattern(map[string]any{"eventName": kinds})
		if err != nil {
			return nil, err
		}
		return []string{p}, nil
	}
	out := make([]string, 0, len(t.Filters))
	for i, f := range t.Filters {
		tree, err := f.compile()
		if err != nil {
			return nil, fmt.Errorf("triggers: stream trigger on %q, filter %d: %w", t.Table, i+1, err)
		}
		if err := t.checkImages(f); err != nil {
			return nil, fmt.Errorf("triggers: stream trigger on %q, filter %d: %w", t.Table, i+1, err)
		}
		if kinds != nil {
			tree["eventName"] = kinds
		}
		p, err := encodePattern(tree)
		if err != nil {
			return nil, err
		}
		if len(p) > MaxFilterPatternBytes {
			return nil, fmt.Errorf("triggers: stream trigger on %q, filter %d: pattern is %d bytes with the eventName rule; Lambda takes at most %d (MaxFilterPatternBytes): use fewer or shorter values", t.Table, i+1, len(p), MaxFilterPatternBytes)
		}
		out = append(out, p)
	}
	return out, nil
}

// checkImages refuses a filter that no record of the trigger's kinds can
// match: INSERT records carry no OldImage and REMOVE records no NewImage.
func (t *StreamTrigger) checkImages(f Filter) error {
	var needOld, needNew *Condition
	for i := range f.conds {
		c := &f.conds[i]
		if c.op == opMissing {
			continue // an absent image satisfies Missing
		}
		switch c.attr.image {
		case ImageOld:
			if needOld == nil {
				needOld = c
			}
		case ImageNew:
			if needNew == nil {
				needNew = c
			}
		}
	}
	if (needOld == nil && needNew == nil) || len(t.Kinds) == 0 {
		return nil
	}
	for _, k := range t.Kinds {
		hasOld, hasNew := k != Insert, k != Remove
		if (needOld == nil || hasOld) && (needNew == nil || hasNew) {
			return nil
		}
	}
	kinds := make([]string, len(t.Kinds))
	for i, k := range t.Kinds {
		kinds[i] = string(k)
	}
	switch {
	case needOld != nil && needNew != nil:
		return fmt.Errorf("it tests both %s and %s, but the trigger takes only %s records and only MODIFY records carry both images; the filter would never match: add triggers.Modify", needOld.attr, needNew.attr, strings.Join(kinds, ", "))
	case needOld != nil:
		return fmt.Errorf("it tests %s, but the trigger takes only %s records, which carry no OldImage; the filter would never match: add triggers.Modify or triggers.Remove, or test NewImage", needOld.attr, strings.Join(kinds, ", "))
	default:
		return fmt.Errorf("it tests %s, but the trigger takes only %s records, which carry no NewImage; the filter would never match: test OldImage or Keys instead", needNew.attr, strings.Join(kinds, ", "))
	}
}

func quoteAttrPath(path []string) string {
	q := make([]string, len(path))
	for i, p := range path {
		q[i] = strconv.Quote(p)
	}
	return strings.Join(q, ", ")
}

func sortedUniqueStrings(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	n := 0
	for i, s := range out {
		if i == 0 || s != out[n-1] {
			out[n] = s
			n++
		}
	}
	return out[:n]
}

func pathsEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pathIsPrefix reports whether a is a proper prefix of b.
func pathIsPrefix(a, b []string) bool {
	return len(a) < len(b) && pathsEqual(a, b[:len(a)])
}
