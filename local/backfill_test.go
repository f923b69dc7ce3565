package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// fill puts n objects under prefix into bucket of a state directory,
// through an app that declares the bucket and no stage (so no event is
// delivered).
func fill(t *testing.T, dir, app, bucket, prefix string, n int) {
	t.Helper()
	a := pipeline.New(app)
	a.Bucket(bucket)
	env, err := local.Start(context.Background(), a, local.Options{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	c := env.S3Client()
	var wg sync.WaitGroup
	keys := make(chan string)
	for range 8 {
		wg.Go(func() {
			for k := range keys {
				putObject(t, c, bucket, k)
			}
		})
	}
	for i := range n {
		keys <- fmt.Sprintf("%s%05d.txt", prefix, i)
	}
	close(keys)
	wg.Wait()
	if err := env.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestBackfillInterruptedAndResumed feeds 10,000 objects through a stage
// with the backfill command, interrupts it, resumes it, and checks that
// every object was delivered at least once and the counts were printed.
func TestBackfillInterruptedAndResumed(t *testing.T) {
	dir := t.TempDir()
	const n = 10000
	fill(t, dir, "bf", "bf-files", "in/", n)
	fill(t, dir, "bf", "bf-files", "other/", 5) // outside the trigger

	app := pipeline.New("bf")
	files := app.Bucket("bf-files")
	var mu sync.Mutex
	seen := map[string]int{}
	var delivered atomic.Int64
	var interrupt func()
	pipeline.OnObject(app, "index", files.Created(triggers.Prefix("in/"), triggers.Suffix(".txt")), func(ctx context.Context, o triggers.Object) error {
		if o.Size != int64(len(o.Key)) || o.Sequencer == "" || o.Event != "ObjectCreated:Put" {
			return fmt.Errorf("event %+v is not what S3 sends", o)
		}
		mu.Lock()
		seen[o.Key]++
		mu.Unlock()
		if delivered.Add(1) == 3000 && interrupt != nil {
			interrupt()
		}
		return nil
	}).Reads(files.Keys("in/", ""))

	var out, errs bytes.Buffer
	cmd := local.Command{App: app, Name: "bf", Stdout: &out, Stderr: &errs}
	ctx, cancel := context.WithCancel(context.Background())
	interrupt = cancel
	code := cmd.Run(ctx, []string{"backfill", "--stage", "index", "--dir", dir, "--concurrency", "8"})
	first := out.String()
	if code != 130 || !strings.Contains(first, "interrupted") {
		t.Fatalf("interrupted run: status %d\n%s\n%s", code, first, errs.String())
	}
	t.Logf("interrupted run:\n%s", first)
	interrupt = nil
	out.Reset()
	if code := cmd.Run(context.Background(), []string{"backfill", "--stage", "index", "--dir", dir, "--concurrency", "8", "--json"}); code != 0 {
		t.Fatalf("resumed run: status %d\n%s\n%s", code, out.String(), errs.String())
	}
	var summary map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if m["type"] == "summary" {
			summary = m
		}
	}
	t.Logf("resumed run: %v", summary)
	if summary == nil || summary["resumed"] != true || summary["done"] != true || summary["dead_lettered"].(float64) != 0 {
		t.Fatalf("summary %v", summary)
	}
	skipped, listed := summary["skipped"].(float64), summary["listed"].(float64)
	if skipped < 2000 || skipped+listed < n || listed >= n {
		t.Errorf("the resume skipped %v and listed %v of %d objects", skipped, listed, n)
	}
	mu.Lock()
	defer mu.Unlock()
	again := 0
	for i := range n {
		k := fmt.Sprintf("in/%05d.txt", i)
		if seen[k] == 0 {
			t.Fatalf("%s was never delivered", k)
		}
		again += seen[k] - 1
	}
	if len(seen) != n {
		t.Errorf("%d keys delivered, want %d (other/ is outside the trigger)", len(seen), n)
	}
	t.Logf("%d deliveries of %d objects: %d delivered again after the interruption", delivered.Load(), n, again)
	// A complete backfill does not run again by accident.
	if code := cmd.Run(context.Background(), []string{"backfill", "--stage", "index", "--dir", dir}); code == 0 {
		t.Error("a second backfill over a complete checkpoint ran")
	}
}

// TestBackfillDryRunAndRate: a dry run lists and sends nothing; --rate
// spaces the events out.
func TestBackfillDryRunAndRate(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, "bfr", "bfr-files", "in/", 12)
	app := pipeline.New("bfr")
	files := app.Bucket("bfr-files")
	var calls atomic.Int64
	pipeline.OnObject(app, "count", files.Created(), func(ctx context.Context, o triggers.Object) error {
		calls.Add(1)
		return nil
	})
	var out, errs bytes.Buffer
	cmd := local.Command{App: app, Name: "bfr", Stdout: &out, Stderr: &errs}
	if code := cmd.Run(context.Background(), []string{"backfill", "--stage", "count", "--dir", dir, "--dry-run"}); code != 0 {
		t.Fatalf("dry run: %d %s %s", code, out.String(), errs.String())
	}
	if calls.Load() != 0 || strings.Count(out.String(), "ObjectCreated:Put s3://bfr-files/in/") != 12 || !strings.Contains(out.String(), "dry run") {
		t.Fatalf("dry run sent %d events; printed:\n%s", calls.Load(), out.String())
	}
	out.Reset()
	start := time.Now()
	if code := cmd.Run(context.Background(), []string{"backfill", "--stage", "count", "--dir", dir, "--rate", "40"}); code != 0 {
		t.Fatalf("status %d %s %s", code, out.String(), errs.String())
	}
	if el := time.Since(start); el < 11*time.Second/40 || calls.Load() != 12 {
		t.Errorf("12 events at 40/s took %v (%d sent)", el, calls.Load())
	}
	if !strings.Contains(out.String(), "12 listed, 12 invocations, 12 processed, 0 failed, 0 dead-lettered") {
		t.Errorf("summary:\n%s", out.String())
	}
}

// TestBackfillTableAsInserts runs a stream stage over a table's items as
// INSERT records in batches of its size; a record that always fails is
// retried from, and then dead-lettered with the rest of its batch.
func TestBackfillTableAsInserts(t *testing.T) {
	dir := t.TempDir()
	a := pipeline.New("bft")
	a.Table("things", pipeline.PartitionKey("id", pipeline.String))
	env, err := local.Start(context.Background(), a, local.Options{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for i := range 250 {
		evs = append(evs, Event{ID: fmt.Sprint("t", i), N: i})
	}
	putEvents(t, env, "things", evs)
	env.Close(context.Background())

	app := pipeline.New("bft")
	things := app.Table("things", pipeline.PartitionKey("id", pipeline.String))
	var mu sync.Mutex
	seen := map[string]int{}
	ids := map[string]bool{}
	pipeline.OnChange(app, "mirror", things.Changes(triggers.Insert, triggers.BatchSize(50), triggers.StartAt(triggers.Latest)), func(ctx context.Context, c triggers.Change[Event]) error {
		if c.Kind != triggers.Insert || c.New == nil || c.Keys["id"] == nil || c.EventID == "" {
			return fmt.Errorf("record %+v is not an INSERT", c)
		}
		mu.Lock()
		defer mu.Unlock()
		ids[c.EventID] = true
		if c.New.ID == "t7" {
			return errors.New("t7 is refused")
		}
		seen[c.New.ID]++
		return nil
	})
	var out, errs bytes.Buffer
	cmd := local.Command{App: app, Name: "bft", Stdout: &out, Stderr: &errs}
	code := cmd.Run(context.Background(), []string{"backfill", "--stage", "mirror", "--dir", dir, "--retries", "1", "--retry-delay", "1ms"})
	if code != 1 {
		t.Fatalf("a backfill with dead letters exits %d, want 1\n%s%s", code, out.String(), errs.String())
	}
	m := regexp.MustCompile(`(\d+) processed, (\d+) failed, (\d+) dead-lettered`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no counts in:\n%s", out.String())
	}
	var processed, failed, dead int
	fmt.Sscan(m[1], &processed)
	fmt.Sscan(m[2], &failed)
	fmt.Sscan(m[3], &dead)
	mu.Lock()
	if processed+dead != 250 || dead < 1 || failed != 2 || len(seen) != processed {
		t.Errorf("processed %d, failed %d, dead-lettered %d, stage saw %d items", processed, failed, dead, len(seen))
	}
	mu.Unlock()
	out.Reset()
	if code := cmd.Run(context.Background(), []string{"deadletters", "--dir", dir, "--json"}); code != 0 {
		t.Fatal(errs.String())
	}
	var l struct {
		Stage   string
		Records int
		Payload json.RawMessage
	}
	if err := json.Unmarshal(out.Bytes(), &l); err != nil || l.Stage != "mirror" || l.Records != dead || !strings.Contains(string(l.Payload), `"S":"t7"`) {
		t.Errorf("dead letter %+v (%v):\n%s", l, err, out.String())
	}
}

// fakeLambda stands in for Lambda's API on 127.0.0.1: it serves
// GetFunctionConfiguration and Invoke for one function, checking each
// request against the API's shape, and fails the events whose payload
// contains failOn.
type fakeLambda struct {
	t        *testing.T
	function string
	env      map[string]string
	failOn   string
	mu       sync.Mutex
	payloads [][]byte
	bad      []string
}

var sigv4 = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDFAKE/\d{8}/us-east-1/lambda/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`)

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	problem := func(s string) { f.bad = append(f.bad, r.Method+" "+r.URL.Path+": "+s) }
	if !sigv4.MatchString(r.Header.Get("Authorization")) || r.Header.Get("X-Amz-Date") == "" {
		problem("not signed with SigV4 for lambda in us-east-1: " + r.Header.Get("Authorization"))
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2015-03-31/functions/"+f.function+"/configuration":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"FunctionName": f.function, "Runtime": "provided.al2023", "Handler": "bootstrap",
			"Environment": map[string]any{"Variables": f.env},
		})
	case r.Method == http.MethodPost && r.URL.Path == "/2015-03-31/functions/"+f.function+"/invocations":
		if got := r.Header.Get("X-Amz-Invocation-Type"); got != "RequestResponse" {
			problem("X-Amz-Invocation-Type " + got)
		}
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Records []map[string]any
		}
		if err := json.Unmarshal(body, &ev); err != nil || len(ev.Records) == 0 {
			problem("body is not a Lambda event: " + string(body))
		}
		f.payloads = append(f.payloads, body)
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		if f.failOn != "" && bytes.Contains(body, []byte(f.failOn)) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			w.WriteHeader(200)
			io.WriteString(w, `{"errorMessage":"stage index: refused","errorType":"errorString"}`)
			return
		}
		w.WriteHeader(200)
		io.WriteString(w, "null")
	default:
		problem("not an operation the backfill uses")
		w.WriteHeader(404)
		io.WriteString(w, `{"Type":"User","message":"Function not found"}`)
	}
}

func fakeAWS(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // anything not sent elsewhere fails at once
}

// TestBackfillDeployed backfills a deployed stage: the bucket's physical
// name comes from the function's configuration, the objects are listed
// from S3 (a local environment standing in), and every event goes to
// Lambda's Invoke API (a local server standing in, checking the requests).
func TestBackfillDeployed(t *testing.T) {
	fakeAWS(t)
	dir := t.TempDir()
	fill(t, dir, "store", "photos-uploads-1a2b3c", "incoming/", 20)
	s3env, err := local.Start(context.Background(), func() *pipeline.App { a := pipeline.New("store"); a.Bucket("photos-uploads-1a2b3c"); return a }(), local.Options{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s3env.Close(context.Background())

	app := pipeline.New("photos")
	uploads := app.Bucket("uploads")
	pipeline.OnObject(app, "thumbnail", uploads.Created(triggers.Prefix("incoming/")), func(context.Context, triggers.Object) error { return nil })
	fake := &fakeLambda{t: t, function: "photos-thumbnail", failOn: "incoming/00013.txt", env: map[string]string{
		contract.App: "photos", contract.Stages: "thumbnail", contract.BucketVar(uploads.Name()): "photos-uploads-1a2b3c",
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", srv.URL)
	t.Setenv("AWS_ENDPOINT_URL_S3", s3env.Endpoint())

	var out, errs bytes.Buffer
	cmd := local.Command{App: app, Name: "photos", Stdout: &out, Stderr: &errs}
	work := t.TempDir()
	code := cmd.Run(context.Background(), []string{"backfill", "--stage", "thumbnail", "--function", "photos-thumbnail", "--region", "us-east-1", "--dir", work, "--retries", "2", "--retry-delay", "1ms", "--rate", "1000"})
	if code != 1 {
		t.Fatalf("status %d, want 1 (a dead letter)\n%s%s", code, out.String(), errs.String())
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, b := range fake.bad {
		t.Error(b)
	}
	if len(fake.payloads) != 20+2 {
		t.Errorf("%d invocations, want 22 (20 objects, 2 retries of the failing one)", len(fake.payloads))
	}
	var ev struct {
		Records []struct {
			EventSource string `json:"eventSource"`
			EventName   string `json:"eventName"`
			S3          struct {
				Bucket struct{ Name, Arn string }
				Object struct {
					Key       string
					Size      int64
					ETag      string `json:"eTag"`
					Sequencer string
				}
			} `json:"s3"`
		}
	}
	json.Unmarshal(fake.payloads[0], &ev)
	r := ev.Records[0]
	if r.EventSource != "aws:s3" || r.EventName != "ObjectCreated:Put" || r.S3.Bucket.Name != "photos-uploads-1a2b3c" || r.S3.Bucket.Arn != "arn:aws:s3:::photos-uploads-1a2b3c" ||
		!strings.HasPrefix(r.S3.Object.Key, "incoming/") || r.S3.Object.Size != int64(len(r.S3.Object.Key)) || len(r.S3.Object.ETag) != 32 || len(r.S3.Object.Sequencer) != 16 {
		t.Errorf("event %+v", r)
	}
	if !strings.Contains(out.String(), "20 listed, 22 invocations, 19 processed, 3 failed, 1 dead-lettered") {
		t.Errorf("summary:\n%s", out.String())
	}
	letters, err := os.ReadFile(filepath.Join(work, "backfill", "deployed-photos-thumbnail-thumbnail.deadletters.jsonl"))
	if err != nil || !strings.Contains(string(letters), "incoming/00013.txt") || !strings.Contains(string(letters), "stage index: refused") {
		t.Errorf("dead letters (%v):\n%s", err, letters)
	}
}

// TestBackfillThroughRunningDev runs the backfill command while an
// environment (what dev runs) holds the state directory: the backfill
// goes through that environment's server, into its stages and dead
// letters, with the same dry run, counts, checkpoint and exit codes as on
// the directory itself.
func TestBackfillThroughRunningDev(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, "bfd", "bfd-files", "in/", 20)
	app := pipeline.New("bfd")
	files := app.Bucket("bfd-files")
	var mu sync.Mutex
	seen := map[string]int{}
	pipeline.OnObject(app, "index", files.Created(triggers.Prefix("in/")), func(ctx context.Context, o triggers.Object) error {
		if o.Key == "in/00007.txt" {
			return errors.New("refused seven")
		}
		mu.Lock()
		seen[o.Key]++
		mu.Unlock()
		return nil
	}).Reads(files.Keys("in/", ""))
	env := start(t, app, dir, nil, 0)

	var out, errs bytes.Buffer
	cmd := local.Command{App: app, Name: "bfd", Stdout: &out, Stderr: &errs}
	if code := cmd.Run(context.Background(), []string{"backfill", "--stage", "index", "--dir", dir, "--dry-run"}); code != 0 {
		t.Fatalf("dry run through dev: status %d\n%s\n%s", code, out.String(), errs.String())
	}
	if n := strings.Count(out.String(), "ObjectCreated:Put s3://bfd-files/in/"); n != 20 || len(seen) != 0 {
		t.Fatalf("dry run through dev listed %d objects and delivered %d; printed:\n%s\n%s", n, len(seen), out.String(), errs.String())
	}
	if !strings.Contains(errs.String(), "through the dev server at "+env.Endpoint()) {
		t.Errorf("the command does not say it goes through the dev server:\n%s", errs.String())
	}

	out.Reset()
	errs.Reset()
	code := cmd.Run(context.Background(), []string{"backfill", "--stage", "index", "--dir", dir, "--retries", "0", "--retry-delay", "10ms"})
	if code != 1 || !strings.Contains(out.String(), "20 listed, 20 invocations, 19 processed, 1 failed, 1 dead-lettered") {
		t.Fatalf("backfill through dev: status %d, want 1 (a dead letter)\n%s\n%s", code, out.String(), errs.String())
	}
	mu.Lock()
	if len(seen) != 19 {
		t.Errorf("%d objects delivered, want 19", len(seen))
	}
	mu.Unlock()
	// The failure is a dead letter of the running environment.
	if ls, err := env.DeadLetters("index"); err != nil || len(ls) != 1 || !strings.Contains(ls[0].Error, "refused seven") {
		t.Errorf("dead letters of the running environment: %+v (%v), want the one of in/00007.txt", ls, err)
	}
	// The checkpoint is the environment's: a second run finds it complete.
	out.Reset()
	if code := cmd.Run(context.Background(), []string{"backfill", "--stage", "index", "--dir", dir}); code == 0 {
		t.Errorf("a second backfill through dev over a complete checkpoint ran:\n%s", out.String())
	}
	// Options only this process has are refused with the reason.
	errs.Reset()
	if code := cmd.Run(context.Background(), []string{"backfill", "--stage", "index", "--dir", dir, "--checkpoint", filepath.Join(dir, "mine.json")}); code != 2 || !strings.Contains(errs.String(), "run without --checkpoint, or stop it first") {
		t.Errorf("--checkpoint through dev: status %d\n%s", code, errs.String())
	}
}

// TestBackfillThroughRunningDevInterrupted: interrupting the backfill
// command ends the backfill in the running environment too, and the next
// run resumes from its checkpoint.
func TestBackfillThroughRunningDevInterrupted(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, "bfi", "bfi-files", "in/", 40)
	app := pipeline.New("bfi")
	files := app.Bucket("bfi-files")
	var delivered atomic.Int64
	var interrupt func()
	pipeline.OnObject(app, "slow", files.Created(), func(ctx context.Context, o triggers.Object) error {
		if delivered.Add(1) == 5 && interrupt != nil {
			interrupt()
		}
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	start(t, app, dir, nil, 0) // what dev runs: it holds the directory
	var out, errs bytes.Buffer
	cmd := local.Command{App: app, Name: "bfi", Stdout: &out, Stderr: &errs}
	ctx, cancel := context.WithCancel(context.Background())
	interrupt = cancel
	if code := cmd.Run(ctx, []string{"backfill", "--stage", "slow", "--dir", dir, "--concurrency", "1"}); code != 130 {
		t.Fatalf("interrupted backfill through dev: status %d, want 130\n%s\n%s", code, out.String(), errs.String())
	}
	time.Sleep(200 * time.Millisecond)
	stopped := delivered.Load()
	time.Sleep(300 * time.Millisecond)
	if n := delivered.Load(); n != stopped || n >= 40 {
		t.Fatalf("the backfill went on in the environment after the interruption: %d then %d deliveries", stopped, n)
	}
	interrupt = nil
	out.Reset()
	if code := cmd.Run(context.Background(), []string{"backfill", "--stage", "slow", "--dir", dir, "--json"}); code != 0 {
		t.Fatalf("resumed backfill through dev: status %d\n%s\n%s", code, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), `"resumed":true`) || !strings.Contains(out.String(), `"done":true`) {
		t.Errorf("the resumed run's summary:\n%s", out.String())
	}
	t.Logf("%d deliveries before the interruption, %d in all", stopped, delivered.Load())
}
