package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	photos "github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/internal/s3event"
	"github.com/nanopipe/nanopipe/internal/testutil"
	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/local/internal/envhook"
	"github.com/nanopipe/nanopipe/local/internal/rie"
	faults "github.com/nanopipe/nanopipe/local/testdata/faults/app"
	"github.com/nanopipe/nanopipe/pipeline"
)

// The bootstraps of the apps these tests run under the emulator, built
// once per test binary, exactly as the cdk package builds them.
var bootstraps struct {
	sync.Mutex
	paths map[string]string
}

func bootstrapOf(t *testing.T, pkg string) string {
	t.Helper()
	if _, err := rie.FindEmulator(); err != nil {
		t.Fatalf("%v (scripts/rie-setup.sh installs it)", err)
	}
	bootstraps.Lock()
	defer bootstraps.Unlock()
	if p, ok := bootstraps.paths[pkg]; ok {
		return p
	}
	start := time.Now()
	p, err := rie.Build(context.Background(), rie.BuildOptions{Package: pkg, Dir: "..", Out: testBootstrapPath(pkg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s", pkg, time.Since(start).Round(time.Millisecond))
	if bootstraps.paths == nil {
		bootstraps.paths = map[string]string{}
	}
	bootstraps.paths[pkg] = p
	return p
}

// testBootstrapPath is where the tests build a package's bootstrap: one
// place per package in the user cache, rebuilt (atomically) by every run,
// rather than a new temporary file each time.
func testBootstrapPath(pkg string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	name := strings.NewReplacer("/", "_", ".", "_").Replace(strings.TrimPrefix(pkg, "./"))
	return filepath.Join(base, "nanopipe", "test-bootstrap", name, "bootstrap")
}

// deliveries records what the engine reports.
type deliveries struct {
	mu  sync.Mutex
	all []engine.Delivery
}

func (d *deliveries) observe(x engine.Delivery) {
	d.mu.Lock()
	d.all = append(d.all, x)
	d.mu.Unlock()
}

var (
	// deniedOnWire matches what the SDK adds around a refusal that came
	// over HTTP: a refusal at the endpoint (emulator path) reads as the
	// same refusal in the stage's client (in-process path) once removed.
	deniedOnWire = regexp.MustCompile(`https response error StatusCode: \d+, RequestID: [^,]*,( HostID: [^,]*,)? api error AccessDenied(Exception)?: `)
	// requestIDs differ from one request to the next.
	requestIDs = regexp.MustCompile(`RequestID: [^,]*,( HostID: [^,]*,)?`)
)

// normal returns an error message without what differs between two runs
// of the same call.
func normal(msg string) string {
	return requestIDs.ReplaceAllString(deniedOnWire.ReplaceAllString(msg, ""), "RequestID: -,")
}

// summary is what must be equal between the in-process and the emulator
// runs: per delivery its stage, event, attempt, outcome and error. With
// batchesByTiming, how stream records fall into batches depends on
// timing: only the records per stage and outcome are compared.
func (d *deliveries) summary(batchesByTiming bool) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	records := map[string]int{}
	for _, x := range d.all {
		ev := x.Event
		if x.Source == "aws:dynamodb" {
			if batchesByTiming {
				records[fmt.Sprintf("%s | stream records | %s | failed %d | %s", x.Stage, x.Outcome, x.Failed, normal(x.Error))] += x.Records
				continue
			}
			ev = fmt.Sprintf("%d records", x.Records)
		}
		out = append(out, fmt.Sprintf("%s | %s | attempt %d | %s | failed %d | %s", x.Stage, ev, x.Attempt, x.Outcome, x.Failed, normal(x.Error)))
	}
	for k, n := range records {
		out = append(out, fmt.Sprintf("%s | %d", k, n))
	}
	sort.Strings(out)
	return out
}

func startMode(t *testing.T, app *pipeline.App, mode string, pkg string, d *deliveries, logs ...*testutil.SyncBuffer) *local.Environment {
	t.Helper()
	opts := local.Options{Addr: "127.0.0.1:0", Shards: 1, AsyncRetryDelay: 5 * time.Millisecond, StreamRetryDelay: time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}
	if len(logs) > 0 {
		opts.StageLogger = slog.New(slog.NewJSONHandler(logs[0], &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if d != nil {
		opts.Observer = d.observe
	}
	if mode == "rie" {
		opts.RIE = &local.RIEOptions{Bootstrap: bootstrapOf(t, pkg)}
	}
	env, err := local.Start(context.Background(), app, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		env.Close(ctx)
	})
	return env
}

func put(t *testing.T, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func keys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, *o.Key)
	}
	return ks
}

func scan(t *testing.T, c *dynamodb.Client, table string) []string {
	t.Helper()
	out, err := c.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for _, it := range out.Items {
		var m map[string]any
		b, _ := json.Marshal(it)
		json.Unmarshal(b, &m)
		s, _ := json.Marshal(m)
		items = append(items, string(s))
	}
	sort.Strings(items)
	return items
}

func letterSummary(t *testing.T, env *local.Environment) []string {
	t.Helper()
	var out []string
	for _, l := range letters(t, env) {
		out = append(out, fmt.Sprintf("%s | %s | %s | attempts %d | records %d | %s", l.Stage, l.Source, l.Condition, l.Attempts, l.Records, normal(l.Error)))
	}
	sort.Strings(out)
	return out
}

func equal(t *testing.T, what string, inproc, emulated []string) {
	t.Helper()
	if strings.Join(inproc, "\n") != strings.Join(emulated, "\n") {
		t.Errorf("%s differ:\nin-process:\n  %s\nemulator:\n  %s", what, strings.Join(inproc, "\n  "), strings.Join(emulated, "\n  "))
	}
}

// TestRIEMatchesInProcessFaults delivers the same S3 events and stream
// records to the faults app in-process and through its bootstrap under
// the emulator, and checks that every delivery (outcome, attempt, error),
// every dead letter and the resulting objects and items are the same:
// successes, errors, panics, timeouts and refused undeclared writes.
func TestRIEMatchesInProcessFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a Lambda binary")
	}
	modes := []string{"in-process", "rie"}
	type result struct{ deliveries, letters, objects, results, metrics []string }
	res := map[string]result{}
	var mu sync.Mutex
	// The group returns when both parallel runs are done.
	t.Run("modes", func(t *testing.T) {
		for _, mode := range modes {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				d, logs := &deliveries{}, &testutil.SyncBuffer{}
				env := startMode(t, faults.App, mode, "./local/testdata/faults", d, logs)
				s3c, ddb := env.S3Client(), env.DynamoDBClient()
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, k := range []string{"ok-1", "fail-1", "panic-1", "sleep-1", "undeclared-1"} {
						put(t, s3c, "faults-inbox", "in/"+k, []byte(k))
					}
				}()
				// One record per batch: the outcome of each mode is its own.
				for i, m := range []string{"", "fail", "panic", "sleep", "undeclared", ""} {
					putEvents(t, env, "events", []Event{{ID: fmt.Sprintf("e%d-%s", i, m), N: i, Mode: m}})
					idle(t, env)
				}
				wg.Wait()
				idle(t, env)
				r := result{deliveries: d.summary(false), letters: letterSummary(t, env), objects: keys(t, s3c, "faults-inbox"), results: scan(t, ddb, "results"), metrics: metricSummary(env)}
				mu.Lock()
				res[mode] = r
				mu.Unlock()
				// The acceptance line: a write under an undeclared prefix fails
				// locally, its dead letter naming the declaration to add.
				joined := strings.Join(r.letters, "\n")
				for _, want := range []string{
					`AccessDenied: stage "objects" is not allowed s3:PutObject on s3://faults-inbox/elsewhere/undeclared-1`,
					`add .Writes(<bucket faults-inbox>.Keys("elsewhere/", "")) to its declaration`,
					`Task timed out after 1.00 seconds`,
					`stage panicked: panicked on panic-1`,
				} {
					if !strings.Contains(joined, want) {
						t.Errorf("no dead letter says %q:\n%s", want, joined)
					}
				}
				// The first failed record's error is in the delivery line and
				// the dead letter, in-process and under the emulator alike.
				if want := `1 of 1 records reported failed, from 10000000000000000002: event e1-fail refused`; !strings.Contains(strings.Join(r.deliveries, "\n"), want) || !strings.Contains(joined, want) {
					t.Errorf("no delivery line and dead letter say %q:\n%s\n%s", want, strings.Join(r.deliveries, "\n"), joined)
				}
				// A stream batch reports failed records without errors: the
				// stage's error log says why.
				if want := `is not allowed dynamodb:PutItem on table secrets: no Reads, Writes or Deletes of the stage covers it; add .Writes(<table secrets>) to its declaration`; !strings.Contains(logs.String(), want) {
					t.Errorf("the stage logs do not say %q:\n%s", want, logs.String())
				}
			})
		}
	})
	if t.Failed() || len(res) != 2 {
		return
	}
	a, b := res["in-process"], res["rie"]
	equal(t, "deliveries", a.deliveries, b.deliveries)
	equal(t, "dead letters", a.letters, b.letters)
	equal(t, "objects", a.objects, b.objects)
	equal(t, "results", a.results, b.results)
	// The stages' metric lines reach the summary in both modes: under the
	// emulator the runtime writes them to its output, as in Lambda.
	equal(t, "metrics", a.metrics, b.metrics)
	t.Logf("deliveries (both runs):\n  %s", strings.Join(a.deliveries, "\n  "))
	t.Logf("metrics (both runs):\n  %s", strings.Join(a.metrics, "\n  "))
}

