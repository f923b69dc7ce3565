package local

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local/internal/awsconf"
	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/local/internal/dynamolocal"
	"github.com/nanopipe/nanopipe/local/internal/dynamosrv"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/local/internal/s3srv"
	"github.com/nanopipe/nanopipe/local/internal/tracked"
	"github.com/nanopipe/nanopipe/pipeline"
)

// DefaultAddr is where the environment listens unless told otherwise: the
// port LocalStack uses, so tools configured for it work unchanged.
const DefaultAddr = "127.0.0.1:4566"

// Options configure an Environment.
type Options struct {
	// Dir keeps all state (objects, tables, streams, queued events, stream
	// checkpoints, dead letters) so that it survives a restart; "" keeps
	// everything in memory.
	Dir string
	// Addr is the listen address (default DefaultAddr); "127.0.0.1:0"
	// picks a free port. Only loopback addresses are accepted.
	Addr string
	// Shards is the number of shards of each table stream of the embedded
	// DynamoDB (0: 4).
	Shards int
	// Observer, when set, is told of every delivery attempt and
	// dead-lettering, from the engine's goroutines: it must be safe for
	// concurrent use and return quickly. nil tells nobody.
	Observer func(Delivery)
	// StageLogger receives the stages' own logs; nil discards them.
	StageLogger *slog.Logger
	// AsyncRetryDelay is the wait before the first retry of a failed S3
	// event, doubled for the second (0: 1s; Lambda waits about a minute).
	// StreamRetryDelay is the wait before retrying a failed stream batch,
	// doubled on each retry up to MaxRetryDelay (0: 100ms and 5s).
	AsyncRetryDelay  time.Duration
	StreamRetryDelay time.Duration
	MaxRetryDelay    time.Duration
	// DynamoDB selects where the tables live: "" or Embedded,
	// DynamoDBLocal or "dynamodb-local:URL". An unknown name is an error
	// of Start.
	DynamoDB string
	// dynamoDBLocal, set by nanopipe's own tests through envhook, is a
	// running DynamoDB Local the tables live in (DynamoDB is then
	// ignored); Close leaves it running.
	dynamoDBLocal *dynamolocal.Server
	// S3 selects where the buckets live: "" or Embedded, VersityGW or
	// "versitygw:URL?webhook=ADDR". An unknown name is an error of Start.
	S3 string
	// AllowUndeclared turns off the enforcement of declared accesses. By
	// default a stage's call that its Reads, Writes and Deletes do not
	// cover is refused with an AccessDenied error naming the declaration
	// to add, as the deployed role refuses it.
	AllowUndeclared bool
	// RIE, when set, runs the app's Lambda binary under the runtime
	// interface emulator instead of calling the stages in-process; nil
	// calls them in-process.
	RIE *RIEOptions
}

// Environment is a running local environment: the embedded S3 and
// DynamoDB behind one endpoint, and the engine delivering their events to
// the app's stages. With an external backend (Options.S3, Options.DynamoDB)
// the endpoint forwards to it. Wait for its deliveries with WaitIdle, read
// its counters with Stats and Metrics and its dead letters with
// DeadLetters; reach its endpoint with S3Client, DynamoDBClient or
// Context.
type Environment struct {
	app      *pipeline.App
	opts     Options
	s3mem    *s3srv.Server     // the embedded S3; nil with an external one
	ddb      *dynamosrv.DB     // the embedded DynamoDB; nil with an external one
	letters  *deadletter.Store // the dead letters
	eng      *engine.Engine
	env      *pipeline.Env
	ln       net.Listener // the endpoint
	srv      *http.Server
	sln      net.Listener // the stages' endpoint
	ssrv     *http.Server
	endpoint string
	stageURL string // the stages' endpoint
	unlock   func()
	started  time.Time
	once     sync.Once
	ext      backends // external servers used instead of S3 or DB
	rt       runtimeState
	metrics  *metricsCollector // the stages' metric lines (metrics.go)
}

// ErrLocked is returned when another process uses the state directory.
var ErrLocked = errors.New("local: the state directory is in use by another nanopipe process")

