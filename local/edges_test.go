package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// counter counts what stages saw, by key.
type counter struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *counter) add(k string) {
	c.mu.Lock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[k]++
	c.mu.Unlock()
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[k]
}

// After a clean stop, a restart neither repeats nor loses a delivery: the
// write of a stage still running when the stop begins gets its event after
// the restart, and a client's write after the stop began is refused, not
// acknowledged and dropped.
func TestCleanStopLosesNothing(t *testing.T) {
	app := pipeline.New("cleanstop")
	b := app.Bucket("inbox")
	var c counter
	started := make(chan struct{}, 1)
	pipeline.OnObject(app, "slow", b.Created(triggers.Prefix("in/")), func(ctx context.Context, o triggers.Object) error {
		c.add(o.Key)
		select {
		case started <- struct{}{}:
		default:
		}
		time.Sleep(800 * time.Millisecond)
		return b.Put(ctx, "mid/slow", []byte("x"))
	}).Writes(b.Keys("mid/", ""))
	pipeline.OnObject(app, "mid", b.Created(triggers.Prefix("mid/")), func(ctx context.Context, o triggers.Object) error {
		c.add(o.Key)
		return nil
	})
	dir := t.TempDir()
	opts := local.Options{Dir: dir, Addr: "127.0.0.1:0", Observer: func(d local.Delivery) { t.Logf("%s %s %s %s", d.Stage, d.Event, d.Outcome, d.Error) }}
	env, err := local.Start(context.Background(), app, opts)
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, env.S3Client(), "inbox", "in/x")
	<-started
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		closed <- env.Close(ctx)
	}()
	time.Sleep(200 * time.Millisecond)
	req, _ := http.NewRequest(http.MethodPut, env.Endpoint()+"/inbox/mid/after", strings.NewReader("x"))
	resp, perr := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	acked := perr == nil && resp.StatusCode == 200
	if resp != nil {
		resp.Body.Close()
	}
	if acked {
		t.Errorf("a PUT after the stop began was acknowledged")
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}

	env2, err := local.Start(context.Background(), app, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer env2.Close(context.Background())
	idle(t, env2)
	if n := c.get("mid/slow"); n != 1 {
		t.Errorf("the write of the stage running during the stop was delivered %d times, want 1", n)
	}
	if n := c.get("in/x"); n != 1 {
		t.Errorf("in/x was delivered %d times, want 1", n)
	}
	if acked && c.get("mid/after") != 1 {
		t.Errorf("the acknowledged PUT after the stop began was delivered %d times", c.get("mid/after"))
	}
	if ls := letters(t, env2); len(ls) != 0 {
		t.Errorf("dead letters: %d", len(ls))
	}
}

