package dynamosrv

import (
	"fmt"
	"strings"
)

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