// Start starts the environment for app: it opens (or creates) the state
// under opts.Dir, creates the declared buckets and tables under their
// declared names, serves the endpoint and starts delivering events.
func Start(ctx context.Context, app *pipeline.App, opts Options) (*Environment, error) {
	if err := app.Validate(); err != nil {
		return nil, fmt.Errorf("local: app %s is misdeclared:\n%w", app.Name(), err)
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if host, _, err := net.SplitHostPort(opts.Addr); err != nil || !isLoopback(host) {
		return nil, fmt.Errorf("local: listen address %q: use a loopback address such as 127.0.0.1:4566", opts.Addr)
	}
	e := &Environment{app: app, opts: opts, started: time.Now(), unlock: func() {}}
	ok := false
	defer func() {
		if !ok {
			e.closeStores()
		}
	}()
	sub := func(name string) string {
		if opts.Dir == "" {
			return ""
		}
		return filepath.Join(opts.Dir, name)
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
		unlock, err := lockDir(opts.Dir)
		if err != nil {
			return nil, err
		}
		e.unlock = unlock
	}
	var err error
	if err := e.openBackends(ctx, sub); err != nil {
		return nil, err
	}
	if e.letters, err = deadletter.Open(sub("deadletters")); err != nil {
		return nil, err
	}
	if err := e.createResources(); err != nil {
		return nil, err
	}
	e.ln, err = net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("local: listen on %s: %w (is another local environment running? pick another --port)", opts.Addr, err)
	}
	e.endpoint = "http://" + e.ln.Addr().String()
	// The stages reach the same handler on a port of their own, which stays
	// open while a stop lets running invocations finish, after the endpoint
	// stopped taking requests.
	if e.sln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("local: listen for the stages: %w", err)
	}
	e.stageURL = "http://" + e.sln.Addr().String()
	e.env = e.stageEnv()
	if err := e.setupRuntime(ctx); err != nil {
		return nil, err
	}
	e.eng, err = engine.New(engine.Options{
		App:              app,
		Env:              e.env,
		Objects:          e.objectSource(),
		Streams:          e.streamSource(),
		DeadLetters:      e.letters,
		StateDir:         sub("engine"),
		Region:           awsconf.Region,
		Observer:         opts.Observer,
		AsyncRetryDelay:  opts.AsyncRetryDelay,
		StreamRetryDelay: opts.StreamRetryDelay,
		MaxRetryDelay:    opts.MaxRetryDelay,
		Invoker:          e.invoker(),
	})
	if err != nil {
		return nil, err
	}
	h := recoverer(e.guard(e.handler()), e.opts.StageLogger)
	e.ssrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go e.ssrv.Serve(e.sln)
	if testHookBeforeEngineStart != nil {
		testHookBeforeEngineStart(e)
	}
	if err := e.eng.Start(ctx); err != nil {
		return nil, err
	}
	// The endpoint serves once the engine is subscribed to the object
	// events: a write acknowledged always has its event. Connections made
	// before wait in the listen queue.
	e.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go e.srv.Serve(e.ln)
	if opts.Dir != "" {
		os.WriteFile(filepath.Join(opts.Dir, "endpoint"), []byte(e.endpoint+"\n"), 0o644)
	}
	ok = true
	return e, nil
}

// testHookBeforeEngineStart, set by tests, runs just before the engine
// starts.
var testHookBeforeEngineStart func(*Environment)

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (e *Environment) createResources() error {
	for _, b := range e.app.Buckets() {
		if err := e.createBucket(b); err != nil {
			return err
		}
	}
	for _, t := range e.app.Tables() {
		spec := dynamosrv.Table{Name: t.Name(), PK: keyDef(t.PartitionKey()), StreamView: string(t.StreamView()), TTLAttr: t.TTLAttribute()}
		if sk := t.SortKey(); sk != nil {
			k := keyDef(*sk)
			spec.SK = &k
		}
		for _, ix := range t.Indexes() {
			d := dynamosrv.Index{Name: ix.Name(), PK: keyDef(ix.Partition()), Local: !ix.Global()}
			if sk := ix.Sort(); sk != nil {
				k := keyDef(*sk)
				d.SK = &k
			}
			spec.Indexes = append(spec.Indexes, d)
		}
		if err := e.ensureTable(spec); err != nil {
			return fmt.Errorf("local: create table %s: %w", t.Name(), err)
		}
	}
	return nil
}

func keyDef(k pipeline.KeyAttr) dynamosrv.KeyDef {
	return dynamosrv.KeyDef{Name: k.Name, Type: string(k.Type)}
}

