package dynamosrv

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ---- evaluation

// resolve returns the value at path in item, or nil.
func resolve(item Item, p docPath) *Value {
	if len(p) == 0 || p[0].isIdx {
		return nil
	}
	v := item[p[0].name]
	for _, e := range p[1:] {
		if v == nil {
			return nil
		}
		if e.isIdx {
			if v.K != KL || e.index >= len(v.L) {
				return nil
			}
			v = v.L[e.index]
		} else {
			if v.K != KM {
				return nil
			}
			v = v.M[e.name]
		}
	}
	return v
}

// operandValue evaluates an operand against an item; nil means missing.
func operandValue(item Item, o operand) (*Value, error) {
	switch o := o.(type) {
	case valueOp:
		return o.v, nil
	case pathOp:
		return resolve(item, o.p), nil
	case sizeOp:
		v := resolve(item, o.p)
		if v == nil {
			return nil, nil
		}
		var n int
		switch v.K {
		case KS, KB:
			n = len(v.Str)
		case KSS, KNS, KBS:
			n = len(v.Set)
		case KL:
			n = len(v.L)
		case KM:
			n = len(v.M)
		default:
			// DynamoDB treats size of a number, a Boolean or a null as
			// a comparison that fails, not as an error.
			return nil, nil
		}
		return &Value{K: KN, Str: strconv.Itoa(n)}, nil
	case ifNotExistsOp:
		if v := resolve(item, o.p); v != nil {
			return v, nil
		}
		return operandValue(item, o.def)
	case listAppendOp:
		a, b, err := operandPair(item, o.a, o.b)
		if err != nil {
			return nil, err
		}
		if a.K != KL || b.K != KL {
			t := a.K
			if a.K == KL {
				t = b.K
			}
			return nil, validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: " + t.String())
		}
		l := make([]*Value, 0, len(a.L)+len(b.L))
		for _, e := range a.L {
			l = append(l, e.clone())
		}
		for _, e := range b.L {
			l = append(l, e.clone())
		}
		return &Value{K: KL, L: l}, nil
	case arithOp:
		a, b, err := operandPair(item, o.a, o.b)
		if err != nil {
			return nil, err
		}
		opName := "+"
		if o.sub {
			opName = "-"
		}
		if a.K != KN || b.K != KN {
			t := a.K
			if a.K == KN {
				t = b.K
			}
			return nil, validation("An operand in the update expression has an incorrect data type; operator or function: " + opName + ", operand type: " + t.String())
		}
		n, err := addNumbers(a.Str, b.Str, o.sub)
		if err != nil {
			return nil, validation(err.Error())
		}
		return &Value{K: KN, Str: n}, nil
	}
	return nil, fmt.Errorf("unknown operand %T", o)
}

// operandPair evaluates the two operands of list_append or + and -, both
// of which must name something in the item.
func operandPair(item Item, x, y operand) (a, b *Value, err error) {
	if a, err = operandValue(item, x); err != nil {
		return nil, nil, err
	}
	if b, err = operandValue(item, y); err != nil {
		return nil, nil, err
	}
	if a == nil || b == nil {
		return nil, nil, validation("The provided expression refers to an attribute that does not exist in the item")
	}
	return a, b, nil
}

// evalCond evaluates a condition on an item (an empty item when absent).
func evalCond(item Item, c cond) (bool, error) {
	switch c := c.(type) {
	case andCond:
		l, err := evalCond(item, c.l)
		if err != nil || !l {
			return false, err
		}
		return evalCond(item, c.r)
	case orCond:
		l, err := evalCond(item, c.l)
		if err != nil || l {
			return l, err
		}
		return evalCond(item, c.r)
	case notCond:
		v, err := evalCond(item, c.c)
		return !v, err
	case cmpCond:
		a, err := operandValue(item, c.a)
		if err != nil {
			return false, err
		}
		b, err := operandValue(item, c.b)
		if err != nil {
			return false, err
		}
		switch c.op {
		case "=":
			return a != nil && b != nil && equal(a, b), nil
		case "<>":
			if a == nil || b == nil {
				return true, nil
			}
			return !equal(a, b), nil
		}
		n, ok := compare(a, b)
		if !ok {
			return false, nil
		}
		switch c.op {
		case "<":
			return n < 0, nil
		case "<=":
			return n <= 0, nil
		case ">":
			return n > 0, nil
		default:
			return n >= 0, nil
		}
	case betweenCond:
		x, err := operandValue(item, c.x)
		if err != nil {
			return false, err
		}
		lo, err := operandValue(item, c.lo)
		if err != nil {
			return false, err
		}
		hi, err := operandValue(item, c.hi)
		if err != nil {
			return false, err
		}
		if n, ok := compare(lo, hi); ok && n > 0 {
			return false, validation("Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower operand: " + show(lo) + ", upper operand: " + show(hi))
		}
		a, ok1 := compare(lo, x)
		b, ok2 := compare(x, hi)
		return ok1 && ok2 && a <= 0 && b <= 0, nil
	case inCond:
		x, err := operandValue(item, c.x)
		if err != nil || x == nil {
			return false, err
		}
		for _, o := range c.list {
			v, err := operandValue(item, o)
			if err != nil {
				return false, err
			}
			if v != nil && equal(x, v) {
				return true, nil
			}
		}
		return false, nil
	case fnCond:
		v := resolve(item, c.p)
		switch c.name {
		case "attribute_exists":
			return v != nil, nil
		case "attribute_not_exists":
			return v == nil, nil
		}
		arg, err := operandValue(item, c.arg)
		if err != nil {
			return false, err
		}
		switch c.name {
		case "attribute_type":
			if arg == nil || arg.K != KS {
				return false, validation("Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: " + kindName(arg))
			}
			if kindOf(arg.Str) == 0 {
				return false, validation("Invalid ConditionExpression: Invalid attribute type name found; type: " + arg.Str + ", valid types: { B,NULL,SS,BOOL,L,BS,N,NS,S,M }")
			}
			return v != nil && v.K.String() == arg.Str, nil
		case "begins_with":
			if arg == nil || (arg.K != KS && arg.K != KB) {
				return false, validation("Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: " + kindName(arg))
			}
			return v != nil && v.K == arg.K && strings.HasPrefix(v.Str, arg.Str), nil
		case "contains":
			if v == nil || arg == nil {
				return false, nil
			}
			switch v.K {
			case KS, KB:
				return arg.K == v.K && strings.Contains(v.Str, arg.Str), nil
			case KSS, KNS, KBS:
				if (v.K == KSS && arg.K != KS) || (v.K == KNS && arg.K != KN) || (v.K == KBS && arg.K != KB) {
					return false, nil
				}
				for _, s := range v.Set {
					if s == arg.Str {
						return true, nil
					}
				}
			case KL:
				for _, e := range v.L {
					if equal(e, arg) {
						return true, nil
					}
				}
			}
			return false, nil
		}
	}
	return false, fmt.Errorf("unknown condition %T", c)
}

