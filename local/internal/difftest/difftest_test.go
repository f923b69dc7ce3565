package difftest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/nanopipe/nanopipe/local/internal/difftest"
	"github.com/nanopipe/nanopipe/local/internal/dynamolocal"
	"github.com/nanopipe/nanopipe/local/internal/dynamosrv"
)

// EnvRun selects a longer run: "seeds=1-5 ops=2000" (seeds as a range or
// a comma-separated list).
const EnvRun = "NANOPIPE_DIFFTEST"

// parseRun reads EnvRun; the default is the short run of go test.
func parseRun(s string) (seeds []int64, ops int, err error) {
	seeds, ops = []int64{1, 2}, 300
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "seeds":
			seeds = nil
			for _, part := range strings.Split(v, ",") {
				lo, hi, isRange := strings.Cut(part, "-")
				a, err := strconv.ParseInt(lo, 10, 64)
				if err != nil {
					return nil, 0, fmt.Errorf("%s: seeds: %w", EnvRun, err)
				}
				b := a
				if isRange {
					if b, err = strconv.ParseInt(hi, 10, 64); err != nil {
						return nil, 0, fmt.Errorf("%s: seeds: %w", EnvRun, err)
					}
				}
				for x := a; x <= b; x++ {
					seeds = append(seeds, x)
				}
			}
		case "ops":
			if ops, err = strconv.Atoi(v); err != nil || ops < 1 {
				return nil, 0, fmt.Errorf("%s: ops must be a positive number, not %q", EnvRun, v)
			}
		default:
			return nil, 0, fmt.Errorf("%s: unknown setting %q (want seeds=1-5 ops=2000)", EnvRun, f)
		}
	}
	return seeds, ops, nil
}

func TestDifferential(t *testing.T) {
	seeds, ops, err := parseRun(os.Getenv(EnvRun))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ddbl, err := dynamolocal.Start(ctx, dynamolocal.Options{})
	if err != nil {
		t.Fatalf("DynamoDB Local could not be started (run scripts/backends-setup.sh): %v", err)
	}
	defer ddbl.Close()
	db, err := dynamosrv.Open(dynamosrv.Options{TTLInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(db)
	defer srv.Close()
	ref := difftest.Endpoint{Name: "DynamoDB Local", URL: ddbl.Endpoint, Client: &http.Client{Transport: ddbl.Transport()}, Local: true}
	sub := difftest.Endpoint{Name: "embedded", URL: srv.URL, Client: srv.Client()}
	total := 0
	for _, seed := range seeds {
		res, err := difftest.Run(ctx, difftest.Options{Seed: seed, Ops: ops, Reference: ref, Subject: sub})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		t.Log(res)
		t.Logf("refusals alike, by operation and error: %v", res.Refusals)
		if testing.Verbose() && res.Messages > 0 {
			t.Logf("%d refusals alike in type differ in their message (not compared), for example:\n%s", res.Messages, strings.Join(res.MessageExamples, "\n"))
		}
		for _, r := range res.Reports {
			t.Log(r)
		}
		total += res.Responses + res.States + res.Streams
		if res.Errors == 0 {
			t.Errorf("seed %d: no request was refused by both servers: the workload does not exercise validation", seed)
		}
	}
	if total > 0 {
		t.Errorf("%d differences between DynamoDB Local and the embedded server (see the log)", total)
	}
}

func TestParseRun(t *testing.T) {
	seeds, ops, err := parseRun("seeds=1-3,7 ops=2000")
	if err != nil || fmt.Sprint(seeds) != "[1 2 3 7]" || ops != 2000 {
		t.Fatalf("got %v %d %v", seeds, ops, err)
	}
	if _, _, err := parseRun("seed=1"); err == nil {
		t.Fatal("an unknown setting was accepted")
	}
}