// stageEnv is what stages run against: declared names, clients sent to the
// endpoint.
func (e *Environment) stageEnv() *pipeline.Env {
	// Resources keep their declared names locally, which is what an Env
	// without Buckets and Tables entries uses.
	env := &pipeline.Env{
		Streams: map[string]string{},
		AWS:     e.AWSConfig(),
		Logger:  e.opts.StageLogger,
	}
	for _, t := range e.app.Tables() {
		if arn := e.streamARN(t.Name()); arn != "" {
			env.Streams[t.Name()] = arn
		}
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	env.Metrics = e.metricsWriter()
	endpoint := e.stageURL
	env.S3Options = func(*pipeline.Stage) []func(*s3.Options) {
		return []func(*s3.Options){func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint); o.UsePathStyle = true }}
	}
	env.DynamoDBOptions = func(*pipeline.Stage) []func(*dynamodb.Options) {
		return []func(*dynamodb.Options){func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) }}
	}
	return env
}

// Endpoint returns the endpoint URL, e.g. http://127.0.0.1:4566.
func (e *Environment) Endpoint() string { return e.endpoint }

// AWSConfig returns a configuration for clients of the endpoint: static
// credentials, region us-east-1, the SDK's own HTTP client. Give clients
// BaseEndpoint (and UsePathStyle for S3), or use the S3Client and
// DynamoDBClient helpers.
func (e *Environment) AWSConfig() aws.Config { return awsconf.Config() }

// S3Client returns an S3 client of the endpoint.
func (e *Environment) S3Client() *s3.Client {
	return s3.NewFromConfig(e.AWSConfig(), func(o *s3.Options) { o.BaseEndpoint = aws.String(e.endpoint); o.UsePathStyle = true })
}

// DynamoDBClient returns a DynamoDB client of the endpoint.
func (e *Environment) DynamoDBClient() *dynamodb.Client {
	return dynamodb.NewFromConfig(e.AWSConfig(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.endpoint) })
}

// Env returns the Env the stages run against.
func (e *Environment) Env() *pipeline.Env { return e.env }

// Context returns ctx bound to the environment: the app's bucket and
// table handles used with it (a test seeding data or checking results, a
// script) reach the environment's endpoint, as a stage's calls do, but
// are the caller's own, so no declared access limits them. It is
// pipeline.WithEnv(ctx, e.Env()), the counterpart of pipelinetest's
// Harness.Context.
func (e *Environment) Context(ctx context.Context) context.Context {
	return pipeline.WithEnv(ctx, e.env)
}

// App returns the app the environment runs.
func (e *Environment) App() *pipeline.App { return e.app }

// Close stops the environment, losing nothing: first the endpoint stops
// taking requests (new connections are refused; requests being served
// finish, their events queued); then the invocations running are given
// until ctx is done to finish, the events of their writes journaled for
// the next start; then the stages' endpoint closes, and the state is
// written. After a clean stop, a restart neither repeats nor loses a
// delivery.
func (e *Environment) Close(ctx context.Context) error {
	var err error
	e.once.Do(func() {
		if e.srv != nil {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			e.srv.Shutdown(sctx)
			cancel()
			e.srv.Close()
		}
		if e.eng != nil {
			err = e.eng.Stop(ctx)
		}
		if e.ssrv != nil {
			// What an invocation abandoned at the deadline writes from now
			// on is refused, not acknowledged.
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			e.ssrv.Shutdown(sctx)
			cancel()
			e.ssrv.Close()
		}
		if e.eng != nil {
			if cerr := e.eng.Close(ctx); err == nil {
				err = cerr
			}
		}
		if cerr := e.closeStores(); err == nil {
			err = cerr
		}
		if e.opts.Dir != "" {
			os.Remove(filepath.Join(e.opts.Dir, "endpoint"))
		}
	})
	return err
}

func (e *Environment) closeStores() error {
	var errs []error
	if e.s3mem != nil {
		errs = append(errs, e.s3mem.Close())
	}
	if e.ddb != nil {
		errs = append(errs, e.ddb.Close())
	}
	if e.ln != nil && e.srv == nil {
		e.ln.Close()
	}
	if e.sln != nil && e.ssrv == nil {
		e.sln.Close()
	}
	errs = append(errs, e.closeBackends())
	e.closeRuntime()
	e.unlock()
	return errors.Join(errs...)
}

