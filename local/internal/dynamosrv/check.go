package dynamosrv

// checkOperands refuses, before any item is read, the constant operands
// DynamoDB refuses: a comparison or BETWEEN with a value that is not a
// number, a string or a binary, BETWEEN bounds of two types or in the
// wrong order, a begins_with prefix that is not a string or a binary, and
// an attribute_type with an unknown type name.
func checkOperands(what string, c cond) error {
	bad := func(op string, v *Value) error {
		return validation("Invalid " + what + ": Incorrect operand type for operator or function; operator or function: " + op + ", operand type: " + kindName(v))
	}
	scalar := func(o operand) *Value {
		if v, ok := o.(valueOp); ok && v.v != nil && v.v.K != KN && v.v.K != KS && v.v.K != KB {
			return v.v
		}
		return nil
	}
	switch c := c.(type) {
	case cmpCond:
		if c.op == "=" || c.op == "<>" {
			return nil
		}
		for _, o := range []operand{c.a, c.b} {
			if v := scalar(o); v != nil {
				return bad(c.op, v)
			}
		}
	case betweenCond:
		for _, o := range []operand{c.x, c.lo, c.hi} {
			if v := scalar(o); v != nil {
				return bad("BETWEEN", v)
			}
		}
		lo, ok1 := c.lo.(valueOp)
		hi, ok2 := c.hi.(valueOp)
		if ok1 && ok2 {
			if lo.v.K != hi.v.K {
				return validation("Invalid " + what + ": The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: " + show(lo.v) + ", upper bound operand: " + show(hi.v))
			}
			if n, ok := compare(lo.v, hi.v); ok && n > 0 {
				return validation("Invalid " + what + ": The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: " + show(lo.v) + ", upper bound operand: " + show(hi.v))
			}
		}
	case fnCond:
		arg, ok := c.arg.(valueOp)
		if !ok || arg.v == nil {
			return nil
		}
		switch c.name {
		case "begins_with":
			if arg.v.K != KS && arg.v.K != KB {
				return bad("begins_with", arg.v)
			}
		case "attribute_type":
			if arg.v.K != KS {
				return bad("attribute_type", arg.v)
			}
			if kindOf(arg.v.Str) == 0 {
				return validation("Invalid " + what + ": Invalid attribute type name found; type: " + arg.v.Str + ", valid types: {N,BS,L,B,NULL,M,S,SS,NS,BOOL}")
			}
		}
	case notCond:
		return checkOperands(what, c.c)
	case andCond:
		if err := checkOperands(what, c.l); err != nil {
			return err
		}
		return checkOperands(what, c.r)
	case orCond:
		if err := checkOperands(what, c.l); err != nil {
			return err
		}
		return checkOperands(what, c.r)
	}
	return nil
}
