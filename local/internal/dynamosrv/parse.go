package dynamosrv

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ---- parser

type parser struct {
	src    string
	toks   []token
	i      int
	names  map[string]string
	values map[string]*Value
	used   *usage
	what   string // "ConditionExpression", ... for messages
	depth  int    // nesting of parentheses, NOT and functions being parsed
	paren  bool   // the condition just parsed is one in parentheses
	ops    int    // operators and functions of a condition so far
}

// DynamoDB's limits on expressions: an expression string holds at most
// 4 KB, a condition at most 300 operators and functions, a document path
// at most 32 levels. Nesting is bounded too (by the size, and explicitly
// so that no expression can exhaust the stack).
const (
	maxExprBytes  = 4096
	maxExprOps    = 300
	maxPathDepth  = 32
	maxExprNested = 300
)

// op counts one operator or function of a condition and refuses too many.
func (p *parser) op() error {
	p.ops++
	if p.ops > maxExprOps {
		return p.errf("The expression contains too many operators; operator count: %d", p.ops)
	}
	return nil
}

// enter counts one level of nesting and refuses too many.
func (p *parser) enter() error {
	p.depth++
	if p.depth > maxExprNested {
		return p.errf("The expression has too many nesting levels; the maximum is %d", maxExprNested)
	}
	return nil
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
	if len(src) > maxExprBytes {
		return nil, validation(fmt.Sprintf("Invalid %s: Expression size has exceeded the maximum allowed size; expression size: %d", what, len(src)))
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
			if len(out) > maxPathDepth {
				return nil, p.errf("The document path has too many nesting levels; nesting levels: %d", len(out))
			}
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
			if err := p.op(); err != nil {
				return nil, err
			}
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
		if err := p.op(); err != nil {
			return nil, err
		}
		r, err := p.andCond()
		if err != nil {
			return nil, err
		}
		l = orCond{l, r}
		p.paren = false
	}
	return l, nil
}

func (p *parser) andCond() (cond, error) {
	l, err := p.notCond()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		if err := p.op(); err != nil {
			return nil, err
		}
		r, err := p.notCond()
		if err != nil {
			return nil, err
		}
		l = andCond{l, r}
		p.paren = false
	}
	return l, nil
}

func (p *parser) notCond() (cond, error) {
	if p.keyword("NOT") {
		if err := p.op(); err != nil {
			return nil, err
		}
		if err := p.enter(); err != nil {
			return nil, err
		}
		c, err := p.notCond()
		if err != nil {
			return nil, err
		}
		p.depth--
		p.paren = false
		return notCond{c}, nil
	}
	return p.primary()
}

var condFuncs = map[string]int{"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2}

func (p *parser) primary() (cond, error) {
	if p.punct("(") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		c, err := p.condition()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		if p.paren {
			// "((a))": DynamoDB refuses parentheses around parentheses.
			return nil, p.errf("The expression has redundant parentheses;")
		}
		p.depth--
		p.paren = true
		return c, nil
	}
	p.paren = false
	t := p.peek()
	if t.k == tName && p.toks[p.i+1].s == "(" && t.s != "size" {
		n, ok := condFuncs[t.s]
		if !ok {
			if t.s == "if_not_exists" || t.s == "list_append" {
				return nil, p.errf("The function is not allowed to be used this way in an expression; function: %s", t.s)
			}
			return nil, p.errf("Invalid function name; function: %s", t.s)
		}
		if err := p.op(); err != nil {
			return nil, err
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
		if err := p.op(); err != nil {
			return nil, err
		}
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
		if err := p.op(); err != nil {
			return nil, err
		}
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
			if err := p.op(); err != nil {
				return nil, err
			}
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
	if err := p.done(); err != nil {
		return nil, err
	}
	if what != "KeyConditionExpression" {
		if err := checkOperands(what, c); err != nil {
			return nil, err
		}
	}
	return c, nil
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
