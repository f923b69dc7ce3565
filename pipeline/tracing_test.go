package pipeline

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/triggers"
)

// TestTracedClients checks a function deployed with tracing records each
// AWS call of a sampled invocation as an X-Ray subsegment sent to the
// daemon's UDP address, and nothing for an unsampled one.
func TestTracedClients(t *testing.T) {
	daemon, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amz-request-id", "REQ1")
		if strings.HasSuffix(r.URL.Path, "/missing") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	app := New("traced")
	in := app.Bucket("traced-in")
	OnObject(app, "a", in.Created(), func(context.Context, triggers.Object) error { return nil })
	vars := map[string]string{
		contract.Stages: "a", contract.BucketVar(in.Name()): "in-123",
		contract.Tracing: "active", "AWS_XRAY_DAEMON_ADDRESS": "tcp:127.0.0.1:9 udp:" + daemon.LocalAddr().String(),
	}
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), BaseEndpoint: aws.String(srv.URL)}
	env, _, err := envFromEnviron(app, func(k string) string { return vars[k] }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(env.AWS, func(o *s3.Options) { o.UsePathStyle = true; o.RetryMaxAttempts = 1 })

	read := func() map[string]any {
		t.Helper()
		buf := make([]byte, 64<<10)
		daemon.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, _, err := daemon.ReadFrom(buf)
		if err != nil {
			return nil
		}
		header, doc, ok := strings.Cut(string(buf[:n]), "\n")
		if !ok || header != `{"format": "json", "version": 1}` {
			t.Fatalf("daemon got %q", buf[:n])
		}
		var seg map[string]any
		if err := json.Unmarshal([]byte(doc), &seg); err != nil {
			t.Fatal(err)
		}
		return seg
	}

	sampled := context.WithValue(context.Background(), "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	if _, err := client.PutObject(sampled, &s3.PutObjectInput{Bucket: aws.String("in-123"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	seg := read()
	if seg == nil {
		t.Fatal("no subsegment for a sampled call")
	}
	if seg["name"] != "S3" || seg["type"] != "subsegment" || seg["namespace"] != "aws" ||
		seg["trace_id"] != "1-5759e988-bd862e3fe1be46a994272793" || seg["parent_id"] != "53995c3f42cd8ad8" || len(seg["id"].(string)) != 16 {
		t.Errorf("subsegment %v", seg)
	}
	a := seg["aws"].(map[string]any)
	if a["operation"] != "PutObject" || a["region"] != "eu-west-1" || a["request_id"] != "REQ1" {
		t.Errorf("aws %v", a)
	}
	if seg["end_time"].(float64) < seg["start_time"].(float64) || seg["http"].(map[string]any)["response"].(map[string]any)["status"] != 200.0 {
		t.Errorf("times or status: %v", seg)
	}

	// A client error is marked as one.
	client.GetObject(sampled, &s3.GetObjectInput{Bucket: aws.String("in-123"), Key: aws.String("missing")})
	if seg := read(); seg == nil || seg["error"] != true || seg["fault"] != nil {
		t.Errorf("subsegment of a 404: %v", seg)
	}

	// Not sampled: nothing is sent.
	unsampled := context.WithValue(context.Background(), "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0")
	client.PutObject(unsampled, &s3.PutObjectInput{Bucket: aws.String("in-123"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if seg := read(); seg != nil {
		t.Errorf("unsampled call traced: %v", seg)
	}

	// Without the variable, clients are not instrumented.
	delete(vars, contract.Tracing)
	plain, _, err := envFromEnviron(app, func(k string) string { return vars[k] }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.AWS.APIOptions) != 0 {
		t.Errorf("untraced function has %d API options", len(plain.AWS.APIOptions))
	}
}

func TestDaemonAddress(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "127.0.0.1:2000",
		"169.254.79.129:2000":                   "169.254.79.129:2000",
		"tcp:127.0.0.1:2000 udp:127.0.0.2:2000": "127.0.0.2:2000",
	} {
		if got := daemonUDP(in); got != want {
			t.Errorf("daemonUDP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestObservabilityDeclaration(t *testing.T) {
	app := New("obs", CollectErrors(), Tracing(), LogLevel(LogWarn))
	in := app.Bucket("obs-in")
	a := OnObject(app, "a", in.Created(), func(context.Context, triggers.Object) error { return nil })
	b := OnObject(app, "b", in.Removed(), func(context.Context, triggers.Object) error { return nil }).LogLevel(LogDebug)
	if o := a.Observability(); !o.Tracing || o.LogLevel != LogWarn {
		t.Errorf("a: %+v, want the app's", o)
	}
	if o := b.Observability(); !o.Tracing || o.LogLevel != LogDebug {
		t.Errorf("b: %+v, want its own level", o)
	}
	plain := New("plain")
	c := OnObject(plain, "c", plain.Bucket("plain-in").Created(), func(context.Context, triggers.Object) error { return nil }).Tracing()
	if o := c.Observability(); !o.Tracing || o.LogLevel != "" || plain.Observability().Tracing {
		t.Errorf("c: %+v, app %+v", o, plain.Observability())
	}
	b.LogLevel("verbose")
	if err := app.Validate(); err == nil || !strings.Contains(err.Error(), `LogLevel("verbose")`) {
		t.Errorf("Validate: %v", err)
	}
}