// metricSummary is what the stages' metric lines added up to, without
// the durations.
func metricSummary(env *local.Environment) []string {
	var out []string
	for _, m := range env.Metrics() {
		out = append(out, fmt.Sprintf("%s: invocations %d, records %d, processed %d, failed %d, retried %d", m.Stage, m.Invocations, m.Records, m.Processed, m.Failed, m.Retried))
	}
	return out
}

// streamPayload is a stream batch of the faults app's events table.
func streamPayload(arn string, evs ...faults.Event) []byte {
	var recs []string
	for i, e := range evs {
		recs = append(recs, fmt.Sprintf(`{"eventID":"id%d","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1","dynamodb":{"ApproximateCreationDateTime":1767225600,"Keys":{"id":{"S":%q}},"NewImage":{"id":{"S":%q},"n":{"N":"%d"},"mode":{"S":%q}},"SequenceNumber":"%d","SizeBytes":40,"StreamViewType":"NEW_AND_OLD_IMAGES"},"eventSourceARN":%q}`,
			i, e.ID, e.ID, e.N, e.Mode, 1000+i, arn))
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`)
}

func s3Payload(bucket, key string) []byte {
	return []byte(fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"local"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"1","x-amz-id-2":"2"},"s3":{"s3SchemaVersion":"1.0","configurationId":"c","bucket":{"name":%q,"ownerIdentity":{"principalId":"local"},"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":1,"eTag":"00","sequencer":"01"}}}]}`, bucket, bucket, s3event.EncodeKey(key)))
}