// handler serves one endpoint: DynamoDB and DynamoDB Streams requests by
// their X-Amz-Target header, the environment's own API under
// /_nanopipe/, and S3 for everything else.
func (e *Environment) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		switch {
		case strings.HasPrefix(target, "DynamoDB_20120810.") || strings.HasPrefix(target, "DynamoDBStreams_20120810."):
			e.dynamoHandler().ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/_nanopipe/"):
			e.admin(w, r)
		default:
			e.s3Handler().ServeHTTP(w, r)
		}
	})
}

// admin is the environment's own API, used by the deadletters and replay
// commands while a dev server runs.
func (e *Environment) admin(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.URL.Path == "/_nanopipe/status" && r.Method == http.MethodGet:
		reply(200, map[string]any{"app": e.app.Name(), "endpoint": e.endpoint, "stages": e.eng.Stats(), "idle": e.eng.Idle()})
	case r.URL.Path == "/_nanopipe/deadletters" && r.Method == http.MethodGet:
		ls, err := e.letters.List(r.URL.Query().Get("stage"))
		if err != nil {
			reply(500, map[string]string{"error": err.Error()})
			return
		}
		reply(200, ls)
	case r.URL.Path == "/_nanopipe/backfill" && r.Method == http.MethodPost:
		if !adminPost(r, reply, "backfill") {
			return
		}
		e.adminBackfill(w, r, reply)
	case r.URL.Path == "/_nanopipe/replay" && r.Method == http.MethodPost:
		if !adminPost(r, reply, "replay") {
			return
		}
		var in struct{ IDs []string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			reply(400, map[string]string{"error": err.Error()})
			return
		}
		for _, id := range in.IDs {
			if err := deadletter.CheckID(id); err != nil {
				reply(400, map[string]string{"error": err.Error()})
				return
			}
		}
		res := e.ReplayAll(r.Context(), in.IDs)
		reply(200, res)
	default:
		reply(404, map[string]string{"error": "no such nanopipe endpoint"})
	}
}

// adminPost checks a POST to the admin API, answering the refusal: a web
// page can post a form or text/plain to the endpoint, not
// application/json (that needs a CORS preflight, which is never
// granted), so only a JSON request is taken, and none a browser says
// comes from another site.
func adminPost(r *http.Request, reply func(int, any), what string) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		reply(http.StatusUnsupportedMediaType, map[string]string{"error": "send the request as JSON, with Content-Type: application/json"})
		return false
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "none" && site != "same-origin" {
		reply(http.StatusForbidden, map[string]string{"error": "a " + what + " is not taken from a web page of another site"})
		return false
	}
	return true
}

// ReplayResult says what happened to one replayed letter.
type ReplayResult struct {
	// ID is the letter's ID; Stage its stage ("" when no letter has the ID).
	ID    string `json:"id"`
	Stage string `json:"stage"`
	// Error is why the letter could not be replayed (no such letter, no
	// such stage any more); "" when it was sent again (an S3 event is
	// queued, a stream batch processed at once). A replayed
	// letter leaves the store; one that fails again becomes a new letter.
	Error string `json:"error,omitempty"`
}

// ReplayAll replays the letters with the given IDs through their stages,
// one result per ID in the same order.
func (e *Environment) ReplayAll(ctx context.Context, ids []string) []ReplayResult {
	var out []ReplayResult
	for _, id := range ids {
		r := ReplayResult{ID: id}
		if l, err := e.letters.Get(id); err == nil {
			r.Stage = l.Stage
		}
		if err := e.eng.Replay(ctx, id); err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	return out
}

// objectSource adapts the embedded S3 server to the engine.
type objectSource struct{ s *s3srv.Server }

func (o objectSource) Subscribe(fn func([]byte) error) {
	o.s.Subscribe(func(r s3srv.Record) error { return fn(r.JSON()) })
}

// recoverer answers a request whose handler panicked with a 500 in the
// protocol's error shape, so that no single request can end the process
// or leave its client without an answer.
func recoverer(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &tracked.Writer{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if log != nil {
				log.Error("request panicked", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			}
			if tw.Wrote {
				panic(http.ErrAbortHandler) // the answer is cut short: the client sees it
			}
			msg := fmt.Sprintf("internal error: %v", v)
			if strings.Contains(r.Header.Get("X-Amz-Target"), ".") {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.WriteHeader(http.StatusInternalServerError)
				json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": msg})
				return
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			var b strings.Builder
			xml.EscapeText(&b, []byte(msg))
			fmt.Fprintf(w, "%s<Error><Code>InternalError</Code><Message>%s</Message></Error>", xml.Header, b.String())
		}()
		h.ServeHTTP(tw, r)
	})
}
