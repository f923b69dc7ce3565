package dynamosrv

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ---- reads

func projection(expr string, attrs []string, names map[string]string, u *usage) ([]docPath, error) {
	if expr != "" && attrs != nil {
		return nil, validation("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")
	}
	if expr != "" {
		return parseProjection(expr, names, u)
	}
	if attrs != nil {
		var out []docPath
		for _, a := range attrs {
			out = append(out, docPath{{name: a}})
		}
		return out, nil
	}
	return nil, nil
}

func (db *DB) getItem(in keyInput) (any, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	u := newUsage()
	proj, err := projection(in.ProjectionExpression, in.AttributesToGet, in.ExpressionAttributeNames, u)
	if err != nil {
		return nil, err
	}
	if err := u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues); err != nil {
		return nil, err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := t.checkKey(in.Key); err != nil {
		return nil, err
	}
	out := map[string]any{}
	if it := t.get(in.Key); it != nil {
		out["Item"] = project(it, proj)
	}
	if c := capacity(in.ReturnConsumedCapacity, t.meta.Name, 1); c != nil {
		out["ConsumedCapacity"] = c
	}
	return out, nil
}

type queryInput struct {
	exprParams
	TableName              string   `json:"TableName"`
	IndexName              string   `json:"IndexName"`
	KeyConditionExpression string   `json:"KeyConditionExpression"`
	FilterExpression       string   `json:"FilterExpression"`
	ProjectionExpression   string   `json:"ProjectionExpression"`
	Select                 string   `json:"Select"`
	Limit                  *int     `json:"Limit"`
	ExclusiveStartKey      Item     `json:"ExclusiveStartKey"`
	ScanIndexForward       *bool    `json:"ScanIndexForward"`
	ConsistentRead         bool     `json:"ConsistentRead"`
	Segment                *int     `json:"Segment"`
	TotalSegments          *int     `json:"TotalSegments"`
	ReturnConsumedCapacity string   `json:"ReturnConsumedCapacity"`
	AttributesToGet        []string `json:"AttributesToGet"`
	KeyConditions          any      `json:"KeyConditions"`
	QueryFilter            any      `json:"QueryFilter"`
	ScanFilter             any      `json:"ScanFilter"`
	ConditionalOperator    any      `json:"ConditionalOperator"`
}

// keyCond is a query's key condition: the partition key value and an
// optional sort key condition.
type keyCond struct {
	pk     *Value
	skOp   string // "", =, <, <=, >, >=, BETWEEN, begins_with
	a, b   *Value
	skName string
}

func flattenAnd(c cond, out *[]cond) bool {
	switch c := c.(type) {
	case andCond:
		return flattenAnd(c.l, out) && flattenAnd(c.r, out)
	case orCond, notCond:
		return false
	}
	*out = append(*out, c)
	return true
}