// TestRIEResponsesMatch invokes the faults app's stages with the same
// payloads in-process (plumbing.Invoke, as the engine does) and through the
// emulator, and compares the raw responses: batch item failures of mixed
// batches, and the errors of S3 events.
func TestRIEResponsesMatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a Lambda binary")
	}
	env := startMode(t, faults.App, "rie", "./local/testdata/faults", nil)
	put(t, env.S3Client(), "faults-inbox", "in/ok-r", []byte("x"))
	put(t, env.S3Client(), "faults-inbox", "in/undeclared-r", []byte("x"))
	idle(t, env)
	arn := env.Env().Streams["events"]
	cases := []struct {
		name    string
		stage   *pipeline.Stage
		payload []byte
	}{
		{"stream all ok", faults.Changes, streamPayload(arn, faults.Event{ID: "a", N: 1}, faults.Event{ID: "b", N: 2})},
		{"stream fails mid-batch", faults.Changes, streamPayload(arn, faults.Event{ID: "c", N: 1}, faults.Event{ID: "d", Mode: "fail"}, faults.Event{ID: "e", N: 3})},
		{"stream panics mid-batch", faults.Changes, streamPayload(arn, faults.Event{ID: "f", N: 1}, faults.Event{ID: "g", Mode: "panic"}, faults.Event{ID: "h"})},
		{"stream undeclared table", faults.Changes, streamPayload(arn, faults.Event{ID: "i", Mode: "undeclared"}, faults.Event{ID: "j"})},
		{"s3 ok", faults.Objects, s3Payload("faults-inbox", "in/ok-r")},
		{"s3 missing object", faults.Objects, s3Payload("faults-inbox", "in/gone")},
		{"s3 error", faults.Objects, s3Payload("faults-inbox", "in/fail-r")},
		{"s3 panic", faults.Objects, s3Payload("faults-inbox", "in/panic-r")},
		{"s3 undeclared prefix", faults.Objects, s3Payload("faults-inbox", "in/undeclared-r")},
		{"not an event", faults.Objects, []byte(`{"hello":"world"}`)},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// In-process, the engine invokes a stage as a function of its
			// own, routing and checking the payload as the deployed one does.
			h, err := plumbing.Handler(faults.App, env.Env(), []*pipeline.Stage{c.stage})
			if err != nil {
				t.Fatal(err)
			}
			want, werr := h.Invoke(ctx, c.payload)
			got, gerr := envhook.Runner(env).Invoke(ctx, c.stage, c.payload)
			if werr != nil {
				want = nil
			}
			msg := func(err error) string {
				if err == nil {
					return ""
				}
				return normal(err.Error())
			}
			if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(got)) || msg(werr) != msg(gerr) {
				t.Errorf("in-process: %s, %v\nemulator:   %s, %v", want, werr, got, gerr)
			}
			if gerr != nil {
				var fe *rie.FunctionError
				if !errors.As(gerr, &fe) {
					t.Errorf("emulator error %T, want *rie.FunctionError", gerr)
				}
			}
		})
	}
}

