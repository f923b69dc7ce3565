package pipeline_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/pipeline"
)

// netRecorder records every host name looked up through Go's resolver
// (answering none) and every connection to a fake EC2 metadata service.
type netRecorder struct {
	mu    sync.Mutex
	hosts []string
	imds  int
}

func (r *netRecorder) lookups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.hosts...)
}

func (r *netRecorder) imdsConns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.imds
}

// cleanAWSEnvironment gives the test fake credentials, no shared config,
// a metadata service on a recording 127.0.0.1 listener, and a resolver
// that records the names it is asked for and resolves none.
func cleanAWSEnvironment(t *testing.T) *netRecorder {
	rec := &netRecorder{}
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		"AWS_PROFILE": "", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "AKIDFAKEFAKEFAKE", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_SESSION_TOKEN": "",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL_DYNAMODB": "", "AWS_EC2_METADATA_DISABLED": "",
		"HTTPS_PROXY": "", "HTTP_PROXY": "", "https_proxy": "", "http_proxy": "",
	} {
		t.Setenv(k, v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rec.mu.Lock()
			rec.imds++
			rec.mu.Unlock()
			c.Close()
		}
	}()
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://"+ln.Addr().String())

	prev := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			// A stream conn: a two-byte length, then the DNS message; the
			// question's name starts after the 12-byte header.
			var n uint16
			if binary.Read(server, binary.BigEndian, &n) != nil {
				return
			}
			msg := make([]byte, n)
			if _, err := io.ReadFull(server, msg); err != nil || len(msg) < 13 {
				return
			}
			var labels []string
			for i := 12; i < len(msg) && msg[i] != 0; i += int(msg[i]) + 1 {
				if i+1+int(msg[i]) > len(msg) {
					break
				}
				labels = append(labels, string(msg[i+1:i+1+int(msg[i])]))
			}
			rec.mu.Lock()
			rec.hosts = append(rec.hosts, strings.Join(labels, "."))
			rec.mu.Unlock()
		}()
		return client, nil
	}}
	t.Cleanup(func() { net.DefaultResolver = prev })
	return rec
}

// TestHandlesOutsideAStage: in a clean environment with fake credentials,
// every handle used outside a stage fails with an error naming the fix,
// and nothing is looked up or connected to. Bound deliberately to a real
// AWS configuration (WithEnv), the same handle does try to reach AWS:
// that is what the recorder sees, so it would see a fallback too.
func TestHandlesOutsideAStage(t *testing.T) {
	rec := cleanAWSEnvironment(t)
	a := pipeline.New("noenv")
	files := a.Bucket("noenv-files")
	items := a.Table("noenv-items", pipeline.PartitionKey("id", pipeline.String))
	ctx := context.Background()

	calls := map[string]func() error{
		"Bucket.Get":    func() error { _, err := files.Get(ctx, "a"); return err },
		"Bucket.Open":   func() error { _, err := files.Open(ctx, "a"); return err },
		"Bucket.Put":    func() error { return files.Put(ctx, "a", []byte("x")) },
		"Bucket.Delete": func() error { return files.Delete(ctx, "a") },
		"Bucket.S3": func() error {
			_, err := files.S3(ctx).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: new("noenv-files")})
			return err
		},
		"Table.Put":    func() error { return items.Put(ctx, item{ID: "a"}) },
		"Table.Get":    func() error { var it item; return items.Get(ctx, item{ID: "a"}, &it) },
		"Table.Delete": func() error { return items.Delete(ctx, item{ID: "a"}) },
		"Table.DynamoDB": func() error {
			_, err := items.DynamoDB(ctx).ListTables(ctx, &dynamodb.ListTablesInput{})
			return err
		},
		"Bucket.PhysicalName": func() (err error) {
			defer func() { err, _ = recover().(error) }()
			files.PhysicalName(ctx)
			return nil
		},
		"Table.PhysicalName": func() (err error) {
			defer func() { err, _ = recover().(error) }()
			items.PhysicalName(ctx)
			return nil
		},
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, pipeline.ErrNoEnv) {
			t.Errorf("%s outside a stage: got %v, want ErrNoEnv", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "h.Context()") || !strings.Contains(err.Error(), "pipeline.WithEnv") {
			t.Errorf("%s: error %q does not name the fixes", name, err)
		}
	}
	if hosts := rec.lookups(); len(hosts) != 0 || rec.imdsConns() != 0 {
		t.Fatalf("handles outside a stage reached for %v and the metadata service %d times", hosts, rec.imdsConns())
	}

	// The explicit opt-in reaches for AWS, and the recorder sees it.
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	actx := pipeline.WithEnv(ctx, &pipeline.Env{AWS: cfg})
	if err := files.Put(actx, "a", []byte("x")); err == nil {
		t.Fatal("a put to AWS succeeded with fake credentials and no network")
	}
	if hosts := rec.lookups(); len(hosts) == 0 || !strings.HasSuffix(hosts[0], ".amazonaws.com") {
		t.Errorf("the opted-in put looked up %v, want an amazonaws.com host", hosts)
	}

	// Without credentials the default configuration asks the metadata
	// service: the recorder sees that too.
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	cfg, err = config.LoadDefaultConfig(ctx, config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Credentials.Retrieve(ctx)
	if rec.imdsConns() == 0 {
		t.Error("credential lookup without credentials did not reach the recording metadata service")
	}
}