// The admin endpoint takes only JSON requests naming well-formed letter
// IDs, and never reads or deletes a file outside the state directory.
func TestAdminReplayRefusesForgedRequests(t *testing.T) {
	l := newLog()
	broken := false
	app := objectApp("admin", l, &broken)
	root := t.TempDir()
	dir := filepath.Join(root, "state")
	env := start(t, app, dir, l, 1)
	// A file outside the state directory shaped like a letter.
	victim := filepath.Join(root, "victim.json")
	payload := `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"inbox"},"object":{"key":"forged","size":1}}}]}`
	lt, _ := json.Marshal(deadletter.Letter{ID: "x", Stage: "ingest", Source: "aws:s3", Payload: json.RawMessage(payload)})
	if err := os.WriteFile(victim, lt, 0o644); err != nil {
		t.Fatal(err)
	}
	post := func(contentType, body string, header ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, env.Endpoint()+"/_nanopipe/replay", strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	for _, id := range []string{"../../victim", "../victim", "/etc/passwd", "20260102T150405.000000-1a2b3c4"} {
		body, _ := json.Marshal(map[string][]string{"IDs": {id}})
		status, out := post("application/json", string(body))
		if status != 400 || !strings.Contains(out, "is not a letter ID") {
			t.Errorf("ID %q: %d %s, want 400 naming the ID", id, status, out)
		}
	}
	body := `{"IDs":["../../victim"]}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		if status, out := post(ct, body); status != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: %d %s, want 415", ct, status, out)
		}
	}
	if status, out := post("application/json", `{"IDs":[]}`, "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden {
		t.Errorf("cross-site: %d %s, want 403", status, out)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("the file outside the state directory is gone: %v", err)
	}
	idle(t, env)
	if _, att, _ := l.snapshot(); att["forged"] != 0 {
		t.Errorf("the forged letter was replayed")
	}
	// The commands' own requests still work.
	if status, out := post("application/json", `{"IDs":[]}`); status != 200 {
		t.Errorf("well-formed replay: %d %s", status, out)
	}
}

// A stream stage's failure keeps the stage's own error: in the delivery
// line, in the dead letter, and replay --verbose prints the stage's logs.
func TestStreamFailureKeepsItsReason(t *testing.T) {
	l := newLog()
	app, _ := streamApp("reasons", l, triggers.Retries(1))
	dir := t.TempDir()
	env := start(t, app, dir, l, 1)
	putEvents(t, env, "events", []Event{{ID: "n1", Mode: "fail"}})
	idle(t, env)
	_, _, dels := l.snapshot()
	partial := 0
	for _, d := range dels {
		if d.Outcome == local.OutcomePartial {
			partial++
			if !strings.Contains(d.Error, "1 of 1 records reported failed") || !strings.Contains(d.Error, "record n1 refused") {
				t.Errorf("delivery line error %q lacks the stage's error", d.Error)
			}
		}
	}
	if partial != 2 {
		t.Errorf("%d partial deliveries, want 2", partial)
	}
	ls := letters(t, env)
	if len(ls) != 1 || !strings.Contains(ls[0].Error, "record n1 refused") {
		t.Fatalf("letters %+v: want one whose error names the stage's error", ls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	env.Close(ctx)

	var out, errOut bytes.Buffer
	cmd := local.Command{App: app, Name: "reasons", Stdout: &out, Stderr: &errOut}
	if code := cmd.Run(context.Background(), []string{"replay", "--dir", dir, "--all", "--verbose"}); code != 0 {
		t.Logf("replay exit %d: %s %s", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "record n1 refused") || !strings.Contains(out.String(), "record n1 refused") {
		t.Errorf("replay --verbose: stdout\n%s\nstderr\n%s\nwant the stage's error in both", out.String(), errOut.String())
	}
}

// An in-process invocation that overran its timeout is stopped as Lambda
// stops it: its context is cancelled at the deadline, and its later calls
// through the handles are refused with an error that says why.
func TestTimedOutInvocationIsStopped(t *testing.T) {
	app := pipeline.New("timeouts")
	b := app.Bucket("inbox")
	late := make(chan error, 4)
	pipeline.OnObject(app, "slow", b.Created(triggers.Prefix("in/"), triggers.Retries(0)), func(ctx context.Context, o triggers.Object) error {
		time.Sleep(1500 * time.Millisecond) // ignores ctx, as CPU-bound code does
		late <- b.Put(context.WithoutCancel(ctx), "late/"+o.Key, []byte("x"))
		late <- b.Put(ctx, "late2/"+o.Key, []byte("x"))
		return nil
	}).Writes(b.Keys("late/", ""), b.Keys("late2/", "")).Timeout(time.Second)
	l := newLog()
	env := start(t, app, t.TempDir(), l, 1)
	putObject(t, env.S3Client(), "inbox", "in/a")
	for range 2 {
		select {
		case err := <-late:
			if err == nil || !strings.Contains(err.Error(), "timed out") {
				t.Errorf("a handle call after the timeout: err %v, want one saying the invocation timed out", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the stage never returned")
		}
	}
	idle(t, env)
	out, err := env.S3Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("inbox")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		if strings.HasPrefix(*o.Key, "late") {
			t.Errorf("the timed-out invocation wrote %s", *o.Key)
		}
	}
	_, _, dels := l.snapshot()
	if len(dels) == 0 || dels[0].Outcome != local.OutcomeTimeout {
		t.Errorf("deliveries %+v, want a timeout first", dels)
	}
}
