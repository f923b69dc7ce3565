package rie_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/nanopipe/nanopipe/local/internal/rie"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// The app whose functions the tests run: every stage runs the echo
// binary, which does what the payload asks.
var (
	app     = pipeline.New("echo")
	inbox   = app.Bucket("echo-inbox")
	items   = app.Table("items", pipeline.PartitionKey("id", pipeline.String), pipeline.Stream(pipeline.ViewNewImage))
	nothing = func(context.Context, triggers.Object) error { return nil }
	single  = pipeline.OnObject(app, "single", inbox.Created(triggers.Prefix("a/")), nothing).
		Writes(items).Timeout(time.Second).Setenv("GREETING", "hello")
	// roomy serves the tests of slots, whose cold starts (up to six at
	// once) the emulator counts against the function's timeout: a loaded
	// machine must not turn them into init failures.
	roomy    = pipeline.OnObject(app, "roomy", inbox.Created(triggers.Prefix("c/")), nothing).Timeout(10 * time.Second)
	grouped1 = pipeline.OnObject(app, "grouped-1", inbox.Created(triggers.Prefix("b/")), nothing).Group("pair")
	grouped2 = pipeline.OnChange(app, "grouped-2", items.Changes(),
		func(context.Context, triggers.Change[map[string]any]) error { return nil }).Group("pair")
)

var (
	buildOnce sync.Once
	bootstrap string
	buildErr  error
)

// echoBootstrap builds the echo function once per test run, as the cdk
// package builds a bootstrap.
func echoBootstrap(t *testing.T) string {
	t.Helper()
	if _, err := rie.FindEmulator(); err != nil {
		t.Fatalf("%v (scripts/rie-setup.sh installs it)", err)
	}
	buildOnce.Do(func() {
		// One place in the user cache, rebuilt (atomically) by every run.
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		out := filepath.Join(base, "nanopipe", "test-bootstrap", "rie-echo", "bootstrap")
		bootstrap, buildErr = rie.Build(context.Background(), rie.BuildOptions{Package: "./testdata/echo", Out: out})
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bootstrap
}

func newRunner(t *testing.T, slots int) *rie.Runner {
	t.Helper()
	r, err := rie.New(rie.Options{App: app, Bootstrap: echoBootstrap(t), Endpoint: "http://127.0.0.1:4566", Slots: slots,
		Streams: map[string]string{"items": "arn:aws:dynamodb:us-east-1:000000000000:table/items/stream/x"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

type answer map[string]any

func invoke(t *testing.T, r *rie.Runner, s *pipeline.Stage, mode string, env ...string) (answer, error) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"mode": mode, "env": env})
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-" + mode})
	resp, err := r.Invoke(ctx, s, payload)
	if err != nil {
		return nil, err
	}
	var a answer
	if err := json.Unmarshal(resp, &a); err != nil {
		t.Fatalf("response %q: %v", resp, err)
	}
	return a, nil
}

// TestOutcomes checks how each way a function ends comes back, and that
// a function that timed out or whose runtime died starts afresh.
func TestOutcomes(t *testing.T) {
	r := newRunner(t, 1)
	first, err := invoke(t, r, single, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if first["requestId"] != "req-ok" {
		t.Errorf("request ID %v, want the engine's req-ok", first["requestId"])
	}
	for _, tc := range []struct {
		mode, errType, message string
		timeout, restarts      bool
	}{
		{"fail", "errorString", "refused as asked", false, false},
		{"panic", "", "panicked as asked", false, true},
		{"sleep", "", "Task timed out after 1.00 seconds", true, true},
		{"crash", "Runtime.ExitError", "Runtime exited with error: exit status 2", false, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			before, err := invoke(t, r, single, "ok")
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = invoke(t, r, single, tc.mode)
			took := time.Since(start)
			var fe *rie.FunctionError
			var te *rie.TimeoutError
			switch {
			case tc.timeout:
				if !errors.As(err, &te) || !te.Timeout() || err.Error() != tc.message {
					t.Fatalf("got %T %v, want a timeout %q", err, err, tc.message)
				}
				if took > 3*time.Second {
					t.Errorf("a 1s timeout took %s", took)
				}
			default:
				if !errors.As(err, &fe) || !strings.Contains(fe.Message, tc.message) || (tc.errType != "" && fe.Type != tc.errType) {
					t.Fatalf("got %T %+v, want a function error %s %q", err, err, tc.errType, tc.message)
				}
			}
			after, err := invoke(t, r, single, "ok")
			if err != nil {
				t.Fatalf("the invocation after: %v", err)
			}
			if restarted := after["pid"] != before["pid"]; restarted != tc.restarts {
				t.Errorf("process %v then %v: restarted %v, want %v", before["pid"], after["pid"], restarted, tc.restarts)
			}
		})
	}
}

// TestEnvironment checks what a function runs with: the contract of
// pipeline.FunctionEnvironment, the stage's own variables, the Lambda
// variables the emulator reads, the endpoint, and nothing of this
// process's AWS settings.
func TestEnvironment(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "/nonexistent/bundle.pem")
	t.Setenv("AWS_PROFILE", "production")
	r := newRunner(t, 2)
	vars := []string{"NANOPIPE_APP", "NANOPIPE_STAGES", "NANOPIPE_BUCKET_ECHO_INBOX", "NANOPIPE_TABLE_ITEMS", "NANOPIPE_STREAM_ITEMS", "GREETING",
		"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_LAMBDA_FUNCTION_TIMEOUT", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_RUNTIME_API",
		"AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_SDK_UA_APP_ID", "AWS_ACCESS_KEY_ID"}
	a, err := invoke(t, r, single, "ok", vars...)
	if err != nil {
		t.Fatal(err)
	}
	want := answer{"NANOPIPE_APP": "echo", "NANOPIPE_STAGES": "single", "NANOPIPE_BUCKET_ECHO_INBOX": "echo-inbox", "NANOPIPE_TABLE_ITEMS": "items",
		"NANOPIPE_STREAM_ITEMS": "", "GREETING": "hello", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_REGION": "us-east-1",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_CA_BUNDLE": "", "AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "local"}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s=%q, want %q", k, a[k], v)
		}
	}
	if api, _ := a["AWS_LAMBDA_RUNTIME_API"].(string); !strings.HasPrefix(api, "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API=%q, want an address on 127.0.0.1", api)
	}
	id, _ := a["AWS_SDK_UA_APP_ID"].(string)
	if stages, ok := r.Caller(id); !ok || len(stages) != 1 || stages[0] != single {
		t.Errorf("Caller(%q) = %v, %v; want stage single", id, stages, ok)
	}
	if _, ok := r.Caller("someone-else"); ok {
		t.Errorf("an unknown ID is a caller")
	}

	// A group is one function serving its stages.
	g, err := invoke(t, r, grouped2, "ok", "NANOPIPE_STAGES", "NANOPIPE_STREAM_ITEMS", "NANOPIPE_BUCKET_ECHO_INBOX", "AWS_LAMBDA_FUNCTION_TIMEOUT")
	if err != nil {
		t.Fatal(err)
	}
	if g["NANOPIPE_STAGES"] != "grouped-1,grouped-2" || g["NANOPIPE_STREAM_ITEMS"] != "arn:aws:dynamodb:us-east-1:000000000000:table/items/stream/x" || g["AWS_LAMBDA_FUNCTION_TIMEOUT"] != "30" {
		t.Errorf("group environment %v", g)
	}
	if env := strings.Join(r.FunctionEnv(grouped1), " "); !strings.Contains(env, "NANOPIPE_STAGES=grouped-1,grouped-2") {
		t.Errorf("FunctionEnv(grouped-1) = %s", env)
	}
}

