package versity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nanopipe/nanopipe/local/internal/awsconf"
	"github.com/nanopipe/nanopipe/local/internal/proc"
	"github.com/nanopipe/nanopipe/local/internal/s3srv"
)

// Install is the hint given when versitygw cannot be found.
const Install = "install it with: bash scripts/backends-setup.sh (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 into .tools/bin), or set NANOPIPE_VERSITYGW to the binary"

// Options configure Start.
type Options struct {
	// Binary is the versitygw binary; "" uses Find.
	Binary string
	// Dir keeps the objects (posix backend, with a sidecar for metadata
	// and a directory for versions) so that they survive a restart; ""
	// uses a temporary directory removed by Close.
	Dir string
	// Access and Secret are the gateway's credentials (default "local",
	// the local environment's); clients must sign with them.
	Access, Secret string
	// Region is the region the gateway and the records report (default
	// us-east-1).
	Region string
	// Endpoint, when set, is the URL of a gateway that is already running
	// (started with --event-webhook-url pointing at WebhookAddr): Start
	// then starts none.
	Endpoint string
	// WebhookAddr is where the webhook listens (default 127.0.0.1:0, a
	// free port, for a gateway Start starts). Only loopback addresses.
	WebhookAddr string
	// EventWait bounds how long a request through the Server's handler
	// waits for the gateway to post its events (default 2s).
	EventWait time.Duration
	// Log receives the gateway's output; nil discards it.
	Log io.Writer
}

// Server is a versitygw gateway with its webhook: an object source for
// the engine (Subscribe) and an S3 endpoint (ServeHTTP) that forwards to
// the gateway and returns once the request's events are delivered.
type Server struct {
	opts     Options
	endpoint string
	hook     *http.Server
	hookURL  string
	proc     *proc.Process
	tmp      string
	client   *s3.Client
	rt       *http.Transport
	output   proc.Tail
	seq      s3srv.Sequencer
	closed   chan struct{}
	once     sync.Once
	deliverM sync.Mutex // delivery is serial: one key's records in order

	mu      sync.Mutex
	subs    []func([]byte) error
	buckets map[string]bool    // the buckets whose events are delivered -> versioned
	waiting map[string]*waiter // bucket/key -> the request through ServeHTTP changing it
	stripes [64]sync.Mutex
}

