package difftest

import (
	"encoding/base64"
	"fmt"
	"math/rand"
	"strings"
)

// tableSpec is one of the four tables, one per stream view type.
type tableSpec struct {
	suffix, view string
	skKind       string // "", "N" or "S"
}

var tableSpecs = []tableSpec{
	{"keys", "KEYS_ONLY", "N"},
	{"new", "NEW_IMAGE", "S"},
	{"old", "OLD_IMAGE", ""},
	{"both", "NEW_AND_OLD_IMAGES", "N"},
}

// gen generates requests from a seed.
type gen struct {
	r      *rand.Rand
	prefix string
}

func (g *gen) table(i int) string { return g.prefix + tableSpecs[i].suffix }

func (g *gen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// key returns a key of table i, from a small key space so that writes
// meet existing items.
func (g *gen) key(i int) map[string]any {
	k := map[string]any{"pk": map[string]any{"S": g.pick("p0", "p1", "p2", "p3")}}
	switch tableSpecs[i].skKind {
	case "N":
		k["sk"] = map[string]any{"N": g.pick("0", "1", "2", "3", "4")}
	case "S":
		k["sk"] = map[string]any{"S": g.pick("a", "b", "c", "d")}
	}
	return k
}

// numbers includes DynamoDB's limits: 38 significant digits, magnitudes
// from 1E-130 to 9.99…E+125, and values just beyond them.
var numbers = []string{
	"0", "1", "-1", "2", "7", "10", "-3", "0.5", "1.50", "100", "00012", "-0",
	"12345678901234567890123456789012345678",
	"-9.9999999999999999999999999999999999999E+125",
	"9.9999999999999999999999999999999999999E+125",
	"1E-130", "-1E-130", "1E+125", "0.000001",
	"99999999999999999999999999999999999999",
	"1E+126", "1E-131", "123456789012345678901234567890123456789",
}

func (g *gen) number() string {
	if g.chance(0.7) {
		return numbers[g.r.Intn(11)]
	}
	return numbers[g.r.Intn(len(numbers))]
}

func (g *gen) str() string { return g.pick("x", "y", "xy", "yz", "hello", "") }

func (g *gen) bin() string {
	return base64.StdEncoding.EncodeToString([]byte(g.pick("a", "b", "ab", "\x00\xff")))
}

func (g *gen) set(kind string) map[string]any {
	n := 1 + g.r.Intn(3)
	seen := map[string]bool{}
	var out []string
	for range n {
		var s string
		switch kind {
		case "SS":
			s = g.pick("x", "y", "z", "w")
		case "NS":
			s = g.pick("1", "2", "3", "1.5", "-1")
		case "BS":
			s = g.bin()
		}
		if seen[s] && !g.chance(0.05) {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return map[string]any{kind: out}
}

// value returns a random attribute value nested at most depth levels.
func (g *gen) value(depth int) map[string]any {
	c := g.r.Intn(12)
	if depth <= 0 && c >= 9 {
		c = g.r.Intn(9)
	}
	switch c {
	case 0, 1:
		return map[string]any{"S": g.str()}
	case 2, 3:
		return map[string]any{"N": g.number()}
	case 4:
		return map[string]any{"B": g.bin()}
	case 5:
		return map[string]any{"BOOL": g.chance(0.5)}
	case 6:
		return map[string]any{"NULL": true}
	case 7:
		return g.set(g.pick("SS", "NS"))
	case 8:
		return g.set("BS")
	case 9, 10:
		m := map[string]any{}
		for range g.r.Intn(3) {
			m[g.pick("x", "y", "z", "a")] = g.value(depth - 1)
		}
		return map[string]any{"M": m}
	default:
		var l []any
		for range g.r.Intn(4) {
			l = append(l, g.value(depth-1))
		}
		if l == nil {
			l = []any{}
		}
		return map[string]any{"L": l}
	}
}

// item returns a random item of table i.
func (g *gen) item(i int) map[string]any {
	it := g.key(i)
	if g.chance(0.8) {
		it["av"] = map[string]any{"N": g.number()}
	}
	if g.chance(0.6) {
		it["bv"] = map[string]any{"S": g.str()}
	}
	if g.chance(0.5) {
		it["mp"] = map[string]any{"M": map[string]any{
			"x": map[string]any{"N": g.pick("1", "2")},
			"y": map[string]any{"M": map[string]any{"z": map[string]any{"S": g.str()}}},
		}}
		if g.chance(0.3) {
			it["mp"] = g.value(2)
		}
	}
	if g.chance(0.5) {
		var l []any
		for range g.r.Intn(4) {
			l = append(l, g.value(1))
		}
		if l == nil {
			l = []any{}
		}
		it["ls"] = map[string]any{"L": l}
	}
	if g.chance(0.4) {
		it["ss"] = g.set("SS")
	}
	if g.chance(0.3) {
		it["nset"] = g.set("NS")
	}
	if g.chance(0.2) {
		it["bset"] = g.set("BS")
	}
	if g.chance(0.3) {
		it["cv"] = g.value(2)
	}
	if g.chance(0.03) {
		it["bad"] = map[string]any{"N": g.pick("1E+126", "abc", "123456789012345678901234567890123456789")}
	}
	if g.chance(0.02) {
		it["empty"] = map[string]any{"SS": []any{}}
	}
	return it
}

// expr collects the placeholders of a request's expressions.
type expr struct {
	g      *gen
	names  map[string]any
	values map[string]any
}

func (g *gen) newExpr() *expr {
	return &expr{g: g, names: map[string]any{}, values: map[string]any{}}
}

func (e *expr) val(v map[string]any) string {
	k := fmt.Sprintf(":v%d", len(e.values))
	e.values[k] = v
	return k
}

func (e *expr) name(n string) string {
	if !e.g.chance(0.4) && n != "size" {
		return n
	}
	for k, v := range e.names {
		if v == n {
			return k
		}
	}
	k := fmt.Sprintf("#n%d", len(e.names))
	e.names[k] = n
	return k
}

// path returns a document path, often one that does not exist in the item.
func (e *expr) path() string {
	g := e.g
	switch g.r.Intn(14) {
	case 0, 1:
		return e.name("av")
	case 2:
		return e.name("bv")
	case 3:
		return e.name("mp") + "." + e.name("x")
	case 4:
		return e.name("mp") + "." + e.name("y") + "." + e.name("z")
	case 5:
		return e.name("mp") + "." + e.name("a") + "." + e.name("c")
	case 6:
		return e.name("ls") + fmt.Sprintf("[%d]", g.pick2(0, 1, 2, 7))
	case 7:
		return e.name("ls")
	case 8:
		return e.name("ss")
	case 9:
		return e.name("nset")
	case 10:
		return e.name("cv")
	case 11:
		return e.name("ls") + fmt.Sprintf("[%d]", g.pick2(0, 1)) + "." + e.name("x")
	case 12:
		return e.name("nx")
	default:
		return e.name("mp")
	}
}

func (g *gen) pick2(xs ...int) int { return xs[g.r.Intn(len(xs))] }

func (e *expr) scalar() string {
	g := e.g
	switch g.r.Intn(10) {
	case 0, 1, 2, 3:
		return e.val(map[string]any{"N": g.number()})
	case 4, 5, 6, 7, 8:
		return e.val(map[string]any{"S": g.str()})
	default:
		return e.val(g.value(1))
	}
}

// bounds returns the two operands of a BETWEEN, most often valid ones.
func (e *expr) bounds() (string, string) {
	g := e.g
	if g.chance(0.2) {
		return e.scalar(), e.scalar()
	}
	if g.chance(0.5) {
		lo := g.r.Intn(5)
		return e.val(map[string]any{"N": fmt.Sprint(lo)}), e.val(map[string]any{"N": fmt.Sprint(lo + g.r.Intn(8))})
	}
	a, b := g.pick("a", "h", "x"), g.pick("x", "y", "z")
	return e.val(map[string]any{"S": a}), e.val(map[string]any{"S": b})
}

// cond returns a condition expression.
func (e *expr) cond(depth int) string {
	g := e.g
	c := g.r.Intn(13)
	if depth <= 0 && c >= 10 {
		c = g.r.Intn(10)
	}
	switch c {
	case 0:
		return "attribute_exists(" + e.path() + ")"
	case 1:
		return "attribute_not_exists(" + e.path() + ")"
	case 2, 3:
		return e.path() + " " + g.pick("=", "<>", "<", "<=", ">", ">=") + " " + e.scalar()
	case 4:
		lo, hi := e.bounds()
		return e.path() + " BETWEEN " + lo + " AND " + hi
	case 5:
		return e.path() + " IN (" + e.scalar() + ", " + e.scalar() + ")"
	case 6:
		return "begins_with(" + e.path() + ", " + e.val(map[string]any{"S": g.pick("x", "h", "")}) + ")"
	case 7:
		return "contains(" + e.path() + ", " + e.scalar() + ")"
	case 8:
		return "size(" + e.path() + ") " + g.pick("=", ">", "<") + " " + e.val(map[string]any{"N": g.pick("0", "1", "2")})
	case 9:
		return "attribute_type(" + e.path() + ", " + e.val(map[string]any{"S": g.pick("S", "N", "M", "L", "SS", "NULL", "BOOL", "X")}) + ")"
	case 10:
		return "NOT " + e.cond(depth-1)
	case 11:
		return "(" + e.cond(depth-1) + " AND " + e.cond(depth-1) + ")"
	default:
		return "(" + e.cond(depth-1) + " OR " + e.cond(depth-1) + ")"
	}
}

func (e *expr) numVal() string { return e.val(map[string]any{"N": e.g.number()}) }

// update returns an update expression.
func (e *expr) update() string {
	g := e.g
	var sets, removes, adds, dels []string
	for range 1 + g.r.Intn(3) {
		switch g.r.Intn(16) {
		case 0, 1:
			sets = append(sets, e.path()+" = "+e.scalar())
		case 2:
			sets = append(sets, e.path()+" = "+e.val(g.value(2)))
		case 3:
			sets = append(sets, e.name("av")+" = "+e.name("av")+" "+g.pick("+", "-")+" "+e.numVal())
		case 4:
			if g.chance(0.5) {
				sets = append(sets, e.path()+" = "+e.path()+" + "+e.numVal())
			} else {
				sets = append(sets, e.name(g.pick("av", "nx"))+" = if_not_exists("+e.name("nx")+", "+e.val(map[string]any{"N": "0"})+") + "+e.numVal())
			}
		case 5:
			sets = append(sets, e.path()+" = if_not_exists("+e.path()+", "+e.scalar()+")")
		case 6:
			l := e.val(map[string]any{"L": []any{g.value(1)}})
			if g.chance(0.5) {
				sets = append(sets, e.name("ls")+" = list_append("+e.path()+", "+l+")")
			} else {
				sets = append(sets, e.name("ls")+" = list_append("+l+", if_not_exists("+e.name("ls")+", "+e.val(map[string]any{"L": []any{}})+"))")
			}
		case 7:
			sets = append(sets, e.name(g.pick("s2", "bv", "cv"))+" = "+e.path())
		case 8, 9:
			removes = append(removes, e.path())
		case 10:
			adds = append(adds, e.name(g.pick("av", "nx", "bv"))+" "+e.numVal())
		case 11:
			adds = append(adds, e.name(g.pick("ss", "nset", "nx"))+" "+e.val(g.set(g.pick("SS", "NS"))))
		case 12:
			dels = append(dels, e.name(g.pick("ss", "nset", "bv"))+" "+e.val(g.set(g.pick("SS", "NS"))))
		case 13:
			sets = append(sets, e.name("mp")+"."+e.name(g.pick("x", "q"))+" = "+e.scalar())
		case 14:
			sets = append(sets, e.name("ls")+fmt.Sprintf("[%d]", g.pick2(0, 1, 3, 7))+" = "+e.scalar())
		default:
			if g.chance(0.3) {
				sets = append(sets, e.name("pk")+" = "+e.val(map[string]any{"S": "p9"}))
			} else {
				removes = append(removes, e.name("mp")+"."+e.name(g.pick("x", "y"))+"."+e.name("z"))
			}
		}
	}
	var parts []string
	if sets != nil {
		parts = append(parts, "SET "+strings.Join(sets, ", "))
	}
	if removes != nil {
		parts = append(parts, "REMOVE "+strings.Join(removes, ", "))
	}
	if adds != nil {
		parts = append(parts, "ADD "+strings.Join(adds, ", "))
	}
	if dels != nil {
		parts = append(parts, "DELETE "+strings.Join(dels, ", "))
	}
	g.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return strings.Join(parts, " ")
}

func (e *expr) projection() string {
	var ps []string
	for range 1 + e.g.r.Intn(3) {
		ps = append(ps, e.path())
	}
	if e.g.chance(0.3) {
		ps = append(ps, "pk")
	}
	return strings.Join(ps, ", ")
}

// attach puts the placeholders into the request when there are any.
func (e *expr) attach(req map[string]any) {
	if len(e.names) > 0 {
		req["ExpressionAttributeNames"] = e.names
	}
	if len(e.values) > 0 {
		req["ExpressionAttributeValues"] = e.values
	}
}

// op is one generated request.
type op struct {
	name   string
	req    map[string]any
	tables []int // tables it may write
}

func (g *gen) tableIndex() int { return g.r.Intn(len(tableSpecs)) }

func (g *gen) put(i int, inTx bool) map[string]any {
	req := map[string]any{"TableName": g.table(i), "Item": g.item(i)}
	if g.chance(0.5) {
		e := g.newExpr()
		req["ConditionExpression"] = e.cond(2)
		e.attach(req)
	}
	if !inTx {
		if g.chance(0.5) {
			req["ReturnValues"] = g.pick("NONE", "ALL_OLD", "ALL_OLD", "UPDATED_NEW", "ALL_NEW")
		}
	}
	if g.chance(0.4) {
		req["ReturnValuesOnConditionCheckFailure"] = g.pick("NONE", "ALL_OLD")
	}
	return req
}

func (g *gen) updateReq(i int, inTx bool) map[string]any {
	req := map[string]any{"TableName": g.table(i), "Key": g.key(i)}
	e := g.newExpr()
	req["UpdateExpression"] = e.update()
	if g.chance(0.4) {
		req["ConditionExpression"] = e.cond(2)
	}
	e.attach(req)
	if !inTx && g.chance(0.7) {
		req["ReturnValues"] = g.pick("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
	}
	if g.chance(0.4) {
		req["ReturnValuesOnConditionCheckFailure"] = g.pick("NONE", "ALL_OLD")
	}
	return req
}

func (g *gen) deleteReq(i int, inTx bool) map[string]any {
	req := map[string]any{"TableName": g.table(i), "Key": g.key(i)}
	if g.chance(0.5) {
		e := g.newExpr()
		req["ConditionExpression"] = e.cond(2)
		e.attach(req)
	}
	if !inTx && g.chance(0.5) {
		req["ReturnValues"] = g.pick("NONE", "ALL_OLD", "ALL_NEW")
	}
	if g.chance(0.4) {
		req["ReturnValuesOnConditionCheckFailure"] = g.pick("NONE", "ALL_OLD")
	}
	return req
}

func (g *gen) next() op {
	i := g.tableIndex()
	switch n := g.r.Intn(100); {
	case n < 16:
		return op{"PutItem", g.put(i, false), []int{i}}
	case n < 40:
		return op{"UpdateItem", g.updateReq(i, false), []int{i}}
	case n < 48:
		return op{"DeleteItem", g.deleteReq(i, false), []int{i}}
	case n < 54:
		req := map[string]any{"TableName": g.table(i), "Key": g.key(i), "ConsistentRead": true}
		if g.chance(0.5) {
			e := g.newExpr()
			req["ProjectionExpression"] = e.projection()
			e.attach(req)
		}
		return op{"GetItem", req, nil}
	case n < 64:
		return g.transactWrite()
	case n < 69:
		return g.transactGet()
	case n < 76:
		return g.batchWrite()
	case n < 81:
		return g.batchGet()
	case n < 92:
		return g.query(i)
	default:
		return g.scan(i)
	}
}

func (g *gen) transactWrite() op {
	var items []any
	var tables []int
	for range 1 + g.r.Intn(4) {
		i := g.tableIndex()
		tables = append(tables, i)
		var it map[string]any
		switch g.r.Intn(4) {
		case 0:
			it = map[string]any{"Put": g.put(i, true)}
		case 1:
			it = map[string]any{"Update": g.updateReq(i, true)}
		case 2:
			it = map[string]any{"Delete": g.deleteReq(i, true)}
		default:
			req := map[string]any{"TableName": g.table(i), "Key": g.key(i)}
			e := g.newExpr()
			req["ConditionExpression"] = e.cond(2)
			e.attach(req)
			if g.chance(0.4) {
				req["ReturnValuesOnConditionCheckFailure"] = g.pick("NONE", "ALL_OLD")
			}
			it = map[string]any{"ConditionCheck": req}
		}
		items = append(items, it)
	}
	return op{"TransactWriteItems", map[string]any{"TransactItems": items}, tables}
}

func (g *gen) transactGet() op {
	var items []any
	for range 1 + g.r.Intn(4) {
		i := g.tableIndex()
		req := map[string]any{"TableName": g.table(i), "Key": g.key(i)}
		if g.chance(0.4) {
			e := g.newExpr()
			req["ProjectionExpression"] = e.projection()
			e.attach(req)
		}
		items = append(items, map[string]any{"Get": req})
	}
	return op{"TransactGetItems", map[string]any{"TransactItems": items}, nil}
}

func (g *gen) batchWrite() op {
	reqs := map[string]any{}
	var tables []int
	for range 1 + g.r.Intn(5) {
		i := g.tableIndex()
		tables = append(tables, i)
		var w map[string]any
		if g.chance(0.6) {
			w = map[string]any{"PutRequest": map[string]any{"Item": g.item(i)}}
		} else {
			w = map[string]any{"DeleteRequest": map[string]any{"Key": g.key(i)}}
		}
		l, _ := reqs[g.table(i)].([]any)
		reqs[g.table(i)] = append(l, w)
	}
	return op{"BatchWriteItem", map[string]any{"RequestItems": reqs}, tables}
}

func (g *gen) batchGet() op {
	reqs := map[string]any{}
	for range 1 + g.r.Intn(3) {
		i := g.tableIndex()
		if _, ok := reqs[g.table(i)]; ok {
			continue
		}
		var keys []any
		for range 1 + g.r.Intn(4) {
			keys = append(keys, g.key(i))
		}
		ka := map[string]any{"Keys": keys, "ConsistentRead": true}
		if g.chance(0.4) {
			e := g.newExpr()
			ka["ProjectionExpression"] = e.projection()
			e.attach(ka)
		}
		reqs[g.table(i)] = ka
	}
	return op{"BatchGetItem", map[string]any{"RequestItems": reqs}, nil}
}

func (g *gen) query(i int) op {
	e := g.newExpr()
	k := g.key(i)
	kc := e.name("pk") + " = " + e.val(k["pk"].(map[string]any))
	if sk, ok := k["sk"]; ok && g.chance(0.5) {
		switch g.r.Intn(3) {
		case 0:
			kc += " AND " + e.name("sk") + " " + g.pick("=", "<", "<=", ">", ">=") + " " + e.val(sk.(map[string]any))
		case 1:
			kc += " AND " + e.name("sk") + " BETWEEN " + e.val(sk.(map[string]any)) + " AND " + e.val(g.key(i)["sk"].(map[string]any))
		default:
			if tableSpecs[i].skKind == "S" {
				kc += " AND begins_with(" + e.name("sk") + ", " + e.val(sk.(map[string]any)) + ")"
			}
		}
	}
	req := map[string]any{"TableName": g.table(i), "KeyConditionExpression": kc, "ConsistentRead": true}
	g.readOptions(req, e)
	if g.chance(0.3) {
		req["ScanIndexForward"] = false
	}
	return op{"Query", req, nil}
}

func (g *gen) scan(i int) op {
	req := map[string]any{"TableName": g.table(i), "ConsistentRead": true}
	g.readOptions(req, g.newExpr())
	return op{"Scan", req, nil}
}

// hostile returns a condition at or past DynamoDB's limits: redundant
// parentheses, about 300 operators, long NOT chains, document paths of
// about 32 levels, or more than 4 KB.
func (e *expr) hostile() string {
	g := e.g
	switch g.r.Intn(5) {
	case 0:
		return "((" + e.cond(1) + "))"
	case 1:
		n := 140 + g.r.Intn(20) // 2n-1 operators: 279 to 317
		v := e.numVal()
		return strings.Repeat(e.name("av")+" = "+v+" OR ", n-1) + "attribute_exists(" + e.name("bv") + ")"
	case 2:
		return strings.Repeat("NOT ", 280+g.r.Intn(40)) + e.cond(0)
	case 3:
		return "attribute_exists(" + e.name("mp") + strings.Repeat("."+e.name("x"), 28+g.r.Intn(8)) + ")"
	default:
		return e.cond(0) + strings.Repeat(" ", 4050+g.r.Intn(80))
	}
}

func (g *gen) readOptions(req map[string]any, e *expr) {
	if g.chance(0.03) {
		req["FilterExpression"] = e.hostile()
	} else if g.chance(0.5) {
		req["FilterExpression"] = e.cond(1)
	}
	if g.chance(0.3) {
		req["ProjectionExpression"] = e.projection()
	} else if g.chance(0.15) {
		req["Select"] = "COUNT"
	}
	if g.chance(0.6) {
		req["Limit"] = 1 + g.r.Intn(6)
	}
	e.attach(req)
}