// TestSlotsHoldSwap checks that a function runs at most Slots
// invocations at once, each in its own emulator; that held invocations
// wait; and that Swap restarts every slot on the new binary.
func TestSlotsHoldSwap(t *testing.T) {
	r := newRunner(t, 2)
	pids := func(n int) map[any]bool {
		var mu sync.Mutex
		seen := map[any]bool{}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := invoke(t, r, roomy, "ok")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[a["pid"]] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		return seen
	}
	before := pids(6)
	if len(before) == 0 || len(before) > 2 {
		t.Fatalf("6 invocations ran in %d processes, want 1 or 2 (2 slots)", len(before))
	}
	r.Hold()
	done := make(chan answer, 1)
	go func() {
		a, err := invoke(t, r, roomy, "ok")
		if err != nil {
			t.Error(err)
		}
		done <- a
	}()
	select {
	case <-done:
		t.Fatal("an invocation ran while held")
	case <-time.After(300 * time.Millisecond):
	}
	r.Swap(r.Bootstrap())
	select {
	case a := <-done:
		if before[a["pid"]] {
			t.Errorf("after Swap, an invocation ran in old process %v", a["pid"])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a held invocation did not run after Swap")
	}
	for pid := range pids(4) {
		if before[pid] {
			t.Errorf("after Swap, old process %v still serves", pid)
		}
	}
	r.Close()
	for pid := range before {
		if alive(pid) {
			t.Errorf("process %v outlived Close", pid)
		}
	}
}

// alive reports whether a process runs (a zombie does not).
func alive(pid any) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%v/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z'
}
