package s3srv

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// raw sends one request to h and returns the status, the body and the
// error code of an S3 error body.
func raw(t *testing.T, h http.Handler, method, target string, header map[string]string, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestChunkedFrameOfNegativeSizeIs400(t *testing.T) {
	srv, c, _ := start(t, "")
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	for _, frame := range []string{"-1", "-8000000000000000", "7fffffffffffffff", "zz"} {
		hdr := map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "X-Amz-Decoded-Content-Length": "5"}
		status, body := raw(t, srv, "PUT", "/bkt/k", hdr, frame+"\r\nhello\r\n0\r\n\r\n")
		if status != http.StatusBadRequest || !strings.Contains(body, "<Code>IncompleteBody</Code>") {
			t.Errorf("frame %s: status %d %s, want 400 IncompleteBody", frame, status, body)
		}
	}
}

func TestPanicIsAnInternalError(t *testing.T) {
	srv, c, _ := start(t, "")
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	srv.Subscribe(func(r Record) error {
		if strings.HasPrefix(r.S3.Object.Key, "boom") {
			panic("subscriber failed")
		}
		return nil
	})
	status, body := raw(t, srv, "PUT", "/bkt/boom", map[string]string{"Content-Length": "1"}, "x")
	if status != http.StatusInternalServerError || !strings.Contains(body, "<Code>InternalError</Code>") {
		t.Errorf("status %d %s, want 500 InternalError", status, body)
	}
	if status, _ := raw(t, srv, "PUT", "/bkt/fine", map[string]string{"Content-Length": "1"}, "x"); status != 200 {
		t.Errorf("after a panic, a PUT gets %d", status)
	}
}

func TestKeysMustBeUTF8(t *testing.T) {
	dir := t.TempDir()
	srv, c, rec := start(t, dir)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	put := map[string]string{"Content-Length": "1"}
	for _, r := range []struct{ method, target string }{
		{"PUT", "/bkt/r/a%FFb"},
		{"PUT", "/bkt/r/a%FEb"},
		{"POST", "/bkt/r/a%FFb?uploads"},
		{"GET", "/bkt/r/a%FFb"},
		{"DELETE", "/bkt/r/a%FFb"},
		{"PUT", "/bkt/r/a%FFb?tagging"},
	} {
		status, body := raw(t, srv, r.method, r.target, put, "x")
		if status != http.StatusBadRequest || !strings.Contains(body, "<Code>InvalidURI</Code>") {
			t.Errorf("%s %s: status %d %s, want 400 InvalidURI", r.method, r.target, status, body)
		}
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("src"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	status, body := raw(t, srv, "PUT", "/bkt/dst", map[string]string{"X-Amz-Copy-Source": "bkt/a%FFb"}, "")
	if status != http.StatusBadRequest || !strings.Contains(body, "<Code>InvalidArgument</Code>") {
		t.Errorf("copy from a non-UTF-8 key: status %d %s, want 400 InvalidArgument", status, body)
	}
	for _, r := range rec.take() {
		if r.S3.Object.Key != "src" {
			t.Errorf("event for %q", r.S3.Object.Key)
		}
	}
}

// Everything the store accepts comes back unchanged after a restart.
func TestJournalKeepsWhatItAccepts(t *testing.T) {
	dir := t.TempDir()
	srv, c, _ := start(t, dir)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"r/a\ufffdb", `r/a\ufffdb`, "r/\u2028<&>", "r/ü"}
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	// Metadata that is not UTF-8 would not survive the journal: refused.
	status, body := raw(t, srv, "PUT", "/bkt/meta", map[string]string{"Content-Length": "1", "X-Amz-Meta-Note": "a\xffb"}, "x")
	if status != http.StatusBadRequest {
		t.Errorf("metadata that is not UTF-8: status %d %s, want 400", status, body)
	}
	srv.Close()
	srv2, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	ents, _, err := srv2.st.list("bkt", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range ents {
		got[e.Info.Key] = true
	}
	for _, k := range keys {
		if !got[k] {
			t.Errorf("key %q lost by a restart; have %v", k, got)
		}
	}
	if len(ents) != len(keys) {
		t.Errorf("%d keys after a restart, want %d", len(ents), len(keys))
	}
}

func TestListingsEncodeKeysOnRequest(t *testing.T) {
	srv, c, _ := start(t, "")
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"d/a b+c%.txt", "d/ü&<x>", "top"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, target := range []string{"/bkt?list-type=2&encoding-type=url", "/bkt?encoding-type=url", "/bkt?versions&encoding-type=url"} {
		status, body := raw(t, srv, "GET", target, nil, "")
		if status != 200 {
			t.Fatalf("%s: %d %s", target, status, body)
		}
		for _, want := range []string{"<Key>d/a+b%2Bc%25.txt</Key>", "<Key>d/%C3%BC%26%3Cx%3E</Key>", "<Key>top</Key>", "<EncodingType>url</EncodingType>"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: no %s in\n%s", target, want, body)
			}
		}
	}
	status, body := raw(t, srv, "GET", "/bkt?list-type=2&delimiter=/&prefix=d%2F&encoding-type=url", nil, "")
	if status != 200 || !strings.Contains(body, "<Prefix>d/</Prefix>") || !strings.Contains(body, "<Delimiter>/</Delimiter>") {
		t.Errorf("prefix and delimiter: %d %s", status, body)
	}
	// Without encoding-type the keys are as stored.
	if _, body := raw(t, srv, "GET", "/bkt?list-type=2", nil, ""); !strings.Contains(body, "<Key>d/a b+c%.txt</Key>") || strings.Contains(body, "EncodingType") {
		t.Errorf("plain listing: %s", body)
	}
	status, body = raw(t, srv, "GET", "/bkt?list-type=2&encoding-type=base64", nil, "")
	if status != http.StatusBadRequest || !strings.Contains(body, "<Code>InvalidArgument</Code>") {
		t.Errorf("encoding-type=base64: %d %s, want 400 InvalidArgument", status, body)
	}
}
