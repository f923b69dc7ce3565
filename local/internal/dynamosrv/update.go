package dynamosrv

import (
	"fmt"
	"sort"
	"strings"
)

// ---- update expressions

type updateAction struct {
	kind string // SET, REMOVE, ADD, DELETE
	path docPath
	val  operand // SET: the value; ADD/DELETE: the value operand
}

func parseUpdate(src string, names map[string]string, values map[string]*Value, used *usage) ([]updateAction, error) {
	p, err := newParser("UpdateExpression", src, names, values, used)
	if err != nil {
		return nil, err
	}
	var out []updateAction
	seen := map[string]bool{}
	for p.peek().k != tEOF {
		t := p.next()
		kind := strings.ToUpper(t.s)
		if t.k != tName || (kind != "SET" && kind != "REMOVE" && kind != "ADD" && kind != "DELETE") {
			p.i--
			return nil, p.syntax()
		}
		if seen[kind] {
			return nil, p.errf("The \"%s\" section can only be used once in an update expression;", kind)
		}
		seen[kind] = true
		for {
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			a := updateAction{kind: kind, path: path}
			switch kind {
			case "SET":
				if err := p.expect("="); err != nil {
					return nil, err
				}
				if a.val, err = p.setValue(); err != nil {
					return nil, err
				}
			case "ADD", "DELETE":
				if p.peek().k != tValuePH {
					return nil, p.syntax()
				}
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				a.val = valueOp{v}
			}
			out = append(out, a)
			if !p.punct(",") {
				break
			}
		}
	}
	paths := make([]docPath, len(out))
	for i, a := range out {
		paths[i] = a.path
	}
	if err := checkOverlap(paths, "UpdateExpression"); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *parser) setValue() (operand, error) {
	a, err := p.setOperand()
	if err != nil {
		return nil, err
	}
	if p.punct("+") {
		b, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		return arithOp{false, a, b}, nil
	}
	if p.punct("-") {
		b, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		return arithOp{true, a, b}, nil
	}
	return a, nil
}

func (p *parser) setOperand() (operand, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	t := p.peek()
	if t.k == tName && p.toks[p.i+1].s == "(" {
		switch t.s {
		case "if_not_exists":
			p.i += 2
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
			def, err := p.setOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return ifNotExistsOp{path, def}, nil
		case "list_append":
			p.i += 2
			a, err := p.setOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
			b, err := p.setOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return listAppendOp{a, b}, nil
		default:
			if _, ok := condFuncs[t.s]; ok || t.s == "size" {
				return nil, p.errf("The function is not allowed in an update expression; function: %s", t.s)
			}
			return nil, p.errf("Invalid function name; function: %s", t.s)
		}
	}
	if t.k == tValuePH {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return valueOp{v}, nil
	}
	path, err := p.path()
	if err != nil {
		return nil, err
	}
	return pathOp{path}, nil
}