// Find returns the versitygw binary: NANOPIPE_VERSITYGW, .tools/bin/versitygw
// in the working directory or one of its parents, or versitygw on the PATH.
func Find() (string, error) {
	if b := os.Getenv("NANOPIPE_VERSITYGW"); b != "" {
		return b, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("versity: %w", err)
	}
	for dir := wd; ; {
		p := filepath.Join(dir, ".tools", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("versity: versitygw not found in .tools/bin under %s or its parents, nor on the PATH; %s", wd, Install)
}

// Start starts the webhook and, unless opts.Endpoint names a running one,
// the gateway, and waits until the gateway answers.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Access == "" {
		opts.Access, opts.Secret = "local", "local"
	}
	if opts.Region == "" {
		opts.Region = awsconf.Region
	}
	if opts.WebhookAddr == "" {
		opts.WebhookAddr = "127.0.0.1:0"
	}
	if opts.EventWait == 0 {
		opts.EventWait = 2 * time.Second
	}
	if host, _, err := net.SplitHostPort(opts.WebhookAddr); err != nil || !loopback(host) {
		return nil, fmt.Errorf("versity: webhook address %q: use a loopback address", opts.WebhookAddr)
	}
	s := &Server{opts: opts, buckets: map[string]bool{}, waiting: map[string]*waiter{}, closed: make(chan struct{})}
	ln, err := net.Listen("tcp", opts.WebhookAddr)
	if err != nil {
		return nil, fmt.Errorf("versity: webhook: %w", err)
	}
	s.hookURL = "http://" + ln.Addr().String() + "/"
	s.hook = &http.Server{Handler: http.HandlerFunc(s.webhook), ReadHeaderTimeout: 10 * time.Second}
	go s.hook.Serve(ln)
	s.rt = &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second, ExpectContinueTimeout: time.Second}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if opts.Endpoint != "" {
		s.endpoint = strings.TrimRight(opts.Endpoint, "/")
	} else if err := s.startGateway(); err != nil {
		return nil, err
	}
	cfg := awsconf.Config()
	cfg.Region = opts.Region
	cfg.Credentials = credentials.NewStaticCredentialsProvider(opts.Access, opts.Secret, "")
	s.client = s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(s.endpoint); o.UsePathStyle = true })
	if err := s.waitReady(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func (s *Server) startGateway() error {
	bin := s.opts.Binary
	if bin == "" {
		b, err := Find()
		if err != nil {
			return err
		}
		bin = b
	}
	root := s.opts.Dir
	if root == "" {
		t, err := os.MkdirTemp("", "nanopipe-versitygw-")
		if err != nil {
			return fmt.Errorf("versity: %w", err)
		}
		s.tmp, root = t, t
	}
	root, _ = filepath.Abs(root)
	data, meta, vers := filepath.Join(root, "data"), filepath.Join(root, "meta"), filepath.Join(root, "versions")
	for _, d := range []string{data, meta, vers} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("versity: %w", err)
		}
	}
	// A free port can be taken between the probe and the gateway's start:
	// try a few.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "--port", addr, "--access", s.opts.Access, "--secret", s.opts.Secret,
			"--region", s.opts.Region, "--event-webhook-url", s.hookURL, "--quiet",
			"posix", "--sidecar", meta, "--versioning-dir", vers, data)
		out := io.Writer(&s.output)
		if s.opts.Log != nil {
			out = io.MultiWriter(out, s.opts.Log)
		}
		cmd.Stdout, cmd.Stderr = out, out
		p, err := proc.Start(cmd, false)
		if err != nil {
			return fmt.Errorf("versity: start %s: %w", bin, err)
		}
		s.proc, s.endpoint = p, "http://"+addr
		if lastErr = s.waitListening(addr, 30*time.Second); lastErr == nil {
			return nil
		}
		p.Stop(time.Second)
	}
	return lastErr
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("versity: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.proc.Exited():
			return fmt.Errorf("versity: versitygw exited while starting (%v):\n%s", s.proc.Err(), s.output.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versity: versitygw did not listen on %s within %s:\n%s", addr, timeout, s.output.String())
		}
	}
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		_, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("versity: gateway %s does not answer: %w\n%s", s.endpoint, err, s.output.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Endpoint returns the gateway's URL.
func (s *Server) Endpoint() string { return s.endpoint }

// WebhookURL returns the URL the gateway posts its events to.
func (s *Server) WebhookURL() string { return s.hookURL }

// Client returns an S3 client of the gateway itself.
func (s *Server) Client() *s3.Client { return s.client }

// Subscribe implements engine.ObjectSource: fn receives every object event
// of the buckets made with CreateBucket (or named with Watch), as a record
// in AWS's exact shape. When fn returns an error, a request through
// ServeHTTP is answered 500 InternalError instead of the gateway's
// success (the object stays stored; the client's retry makes a new
// event); a request sent to the gateway directly was acknowledged by the
// gateway already, and only the webhook's answer reports the error.
func (s *Server) Subscribe(fn func(record []byte) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, fn)
}

// Watch makes the events of an existing bucket delivered. The gateway's
// event configuration is gateway-wide: events of other buckets are
// dropped.
func (s *Server) Watch(bucket string, versioned bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets[bucket] = versioned
}

// CreateBucket creates a bucket (it is no error if it exists), enables
// versioning on it when asked, and watches its events.
func (s *Server) CreateBucket(ctx context.Context, name string, versioned bool) error {
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("versity: create bucket %s: %w", name, err)
	}
	if versioned {
		if _, err := s.client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			return fmt.Errorf("versity: enable versioning on %s: %w", name, err)
		}
	}
	s.Watch(name, versioned)
	return nil
}

// Close stops the gateway (when Start started it) and the webhook.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		if s.proc != nil {
			err = s.proc.Stop(3 * time.Second)
		}
		if s.hook != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			s.hook.Shutdown(ctx)
			cancel()
		}
		if s.tmp != "" {
			os.RemoveAll(s.tmp)
		}
	})
	return err
}
