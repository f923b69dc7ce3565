package dynamosrv

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzExpressions feeds any string to the parsers of condition, update
// and projection expressions, and evaluates what parses against an item:
// nothing may panic or exhaust the stack, and every refusal must be a
// ValidationException. The seed corpus runs with go test; go test -fuzz
// FuzzExpressions explores further.
func FuzzExpressions(f *testing.F) {
	for _, s := range []string{
		"attribute_exists(a)",
		"a = :s AND (b < :n OR NOT c IN (:s, :n))",
		"size(l) > :n AND begins_with(#m.x, :s) AND contains(l, :n)",
		"a BETWEEN :n AND :n OR attribute_type(#m, :s)",
		"SET a = a + :n, #m.x = if_not_exists(#m.x, :s), l = list_append(l, :l) REMOVE l[0], #m.y ADD s :ss DELETE s :ss",
		"SET l[7] = :n REMOVE m.a.c",
		"a, #m.x, l[1].y",
		"((a = :n))",
		strings.Repeat("(", 1000) + "a = :n" + strings.Repeat(")", 1000),
		strings.Repeat("NOT ", 1000) + "a = :n",
		"attribute_exists(" + strings.Repeat("a.", 40) + "a)",
		"SET a = " + strings.Repeat("list_append(", 500) + ":l" + strings.Repeat(", :l)", 500),
		strings.Repeat("a = :n OR ", 500) + "a = :n",
		"a = :undefined", "#undefined = :n", "a ==", "SET", "", "\x00", "a[99999999999999999999] = :n",
	} {
		f.Add(s)
	}
	var values map[string]*Value
	if err := json.Unmarshal([]byte(`{":n":{"N":"1"},":s":{"S":"x"},":l":{"L":[{"N":"1"}]},":ss":{"SS":["x"]}}`), &values); err != nil {
		f.Fatal(err)
	}
	names := map[string]string{"#m": "m"}
	var base Item
	if err := json.Unmarshal([]byte(`{"pk":{"S":"k"},"a":{"N":"1"},"b":{"S":"y"},"l":{"L":[{"N":"1"},{"M":{"y":{"S":"z"}}}]},"m":{"M":{"x":{"N":"2"}}},"s":{"SS":["x","w"]}}`), &base); err != nil {
		f.Fatal(err)
	}
	refused := func(t *testing.T, what, src string, err error) {
		var ae *APIError
		if err != nil && (!errors.As(err, &ae) || ae.Type != "ValidationException") {
			t.Fatalf("%s %q: %v is not a ValidationException", what, src, err)
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		if c, err := parseCondition("ConditionExpression", src, names, values, newUsage()); err == nil {
			_, err := evalCond(base.clone(), c)
			refused(t, "evaluating", src, err)
		} else {
			refused(t, "ConditionExpression", src, err)
		}
		if acts, err := parseUpdate(src, names, values, newUsage()); err == nil {
			_, _, err := applyUpdate(base.clone(), acts, []string{"pk"})
			refused(t, "applying", src, err)
		} else {
			refused(t, "UpdateExpression", src, err)
		}
		if ps, err := parseProjection(src, names, newUsage()); err == nil {
			project(base.clone(), ps)
		} else {
			refused(t, "ProjectionExpression", src, err)
		}
	})
}

// TestHostileExpressions sends expressions built to exhaust a recursive
// parser, and values nested beyond DynamoDB's 32 levels, through the
// HTTP API: each is answered with a ValidationException.
func TestHostileExpressions(t *testing.T) {
	db, err := Open(Options{TTLInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	call := func(op string, body any) (int, string) {
		b, _ := json.Marshal(body)
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(b)))
		r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		w := httptest.NewRecorder()
		db.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := call("CreateTable", map[string]any{
		"TableName": "hostile", "BillingMode": "PAY_PER_REQUEST",
		"AttributeDefinitions": []any{map[string]any{"AttributeName": "pk", "AttributeType": "S"}},
		"KeySchema":            []any{map[string]any{"AttributeName": "pk", "KeyType": "HASH"}},
	}); code != 200 {
		t.Fatal(body)
	}
	nested := func(levels int) any {
		var v any = map[string]any{"S": "x"}
		for range levels - 1 {
			v = map[string]any{"M": map[string]any{"a": v}}
		}
		return v
	}
	key := map[string]any{"pk": map[string]any{"S": "k"}}
	for _, c := range []struct {
		name string
		op   string
		body map[string]any
		want string // a part of the message
	}{
		{"a million parentheses", "UpdateItem", map[string]any{"TableName": "hostile", "Key": key, "UpdateExpression": "SET a = :v",
			"ConditionExpression":       strings.Repeat("(", 1000000) + "attribute_exists(a)" + strings.Repeat(")", 1000000),
			"ExpressionAttributeValues": map[string]any{":v": map[string]any{"N": "1"}}}, "maximum allowed size"},
		{"4 KB and one byte", "Scan", map[string]any{"TableName": "hostile",
			"FilterExpression": "attribute_exists(a)" + strings.Repeat(" ", 4097-len("attribute_exists(a)"))}, "expression size: 4097"},
		{"nested parentheses within 4 KB", "Scan", map[string]any{"TableName": "hostile",
			"FilterExpression": strings.Repeat("(attribute_exists(a) AND ", 100) + "attribute_exists(a)" + strings.Repeat(")", 100)}, ""},
		{"250 NOTs", "Scan", map[string]any{"TableName": "hostile",
			"FilterExpression": strings.Repeat("NOT ", 250) + "attribute_exists(a)"}, ""},
		{"301 operators", "Scan", map[string]any{"TableName": "hostile", "ExpressionAttributeValues": map[string]any{":v": map[string]any{"N": "1"}},
			"FilterExpression": strings.Repeat("a = :v AND ", 150) + "a = :v"}, "too many operators; operator count: 301"},
		{"redundant parentheses", "Scan", map[string]any{"TableName": "hostile",
			"FilterExpression": "((attribute_exists(a)))"}, "redundant parentheses"},
		{"a document path of 40 levels", "Scan", map[string]any{"TableName": "hostile",
			"FilterExpression": "attribute_exists(" + strings.Repeat("a.", 39) + "a)"}, "nesting levels: 40"},
		{"an item nested 33 levels", "PutItem", map[string]any{"TableName": "hostile",
			"Item": map[string]any{"pk": map[string]any{"S": "k"}, "n": nested(33)}}, "Nesting Levels"},
		{"a value nested 33 levels", "Scan", map[string]any{"TableName": "hostile", "FilterExpression": "a = :v",
			"ExpressionAttributeValues": map[string]any{":v": nested(33)}}, "Nesting Levels"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(c.op, c.body)
			if c.want == "" {
				if code != 200 {
					t.Fatalf("refused: %s", body)
				}
				return
			}
			if code != 400 || !strings.Contains(body, "ValidationException") || !strings.Contains(body, c.want) {
				t.Fatalf("got %d %s, want a ValidationException saying %q", code, body, c.want)
			}
		})
	}
	if code, body := call("PutItem", map[string]any{"TableName": "hostile", "Item": map[string]any{"pk": map[string]any{"S": "k"}, "n": nested(32)}}); code != 200 {
		t.Fatalf("an item nested 32 levels was refused: %s", body)
	}
}
