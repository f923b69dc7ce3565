package rie

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/internal/failreason"
	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
)

// DefaultSlots is how many execution environments a function gets at
// most unless Options.Slots says otherwise.
const DefaultSlots = 4

// Options configure a Runner.
type Options struct {
	// App is the declaration; every function of it gets a pool of slots.
	App *pipeline.App
	// Buckets, Tables and Streams map declared names to the names (and
	// stream ARNs) the functions are given; a name missing from a map is
	// used as declared.
	Buckets, Tables, Streams map[string]string
	// Bootstrap is the path of the app's Lambda binary (see Build).
	Bootstrap string
	// Emulator is the path of aws-lambda-rie; "" looks it up with
	// FindEmulator.
	Emulator string
	// Endpoint is the URL the functions' AWS clients are sent to
	// (AWS_ENDPOINT_URL), e.g. http://127.0.0.1:4566. Use an IP address:
	// the SDK then addresses S3 buckets path-style.
	Endpoint string
	// Region is the functions' AWS_REGION (default us-east-1).
	Region string
	// Slots caps the concurrent invocations of each function (default
	// DefaultSlots, lowered by a stage's ReservedConcurrency); more wait.
	Slots int
	// LogLevel is the functions' NANOPIPE_LOG_LEVEL (default info).
	LogLevel string
	// Logger receives the functions' structured logs (the JSON lines the
	// runtime writes), with their levels; nil discards them.
	Logger *slog.Logger
	// Output receives everything else the functions and the emulator
	// print (a crash's stack trace, the emulator's warnings), a line at a
	// time prefixed with the function; nil discards it.
	Output io.Writer
	// Metrics receives the metric lines the runtime writes (Embedded
	// Metric Format, one JSON object starting {"_aws": per line), a whole
	// line per Write; nil passes them to Logger with the other JSON lines.
	Metrics io.Writer
}

// Runner runs the functions of an app under the emulator and implements
// the engine's Invoker. It is safe for concurrent use.
type Runner struct {
	opts     Options
	emulator string
	fns      map[string]*function
	ids      sync.Map // slot's AppID -> *slot
	home     string
	outMu    sync.Mutex

	mu        sync.Mutex
	bootstrap string
	gen       int
	hold      chan struct{} // non-nil while held; closed by Release or Swap
	closed    bool
}

