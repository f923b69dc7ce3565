package difftest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/dynamolocal"
)

// Endpoint is one server under comparison.
type Endpoint struct {
	Name   string
	URL    string
	Client *http.Client
	// Local marks DynamoDB Local, whose stream records are corrected as
	// dynamolocal.FixRecords does before comparing.
	Local bool
}

// Options configure Run.
type Options struct {
	Seed int64
	Ops  int
	// Reference is DynamoDB Local; Subject the embedded server.
	Reference, Subject Endpoint
	// MaxReports bounds how many differences are described in full in
	// Result.Reports (default 20); all are counted.
	MaxReports int
	// Settle is how long to wait before reading the streams at the end
	// (DynamoDB Local shows a write in its stream a few milliseconds after
	// it returns; default 500ms).
	Settle time.Duration
}

// Result counts the differences of one run.
type Result struct {
	Seed                       int64
	Ops                        int
	Responses, States, Streams int
	Reports                    []string
	// Errors counts responses that were errors on both sides (alike), to
	// show the workload exercised refusals as well as successes; Refusals
	// counts them by operation and error type.
	Errors   int
	Refusals map[string]int
	// Messages counts refusals alike in type whose messages differ; they
	// are not differences (see the package comment), only reported.
	Messages        int
	MessageExamples []string
}

func (r *Result) refused(op, errType string) {
	r.Errors++
	r.Refusals[op+" "+errType]++
}

func (r Result) String() string {
	return fmt.Sprintf("seed %d, %d operations: %d response differences, %d item-state divergences, %d stream differences (%d refusals alike)", r.Seed, r.Ops, r.Responses, r.States, r.Streams, r.Errors)
}

type answer struct {
	status int
	body   any
	raw    string
}

func (e Endpoint) call(ctx context.Context, op string, req any) (answer, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return answer{}, err
	}
	svc := "DynamoDB_20120810."
	if strings.HasPrefix(op, "Streams.") {
		svc, op = "DynamoDBStreams_20120810.", strings.TrimPrefix(op, "Streams.")
	}
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(b))
	hr.Header.Set("X-Amz-Target", svc+op)
	hr.Header.Set("Content-Type", "application/x-amz-json-1.0")
	hr.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := e.Client.Do(hr)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", e.Name, op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", e.Name, op, err)
	}
	if e.Local && svc == "DynamoDBStreams_20120810." && op == "GetRecords" && resp.StatusCode == 200 {
		raw = dynamolocal.FixRecords(raw, "us-east-1")
	}
	a := answer{status: resp.StatusCode, raw: string(raw)}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&a.body); err != nil {
		return a, fmt.Errorf("%s %s: undecodable answer %q: %w", e.Name, op, raw, err)
	}
	return a, nil
}

// message returns an error answer's message.
func (a answer) message() string {
	m, _ := a.body.(map[string]any)
	if s, ok := m["message"].(string); ok {
		return s
	}
	s, _ := m["Message"].(string)
	return s
}

// errorType returns the short error type of an error answer.
func (a answer) errorType() string {
	m, _ := a.body.(map[string]any)
	t, _ := m["__type"].(string)
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		t = t[i+1:]
	}
	return t
}

// normal returns what is compared of an answer.
func (a answer) normal() any { return a.normalFor(0) }

// normalFor is normal for the answer to a transaction of items actions.
// DynamoDB lists one cancellation reason per action; DynamoDB Local,
// meeting an action that updates a key attribute, lists that one reason
// only (docs/local.md): such a list is compared by its ValidationError
// reasons alone.
func (a answer) normalFor(items int) any {
	if a.status != 200 {
		m, _ := a.body.(map[string]any)
		out := map[string]any{"status": a.status, "type": a.errorType()}
		if rs, ok := m["CancellationReasons"].([]any); ok && items > 0 && len(rs) != items {
			var ve []any
			for _, r := range rs {
				if rm, _ := r.(map[string]any); rm["Code"] == "ValidationError" {
					ve = append(ve, "ValidationError")
				}
			}
			out["ValidationErrors"] = ve
		} else if ok {
			var codes []any
			for _, r := range rs {
				rm, _ := r.(map[string]any)
				c := map[string]any{"Code": rm["Code"]}
				if it, ok := rm["Item"]; ok {
					c["Item"] = normValue(it)
				}
				codes = append(codes, c)
			}
			out["CancellationReasons"] = codes
		}
		if it, ok := m["Item"]; ok {
			out["Item"] = normValue(it)
		}
		return out
	}
	out := normValue(a.body)
	// BatchGetItem returns each table's items in no particular order.
	if m, ok := out.(map[string]any); ok {
		if rs, ok := m["Responses"].(map[string]any); ok {
			for _, items := range rs {
				if l, ok := items.([]any); ok {
					sort.Slice(l, func(i, j int) bool { return show(l[i]) < show(l[j]) })
				}
			}
		}
	}
	return out
}

// normValue sorts the members of sets so that they compare as sets.
func normValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k == "N" && len(x) == 1 {
				if n, ok := e.(string); ok {
					out[k] = canonNumber(n)
					continue
				}
			}
			if (k == "SS" || k == "NS" || k == "BS") && len(x) == 1 {
				if l, ok := e.([]any); ok {
					s := make([]string, 0, len(l))
					for _, m := range l {
						if k == "NS" {
							s = append(s, canonNumber(fmt.Sprint(m)))
						} else {
							s = append(s, fmt.Sprint(m))
						}
					}
					sort.Strings(s)
					out[k] = s
					continue
				}
			}
			if k == "ConsumedCapacity" {
				continue
			}
			out[k] = normValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normValue(e)
		}
		return out
	}
	return v
}

func same(a, b any) bool { return reflect.DeepEqual(a, b) }

func show(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 3000 {
		return string(b[:3000]) + "…"
	}
	return string(b)
}

// canonNumber writes a number as digits and exponent, so that "1.50",
// "15E-1" and "1.5" compare equal: DynamoDB Local returns numbers as they
// were written, DynamoDB (and the embedded server) without redundant
// zeros.
func canonNumber(n string) string {
	s := strings.TrimPrefix(n, "+")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return n
		}
		exp, s = e, s[:i]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		exp -= len(s) - i - 1
		s = s[:i] + s[i+1:]
	}
	s = strings.TrimLeft(s, "0")
	for strings.HasSuffix(s, "0") {
		s, exp = s[:len(s)-1], exp+1
	}
	if s == "" {
		return "0"
	}
	if neg {
		s = "-" + s
	}
	return s + "E" + strconv.Itoa(exp)
}
