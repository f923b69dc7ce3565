package stages

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/triggers"
)

type row struct {
	ID string `dynamodbav:"id"`
	N  int    `dynamodbav:"n"`
}

func startLocal(t *testing.T, app *pipeline.App, observe func(local.Delivery)) *local.Environment {
	t.Helper()
	e, err := local.Start(context.Background(), app, local.Options{Addr: "127.0.0.1:0", Shards: 1, AsyncRetryDelay: time.Millisecond, Observer: observe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func waitIdle(t *testing.T, e *local.Environment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.WaitIdle(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, e *local.Environment, table string) int {
	t.Helper()
	out, err := e.DynamoDBClient().Scan(context.Background(), &dynamodb.ScanInput{TableName: &table, Select: types.SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

// TestLoadResumes: a load that stops before its deadline records where it
// stopped; the retry of the event goes on from there, reading no row
// twice, until the file is loaded.
func TestLoadResumes(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			var limit atomic.Int64
			limit.Store(400)
			stopEarly = func(rows int64) bool {
				if l := limit.Load(); rows >= l {
					limit.Store(l + 400)
					return true
				}
				return false
			}
			defer func() { stopEarly = nil }()

			app := pipeline.New("resume")
			in := app.Bucket("resume-in")
			tb := app.Table("rows", pipeline.PartitionKey("id", pipeline.String))
			Load[row](app, "load", in.Created(triggers.Suffix(".csv"), triggers.Retries(2)), tb)
			var mu sync.Mutex
			var outcomes []string
			e := startLocal(t, app, func(d local.Delivery) {
				mu.Lock()
				outcomes = append(outcomes, d.Outcome+" "+d.Error)
				mu.Unlock()
			})
			var b bytes.Buffer
			b.WriteString("id,n\n")
			for i := range 1000 {
				fmt.Fprintf(&b, "r%d,%d\n", i, i)
			}
			b.WriteString("bad,notanumber\n")
			body := b.Bytes()
			if gz {
				var z bytes.Buffer
				zw := gzip.NewWriter(&z)
				zw.Write(body)
				zw.Close()
				body = z.Bytes()
			}
			if _, err := e.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("resume-in"), Key: aws.String("rows.csv"), Body: bytes.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, e)
			if n := count(t, e, "rows"); n != 1000 {
				t.Errorf("%d rows loaded, want 1000", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(outcomes) != 3 || !strings.Contains(outcomes[0], "the retry of this event resumes there") || !strings.HasPrefix(outcomes[2], "ok") {
				t.Errorf("deliveries: %q", outcomes)
			}
			out, err := e.S3Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("resume-in"), Key: aws.String("rows.csv" + ReportSuffix)})
			if err != nil {
				t.Fatal(err)
			}
			var rep Report
			json.NewDecoder(out.Body).Decode(&rep)
			out.Body.Close()
			if !rep.Complete || rep.Rows != 1001 || rep.Loaded != 1000 || rep.Invalid != 1 || rep.Resume != nil || len(rep.Errors) != 1 || rep.Errors[0].Line != 1002 {
				t.Errorf("report after resuming: %+v", rep)
			}
		})
	}
}

// unprocessing is a DynamoDB front that writes only half of the items of
// each BatchWriteItem call and returns the others as unprocessed, and
// throttles every fourth call: what a table at its capacity does.
type unprocessing struct {
	backend string
	calls   atomic.Int64
}

func (u *unprocessing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var unprocessed map[string][]json.RawMessage
	if r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.BatchWriteItem" {
		n := u.calls.Add(1)
		if n%4 == 0 {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(400)
			io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"throttled"}`)
			return
		}
		var in struct {
			RequestItems map[string][]json.RawMessage
		}
		json.Unmarshal(body, &in)
		unprocessed = map[string][]json.RawMessage{}
		for table, reqs := range in.RequestItems {
			if len(reqs) > 1 {
				unprocessed[table] = reqs[len(reqs)/2:]
				in.RequestItems[table] = reqs[:len(reqs)/2]
			}
		}
		body, _ = json.Marshal(in)
	}
	req, _ := http.NewRequest(r.Method, u.backend+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), 502)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if unprocessed != nil && resp.StatusCode == 200 {
		var m map[string]any
		json.Unmarshal(out, &m)
		m["UnprocessedItems"] = unprocessed
		out, _ = json.Marshal(m)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

func TestLoadRetriesUnprocessedItems(t *testing.T) {
	defer func(b time.Duration) { batchBackoff = b }(batchBackoff)
	batchBackoff = time.Microsecond
	var waits []time.Duration
	var mu sync.Mutex
	defer func(s func(context.Context, time.Duration) error) { sleep = s }(sleep)
	sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return nil
	}

	// The backend declares the resources but no stage, so that only the
	// harness below runs the load.
	backend := pipeline.New("backend")
	backend.Bucket("retry-in")
	backend.Table("rows", pipeline.PartitionKey("id", pipeline.String))
	e := startLocal(t, backend, nil)

	app := pipeline.New("retry")
	in := app.Bucket("retry-in")
	tb := app.Table("rows", pipeline.PartitionKey("id", pipeline.String))
	load := Load[row](app, "load", in.Created(triggers.Suffix(".csv")), tb, Writers(2))

	var b bytes.Buffer
	b.WriteString("id,n\n")
	for i := range 60 {
		fmt.Fprintf(&b, "r%d,%d\n", i, i)
	}
	if _, err := e.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("retry-in"), Key: aws.String("rows.csv"), Body: bytes.NewReader(b.Bytes())}); err != nil {
		t.Fatal(err)
	}
	front := &unprocessing{backend: e.Endpoint()}
	srv := httptest.NewServer(front)
	defer srv.Close()
	h := pipelinetest.New(t, app, srv.URL)
	res := h.Invoke(load, pipelinetest.S3Event(pipelinetest.CreatedObject(in, "rows.csv", b.Bytes())))
	if !res.OK() {
		t.Fatal(res.Err)
	}
	if n := count(t, e, "rows"); n != 60 {
		t.Errorf("%d rows written, want 60", n)
	}
	if front.calls.Load() < 12 {
		t.Errorf("%d BatchWriteItem calls; half an item batch per call should take more", front.calls.Load())
	}
	if len(waits) == 0 {
		t.Error("no backoff between retries")
	}

	// With too few attempts, the load fails naming the table and why.
	batchAttempts = 2
	defer func() { batchAttempts = 10 }()
	res = h.Invoke(load, pipelinetest.S3Event(pipelinetest.CreatedObject(in, "rows.csv", b.Bytes())))
	if res.Err == nil || !strings.Contains(res.Err.Error(), "still not written after 2 attempts") || !strings.Contains(res.Err.Error(), "table rows") {
		t.Errorf("err = %v", res.Err)
	}
}

func TestBackoff(t *testing.T) {
	defer func(j func(time.Duration) time.Duration) { jitter = j }(jitter)
	jitter = func(d time.Duration) time.Duration { return d }
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := backoff(i); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i, got, w)
		}
	}
	if got := backoff(100); got != 5*time.Second {
		t.Errorf("backoff(100) = %v", got)
	}
}

func TestNormalizeSequencer(t *testing.T) {
	// S3: right-pad the shorter sequencer with zeros, then compare.
	a, b := normalizeSequencer("0055AED6DCD90281E5"), normalizeSequencer("0055aed6dcd90281e50")
	if a != b {
		t.Errorf("%s != %s", a, b)
	}
	if !(normalizeSequencer("0055AED6DCD90281E5") < normalizeSequencer("0055AED6DCD90281E6")) {
		t.Error("order lost")
	}
}

// TestMoveLargeObject copies in parts, as objects over 5 GiB are.
func TestMoveLargeObject(t *testing.T) {
	defer func(m, p int64) { maxSingleCopy, copyPartSize = m, p }(maxSingleCopy, copyPartSize)
	maxSingleCopy, copyPartSize = 1<<20, 5<<20

	app := pipeline.New("bigmove")
	in := app.Bucket("big-in")
	out := app.Bucket("big-out")
	Move(app, "move", in.Created(triggers.Prefix("incoming/")), out, "archive/")
	e := startLocal(t, app, nil)
	body := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16+7)
	if _, err := e.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("big-in"), Key: aws.String("incoming/big.bin"), Body: bytes.NewReader(body), ContentType: aws.String("application/x-test"), Metadata: map[string]string{"origin": "test"}}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	got, err := e.S3Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("big-out"), Key: aws.String("archive/big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, body) {
		t.Errorf("copied %d bytes, want the %d uploaded", len(data), len(body))
	}
	if aws.ToString(got.ContentType) != "application/x-test" || got.Metadata["origin"] != "test" {
		t.Errorf("content type %q metadata %v not kept", aws.ToString(got.ContentType), got.Metadata)
	}
	if _, err := e.S3Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("big-in"), Key: aws.String("incoming/big.bin")}); !notFound(err) {
		t.Errorf("the source is still there: %v", err)
	}
}

// TestRowTypeEmbedded: rows fill fields promoted from embedded structs,
// through pointers too, with attributevalue's rules for which field a
// name means (the shallower Shadow hides the embedded one).
func TestRowTypeEmbedded(t *testing.T) {
	type Base struct {
		ID     string `dynamodbav:"id"`
		Shadow string
	}
	type row struct {
		*Base
		Shadow string
		Name   string
	}
	rt, err := newRowType[row]()
	if err != nil {
		t.Fatal(err)
	}
	for _, attr := range []string{"id", "Shadow", "Name"} {
		if !rt.attrs[attr] {
			t.Errorf("attribute %q missing from %v", attr, rt.attrs)
		}
	}
	header := []string{"id", "shadow", "Name"}
	cols, unknown := rt.columns(header)
	if len(unknown) > 0 {
		t.Fatalf("unknown columns %v", unknown)
	}
	v, err := fromCells[row](rt, header, cols, []string{"7", "outer", "n"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Base == nil || v.ID != "7" || v.Shadow != "outer" || v.Base.Shadow != "" || v.Name != "n" {
		t.Errorf("row = %+v, base %+v", v, v.Base)
	}
}