func pathPrefix(a, b docPath) bool {
	if len(a) > len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkOverlap(paths []docPath, what string) error {
	for i := range paths {
		for j := i + 1; j < len(paths); j++ {
			if pathPrefix(paths[i], paths[j]) || pathPrefix(paths[j], paths[i]) {
				return validation(fmt.Sprintf("Invalid %s: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", what, paths[i], paths[j]))
			}
		}
	}
	return nil
}

// ---- applying updates

func updateErr(msg string) error {
	return validation("The document path provided in the update expression is invalid for update" + msg)
}

// applyUpdate applies the actions to a copy of old and returns the new item
// and the document paths of its actions.
func applyUpdate(old Item, actions []updateAction, keyNames []string) (Item, []docPath, error) {
	item := old.clone()
	if item == nil {
		item = Item{}
	}
	var touched []docPath
	for _, a := range actions {
		for _, k := range keyNames {
			if a.path[0].name == k {
				return nil, nil, itemInvalid("One or more parameter values were invalid: Cannot update attribute " + k + ". This attribute is part of the key")
			}
		}
	}
	// Evaluate every SET value against the old item first, as DynamoDB does.
	vals := make([]*Value, len(actions))
	for i, a := range actions {
		if a.kind != "SET" {
			continue
		}
		v, err := operandValue(old, a.val)
		if err != nil {
			return nil, nil, err
		}
		if v == nil {
			return nil, nil, validation("The provided expression refers to an attribute that does not exist in the item")
		}
		vals[i] = v.clone()
	}
	// REMOVE of list elements applies from the highest index down so that
	// indexes refer to the list as it was; SET of list elements from the
	// lowest index up, so that elements set past the end are appended in
	// index order, as DynamoDB does. Each kind is reordered among its own
	// positions; other actions keep theirs.
	order := make([]int, len(actions))
	for i := range order {
		order[i] = i
	}
	reorder := func(kind string, less func(a, b int) bool) {
		var pos []int
		for i, a := range actions {
			if a.kind == kind && a.path[len(a.path)-1].isIdx {
				pos = append(pos, i)
			}
		}
		sorted := append([]int(nil), pos...)
		sort.SliceStable(sorted, func(x, y int) bool {
			return less(actions[sorted[x]].path[len(actions[sorted[x]].path)-1].index, actions[sorted[y]].path[len(actions[sorted[y]].path)-1].index)
		})
		for k, p := range pos {
			order[p] = sorted[k]
		}
	}
	reorder("REMOVE", func(a, b int) bool { return a > b })
	reorder("SET", func(a, b int) bool { return a < b })
	for _, i := range order {
		a := actions[i]
		touched = append(touched, a.path)
		switch a.kind {
		case "SET":
			if err := setPath(item, a.path, vals[i]); err != nil {
				return nil, nil, err
			}
		case "REMOVE":
			if err := removePath(item, a.path); err != nil {
				return nil, nil, err
			}
		case "ADD", "DELETE":
			arg, _ := operandValue(old, a.val)
			cur := resolve(item, a.path)
			nv, err := addOrDelete(a.kind, cur, arg)
			if err != nil {
				return nil, nil, err
			}
			if nv == nil {
				if err := removePath(item, a.path); err != nil {
					return nil, nil, err
				}
			} else if err := setPath(item, a.path, nv); err != nil {
				return nil, nil, err
			}
		}
	}
	return item, touched, nil
}

func addOrDelete(kind string, cur, arg *Value) (*Value, error) {
	if kind == "ADD" {
		switch arg.K {
		case KN:
			if cur == nil {
				return arg.clone(), nil
			}
			if cur.K != KN {
				return nil, validation("An operand in the update expression has an incorrect data type")
			}
			n, err := addNumbers(cur.Str, arg.Str, false)
			if err != nil {
				return nil, validation(err.Error())
			}
			return &Value{K: KN, Str: n}, nil
		case KSS, KNS, KBS:
			if cur == nil {
				return arg.clone(), nil
			}
			if cur.K != arg.K {
				return nil, validation("An operand in the update expression has an incorrect data type")
			}
			out := cur.clone()
			have := map[string]bool{}
			for _, s := range out.Set {
				have[s] = true
			}
			for _, s := range arg.Set {
				if !have[s] {
					out.Set = append(out.Set, s)
					have[s] = true
				}
			}
			return out, nil
		}
		return nil, validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: " + arg.K.String())
	}
	switch arg.K {
	case KSS, KNS, KBS:
	default:
		return nil, validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: " + arg.K.String())
	}
	if cur == nil {
		return nil, nil
	}
	if cur.K != arg.K {
		return nil, validation("An operand in the update expression has an incorrect data type")
	}
	drop := map[string]bool{}
	for _, s := range arg.Set {
		drop[s] = true
	}
	out := &Value{K: cur.K}
	for _, s := range cur.Set {
		if !drop[s] {
			out.Set = append(out.Set, s)
		}
	}
	if len(out.Set) == 0 {
		return nil, nil
	}
	return out, nil
}

func setPath(item Item, p docPath, v *Value) error {
	if len(p) == 1 {
		item[p[0].name] = v
		return nil
	}
	parent := resolve(item, p[:len(p)-1])
	last := p[len(p)-1]
	if parent == nil {
		return updateErr("")
	}
	if last.isIdx {
		if parent.K != KL {
			return updateErr("")
		}
		if last.index >= len(parent.L) {
			parent.L = append(parent.L, v)
		} else {
			parent.L[last.index] = v
		}
		return nil
	}
	if parent.K != KM {
		return updateErr("")
	}
	parent.M[last.name] = v
	return nil
}

// removePath removes the attribute p names. Like DynamoDB, it refuses a
// path whose parent is missing or is not a map (for a name) or a list (for
// an index), and ignores a missing last element.
func removePath(item Item, p docPath) error {
	if len(p) == 1 {
		delete(item, p[0].name)
		return nil
	}
	parent := resolve(item, p[:len(p)-1])
	if parent == nil {
		return updateErr("")
	}
	last := p[len(p)-1]
	if last.isIdx {
		if parent.K != KL {
			return updateErr("")
		}
		if last.index < len(parent.L) {
			parent.L = append(parent.L[:last.index:last.index], parent.L[last.index+1:]...)
		}
		return nil
	}
	if parent.K != KM {
		return updateErr("")
	}
	delete(parent.M, last.name)
	return nil
}
