package pipeline_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
)

// runtimeAPI is a stand-in for the Lambda Runtime API: it hands out the
// queued payloads one by one and records what the function answered.
type runtimeAPI struct {
	mu      sync.Mutex
	queue   [][]byte
	answers chan answer
	initErr chan string
}

type answer struct {
	id      string
	ok      bool
	payload []byte
}

func (r *runtimeAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	switch {
	case req.Method == "GET" && req.URL.Path == "/2018-06-01/runtime/invocation/next":
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.mu.Unlock()
			<-req.Context().Done() // no more work: hold the poll like Lambda does
			return
		}
		p := r.queue[0]
		r.queue = r.queue[1:]
		n := len(r.queue)
		r.mu.Unlock()
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", fmt.Sprintf("req-%d", n))
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:rtapp")
		w.Write(p)
	case strings.HasSuffix(req.URL.Path, "/response"):
		r.answers <- answer{id: strings.Split(req.URL.Path, "/")[4], ok: true, payload: body}
		w.WriteHeader(http.StatusAccepted)
	case strings.HasSuffix(req.URL.Path, "/error"):
		r.answers <- answer{id: strings.Split(req.URL.Path, "/")[4], ok: false, payload: body}
		w.WriteHeader(http.StatusAccepted)
	case strings.HasSuffix(req.URL.Path, "/init/error"):
		r.initErr <- string(body)
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, req)
	}
}

func buildRTApp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./testdata/rtapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestMainServesLambda runs a real app binary (built as it is deployed)
// against the Runtime API protocol and checks what it answers for stream
// batches and S3 events, as a deployed function would.
func TestMainServesLambda(t *testing.T) {
	bin := buildRTApp(t)
	app := pipeline.New("rtapp")
	files := app.Bucket("rtapp-files")
	things := app.Table("things", pipeline.PartitionKey("id", pipeline.String))
	ok1 := pipelinetest.InsertedItem(things, item{ID: "ok"})
	fail := pipelinetest.InsertedItem(things, item{ID: "fail"})
	ok2 := pipelinetest.InsertedItem(things, item{ID: "ok2"})
	pnc := pipelinetest.InsertedItem(things, item{ID: "panic"})

	api := &runtimeAPI{answers: make(chan answer, 10), initErr: make(chan string, 1), queue: [][]byte{
		pipelinetest.StreamEvent(ok1, fail, ok2),
		pipelinetest.StreamEvent(pnc, ok1),
		pipelinetest.StreamEvent(ok1, ok2),
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	defer srv.Close()

	var logs bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y",
		"NANOPIPE_APP=rtapp", "NANOPIPE_STAGES=things",
		"NANOPIPE_TABLE_THINGS=things",
	}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	wantFailures := [][]string{
		{fail.SequenceNumber(), ok2.SequenceNumber()},
		{pnc.SequenceNumber(), ok1.SequenceNumber()},
		{},
	}
	for i, want := range wantFailures {
		select {
		case a := <-api.answers:
			if !a.ok {
				t.Fatalf("invocation %d: function error %s", i, a.payload)
			}
			var resp struct {
				BatchItemFailures []struct{ ItemIdentifier string } `json:"batchItemFailures"`
			}
			if err := json.Unmarshal(a.payload, &resp); err != nil {
				t.Fatalf("invocation %d: response %s: %v", i, a.payload, err)
			}
			var got []string
			for _, f := range resp.BatchItemFailures {
				got = append(got, f.ItemIdentifier)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("invocation %d: batchItemFailures %v, want %v", i, got, want)
			}
		case msg := <-api.initErr:
			t.Fatalf("init error: %s\n%s", msg, logs.String())
		case err := <-exited:
			t.Fatalf("the function exited (%v) before answering invocation %d; logs:\n%s", err, i, logs.String())
		case <-time.After(30 * time.Second):
			t.Fatalf("no answer to invocation %d; logs:\n%s", i, logs.String())
		}
	}
	select {
	case err := <-exited:
		t.Fatalf("the function exited after the batches: %v", err)
	default:
	}
	cmd.Process.Kill()
	<-exited
	// One JSON log line per record with stage, request id, event id and outcome.
	var outcomes []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			continue
		}
		if o, ok := m["outcome"].(string); ok {
			if m["stage"] != "things" || !strings.HasPrefix(fmt.Sprint(m["request_id"]), "req-") || m["event_id"] == "" {
				t.Errorf("log line lacks fields: %s", line)
			}
			outcomes = append(outcomes, o)
		}
	}
	if got := strings.Join(outcomes, ","); got != "ok,failed,panic,ok,ok" {
		t.Errorf("outcomes %s, want ok,failed,panic,ok,ok; logs:\n%s", got, logs.String())
	}

	t.Run("S3 failure is a function error", func(t *testing.T) {
		api := &runtimeAPI{answers: make(chan answer, 10), initErr: make(chan string, 1), queue: [][]byte{
			pipelinetest.S3Event(pipelinetest.CreatedObject(files, "bad file.txt", nil)),
			pipelinetest.S3Event(pipelinetest.CreatedObject(files, "good.txt", nil)),
		}}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		srv := &http.Server{Handler: api}
		go srv.Serve(ln)
		defer srv.Close()
		cmd := exec.Command(bin)
		cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y",
			"NANOPIPE_STAGES=files", "NANOPIPE_BUCKET_RTAPP_FILES=rtapp-files"}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		for i, wantOK := range []bool{false, true} {
			select {
			case a := <-api.answers:
				if a.ok != wantOK {
					t.Errorf("invocation %d: ok=%v (%s), want %v", i, a.ok, a.payload, wantOK)
				}
				if !a.ok && !strings.Contains(string(a.payload), "unreadable file") {
					t.Errorf("error payload %s lacks the stage's error", a.payload)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no answer to invocation %d", i)
			}
		}
	})

	t.Run("missing environment is an init error", func(t *testing.T) {
		api := &runtimeAPI{answers: make(chan answer, 1), initErr: make(chan string, 1)}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		srv := &http.Server{Handler: api}
		go srv.Serve(ln)
		defer srv.Close()
		cmd := exec.Command(bin)
		cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(), "AWS_REGION=us-east-1", "NANOPIPE_STAGES=things"}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatal("the function started without the table's name")
		}
		if !strings.Contains(string(out), "lacks NANOPIPE_TABLE_THINGS") {
			t.Errorf("output %s does not name the missing variable", out)
		}
	})

	t.Run("outside Lambda", func(t *testing.T) {
		out, err := exec.Command(bin).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "is a Lambda binary") {
			t.Errorf("exit %v, output %s", err, out)
		}
	})
}