// TestRIEPhotos runs the photos example through its real bootstrap under
// the emulator and in-process on the same uploads and removals: the
// thumbnails, records, quarantined files and album counts must be the
// same, and so must every delivery.
func TestRIEPhotos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a Lambda binary")
	}
	sample, err := os.ReadFile("../examples/photos/testdata/sample.jpg")
	if err != nil {
		t.Fatal(err)
	}
	type result struct{ deliveries, objects, photos, albums []string }
	res := map[string]result{}
	var mu sync.Mutex
	t.Run("modes", func(t *testing.T) {
		for _, mode := range []string{"in-process", "rie"} {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				d := &deliveries{}
				env := startMode(t, photos.App, mode, "./examples/photos", d)
				s3c, ddb := env.S3Client(), env.DynamoDBClient()
				for _, k := range []string{"incoming/trip/a.jpg", "incoming/trip/b.jpg", "incoming/home/c.jpg"} {
					put(t, s3c, "photos-uploads", k, sample)
				}
				put(t, s3c, "photos-uploads", "incoming/trip/notes.jpg", []byte("not an image"))
				idle(t, env)
				if _, err := s3c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("photos-uploads"), Key: aws.String("incoming/trip/b.jpg")}); err != nil {
					t.Fatal(err)
				}
				idle(t, env)
				out, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("photos-uploads"), Key: aws.String("thumbs/trip/a.png")})
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(out.Body)
				out.Body.Close()
				if err != nil || img.Bounds().Dx() != photos.ThumbWidth {
					t.Errorf("thumbnail: %v, width %v", err, img)
				}
				r := result{deliveries: d.summary(true), objects: keys(t, s3c, "photos-uploads"), photos: scan(t, ddb, "photos"), albums: scan(t, ddb, "albums")}
				mu.Lock()
				res[mode] = r
				mu.Unlock()
			})
		}
	})
	if t.Failed() || len(res) != 2 {
		return
	}
	a, b := res["in-process"], res["rie"]
	equal(t, "deliveries", a.deliveries, b.deliveries)
	equal(t, "objects", a.objects, b.objects)
	equal(t, "photos", a.photos, b.photos)
	equal(t, "albums", a.albums, b.albums)
	if want := `{"album":{"Value":"trip"},"photos":{"Value":"1"}}`; !strings.Contains(strings.Join(b.albums, "\n"), want) {
		t.Errorf("albums %v, want %s", b.albums, want)
	}
}

// TestDevFlags runs the dev command as a developer does: with --watch
// (which implies --rie) a write under an undeclared prefix shows in the
// delivery output and the dead letters with the declaration to add; with
// --enforce=false the same write goes through, in-process.
func TestDevFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a Lambda binary")
	}
	bootstrapOf(t, "./local/testdata/faults") // skips without the emulator; warms the build cache
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string
	}{
		{"watch", []string{"--watch", "--package", "./testdata/faults"}, []string{
			"stages run out of process: bootstrap built from ./testdata/faults, under aws-lambda-rie",
			"watching the Go files of ./testdata/faults",
			`objects        ObjectCreated:Put s3://faults-inbox/in/undeclared-1  after 2 attempts  dead-lettered`,
			`add .Writes(<bucket faults-inbox>.Keys("elsewhere/", "")) to its declaration`,
		}},
		{"no enforcement", []string{"--enforce=false"}, []string{
			"declared accesses are not enforced (--enforce=false)",
			"objects        ObjectCreated:Put s3://faults-inbox/in/undeclared-1  attempt 1",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &testutil.SyncBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			cmd := &local.Command{App: faults.App, Name: "faults", Stdout: out, Stderr: out}
			done := make(chan int)
			dir := t.TempDir()
			go func() {
				done <- cmd.Run(ctx, append([]string{"dev", "--dir", dir, "--port", "0", "--no-demo"}, tc.flags...))
			}()
			re := regexp.MustCompile(`endpoint\s+(http://127\.0\.0\.1:\d+)`)
			var endpoint string
			for deadline := time.Now().Add(60 * time.Second); endpoint == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if m := re.FindStringSubmatch(out.String()); m != nil {
					endpoint = m[1]
				}
			}
			if endpoint == "" {
				cancel()
				<-done
				t.Fatalf("dev did not start:\n%s", out)
			}
			c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
				Credentials: aws.AnonymousCredentials{}})
			put(t, c, "faults-inbox", "in/undeclared-1", []byte("x"))
			said := func() bool {
				for _, w := range tc.want {
					if !strings.Contains(out.String(), w) {
						return false
					}
				}
				return true
			}
			for deadline := time.Now().Add(20 * time.Second); !said() && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("dev exited %d", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("the output does not say %q:\n%s", w, out)
				}
			}
		})
	}
}
