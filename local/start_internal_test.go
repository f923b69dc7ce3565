package local

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// A write acknowledged while the environment starts has its event: the
// endpoint answers only once the engine receives the events. (Run with
// -race, the status request also checks that reading the engine's state
// while it starts is safe.)
func TestWriteDuringStartHasItsEvent(t *testing.T) {
	app := pipeline.New("startgap")
	b := app.Bucket("inbox")
	var mu sync.Mutex
	seen := map[string]int{}
	pipeline.OnObject(app, "ingest", b.Created(), func(ctx context.Context, o triggers.Object) error {
		mu.Lock()
		seen[o.Key]++
		mu.Unlock()
		return nil
	})
	tb := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnChange(app, "index", tb.Changes(), func(ctx context.Context, c triggers.Change[startItem]) error { return nil })
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 2)
	testHookBeforeEngineStart = func(e *Environment) {
		for _, path := range []string{"/_nanopipe/status", "/inbox/early"} {
			method := http.MethodGet
			if path != "/_nanopipe/status" {
				method = http.MethodPut
			}
			go func() {
				req, _ := http.NewRequest(method, e.Endpoint()+path, strings.NewReader("x"))
				resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					done <- result{0, err}
					return
				}
				resp.Body.Close()
				done <- result{resp.StatusCode, nil}
			}()
		}
		time.Sleep(300 * time.Millisecond) // the requests are answered in the gap, if there is one
	}
	defer func() { testHookBeforeEngineStart = nil }()
	env, err := Start(context.Background(), app, Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	for range 2 {
		if r := <-done; r.err != nil || r.status != 200 {
			t.Fatalf("request during start: %d %v", r.status, r.err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.eng.WaitIdle(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["early"] != 1 {
		t.Errorf("the PUT acknowledged during start was delivered %d times, want 1", seen["early"])
	}
}

type startItem struct {
	ID string `dynamodbav:"id"`
}

// No single request ends the process or goes unanswered: a panic becomes
// a 500 in the protocol's error shape.
func TestRecovererAnswers500(t *testing.T) {
	h := recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("bug") }), nil)
	for _, c := range []struct{ target, want string }{
		{"", "<Code>InternalError</Code>"},
		{"DynamoDB_20120810.PutItem", `"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"`},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
		if c.target != "" {
			r.Header.Set("X-Amz-Target", c.target)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 500 || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("target %q: %d %s, want 500 with %s", c.target, w.Code, w.Body.String(), c.want)
		}
	}
}
