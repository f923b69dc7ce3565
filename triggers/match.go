package triggers

// The local evaluator of the patterns filter.go compiles: the same
// semantics as Lambda's, so the local environment drops exactly the
// records Lambda would.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Matches reports whether one stream record passes the trigger's filter
// criteria, evaluating the patterns of Patterns as Lambda does. record is
// one element of the event's "Records" array as Lambda delivers it. A
// trigger without patterns passes every record.
//
// Use it in a test to check that a filter passes the records it is meant
// to and drops the others, without deploying:
// orders.Changes(Insert, Where(...)).Matches(record). The error says why
// the record could not be evaluated (not a JSON object) or, as Patterns
// does, that a filter of the trigger was refused.
func (t *StreamTrigger) Matches(record []byte) (bool, error) {
	patterns, err := t.Patterns()
	if err != nil {
		return false, err
	}
	rec, err := decodeFilterJSON(record)
	if err != nil {
		return false, fmt.Errorf("triggers: stream record is not valid JSON: %w", err)
	}
	if _, ok := rec.(map[string]any); !ok {
		return false, errors.New("triggers: stream record is not a JSON object; pass one element of the event's Records array")
	}
	if patterns == nil {
		return true, nil
	}
	for _, p := range patterns {
		ok, err := matchPattern(p, rec)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

func decodeFilterJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers match by their text, as in Lambda
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// matchPattern evaluates one pattern against a decoded record with
// EventBridge's semantics as Lambda documents them: each leaf of the
// pattern is a list of rules OR-ed together, applied to the record's
// values at the same path; the leaves are AND-ed. Arrays in the record are
// flattened, so a rule holds when any element satisfies it. Only the
// operators nanopipe emits are accepted; anything else is an error rather
// than a guess.
func matchPattern(pattern string, record any) (bool, error) {
	p, err := decodeFilterJSON([]byte(pattern))
	if err != nil {
		return false, fmt.Errorf("triggers: filter pattern is not valid JSON: %w", err)
	}
	obj, ok := p.(map[string]any)
	if !ok {
		return false, errors.New("triggers: filter pattern is not a JSON object")
	}
	var leaves []patternLeaf
	if err := collectLeaves(obj, nil, &leaves); err != nil {
		return false, err
	}
	for _, l := range leaves {
		ok, err := matchRules(l.rules, recordValues(record, l.path), l.path)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

type patternLeaf struct {
	path  []string
	rules []any
}

func collectLeaves(obj map[string]any, path []string, out *[]patternLeaf) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "$") {
			return fmt.Errorf("triggers: filter pattern operator %q is not supported by the local evaluator", k)
		}
		p := append(append([]string(nil), path...), k)
		switch v := obj[k].(type) {
		case map[string]any:
			if err := collectLeaves(v, p, out); err != nil {
				return err
			}
		case []any:
			*out = append(*out, patternLeaf{path: p, rules: v})
		default:
			return fmt.Errorf("triggers: filter pattern value at %s must be an object or an array of rules", strings.Join(p, "."))
		}
	}
	return nil
}

// recordValues are the leaf values of the record at path. Objects are not
// leaves (AWS: exists only works on leaf nodes), and arrays contribute
// their elements.
func recordValues(v any, path []string) []any {
	switch x := v.(type) {
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, recordValues(e, path)...)
		}
		return out
	case map[string]any:
		if len(path) == 0 {
			return nil
		}
		child, ok := x[path[0]]
		if !ok {
			return nil
		}
		return recordValues(child, path[1:])
	default:
		if len(path) > 0 {
			return nil
		}
		return []any{x}
	}
}

func matchRules(rules []any, vals []any, path []string) (bool, error) {
	if len(rules) == 0 {
		return false, fmt.Errorf("triggers: filter pattern has an empty rule list at %s", strings.Join(path, "."))
	}
	for _, r := range rules {
		if m, ok := r.(map[string]any); ok {
			if e, ok := m["exists"]; ok && len(m) == 1 {
				want, ok := e.(bool)
				if !ok {
					return false, fmt.Errorf("triggers: \"exists\" at %s must be true or false", strings.Join(path, "."))
				}
				if want == (len(vals) > 0) {
					return true, nil
				}
				continue
			}
		}
		for _, v := range vals {
			ok, err := matchRule(r, v, path)
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
		if len(vals) == 0 {
			// A rule other than exists:false needs a value; still check
			// the rule's form so a bad pattern never passes silently.
			if _, err := matchRule(r, nil, path); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

func matchRule(rule, v any, path []string) (bool, error) {
	at := strings.Join(path, ".")
	obj, ok := rule.(map[string]any)
	if !ok {
		return literalEqual(rule, v), nil
	}
	if len(obj) != 1 {
		return false, fmt.Errorf("triggers: filter rule at %s must have exactly one operator", at)
	}
	for op, arg := range obj {
		switch op {
		case "prefix", "suffix", "equals-ignore-case":
			want, ok := arg.(string)
			if !ok {
				return false, fmt.Errorf("triggers: %q at %s must be a string", op, at)
			}
			s, ok := v.(string)
			if !ok {
				return false, nil // these operators only match strings
			}
			switch op {
			case "prefix":
				return strings.HasPrefix(s, want), nil
			case "suffix":
				return strings.HasSuffix(s, want), nil
			}
			return strings.EqualFold(s, want), nil
		case "anything-but":
			list, ok := arg.([]any)
			if !ok {
				list = []any{arg}
			}
			for _, x := range list {
				if _, isObj := x.(map[string]any); isObj {
					return false, fmt.Errorf("triggers: \"anything-but\" at %s with an operator is not supported by the local evaluator", at)
				}
			}
			if v == nil {
				return false, nil
			}
			for _, x := range list {
				if literalEqual(x, v) {
					return false, nil
				}
			}
			return true, nil
		case "exists":
			return false, fmt.Errorf("triggers: \"exists\" at %s must be a rule of its own", at)
		default:
			return false, fmt.Errorf("triggers: filter operator %q at %s is not supported by the local evaluator", op, at)
		}
	}
	return false, nil
}

// literalEqual is exact matching: same JSON type and, for numbers, the same
// text (AWS: 300, 300.0 and 3.0e2 are not considered equal).
func literalEqual(rule, v any) bool {
	switch r := rule.(type) {
	case string:
		s, ok := v.(string)
		return ok && s == r
	case json.Number:
		n, ok := v.(json.Number)
		return ok && n == r
	case bool:
		b, ok := v.(bool)
		return ok && b == r
	case nil:
		return v == nil
	}
	return false
}
