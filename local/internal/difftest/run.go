package difftest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Run runs one seeded workload against both servers and counts the
// differences. An error means the run itself failed (a server could not
// be reached), not that the servers differ.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.MaxReports == 0 {
		o.MaxReports = 20
	}
	if o.Settle == 0 {
		o.Settle = 500 * time.Millisecond
	}
	res := Result{Seed: o.Seed, Ops: o.Ops, Refusals: map[string]int{}}
	g := &gen{r: rand.New(rand.NewSource(o.Seed)), prefix: fmt.Sprintf("dt%d_%d_", o.Seed, time.Now().UnixNano()%1000000)}
	both := func(op string, req any) (answer, answer, error) {
		a, err := o.Reference.call(ctx, op, req)
		if err != nil {
			return a, answer{}, err
		}
		b, err := o.Subject.call(ctx, op, req)
		return a, b, err
	}
	report := func(kind string, n int, name string, req any, a, b any) {
		if len(res.Reports) >= o.MaxReports {
			return
		}
		res.Reports = append(res.Reports, fmt.Sprintf("seed %d op %d %s: %s differs\n  request:        %s\n  %-15s %s\n  %-15s %s", o.Seed, n, name, kind, show(req), o.Reference.Name+":", show(a), o.Subject.Name+":", show(b)))
	}
	for i, ts := range tableSpecs {
		req := map[string]any{
			"TableName":            g.table(i),
			"BillingMode":          "PAY_PER_REQUEST",
			"AttributeDefinitions": []any{map[string]any{"AttributeName": "pk", "AttributeType": "S"}},
			"KeySchema":            []any{map[string]any{"AttributeName": "pk", "KeyType": "HASH"}},
			"StreamSpecification":  map[string]any{"StreamEnabled": true, "StreamViewType": ts.view},
		}
		if ts.skKind != "" {
			req["AttributeDefinitions"] = append(req["AttributeDefinitions"].([]any), map[string]any{"AttributeName": "sk", "AttributeType": ts.skKind})
			req["KeySchema"] = append(req["KeySchema"].([]any), map[string]any{"AttributeName": "sk", "KeyType": "RANGE"})
		}
		a, b, err := both("CreateTable", req)
		if err != nil {
			return res, err
		}
		if a.status != 200 || b.status != 200 {
			return res, fmt.Errorf("difftest: CreateTable %s: %s / %s", g.table(i), a.raw, b.raw)
		}
	}
	for n := range o.Ops {
		op := g.next()
		if op.name == "Query" {
			// Every page, following LastEvaluatedKey, compared page by page.
			req := op.req
			for page := 0; page < 50; page++ {
				a, b, err := both(op.name, req)
				if err != nil {
					return res, err
				}
				if !same(a.normal(), b.normal()) {
					res.Responses++
					report(fmt.Sprintf("response (page %d)", page+1), n, op.name, req, a.body, b.body)
					break
				}
				if a.status != 200 {
					res.refused(op.name, a.errorType())
					break
				}
				lek, ok := a.body.(map[string]any)["LastEvaluatedKey"]
				if !ok {
					break
				}
				next := map[string]any{}
				for k, v := range req {
					next[k] = v
				}
				next["ExclusiveStartKey"] = lek
				req = next
			}
			continue
		}
		if op.name == "Scan" {
			// The order of a scan is DynamoDB's own (by a hash of the
			// partition key, which neither server reproduces): a scan is
			// compared whole, following each server's LastEvaluatedKey.
			a, err := scanWhole(ctx, o.Reference, op.req)
			if err != nil {
				return res, err
			}
			b, err := scanWhole(ctx, o.Subject, op.req)
			if err != nil {
				return res, err
			}
			if !same(a, b) {
				res.Responses++
				report("whole scan", n, op.name, op.req, a, b)
			} else if e, failed := a["error"].(map[string]any); failed {
				res.refused(op.name, fmt.Sprint(e["type"]))
			}
			continue
		}
		a, b, err := both(op.name, op.req)
		if err != nil {
			return res, err
		}
		if op.name == "TransactWriteItems" && twoOnOneItem(op.req) {
			// DynamoDB refuses a transaction with two actions on one item;
			// DynamoDB Local applies the actions one after the other and
			// refuses it only when it meets the second action, so that a
			// failed condition before it cancels the transaction instead
			// (docs/local.md). The embedded server must refuse it.
			if b.normal().(map[string]any)["type"] != "ValidationException" {
				res.Responses++
				report("response (two actions on one item: DynamoDB refuses it)", n, op.name, op.req, a.body, b.body)
			} else {
				res.refused(op.name, b.errorType())
			}
		} else if !sameAnswer(op, a, b) {
			res.Responses++
			report("response", n, op.name, op.req, a.body, b.body)
		} else if a.status != 200 {
			res.refused(op.name, a.errorType())
			if a.message() != b.message() {
				res.Messages++
				ex := fmt.Sprintf("%s %s:\n  %s: %s\n  %s: %s", op.name, a.errorType(), o.Reference.Name, a.message(), o.Subject.Name, b.message())
				if len(res.MessageExamples) < 20 && !slices.Contains(res.MessageExamples, ex) {
					res.MessageExamples = append(res.MessageExamples, ex)
				}
			}
		}
		seen := map[int]bool{}
		for _, t := range op.tables {
			if seen[t] {
				continue
			}
			seen[t] = true
			sa, sb, err := tableStates(ctx, o, g.table(t))
			if err != nil {
				return res, err
			}
			if !same(sa, sb) {
				res.States++
				report("state of table "+g.table(t)+" after", n, op.name, op.req, diffItems(sa, sb), diffItems(sb, sa))
				// Resynchronise nothing: later differences may follow from
				// this one; the first is the one to read.
			}
		}
	}
	time.Sleep(o.Settle)
	for i := range tableSpecs {
		ra, err := streamRecords(ctx, o.Reference, g.table(i))
		if err != nil {
			return res, err
		}
		rb, err := streamRecords(ctx, o.Subject, g.table(i))
		if err != nil {
			return res, err
		}
		keys := map[string]bool{}
		for k := range ra {
			keys[k] = true
		}
		for k := range rb {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if !same(ra[k], rb[k]) {
				res.Streams++
				report("stream records of key "+k+" of "+tableSpecs[i].view+" table", -1, "GetRecords", g.table(i), firstDiff(ra[k], rb[k]), firstDiff(rb[k], ra[k]))
			}
		}
	}
	return res, nil
}

