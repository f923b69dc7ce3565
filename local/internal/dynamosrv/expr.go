package dynamosrv

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ---- lexer

type tokKind int

const (
	tEOF tokKind = iota
	tName
	tNamePH  // #name
	tValuePH // :value
	tNumber  // list index
	tPunct
)

type token struct {
	k   tokKind
	s   string
	pos int
}

func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == ':':
			j := i + 1
			for j < len(src) && (isIdent(src[j]) || src[j] == '-') {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("Syntax error; token: \"%c\", near: \"%s\"", c, near(src, i))
			}
			k := tNamePH
			if c == ':' {
				k = tValuePH
			}
			out = append(out, token{k, src[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			out = append(out, token{tNumber, src[i:j], i})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdent(src[j]) {
				j++
			}
			out = append(out, token{tName, src[i:j], i})
			i = j
		default:
			if i+1 < len(src) {
				two := src[i : i+2]
				if two == "<=" || two == ">=" || two == "<>" {
					out = append(out, token{tPunct, two, i})
					i += 2
					continue
				}
			}
			if strings.IndexByte("()[],.=<>+-", c) < 0 {
				return nil, fmt.Errorf("Invalid character encountered; character: \"%c\", near: \"%s\"", c, near(src, i))
			}
			out = append(out, token{tPunct, string(c), i})
			i++
		}
	}
	return append(out, token{tEOF, "", len(src)}), nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func near(src string, i int) string {
	end := i + 10
	if end > len(src) {
		end = len(src)
	}
	return src[i:end]
}

// ---- AST

type pathElem struct {
	name  string
	index int
	isIdx bool
}

type docPath []pathElem

func (p docPath) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range p {
		if i > 0 {
			b.WriteString(", ")
		}
		if e.isIdx {
			fmt.Fprintf(&b, "[%d]", e.index)
		} else {
			b.WriteString(e.name)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// operand kinds
type operand interface{}

type pathOp struct{ p docPath }
type valueOp struct{ v *Value }
type sizeOp struct{ p docPath }
type ifNotExistsOp struct {
	p   docPath
	def operand
}
type listAppendOp struct{ a, b operand }
type arithOp struct {
	sub  bool
	a, b operand
}

// condition kinds
type cond interface{}

type cmpCond struct {
	op   string
	a, b operand
}
type betweenCond struct{ x, lo, hi operand }
type inCond struct {
	x    operand
	list []operand
}
type andCond struct{ l, r cond }
type orCond struct{ l, r cond }
type notCond struct{ c cond }
type fnCond struct {
	name string
	p    docPath
	arg  operand
}

// ---- parser

type parser struct {
	src    string
	toks   []token
	i      int
	names  map[string]string
	values map[string]*Value
	used   *usage
	what   string // "ConditionExpression", ... for messages
}

// usage records which placeholders the expressions of a request used.
type usage struct {
	names  map[string]bool
	values map[string]bool
}

func newUsage() *usage { return &usage{names: map[string]bool{}, values: map[string]bool{}} }

// check reports placeholders given but not used, as DynamoDB does.
func (u *usage) check(names map[string]string, values map[string]*Value) error {
	var un []string
	for k := range names {
		if !u.names[k] {
			un = append(un, k)
		}
	}
	if len(un) > 0 {
		sort.Strings(un)
		return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {" + strings.Join(un, ", ") + "}")
	}
	var uv []string
	for k := range values {
		if !u.values[k] {
			uv = append(uv, k)
		}
	}
	if len(uv) > 0 {
		sort.Strings(uv)
		return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {" + strings.Join(uv, ", ") + "}")
	}
	return nil
}

func newParser(what, src string, names map[string]string, values map[string]*Value, used *usage) (*parser, error) {
	if strings.TrimSpace(src) == "" {
		return nil, validation("Invalid " + what + ": The expression can not be empty;")
	}
	toks, err := lex(src)
	if err != nil {
		return nil, validation("Invalid " + what + ": " + err.Error())
	}
	return &parser{src: src, toks: toks, names: names, values: values, used: used, what: what}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) errf(format string, args ...any) error {
	return validation("Invalid " + p.what + ": " + fmt.Sprintf(format, args...))
}

func (p *parser) syntax() error {
	t := p.peek()
	if t.k == tEOF {
		return p.errf("Syntax error; token: \"<EOF>\", near: \"%s\"", near(p.src, max(0, len(p.src)-10)))
	}
	return p.errf("Syntax error; token: \"%s\", near: \"%s\"", t.s, near(p.src, t.pos))
}

func (p *parser) keyword(kw string) bool {
	t := p.peek()
	if t.k == tName && strings.EqualFold(t.s, kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) punct(s string) bool {
	t := p.peek()
	if t.k == tPunct && t.s == s {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(s string) error {
	if !p.punct(s) {
		return p.syntax()
	}
	return nil
}

func (p *parser) done() error {
	if p.peek().k != tEOF {
		return p.syntax()
	}
	return nil
}

var keywords = map[string]bool{"AND": true, "OR": true, "NOT": true, "BETWEEN": true, "IN": true, "SET": true, "REMOVE": true, "ADD": true, "DELETE": true}

func (p *parser) path() (docPath, error) {
	var out docPath
	first := true
	for {
		t := p.next()
		switch t.k {
		case tName:
			if keywords[strings.ToUpper(t.s)] {
				p.i--
				return nil, p.syntax()
			}
			if isReserved(t.s) {
				return nil, p.errf("Attribute name is a reserved keyword; reserved keyword: %s", t.s)
			}
			out = append(out, pathElem{name: t.s})
		case tNamePH:
			n, ok := p.names[t.s]
			if !ok {
				return nil, p.errf("An expression attribute name used in the document path is not defined; attribute name: %s", t.s)
			}
			p.used.names[t.s] = true
			out = append(out, pathElem{name: n})
		default:
			p.i--
			return nil, p.syntax()
		}
		_ = first
		first = false
		for p.punct("[") {
			t := p.next()
			if t.k != tNumber {
				p.i--
				return nil, p.syntax()
			}
			n, err := strconv.Atoi(t.s)
			if err != nil {
				return nil, p.syntax()
			}
			out = append(out, pathElem{index: n, isIdx: true})
			if err := p.expect("]"); err != nil {
				return nil, err
			}
		}
		if !p.punct(".") {
			return out, nil
		}
	}
}

func (p *parser) value() (*Value, error) {
	t := p.next()
	v, ok := p.values[t.s]
	if !ok {
		return nil, p.errf("An expression attribute value used in expression is not defined; attribute value: %s", t.s)
	}
	p.used.values[t.s] = true
	return v, nil
}

// operand parses a path, a value or size(path) (conditions).
func (p *parser) operand() (operand, error) {
	t := p.peek()
	switch t.k {
	case tValuePH:
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return valueOp{v}, nil
	case tName:
		if t.s == "size" && p.toks[p.i+1].s == "(" {
			p.i += 2
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return sizeOp{path}, nil
		}
		if p.toks[p.i+1].s == "(" {
			return nil, p.errf("Invalid function name; function: %s", t.s)
		}
		fallthrough
	case tNamePH:
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		return pathOp{path}, nil
	}
	return nil, p.syntax()
}

func (p *parser) condition() (cond, error) {
	l, err := p.andCond()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		r, err := p.andCond()
		if err != nil {
			return nil, err
		}
		l = orCond{l, r}
	}
	return l, nil
}

func (p *parser) andCond() (cond, error) {
	l, err := p.notCond()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		r, err := p.notCond()
		if err != nil {
			return nil, err
		}
		l = andCond{l, r}
	}
	return l, nil
}

func (p *parser) notCond() (cond, error) {
	if p.keyword("NOT") {
		c, err := p.notCond()
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	return p.primary()
}

var condFuncs = map[string]int{"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2}

func (p *parser) primary() (cond, error) {
	if p.punct("(") {
		c, err := p.condition()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return c, nil
	}
	t := p.peek()
	if t.k == tName && p.toks[p.i+1].s == "(" && t.s != "size" {
		n, ok := condFuncs[t.s]
		if !ok {
			if t.s == "if_not_exists" || t.s == "list_append" {
				return nil, p.errf("The function is not allowed to be used this way in an expression; function: %s", t.s)
			}
			return nil, p.errf("Invalid function name; function: %s", t.s)
		}
		p.i += 2
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		f := fnCond{name: t.s, p: path}
		if n == 2 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
			if f.arg, err = p.operand(); err != nil {
				return nil, err
			}
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return f, nil
	}
	a, err := p.operand()
	if err != nil {
		return nil, err
	}
	if p.keyword("BETWEEN") {
		lo, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !p.keyword("AND") {
			return nil, p.syntax()
		}
		hi, err := p.operand()
		if err != nil {
			return nil, err
		}
		return betweenCond{a, lo, hi}, nil
	}
	if p.keyword("IN") {
		if err := p.expect("("); err != nil {
			return nil, err
		}
		c := inCond{x: a}
		for {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			c.list = append(c.list, o)
			if p.punct(")") {
				return c, nil
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
	}
	t = p.peek()
	if t.k == tPunct {
		switch t.s {
		case "=", "<>", "<", "<=", ">", ">=":
			p.i++
			b, err := p.operand()
			if err != nil {
				return nil, err
			}
			return cmpCond{t.s, a, b}, nil
		}
	}
	return nil, p.syntax()
}

// parseCondition parses a condition or filter expression.
func parseCondition(what, src string, names map[string]string, values map[string]*Value, used *usage) (cond, error) {
	p, err := newParser(what, src, names, values, used)
	if err != nil {
		return nil, err
	}
	c, err := p.condition()
	if err != nil {
		return nil, err
	}
	return c, p.done()
}

// parseProjection parses a projection expression.
func parseProjection(src string, names map[string]string, used *usage) ([]docPath, error) {
	p, err := newParser("ProjectionExpression", src, names, nil, used)
	if err != nil {
		return nil, err
	}
	var out []docPath
	for {
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		out = append(out, path)
		if p.peek().k == tEOF {
			break
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
	if err := checkOverlap(out, "ProjectionExpression"); err != nil {
		return nil, err
	}
	return out, nil
}

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
			return nil, validation("Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: " + v.K.String())
		}
		return &Value{K: KN, Str: strconv.Itoa(n)}, nil
	case ifNotExistsOp:
		if v := resolve(item, o.p); v != nil {
			return v, nil
		}
		return operandValue(item, o.def)
	case listAppendOp:
		a, err := operandValue(item, o.a)
		if err != nil {
			return nil, err
		}
		b, err := operandValue(item, o.b)
		if err != nil {
			return nil, err
		}
		if a == nil || b == nil {
			return nil, validation("The provided expression refers to an attribute that does not exist in the item")
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
		a, err := operandValue(item, o.a)
		if err != nil {
			return nil, err
		}
		b, err := operandValue(item, o.b)
		if err != nil {
			return nil, err
		}
		if a == nil || b == nil {
			return nil, validation("The provided expression refers to an attribute that does not exist in the item")
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

// ---- applying updates

func updateErr(msg string) error {
	return validation("The document path provided in the update expression is invalid for update" + msg)
}

// applyUpdate applies the actions to a copy of old and returns the new item
// and the top-level attribute names it touched.
func applyUpdate(old Item, actions []updateAction, keyNames []string) (Item, []string, error) {
	item := old.clone()
	if item == nil {
		item = Item{}
	}
	var touched []string
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
	for _, a := range actions {
		for _, k := range keyNames {
			if a.path[0].name == k {
				return nil, nil, validation("One or more parameter values were invalid: Cannot update attribute " + k + ". This attribute is part of the key")
			}
		}
	}
	// REMOVE of list elements applies from the highest index down so that
	// indexes refer to the list as it was.
	order := make([]int, len(actions))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool {
		a, b := actions[order[x]], actions[order[y]]
		if a.kind == "REMOVE" && b.kind == "REMOVE" {
			la, lb := a.path[len(a.path)-1], b.path[len(b.path)-1]
			if la.isIdx && lb.isIdx {
				return la.index > lb.index
			}
		}
		return false
	})
	for _, i := range order {
		a := actions[i]
		touched = append(touched, a.path[0].name)
		switch a.kind {
		case "SET":
			if err := setPath(item, a.path, vals[i]); err != nil {
				return nil, nil, err
			}
		case "REMOVE":
			removePath(item, a.path)
		case "ADD", "DELETE":
			arg, _ := operandValue(old, a.val)
			cur := resolve(item, a.path)
			nv, err := addOrDelete(a.kind, cur, arg)
			if err != nil {
				return nil, nil, err
			}
			if nv == nil {
				removePath(item, a.path)
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

func removePath(item Item, p docPath) {
	if len(p) == 1 {
		delete(item, p[0].name)
		return
	}
	parent := resolve(item, p[:len(p)-1])
	if parent == nil {
		return
	}
	last := p[len(p)-1]
	if last.isIdx {
		if parent.K == KL && last.index < len(parent.L) {
			parent.L = append(parent.L[:last.index:last.index], parent.L[last.index+1:]...)
		}
		return
	}
	if parent.K == KM {
		delete(parent.M, last.name)
	}
}

// project returns the parts of item the paths name.
func project(item Item, paths []docPath) Item {
	if paths == nil || item == nil {
		return item
	}
	out := Item{}
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
			var srcNext *Value
			if e.isIdx {
				srcNext = src.L[e.index]
			} else {
				srcNext = src.M[e.name]
			}
			if last {
				if e.isIdx {
					cur.L = append(cur.L, srcNext.clone())
				} else {
					cur.M[e.name] = srcNext.clone()
				}
				break
			}
			var next *Value
			if e.isIdx {
				next = emptyLike(srcNext)
				cur.L = append(cur.L, next)
			} else {
				n, ok := cur.M[e.name]
				if !ok {
					n = emptyLike(srcNext)
					cur.M[e.name] = n
				}
				next = n
			}
			cur, src = next, srcNext
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