// New prepares a runner; slots start on first use.
func New(opts Options) (*Runner, error) {
	if opts.App == nil {
		return nil, errors.New("rie: Options.App is required")
	}
	if opts.Bootstrap == "" {
		return nil, errors.New("rie: Options.Bootstrap is required: build it with Build")
	}
	if _, err := os.Stat(opts.Bootstrap); err != nil {
		return nil, fmt.Errorf("rie: bootstrap: %w", err)
	}
	if opts.Endpoint == "" {
		return nil, errors.New("rie: Options.Endpoint is required")
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Slots <= 0 {
		opts.Slots = DefaultSlots
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	emu := opts.Emulator
	if emu == "" {
		var err error
		if emu, err = FindEmulator(); err != nil {
			return nil, err
		}
	}
	home, err := os.MkdirTemp("", "nanopipe-rie-")
	if err != nil {
		return nil, fmt.Errorf("rie: %w", err)
	}
	r := &Runner{
		opts: opts, emulator: emu, fns: map[string]*function{}, home: home, bootstrap: opts.Bootstrap,
	}
	var nonce [4]byte
	rand.Read(nonce[:])
	byFn := map[string][]*pipeline.Stage{}
	var order []string
	for _, s := range opts.App.Stages() {
		n := s.FunctionName()
		if byFn[n] == nil {
			order = append(order, n)
		}
		byFn[n] = append(byFn[n], s)
	}
	for i, n := range order {
		stages := byFn[n]
		// Short: it travels in the User-Agent of every request.
		f := &function{r: r, name: n, stages: stages, idBase: fmt.Sprintf("nanopipe-%s-%d-", hex.EncodeToString(nonce[:]), i)}
		cfg := stages[0].Function()
		f.timeout = time.Duration(math.Ceil(max(cfg.Timeout.Seconds(), 1))) * time.Second
		f.max = opts.Slots
		if rc := cfg.ReservedConcurrency; rc != nil && *rc > 0 && *rc < f.max {
			f.max = *rc
		}
		f.sem = make(chan struct{}, f.max)
		f.env = r.functionEnv(f, cfg)
		r.fns[n] = f
	}
	return r, nil
}

// functionEnv is the environment of a function's processes, without the
// slot's AppID: what the cdk package deploys, pointed at the endpoint.
// Nothing of this process's environment is passed on (no AWS_PROFILE, no
// AWS_CA_BUNDLE), as a Lambda function starts from a clean one.
func (r *Runner) functionEnv(f *function, cfg pipeline.Function) []string {
	name := func(m map[string]string, n string) string {
		if v := m[n]; v != "" {
			return v
		}
		return n
	}
	vars := plumbing.FunctionEnvironment(f.stages,
		func(b *pipeline.Bucket) string { return name(r.opts.Buckets, b.Name()) },
		func(t *pipeline.Table) string { return name(r.opts.Tables, t.Name()) },
		func(t *pipeline.Table) string { return r.opts.Streams[t.Name()] })
	for _, s := range f.stages {
		for k, v := range s.Function().Environment {
			vars[k] = v
		}
	}
	for k, v := range map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        r.opts.App.Name() + "-" + f.name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(int(f.timeout / time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(cfg.MemoryMB),
		"AWS_REGION":                      r.opts.Region,
		"AWS_DEFAULT_REGION":              r.opts.Region,
		"AWS_ACCESS_KEY_ID":               "local",
		"AWS_SECRET_ACCESS_KEY":           "local",
		"AWS_ENDPOINT_URL":                r.opts.Endpoint,
		"AWS_EC2_METADATA_DISABLED":       "true",
		contract.LogLevel:                 r.opts.LogLevel,
		"LAMBDA_TASK_ROOT":                filepath.Dir(r.opts.Bootstrap),
		"TZ":                              ":UTC",
		"HOME":                            r.home,
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
	} {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// FunctionEnv returns the environment a stage's function runs with (the
// AWS_SDK_UA_APP_ID of a slot aside), sorted: for tests and diagnostics.
func (r *Runner) FunctionEnv(s *pipeline.Stage) []string {
	if f := r.fns[s.FunctionName()]; f != nil {
		return append([]string(nil), f.env...)
	}
	return nil
}

// Bootstrap returns the path of the binary new slots start.
func (r *Runner) Bootstrap() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bootstrap
}

// Hold makes invocations that have not started wait until Release or
// Swap; running ones go on. Holding twice is holding once.
func (r *Runner) Hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold == nil {
		r.hold = make(chan struct{})
	}
}

// Release lets held invocations start, on the binary they had.
func (r *Runner) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold != nil {
		close(r.hold)
		r.hold = nil
	}
}

// Swap makes bootstrap the binary of every function: idle slots stop now,
// busy ones when their invocation ends, and each starts the new binary at
// its next invocation. It releases a Hold.
func (r *Runner) Swap(bootstrap string) {
	r.mu.Lock()
	r.bootstrap = bootstrap
	r.gen++
	gen := r.gen
	r.mu.Unlock()
	for _, f := range r.fns {
		f.mu.Lock()
		for _, sl := range f.idle {
			if sl.gen != gen {
				sl.stop()
			}
		}
		f.mu.Unlock()
	}
	r.Release()
}

// Caller returns the stages whose declared accesses govern a request
// made by the slot with the given application ID (its AWS_SDK_UA_APP_ID,
// which the SDK sends in the User-Agent as app/ID; see access.AppID): the
// stage the slot is running or, between invocations (during init), every
// stage of its function. ok is false for an ID of no slot (other clients
// of the endpoint).
func (r *Runner) Caller(appID string) (stages []*pipeline.Stage, ok bool) {
	v, ok := r.ids.Load(appID)
	if !ok {
		return nil, false
	}
	sl := v.(*slot)
	if s := sl.current.Load(); s != nil {
		return []*pipeline.Stage{s}, true
	}
	return sl.fn.stages, true
}

// Invoke runs one invocation of the stage's function in a free slot and
// returns its response. It implements engine.Invoker.
func (r *Runner) Invoke(ctx context.Context, s *pipeline.Stage, payload []byte) ([]byte, error) {
	f := r.fns[s.FunctionName()]
	if f == nil {
		return nil, fmt.Errorf("rie: app %s has no function %s", r.opts.App.Name(), s.FunctionName())
	}
	for {
		r.mu.Lock()
		h, closed := r.hold, r.closed
		r.mu.Unlock()
		if closed {
			return nil, errors.New("rie: the runner is closed")
		}
		if h == nil {
			break
		}
		select {
		case <-h:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	sl, err := f.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer f.release(sl)
	return sl.invoke(ctx, s, payload)
}

// Close stops every slot's processes.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.Release()
	for _, f := range r.fns {
		f.mu.Lock()
		for _, sl := range f.all {
			sl.stop()
		}
		f.mu.Unlock()
	}
	os.RemoveAll(r.home)
	return nil
}

// FunctionError is a function's error response: what the stage returned
// or how the runtime failed, as Lambda reports it.
type FunctionError struct {
	Function string
	// Type is the errorType: the Go type of the error, or Runtime.ExitError
	// and the like when the runtime crashed.
	Type    string
	Message string
}

func (e *FunctionError) Error() string { return e.Message }

// TimeoutError is an invocation that overran its function's timeout.
type TimeoutError struct {
	Function string
	Message  string // "Task timed out after N.00 seconds"
}

func (e *TimeoutError) Error() string { return e.Message }

// Timeout reports true: the engine counts the invocation as timed out.
func (e *TimeoutError) Timeout() bool { return true }

// ---- functions and their slots

type function struct {
	r       *Runner
	name    string
	stages  []*pipeline.Stage
	env     []string
	timeout time.Duration
	max     int
	idBase  string
	sem     chan struct{} // one token per busy slot

	mu   sync.Mutex
	idle []*slot
	all  []*slot
}

func (f *function) acquire(ctx context.Context) (*slot, error) {
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.idle); n > 0 {
		sl := f.idle[n-1]
		f.idle = f.idle[:n-1]
		return sl, nil
	}
	sl := &slot{fn: f, id: len(f.all) + 1, seen: make(chan struct{}, 1)}
	sl.appID = f.idBase + strconv.Itoa(sl.id)
	f.all = append(f.all, sl)
	f.r.ids.Store(sl.appID, sl)
	return sl, nil
}

func (f *function) release(sl *slot) {
	f.r.mu.Lock()
	gen, closed := f.r.gen, f.r.closed
	f.r.mu.Unlock()
	f.mu.Lock()
	if closed || sl.gen != gen {
		sl.stop() // swapped while busy: start the new binary next time
	}
	f.idle = append(f.idle, sl)
	f.mu.Unlock()
	<-f.sem
}

// slot is one execution environment: an emulator and the runtime it runs.
type slot struct {
	fn      *function
	id      int
	appID   string
	current atomic.Pointer[pipeline.Stage]

	// The process: set by start, cleared by stop, under mu (Close stops
	// slots that are busy). The rest belongs to whoever holds the slot.
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	addr   string
	gen    int
	out    *lineWriter
	// client talks to this process only: its idle connections go with
	// it, so a later emulator that gets the same port is never sent an
	// invocation on a connection to the dead one.
	client *http.Client

	// What the function's output said of the invocation in flight: the
	// failure reasons it logged, by sequence number, and whether the
	// emulator's END line came; seen is signalled on each.
	noteMu  sync.Mutex
	reasons map[string]string
	ended   bool
	seen    chan struct{}
}

// note takes what the slot's lineWriter reads for the invocation in
// flight.
func (sl *slot) note(seq, reason string, end bool) {
	sl.noteMu.Lock()
	if end {
		sl.ended = true
	} else if seq != "" {
		if sl.reasons == nil {
			sl.reasons = map[string]string{}
		}
		if _, ok := sl.reasons[seq]; !ok {
			sl.reasons[seq] = reason
		}
	}
	sl.noteMu.Unlock()
	select {
	case sl.seen <- struct{}{}:
	default:
	}
}

// resetNotes forgets what the output said of the previous invocation.
func (sl *slot) resetNotes() {
	sl.noteMu.Lock()
	sl.reasons, sl.ended = nil, false
	sl.noteMu.Unlock()
}

// failureReason hands the engine the reason the runtime logged for the
// first record a partial batch response reports failed (in-process, the
// runtime hands it over directly). The runtime logs it before it answers,
// but the line comes through a pipe: wait for it, for a bounded time.
func (sl *slot) failureReason(ctx context.Context, body []byte) {
	var resp struct {
		Failures []struct {
			ID string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if !bytes.Contains(body, []byte(`"batchItemFailures"`)) || json.Unmarshal(body, &resp) != nil || len(resp.Failures) == 0 {
		return
	}
	first := resp.Failures[0].ID
	deadline := time.NewTimer(3 * time.Second)
	defer deadline.Stop()
	grace := false
	for {
		sl.noteMu.Lock()
		reason, ok := sl.reasons[first]
		ended := sl.ended
		sl.noteMu.Unlock()
		if ok {
			failreason.RecordReason(ctx, first, reason)
			return
		}
		if ended && !grace {
			// The runtime's output and the emulator's come through
			// different pipes, and every response reporting failures has
			// its line: this only bounds the wait for a runtime that
			// writes none (built from an older nanopipe).
			grace = true
			deadline.Reset(time.Second)
		}
		select {
		case <-sl.seen:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (sl *slot) running() bool {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.cmd == nil {
		return false
	}
	select {
	case <-sl.exited:
		return false
	default:
		return true
	}
}

// exitedWithin reports whether the slot's emulator has exited, or exits
// within d.
func (sl *slot) exitedWithin(d time.Duration) bool {
	sl.mu.Lock()
	exited := sl.exited
	sl.mu.Unlock()
	if exited == nil {
		return true
	}
	select {
	case <-exited:
		return true
	case <-time.After(d):
		return false
	}
}

func (sl *slot) stop() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.cmd == nil {
		return
	}
	killTree(sl.cmd.Process)
	<-sl.exited
	sl.out.flush()
	sl.client.CloseIdleConnections()
	sl.cmd = nil
}

// start starts the emulator with the current binary and waits until it
// takes invocations.
func (sl *slot) start() error {
	r := sl.fn.r
	r.mu.Lock()
	bin, gen, closed := r.bootstrap, r.gen, r.closed
	r.mu.Unlock()
	if closed {
		return errors.New("rie: the runner is closed")
	}
	var last error
	for try := 0; try < 3; try++ {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		api, err := freeAddr()
		if err != nil {
			return err
		}
		cmd := exec.Command(r.emulator, "--log-level", "warn",
			"--runtime-interface-emulator-address", addr,
			"--runtime-api-address", api,
			bin)
		cmd.Dir = filepath.Dir(bin)
		cmd.Env = append(append([]string(nil), sl.fn.env...), "AWS_SDK_UA_APP_ID="+sl.appID)
		out := &lineWriter{r: r, fn: sl.fn.name, note: sl.note}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.WaitDelay = time.Second
		setProcAttr(cmd)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("rie: start %s for function %s: %w", r.emulator, sl.fn.name, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if err := waitListening(addr, exited); err != nil {
			killTree(cmd.Process)
			<-exited
			out.flush()
			last = err
			continue // most likely a port taken meanwhile: try others
		}
		sl.mu.Lock()
		sl.cmd, sl.exited, sl.addr, sl.gen, sl.out = cmd, exited, addr, gen, out
		// Invocations are long requests to this one emulator: no proxy,
		// no CA bundle.
		sl.client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1, DisableCompression: true}}
		sl.mu.Unlock()
		return nil
	}
	return fmt.Errorf("rie: function %s: the emulator did not start: %w", sl.fn.name, last)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("rie: pick a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the emulator exited at start")
		case <-time.After(3 * time.Millisecond):
		}
	}
	return fmt.Errorf("the emulator is not listening on %s after 10s", addr)
}

const invokePath = "/2015-03-31/functions/function/invocations"

func (sl *slot) invoke(ctx context.Context, s *pipeline.Stage, payload []byte) ([]byte, error) {
	f := sl.fn
	f.r.mu.Lock()
	gen := f.r.gen
	f.r.mu.Unlock()
	if sl.gen != gen || !sl.running() {
		sl.stop()
		if err := sl.start(); err != nil {
			return nil, err
		}
	}
	return sl.send(ctx, s, payload, false)
}

// send sends one invocation to the slot's running emulator; retry is set
// for the one resend after the emulator was found gone.
func (sl *slot) send(ctx context.Context, s *pipeline.Stage, payload []byte, retry bool) ([]byte, error) {
	f := sl.fn
	sl.current.Store(s)
	defer sl.current.Store(nil)
	sl.resetNotes()
	// The emulator enforces the timeout; this bound only catches an
	// emulator that stopped answering (a cold start counts too).
	hctx, cancel := context.WithTimeout(ctx, f.timeout+15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, http.MethodPost, "http://"+sl.addr+invokePath, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		req.Header.Set("X-Amzn-RequestId", lc.AwsRequestID)
	}
	req.Header.Set("Content-Type", "application/json")
	sl.mu.Lock()
	client := sl.client
	sl.mu.Unlock()
	resp, err := client.Do(req)
	if err != nil && ctx.Err() == nil && hctx.Err() == nil && !retry && sl.exitedWithin(time.Second) {
		// The emulator is gone. Most likely it never took the
		// invocation: it could not bind the address freeAddr picked,
		// which another process took meanwhile, and the readiness check
		// reached that process. Start it again, on other addresses, and
		// send the invocation once more (should the emulator itself have
		// died during it, that is one more delivery: at least once, as
		// in Lambda).
		sl.stop()
		if err := sl.start(); err != nil {
			return nil, err
		}
		return sl.send(ctx, s, payload, true)
	}
	if err != nil {
		sl.stop()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case hctx.Err() != nil:
			return nil, &TimeoutError{Function: f.name, Message: fmt.Sprintf("Task timed out after %.2f seconds (the emulator did not answer)", f.timeout.Seconds())}
		}
		return nil, fmt.Errorf("rie: invoke function %s: %w", f.name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		sl.stop()
		return nil, fmt.Errorf("rie: invoke function %s: read response: %w", f.name, err)
	}
	if resp.StatusCode == http.StatusOK && bytes.HasPrefix(body, []byte("Task timed out after ")) {
		// Lambda replaces an environment whose invocation timed out; the
		// emulator would go on with the runtime still busy.
		sl.stop()
		return nil, &TimeoutError{Function: f.name, Message: string(body)}
	}
	if fe := functionError(f.name, body); fe != nil {
		if resp.StatusCode != http.StatusOK {
			sl.stop()
		}
		return nil, fe
	}
	if resp.StatusCode != http.StatusOK {
		sl.stop()
		msg := strings.TrimSpace(string(body))
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return nil, &FunctionError{Function: f.name, Type: "Runtime.Unknown", Message: fmt.Sprintf("function %s: the emulator answered %d: %s", f.name, resp.StatusCode, msg)}
	}
	sl.failureReason(ctx, body)
	return body, nil
}

// functionError decodes an error response: a JSON object with
// errorMessage and errorType and nothing else but a stackTrace. No
// response of a stage has that shape.
func functionError(fn string, body []byte) *FunctionError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	msg, ok1 := m["errorMessage"]
	typ, ok2 := m["errorType"]
	if !ok1 || !ok2 {
		return nil
	}
	for k := range m {
		if k != "errorMessage" && k != "errorType" && k != "stackTrace" {
			return nil
		}
	}
	fe := &FunctionError{Function: fn}
	json.Unmarshal(msg, &fe.Message)
	json.Unmarshal(typ, &fe.Type)
	return fe
}