// tableStates reads every item of a table from both servers, by key.
func tableStates(ctx context.Context, o Options, table string) (map[string]any, map[string]any, error) {
	a, err := scanAll(ctx, o.Reference, table)
	if err != nil {
		return nil, nil, err
	}
	b, err := scanAll(ctx, o.Subject, table)
	return a, b, err
}

func scanAll(ctx context.Context, e Endpoint, table string) (map[string]any, error) {
	out := map[string]any{}
	req := map[string]any{"TableName": table, "ConsistentRead": true}
	for {
		a, err := e.call(ctx, "Scan", req)
		if err != nil {
			return nil, err
		}
		if a.status != 200 {
			return nil, fmt.Errorf("difftest: %s: Scan %s: %s", e.Name, table, a.raw)
		}
		m := a.body.(map[string]any)
		items, _ := m["Items"].([]any)
		for _, it := range items {
			im := it.(map[string]any)
			out[keyOf(im)] = normValue(im)
		}
		lek, ok := m["LastEvaluatedKey"]
		if !ok {
			return out, nil
		}
		req["ExclusiveStartKey"] = lek
	}
}

func keyOf(item map[string]any) string {
	k := map[string]any{"pk": item["pk"]}
	if sk, ok := item["sk"]; ok {
		k["sk"] = sk
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// diffItems returns the items of a that b lacks or holds differently.
func diffItems(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		if !same(v, b[k]) {
			out[k] = v
		}
	}
	return out
}

func firstDiff(a, b []any) any {
	for i := range a {
		if i >= len(b) || !same(a[i], b[i]) {
			return map[string]any{"index": i, "record": a[i], "count": len(a)}
		}
	}
	return map[string]any{"count": len(a)}
}

// streamRecords reads every record of a table's stream, by item key, in
// order, keeping what DynamoDB defines: event name, keys, images, view
// type and size.
func streamRecords(ctx context.Context, e Endpoint, table string) (map[string][]any, error) {
	d, err := e.call(ctx, "DescribeTable", map[string]any{"TableName": table})
	if err != nil {
		return nil, err
	}
	arn, _ := d.body.(map[string]any)["Table"].(map[string]any)["LatestStreamArn"].(string)
	if arn == "" {
		return nil, fmt.Errorf("difftest: %s: table %s has no stream: %s", e.Name, table, d.raw)
	}
	var shards []string
	var start any
	for {
		req := map[string]any{"StreamArn": arn}
		if start != nil {
			req["ExclusiveStartShardId"] = start
		}
		s, err := e.call(ctx, "Streams.DescribeStream", req)
		if err != nil {
			return nil, err
		}
		desc := s.body.(map[string]any)["StreamDescription"].(map[string]any)
		for _, sh := range desc["Shards"].([]any) {
			shards = append(shards, sh.(map[string]any)["ShardId"].(string))
		}
		start = desc["LastEvaluatedShardId"]
		if start == nil {
			break
		}
	}
	type rec struct {
		seq string
		v   any
	}
	byKey := map[string][]rec{}
	for _, sh := range shards {
		it, err := e.call(ctx, "Streams.GetShardIterator", map[string]any{"StreamArn": arn, "ShardId": sh, "ShardIteratorType": "TRIM_HORIZON"})
		if err != nil {
			return nil, err
		}
		iter, _ := it.body.(map[string]any)["ShardIterator"].(string)
		for empty := 0; iter != "" && empty < 2; {
			r, err := e.call(ctx, "Streams.GetRecords", map[string]any{"ShardIterator": iter, "Limit": 1000})
			if err != nil {
				return nil, err
			}
			if r.status != 200 {
				return nil, fmt.Errorf("difftest: %s: GetRecords: %s", e.Name, r.raw)
			}
			m := r.body.(map[string]any)
			recs, _ := m["Records"].([]any)
			if len(recs) == 0 {
				empty++
			}
			for _, x := range recs {
				xm := x.(map[string]any)
				dd := xm["dynamodb"].(map[string]any)
				kept := map[string]any{"eventName": xm["eventName"], "eventSource": xm["eventSource"], "eventVersion": xm["eventVersion"]}
				for _, f := range []string{"Keys", "NewImage", "OldImage", "StreamViewType", "SizeBytes"} {
					if v, ok := dd[f]; ok {
						kept[f] = normValue(v)
					}
				}
				key := keyOf(dd["Keys"].(map[string]any))
				byKey[key] = append(byKey[key], rec{dd["SequenceNumber"].(string), kept})
			}
			iter, _ = m["NextShardIterator"].(string)
		}
	}
	out := map[string][]any{}
	for k, rs := range byKey {
		sort.Slice(rs, func(i, j int) bool {
			a, b := rs[i].seq, rs[j].seq
			if len(a) != len(b) {
				return len(a) < len(b)
			}
			return strings.Compare(a, b) < 0
		})
		for _, r := range rs {
			out[k] = append(out[k], r.v)
		}
	}
	return out, nil
}

// scanWhole runs a scan to its end and returns what is compared of it:
// the first error, or the pages' count, the sums of Count and
// ScannedCount, and the items in key order.
func scanWhole(ctx context.Context, e Endpoint, req map[string]any) (map[string]any, error) {
	out := map[string]any{}
	count, scanned, pages := 0, 0, 0
	var items []any
	r := map[string]any{}
	for k, v := range req {
		r[k] = v
	}
	for pages < 200 {
		a, err := e.call(ctx, "Scan", r)
		if err != nil {
			return nil, err
		}
		if a.status != 200 {
			out["error"] = a.normal()
			out["page"] = pages + 1
			return out, nil
		}
		pages++
		m := a.normal().(map[string]any)
		c, _ := strconv.Atoi(fmt.Sprint(m["Count"]))
		sc, _ := strconv.Atoi(fmt.Sprint(m["ScannedCount"]))
		count, scanned = count+c, scanned+sc
		if l, ok := m["Items"].([]any); ok {
			items = append(items, l...)
		}
		lek, ok := a.body.(map[string]any)["LastEvaluatedKey"]
		if !ok {
			break
		}
		r["ExclusiveStartKey"] = lek
	}
	sort.Slice(items, func(i, j int) bool { return show(items[i]) < show(items[j]) })
	out["Pages"], out["Count"], out["ScannedCount"], out["Items"] = pages, count, scanned, items
	return out, nil
}

// twoOnOneItem reports whether a TransactWriteItems request has two
// actions on one item.
func twoOnOneItem(req map[string]any) bool {
	seen := map[string]bool{}
	for _, ti := range req["TransactItems"].([]any) {
		for _, act := range ti.(map[string]any) {
			a := act.(map[string]any)
			k, ok := a["Key"].(map[string]any)
			if !ok {
				k, _ = a["Item"].(map[string]any)
			}
			id := fmt.Sprint(a["TableName"]) + " " + keyOf(k)
			if seen[id] {
				return true
			}
			seen[id] = true
		}
	}
	return false
}

func sameAnswer(op op, a, b answer) bool {
	if op.name == "TransactWriteItems" {
		return sameTransaction(a, b, len(op.req["TransactItems"].([]any)))
	}
	return same(a.normal(), b.normal())
}

// sameTransaction compares the answers to a transaction, allowing for
// DynamoDB Local's shortened list of cancellation reasons.
func sameTransaction(ref, sub answer, items int) bool {
	rm, _ := ref.body.(map[string]any)
	rs, _ := rm["CancellationReasons"].([]any)
	if ref.status == 200 || rs == nil || len(rs) == items {
		return same(ref.normal(), sub.normal())
	}
	return same(ref.normalFor(items), sub.normalFor(len(rs)))
}