func parseKeyCond(expr string, s *space, names map[string]string, values map[string]*Value, u *usage) (keyCond, error) {
	var kc keyCond
	if expr == "" {
		return kc, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	c, err := parseCondition("KeyConditionExpression", expr, names, values, u)
	if err != nil {
		return kc, err
	}
	var parts []cond
	if !flattenAnd(c, &parts) {
		return kc, validation("Invalid operator used in KeyConditionExpression: OR")
	}
	if len(parts) > 2 {
		return kc, validation("Conditions can be of length 1 or 2 only")
	}
	single := func(o operand) (string, bool) {
		p, ok := o.(pathOp)
		if !ok || len(p.p) != 1 || p.p[0].isIdx {
			return "", false
		}
		return p.p[0].name, true
	}
	val := func(o operand) *Value {
		if v, ok := o.(valueOp); ok {
			return v.v
		}
		return nil
	}
	for _, part := range parts {
		switch p := part.(type) {
		case cmpCond:
			name, ok := single(p.a)
			v := val(p.b)
			if !ok || v == nil {
				return kc, validation("Invalid KeyConditionExpression: The left operand must be an attribute name and the right operand a value")
			}
			if name == s.pk {
				if p.op != "=" {
					return kc, validation("Query key condition not supported")
				}
				if kc.pk != nil {
					return kc, validation("KeyConditionExpressions must only contain one condition per key")
				}
				kc.pk = v
			} else if name == s.sk {
				if p.op == "<>" {
					return kc, validation("Unsupported operator on KeyConditionExpression: operator: <>")
				}
				if kc.skOp != "" {
					return kc, validation("KeyConditionExpressions must only contain one condition per key")
				}
				kc.skOp, kc.a = p.op, v
			} else {
				return kc, validation("Query condition missed key schema element: " + s.pk)
			}
		case betweenCond:
			name, ok := single(p.x)
			lo, hi := val(p.lo), val(p.hi)
			if !ok || name != s.sk || lo == nil || hi == nil {
				return kc, validation("Query condition missed key schema element")
			}
			if n, ok := compare(lo, hi); ok && n > 0 {
				return kc, validation("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower operand: " + show(lo) + ", upper operand: " + show(hi))
			}
			kc.skOp, kc.a, kc.b = "BETWEEN", lo, hi
		case fnCond:
			if p.name != "begins_with" || len(p.p) != 1 || p.p[0].name != s.sk {
				return kc, validation("Invalid operator used in KeyConditionExpression: " + p.name)
			}
			v := val(p.arg)
			if v == nil {
				return kc, validation("Invalid KeyConditionExpression")
			}
			kc.skOp, kc.a = "begins_with", v
		default:
			return kc, validation("Invalid operator used in KeyConditionExpression")
		}
	}
	if kc.pk == nil {
		return kc, validation("Query condition missed key schema element: " + s.pk)
	}
	kc.skName = s.sk
	return kc, nil
}

func (kc keyCond) typeCheck(t *table, ix *index) error {
	pkType, skType := t.meta.PK.Type, ""
	if t.meta.SK != nil {
		skType = t.meta.SK.Type
	}
	if ix != nil {
		pkType = ix.meta.PK.Type
		skType = ""
		if ix.meta.SK != nil {
			skType = ix.meta.SK.Type
		}
	}
	if kc.pk.K.String() != pkType {
		return validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
	}
	for _, v := range []*Value{kc.a, kc.b} {
		if v != nil && v.K.String() != skType {
			return validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
		}
	}
	if kc.skOp == "begins_with" && kc.a.K == KN {
		return validation("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")
	}
	return nil
}

// matchSK reports whether a sort key satisfies the condition, and whether
// any later key (in ascending order) still can.
func (kc keyCond) matchSK(sk *Value) (ok, more bool) {
	if kc.skOp == "" {
		return true, true
	}
	n, _ := compare(sk, kc.a)
	switch kc.skOp {
	case "=":
		return n == 0, n <= 0
	case "<":
		return n < 0, n < 0
	case "<=":
		return n <= 0, n <= 0
	case ">":
		return n > 0, true
	case ">=":
		return n >= 0, true
	case "BETWEEN":
		m, _ := compare(sk, kc.b)
		return n >= 0 && m <= 0, m <= 0
	case "begins_with":
		ok := strings.HasPrefix(sk.Str, kc.a.Str)
		return ok, ok || sk.Str < kc.a.Str
	}
	return false, false
}

const pageBytes = 1 << 20

type readResult struct {
	Items            []Item    `json:"Items,omitempty"`
	Count            int       `json:"Count"`
	ScannedCount     int       `json:"ScannedCount"`
	LastEvaluatedKey Item      `json:"LastEvaluatedKey,omitempty"`
	ConsumedCapacity *consumed `json:"ConsumedCapacity,omitempty"`
	countOnly        bool
}

// MarshalJSON writes "Items": [] for a page with no items, as DynamoDB
// does (SDKs then decode an empty list, not a missing one), and no Items
// for Select COUNT.
func (r readResult) MarshalJSON() ([]byte, error) {
	type plain readResult
	if len(r.Items) > 0 || r.countOnly {
		return json.Marshal(plain(r))
	}
	return json.Marshal(struct {
		Items []Item `json:"Items"`
		plain
	}{[]Item{}, plain(r)})
}

type readPlan struct {
	t      *table
	ix     *index
	filter cond
	proj   []docPath
	count  bool
	limit  int
}

func (db *DB) plan(in queryInput, u *usage) (*readPlan, error) {
	for name, v := range map[string]any{"KeyConditions": in.KeyConditions, "QueryFilter": in.QueryFilter, "ScanFilter": in.ScanFilter, "ConditionalOperator": in.ConditionalOperator} {
		if err := legacy(name, v); err != nil {
			return nil, err
		}
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	p := &readPlan{t: t}
	if in.IndexName != "" {
		p.ix = t.indexNamed(in.IndexName)
		if p.ix == nil {
			return nil, validation("The table does not have the specified index: " + in.IndexName)
		}
		if in.ConsistentRead && !p.ix.meta.Local {
			return nil, validation("Consistent reads are not supported on global secondary indexes")
		}
	}
	if in.Limit != nil {
		if *in.Limit < 1 {
			return nil, validation("1 validation error detected: Value '" + fmt.Sprint(*in.Limit) + "' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
		}
		p.limit = *in.Limit
	}
	if in.FilterExpression != "" {
		if p.filter, err = parseCondition("FilterExpression", in.FilterExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u); err != nil {
			return nil, err
		}
	}
	if p.proj, err = projection(in.ProjectionExpression, in.AttributesToGet, in.ExpressionAttributeNames, u); err != nil {
		return nil, err
	}
	switch in.Select {
	case "", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES":
		if p.proj != nil && in.Select != "" {
			return nil, validation("Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES")
		}
	case "COUNT":
		if p.proj != nil {
			return nil, validation("Cannot specify the ProjectionExpression when choosing to get only the COUNT")
		}
		p.count = true
	case "SPECIFIC_ATTRIBUTES":
		if p.proj == nil {
			return nil, validation("Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES")
		}
	default:
		return nil, validation("1 validation error detected: Value '" + in.Select + "' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]")
	}
	return p, nil
}

// visit evaluates one row; it returns false when the page is full.
func (p *readPlan) visit(res *readResult, r *row, bytes *int) (bool, error) {
	res.ScannedCount++
	item := p.t.projectIndex(p.ix, r.item)
	*bytes += item.size()
	keep := true
	if p.filter != nil {
		ok, err := evalCond(item, p.filter)
		if err != nil {
			return false, err
		}
		keep = ok
	}
	if keep {
		res.Count++
		if !p.count {
			res.Items = append(res.Items, project(item, p.proj))
		}
	}
	if (p.limit > 0 && res.ScannedCount >= p.limit) || *bytes >= pageBytes {
		res.LastEvaluatedKey = p.t.lastKey(p.ix, r)
		return false, nil
	}
	return true, nil
}

func (db *DB) query(in queryInput) (any, error) {
	u := newUsage()
	db.mu.RLock()
	defer db.mu.RUnlock()
	p, err := db.plan(in, u)
	if err != nil {
		return nil, err
	}
	s := p.t.primary
	if p.ix != nil {
		s = p.ix.space
	}
	kc, err := parseKeyCond(in.KeyConditionExpression, s, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u)
	if err != nil {
		return nil, err
	}
	if err := u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues); err != nil {
		return nil, err
	}
	if err := kc.typeCheck(p.t, p.ix); err != nil {
		return nil, err
	}
	if p.filter != nil {
		// A query's filter may not test the key it queries by.
		for _, name := range condAttrs(p.filter) {
			if name == s.pk || name == s.sk {
				return nil, validation("Filter Expression can only contain non-primary key attributes: Primary key attribute: " + name)
			}
		}
	}
	start, err := p.t.startRow(s, p.ix, in.ExclusiveStartKey)
	if err != nil {
		return nil, err
	}
	if start != nil && !equal(start.pk, kc.pk) {
		return nil, validation("The provided starting key is invalid: The provided starting key does not match the range key predicate")
	}
	forward := in.ScanIndexForward == nil || *in.ScanIndexForward
	res := readResult{countOnly: p.count}
	bytes := 0
	if pt := s.parts[encKey(kc.pk)]; pt != nil {
		rows := pt.rows
		if forward {
			i := 0
			if start != nil {
				i = sortSearch(rows, start, true)
			} else if kc.skOp != "" && kc.skOp != "<" && kc.skOp != "<=" {
				lo := &row{sk: kc.a}
				i = sortSearch(rows, lo, false)
			}
			for ; i < len(rows); i++ {
				ok, more := kc.matchSK(rows[i].sk)
				if !more {
					break
				}
				if !ok {
					continue
				}
				cont, err := p.visit(&res, rows[i], &bytes)
				if err != nil {
					return nil, err
				}
				if !cont {
					if endsRange(kc, rows[i].sk, true) {
						res.LastEvaluatedKey = nil
					}
					break
				}
			}
		} else {
			i := len(rows) - 1
			if start != nil {
				i = sortSearch(rows, start, false) - 1
			}
			for ; i >= 0; i-- {
				ok, _ := kc.matchSK(rows[i].sk)
				if !ok {
					continue
				}
				cont, err := p.visit(&res, rows[i], &bytes)
				if err != nil {
					return nil, err
				}
				if !cont {
					if endsRange(kc, rows[i].sk, false) {
						res.LastEvaluatedKey = nil
					}
					break
				}
			}
		}
	}
	if res.Items == nil && !p.count {
		res.Items = []Item{}
	}
	res.ConsumedCapacity = capacity(in.ReturnConsumedCapacity, p.t.meta.Name, float64(max(1, (bytes+4095)/4096)))
	return res, nil
}

// sortSearch returns the index of the first row after key (after=true) or
// at or after key, in a partition's order. A key with a nil tkey compares
// by sort key alone.
// endsRange reports whether the key condition alone rules out any item
// after sk (in the query's direction): no sort key, or sk at
// the bound the query runs towards (<= or BETWEEN's upper bound going
// forward, >= or BETWEEN's lower bound going backward). A page that ends
// there carries no LastEvaluatedKey, as in DynamoDB Local; any other page
// ended by Limit carries one, even if no item follows.
func endsRange(kc keyCond, sk *Value, forward bool) bool {
	if sk == nil {
		return true
	}
	at := func(v *Value) bool { n, ok := compare(sk, v); return ok && n == 0 }
	switch {
	case forward && kc.skOp == "<=":
		return at(kc.a)
	case forward && kc.skOp == "BETWEEN":
		return at(kc.b)
	case !forward && (kc.skOp == ">=" || kc.skOp == "BETWEEN"):
		return at(kc.a)
	}
	return false
}

func sortSearch(rows []*row, key *row, after bool) int {
	return sort.Search(len(rows), func(i int) bool {
		r := rows[i]
		if key.sk != nil && r.sk != nil {
			if n, _ := compare(r.sk, key.sk); n != 0 {
				return n > 0
			}
		}
		if key.tkey == "" {
			return true
		}
		if after {
			return r.tkey > key.tkey
		}
		return r.tkey >= key.tkey
	})
}

func (db *DB) scan(in queryInput) (any, error) {
	u := newUsage()
	db.mu.RLock()
	defer db.mu.RUnlock()
	p, err := db.plan(in, u)
	if err != nil {
		return nil, err
	}
	if err := u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues); err != nil {
		return nil, err
	}
	seg, total := 0, 1
	if in.Segment != nil || in.TotalSegments != nil {
		if in.Segment == nil || in.TotalSegments == nil {
			return nil, validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
		}
		seg, total = *in.Segment, *in.TotalSegments
		if total < 1 || total > 1000000 || seg < 0 || seg >= total {
			return nil, validation("The Segment parameter is zero-based and must be less than parameter TotalSegments")
		}
	}
	s := p.t.primary
	if p.ix != nil {
		s = p.ix.space
	}
	start, err := p.t.startRow(s, p.ix, in.ExclusiveStartKey)
	if err != nil {
		return nil, err
	}
	parts := s.ordered()
	pi := 0
	var startEnc string
	if start != nil {
		startEnc = encKey(start.pk)
		h := hash32(startEnc)
		pi = sort.Search(len(parts), func(i int) bool {
			return parts[i].hash > h || (parts[i].hash == h && parts[i].enc >= startEnc)
		})
	}
	res := readResult{countOnly: p.count}
	bytes := 0
outer:
	for ; pi < len(parts); pi++ {
		pt := parts[pi]
		if total > 1 && int(pt.hash%uint32(total)) != seg {
			continue
		}
		i := 0
		if start != nil && pt.enc == startEnc {
			i = sortSearch(pt.rows, start, true)
		}
		for ; i < len(pt.rows); i++ {
			cont, err := p.visit(&res, pt.rows[i], &bytes)
			if err != nil {
				return nil, err
			}
			if !cont {
				break outer
			}
		}
	}
	if res.Items == nil && !p.count {
		res.Items = []Item{}
	}
	res.ConsumedCapacity = capacity(in.ReturnConsumedCapacity, p.t.meta.Name, float64(max(1, (bytes+4095)/4096)))
	return res, nil
}
