package dynamosrv

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCanonicalNumber(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"1", "1"}, {"01.500", "1.5"}, {"-0", "0"}, {"1e2", "100"}, {"1.5E-3", "0.0015"}, {"+7", "7"},
		{".5", "0.5"}, {"-12.340e1", "-123.4"}, {"12345678901234567890123456789012345678", "12345678901234567890123456789012345678"},
	} {
		got, err := canonicalNumber(c.in)
		if err != nil || got != c.want {
			t.Errorf("canonicalNumber(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "abc", "1e", "0x10", "Infinity", "123456789012345678901234567890123456789", "1e200"} {
		if _, err := canonicalNumber(bad); err == nil {
			t.Errorf("canonicalNumber(%q) accepted", bad)
		}
	}
	for _, c := range []struct {
		a, b string
		want int
	}{{"2", "10", -1}, {"-2", "-10", 1}, {"0.5", "0.25", 1}, {"-0.1", "0", -1}, {"100", "100", 0}, {"9.99", "10", -1}} {
		if got := compareNumbers(c.a, c.b); got != c.want {
			t.Errorf("compareNumbers(%s, %s) = %d", c.a, c.b, got)
		}
	}
}

func item(t *testing.T, js string) Item {
	t.Helper()
	var it Item
	if err := json.Unmarshal([]byte(js), &it); err != nil {
		t.Fatal(err)
	}
	return it
}

func TestConditions(t *testing.T) {
	it := item(t, `{"id":{"S":"a"},"n":{"N":"5"},"tags":{"SS":["x","y"]},"m":{"M":{"l":{"L":[{"S":"p"},{"N":"2"}]}}},"s":{"S":"hello"}}`)
	values := map[string]*Value{}
	json.Unmarshal([]byte(`{":five":{"N":"5"},":four":{"N":"4.0"},":x":{"S":"x"},":he":{"S":"he"},":p":{"S":"p"},":S":{"S":"S"},":two":{"N":"2"}}`), &values)
	names := map[string]string{"#n": "n"}
	for _, c := range []struct {
		expr string
		want bool
	}{
		{"#n = :five", true},
		{"#n > :four AND attribute_exists(id)", true},
		{"NOT #n = :five OR contains(tags, :x)", true},
		{"#n BETWEEN :four AND :five", true},
		{"#n IN (:four, :two)", false},
		{"begins_with(s, :he) AND size(s) = :five", true},
		{"m.l[0] = :p AND attribute_type(s, :S)", true},
		{"attribute_not_exists(absent) AND absent <> :x", true},
		{"absent = :x", false},
		{"(#n < :four) OR (m.l[1] = :two)", true},
	} {
		u := newUsage()
		cnd, err := parseCondition("ConditionExpression", c.expr, names, values, u)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		got, err := evalCond(it, cnd)
		if err != nil || got != c.want {
			t.Errorf("%s = %v, %v; want %v", c.expr, got, err, c.want)
		}
	}
	for _, bad := range []string{"#n = ", "#undefined = :five", "n = :nope", "size(s) = ", "foo(n)", "n == :five"} {
		if _, err := parseCondition("ConditionExpression", bad, names, values, newUsage()); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestUpdates(t *testing.T) {
	it := item(t, `{"id":{"S":"a"},"n":{"N":"5"},"l":{"L":[{"N":"1"},{"N":"2"},{"N":"3"}]},"s":{"NS":["1","2"]},"m":{"M":{}}}`)
	values := map[string]*Value{}
	json.Unmarshal([]byte(`{":one":{"N":"1"},":ns":{"NS":["2","3"]},":v":{"S":"v"}}`), &values)
	acts, err := parseUpdate("SET n = n - :one, m.k = :v, l[5] = :one REMOVE l[0], l[1] ADD s :ns", nil, values, newUsage())
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := applyUpdate(it, acts, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	want := `{"id":{"S":"a"},"l":{"L":[{"N":"3"},{"N":"1"}]},"m":{"M":{"k":{"S":"v"}}},"n":{"N":"4"},"s":{"NS":["1","2","3"]}}`
	if string(b) != want {
		t.Errorf("update:\n got %s\nwant %s", b, want)
	}
	if _, err := parseUpdate("SET a = :one, a.b = :one", nil, values, newUsage()); err == nil {
		t.Error("overlapping paths accepted")
	}
	acts, _ = parseUpdate("SET id = :v", nil, values, newUsage())
	if _, _, err := applyUpdate(it, acts, []string{"id"}); err == nil {
		t.Error("update of a key attribute accepted")
	}
	acts, _ = parseUpdate("SET x.y = :v", nil, values, newUsage())
	if _, _, err := applyUpdate(it, acts, []string{"id"}); err == nil {
		t.Error("SET under a missing map accepted")
	}
}

// TestUpdatePaths checks the document-path rules of update expressions as
// DynamoDB Local applies them (see also package difftest).
func TestUpdatePaths(t *testing.T) {
	it := item(t, `{"id":{"S":"a"},"n":{"N":"5"},"l":{"L":[{"N":"1"},{"N":"2"}]},"m":{"M":{"x":{"N":"1"}}}}`)
	values := map[string]*Value{}
	json.Unmarshal([]byte(`{":a":{"S":"a"},":b":{"S":"b"}}`), &values)
	for _, c := range []struct {
		expr string
		want string // the new item, or "invalid" for the document-path refusal, "missing" for an absent operand
	}{
		{"SET l[7] = :a, l[3] = :b", `"l":{"L":[{"N":"1"},{"N":"2"},{"S":"b"},{"S":"a"}]}`},
		{"REMOVE l[7]", `"l":{"L":[{"N":"1"},{"N":"2"}]}`},
		{"REMOVE m.q", `"m":{"M":{"x":{"N":"1"}}}`},
		{"REMOVE q.x", "invalid"},
		{"REMOVE m.a.c", "invalid"},
		{"REMOVE l[0].x", "invalid"},
		{"REMOVE m[0]", "invalid"},
		{"REMOVE n.x", "invalid"},
		{"SET q.x = :a", "invalid"},
		{"SET l.x = :a", "invalid"},
		{"SET m[0] = :a", "invalid"},
		{"SET s2 = s", "missing"},
		{"SET s2 = m.q", "missing"},
	} {
		acts, err := parseUpdate(c.expr, nil, values, newUsage())
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		out, _, err := applyUpdate(it, acts, []string{"id"})
		switch c.want {
		case "invalid", "missing":
			msg := map[string]string{"invalid": "document path provided in the update expression is invalid", "missing": "refers to an attribute that does not exist"}[c.want]
			if err == nil || !strings.Contains(err.Error(), msg) {
				t.Errorf("%s: got %v, want %q", c.expr, err, msg)
			}
		default:
			b, _ := json.Marshal(out)
			if err != nil || !strings.Contains(string(b), c.want) {
				t.Errorf("%s: got %s %v, want it to hold %s", c.expr, b, err, c.want)
			}
		}
	}
}

// TestProjectionOrder: projected list elements keep the list's order, and
// two paths into one element share it, as DynamoDB Local answers.
func TestProjectionOrder(t *testing.T) {
	it := item(t, `{"l":{"L":[{"M":{"x":{"N":"1"},"y":{"N":"2"},"z":{"N":"3"}}},{"S":"b"},{"S":"c"}]}}`)
	for _, c := range []struct{ expr, want string }{
		{"l[2], l[0].x", `{"l":{"L":[{"M":{"x":{"N":"1"}}},{"S":"c"}]}}`},
		{"l[0].y, l[0].x", `{"l":{"L":[{"M":{"x":{"N":"1"},"y":{"N":"2"}}}]}}`},
	} {
		ps, err := parseProjection(c.expr, nil, newUsage())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(project(it, ps))
		if string(b) != c.want {
			t.Errorf("%s: got %s, want %s", c.expr, b, c.want)
		}
	}
}
