package main

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/internal/testutil"
	"github.com/nanopipe/nanopipe/local"
)

// dev runs "photos dev" in-process until the returned stop is called.
func dev(t *testing.T, dir string) (endpoint string, out *testutil.SyncBuffer, stop func()) {
	t.Helper()
	out = &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := &local.Command{App: app.App, Name: "photos", SampleFile: "testdata/sample.jpg", Stdout: out, Stderr: out}
	done := make(chan int)
	go func() { done <- cmd.Run(ctx, []string{"dev", "--dir", dir, "--port", "0"}) }()
	re := regexp.MustCompile(`endpoint\s+(http://127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			endpoint = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("dev exited with %d:\n%s", code, out)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if endpoint == "" {
		t.Fatalf("dev printed no endpoint:\n%s", out)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("dev exited with %d", code)
		}
	}
	t.Cleanup(stop)
	return endpoint, out, stop
}

// awsCLI returns a function running the real AWS CLI against endpoint. The
// CLI must be installed (scripts/local-setup.sh does it); a missing CLI
// fails the test.
func awsCLI(t *testing.T, endpoint string) func(args ...string) string {
	t.Helper()
	bin := os.Getenv("NANOPIPE_AWS_CLI") // a specific CLI, e.g. /usr/bin/aws
	var err error
	if bin == "" {
		bin, err = exec.LookPath("aws")
	}
	if err != nil {
		t.Fatalf("the AWS CLI is not installed: run scripts/local-setup.sh (apt-get install awscli): %v", err)
	}
	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
	}
	return func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--endpoint-url", endpoint}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

// eventually polls fn until it returns true.
func eventually(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDevWithAWSCLI(t *testing.T) {
	dir := t.TempDir()
	endpoint, out, stop := dev(t, dir)
	aws := awsCLI(t, endpoint)
	if !strings.Contains(out.String(), "s3 cp testdata/sample.jpg s3://photos-uploads/incoming/sample.jpg") {
		t.Errorf("banner lacks a ready-to-paste upload command:\n%s", out)
	}

	// Upload a photo: the thumbnail stage writes a thumbnail and a row, and
	// the row's stream record makes count-albums count it.
	aws("s3", "cp", "testdata/sample.jpg", "s3://photos-uploads/incoming/trip/sample.jpg")
	eventually(t, "the thumbnail", func() bool {
		return strings.Contains(aws("s3", "ls", "s3://photos-uploads/thumbs/", "--recursive"), "thumbs/trip/sample.png")
	})
	row := aws("dynamodb", "get-item", "--table-name", "photos", "--key", `{"id":{"S":"trip/sample.jpg"}}`)
	if !strings.Contains(row, `"320"`) || !strings.Contains(row, "thumbs/trip/sample.png") {
		t.Errorf("photos row: %s", row)
	}
	eventually(t, "the album count", func() bool {
		return strings.Contains(aws("dynamodb", "get-item", "--table-name", "albums", "--key", `{"album":{"S":"trip"}}`, "--query", "Item.photos.N", "--output", "text"), "1")
	})

	// An item written with the CLI fires the stream stage too.
	aws("dynamodb", "put-item", "--table-name", "photos", "--item", `{"id":{"S":"manual/x.jpg"},"album":{"S":"manual"}}`)
	eventually(t, "the manual album count", func() bool {
		return strings.TrimSpace(aws("dynamodb", "get-item", "--table-name", "albums", "--key", `{"album":{"S":"manual"}}`, "--query", "Item.photos.N", "--output", "text")) == "1"
	})

	// The stream is readable through the Streams API.
	arn := strings.TrimSpace(aws("dynamodbstreams", "list-streams", "--table-name", "photos", "--query", "Streams[0].StreamArn", "--output", "text"))
	shards := strings.Fields(aws("dynamodbstreams", "describe-stream", "--stream-arn", arn, "--query", "StreamDescription.Shards[*].ShardId", "--output", "text"))
	inserts := 0
	for _, sh := range shards {
		it := strings.TrimSpace(aws("dynamodbstreams", "get-shard-iterator", "--stream-arn", arn, "--shard-id", sh, "--shard-iterator-type", "TRIM_HORIZON", "--query", "ShardIterator", "--output", "text"))
		inserts += strings.Count(aws("dynamodbstreams", "get-records", "--shard-iterator", it), `"INSERT"`)
	}
	if inserts != 2 {
		t.Errorf("stream holds %d INSERT records, want 2", inserts)
	}

	// A multipart upload (over the CLI's 8 MB threshold) fires
	// ObjectCreated:CompleteMultipartUpload; the stage quarantines it.
	big := filepath.Join(t.TempDir(), "big.bin")
	data := make([]byte, 9<<20)
	rand.Read(data)
	os.WriteFile(big, data, 0o644)
	// Outside incoming/ no stage moves it, so its multipart ETag can be read.
	aws("s3", "cp", big, "s3://photos-uploads/raw/big.bin")
	if etag := aws("s3api", "head-object", "--bucket", "photos-uploads", "--key", "raw/big.bin", "--query", "ETag", "--output", "text"); !strings.Contains(etag, "-2") {
		t.Errorf("multipart object ETag %s, want the -2 form", etag)
	}
	aws("s3", "cp", big, "s3://photos-uploads/incoming/big.bin")
	eventually(t, "the multipart delivery", func() bool {
		return strings.Contains(out.String(), "ObjectCreated:CompleteMultipartUpload s3://photos-uploads/incoming/big.bin  attempt 1")
	})
	eventually(t, "the quarantine note", func() bool {
		return strings.Contains(aws("s3", "ls", "s3://photos-uploads/quarantine/", "--recursive"), "big.bin.reason.txt")
	})

	// Removing the upload removes its thumbnail and row, and the count drops.
	aws("s3", "rm", "s3://photos-uploads/incoming/trip/sample.jpg")
	eventually(t, "the cleanup", func() bool {
		return !strings.Contains(aws("s3", "ls", "s3://photos-uploads/", "--recursive"), "thumbs/trip/sample.png") &&
			strings.TrimSpace(aws("dynamodb", "get-item", "--table-name", "albums", "--key", `{"album":{"S":"trip"}}`, "--query", "Item.photos.N", "--output", "text")) == "0"
	})

	// A row without an album makes count-albums fail: retried, then
	// dead-lettered; the deadletters command lists it and replay delivers
	// it again through the running server.
	aws("dynamodb", "put-item", "--table-name", "photos", "--item", `{"id":{"S":"noalbum.jpg"}}`)
	eventually(t, "the dead letter", func() bool { return strings.Contains(out.String(), "dead-lettered") })
	var list testutil.SyncBuffer
	cmd := &local.Command{App: app.App, Name: "photos", Stdout: &list, Stderr: &list}
	if code := cmd.Run(context.Background(), []string{"deadletters", "--dir", dir}); code != 0 || !strings.Contains(list.String(), "count-albums") || !strings.Contains(list.String(), "RetryAttemptsExhausted") {
		t.Fatalf("deadletters (%d):\n%s", code, list.String())
	}
	before := strings.Count(out.String(), "count-albums")
	var rep testutil.SyncBuffer
	cmd = &local.Command{App: app.App, Name: "photos", Stdout: &rep, Stderr: &rep}
	if code := cmd.Run(context.Background(), []string{"replay", "--dir", dir, "--all"}); code != 0 || !strings.Contains(rep.String(), "replayed") {
		t.Fatalf("replay (%d):\n%s", code, rep.String())
	}
	eventually(t, "the replayed delivery", func() bool { return strings.Count(out.String(), "count-albums") > before })

	stop()
	if !strings.Contains(out.String(), "Summary of app photos") {
		t.Errorf("no summary on exit:\n%s", out)
	}

	// State survives a restart.
	endpoint, _, _ = dev(t, dir)
	aws = awsCLI(t, endpoint)
	if ls := aws("s3", "ls", "s3://photos-uploads/", "--recursive"); !strings.Contains(ls, "incoming/big.bin") {
		t.Errorf("objects after restart:\n%s", ls)
	}
	if n := aws("dynamodb", "get-item", "--table-name", "albums", "--key", `{"album":{"S":"manual"}}`, "--query", "Item.photos.N", "--output", "text"); strings.TrimSpace(n) != "1" {
		t.Errorf("album count after restart: %q (a redelivered record would count twice)", n)
	}
}