func kindName(v *Value) string {
	if v == nil {
		return "missing"
	}
	return v.K.String()
}

func show(v *Value) string {
	b, _ := v.MarshalJSON()
	return string(b)
}

// project returns the parts of item the paths name.
func project(item Item, paths []docPath) Item {
	if paths == nil || item == nil {
		return item
	}
	out := Item{}
	// The projected elements of each list, by index: a list holds them in
	// index order whatever the order of the paths, and two paths into one
	// element share it.
	lists := map[*Value]map[int]*Value{}
	for _, p := range paths {
		v := resolve(item, p)
		if v == nil {
			continue
		}
		if len(p) == 1 {
			out[p[0].name] = v.clone()
			continue
		}
		// Build the enclosing structure.
		top, ok := out[p[0].name]
		if !ok {
			top = emptyLike(item[p[0].name])
			out[p[0].name] = top
		}
		cur, src := top, item[p[0].name]
		for i := 1; i < len(p); i++ {
			e := p[i]
			last := i == len(p)-1
			var srcNext, next *Value
			if e.isIdx {
				srcNext = src.L[e.index]
				m := lists[cur]
				if m == nil {
					m = map[int]*Value{}
					lists[cur] = m
				}
				if last {
					m[e.index] = srcNext.clone()
					break
				}
				if next = m[e.index]; next == nil {
					next = emptyLike(srcNext)
					m[e.index] = next
				}
			} else {
				srcNext = src.M[e.name]
				if last {
					cur.M[e.name] = srcNext.clone()
					break
				}
				if next = cur.M[e.name]; next == nil {
					next = emptyLike(srcNext)
					cur.M[e.name] = next
				}
			}
			cur, src = next, srcNext
		}
	}
	for l, m := range lists {
		idx := make([]int, 0, len(m))
		for i := range m {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		l.L = l.L[:0]
		for _, i := range idx {
			l.L = append(l.L, m[i])
		}
	}
	return out
}

func emptyLike(v *Value) *Value {
	if v.K == KL {
		return &Value{K: KL, L: []*Value{}}
	}
	return &Value{K: KM, M: map[string]*Value{}}
}

// condAttrs returns the top-level attribute names a condition reads.
func condAttrs(c cond) []string {
	var out []string
	var op func(o operand)
	path := func(p docPath) {
		if len(p) > 0 && !p[0].isIdx {
			out = append(out, p[0].name)
		}
	}
	op = func(o operand) {
		switch o := o.(type) {
		case pathOp:
			path(o.p)
		case sizeOp:
			path(o.p)
		case ifNotExistsOp:
			path(o.p)
			op(o.def)
		case listAppendOp:
			op(o.a)
			op(o.b)
		case arithOp:
			op(o.a)
			op(o.b)
		}
	}
	var walk func(c cond)
	walk = func(c cond) {
		switch c := c.(type) {
		case cmpCond:
			op(c.a)
			op(c.b)
		case betweenCond:
			op(c.x)
			op(c.lo)
			op(c.hi)
		case inCond:
			op(c.x)
			for _, o := range c.list {
				op(o)
			}
		case andCond:
			walk(c.l)
			walk(c.r)
		case orCond:
			walk(c.l)
			walk(c.r)
		case notCond:
			walk(c.c)
		case fnCond:
			path(c.p)
			op(c.arg)
		}
	}
	walk(c)
	return out
}
