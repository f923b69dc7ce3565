package app_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipelinetest"
)

func start(t *testing.T) *local.Environment {
	t.Helper()
	env, err := local.Start(context.Background(), app.App, local.Options{Addr: "127.0.0.1:0", Dir: t.TempDir(), AsyncRetryDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close(context.Background()) })
	return env
}

func idle(t *testing.T, env *local.Environment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.WaitIdle(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, s := range env.Stats() {
		if s.Failed > 0 || s.DeadLettered > 0 {
			t.Errorf("stage %s: %d failed invocations, %d dead letters", s.Stage, s.Failed, s.DeadLettered)
		}
	}
}

// awsCLI runs the AWS CLI against the endpoint with local credentials and
// none of the user's configuration.
func awsCLI(t *testing.T, endpoint string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", endpoint, "--output", "text"}, args...)...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"), "AWS_PAGER=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func albumCount(t *testing.T, env *local.Environment, album string) string {
	t.Helper()
	out, err := env.DynamoDBClient().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String("albums"), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"album": &types.AttributeValueMemberS{Value: album}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := out.Item["photos"].(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return ""
}

func pngOf(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{200, 30, 30, 255})
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// TestEndToEnd is the README's walk-through: the photos pipeline on the
// local environment, fed with the real AWS CLI.
func TestEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatalf("the AWS CLI is not installed (%v); scripts/setup.sh installs it", err)
	}
	env := start(t)
	ep := env.Endpoint()
	dir := t.TempDir()
	pngFile := filepath.Join(dir, "wide.png")
	os.WriteFile(pngFile, pngOf(640, 200), 0o644)
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("not a picture"), 0o644)

	awsCLI(t, ep, "s3", "cp", "../testdata/sample.jpg", "s3://photos-uploads/incoming/trip/sample.jpg")
	awsCLI(t, ep, "s3", "cp", pngFile, "s3://photos-uploads/incoming/trip/wide.png")
	awsCLI(t, ep, "s3", "cp", notes, "s3://photos-uploads/incoming/trip/notes.txt")
	idle(t, env)

	ls := awsCLI(t, ep, "s3", "ls", "--recursive", "s3://photos-uploads/")
	for _, want := range []string{"thumbs/trip/sample.png", "thumbs/trip/wide.png", "quarantine/trip/notes.txt", "quarantine/trip/notes.txt.reason.txt"} {
		if !strings.Contains(ls, want) {
			t.Errorf("the bucket lacks %s:\n%s", want, ls)
		}
	}
	reason := awsCLI(t, ep, "s3", "cp", "s3://photos-uploads/quarantine/trip/notes.txt.reason.txt", "-")
	if !strings.Contains(reason, "not a JPEG or PNG image") {
		t.Errorf("reason = %q", reason)
	}
	obj, err := env.S3Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("photos-uploads"), Key: aws.String("thumbs/trip/wide.png")})
	if err != nil {
		t.Fatal(err)
	}
	thumb, err := png.Decode(obj.Body)
	obj.Body.Close()
	if err != nil || thumb.Bounds().Dx() != app.ThumbWidth || thumb.Bounds().Dy() != 50 {
		t.Errorf("thumbnail: %v %v", err, thumb.Bounds())
	}
	rec := awsCLI(t, ep, "dynamodb", "get-item", "--table-name", "photos", "--key", `{"id":{"S":"trip/sample.jpg"}}`)
	if !strings.Contains(rec, "thumbs/trip/sample.png") || !strings.Contains(rec, "trip") {
		t.Errorf("photo record:\n%s", rec)
	}
	if n := albumCount(t, env, "trip"); n != "2" {
		t.Errorf("album trip counts %s photos, want 2", n)
	}

	awsCLI(t, ep, "s3", "rm", "s3://photos-uploads/incoming/trip/wide.png")
	idle(t, env)
	ls = awsCLI(t, ep, "s3", "ls", "--recursive", "s3://photos-uploads/thumbs/")
	if strings.Contains(ls, "wide.png") || !strings.Contains(ls, "sample.png") {
		t.Errorf("after removing wide.png, thumbs/ holds:\n%s", ls)
	}
	if rec := awsCLI(t, ep, "dynamodb", "get-item", "--table-name", "photos", "--key", `{"id":{"S":"trip/wide.png"}}`); strings.TrimSpace(rec) != "" {
		t.Errorf("the removed photo's record is left: %s", rec)
	}
	if n := albumCount(t, env, "trip"); n != "1" {
		t.Errorf("album trip counts %s photos after a removal, want 1", n)
	}
}

// TestCountAlbumExactlyOnce: stream records come at least once, and may
// come concurrently (a retry overlapping a slow invocation); the count
// moves once per record however often it is delivered.
func TestCountAlbumExactlyOnce(t *testing.T) {
	env := start(t)
	h := pipelinetest.New(t, app.App, env.Endpoint())
	p := app.Photo{ID: "x/1.jpg", Album: "x"}
	q := app.Photo{ID: "x/2.jpg", Album: "x"}
	ins := pipelinetest.StreamEvent(pipelinetest.InsertedItem(app.Photos, p), pipelinetest.InsertedItem(app.Photos, q))
	for range 3 {
		if res := h.Invoke(app.CountAlbums, ins); !res.OK() {
			t.Fatal(res.Err, res.Failed)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { h.Invoke(app.CountAlbums, ins) })
	}
	wg.Wait()
	if n := albumCount(t, env, "x"); n != "2" {
		t.Errorf("after redelivered inserts album x counts %s, want 2", n)
	}
	rem := pipelinetest.RemovedItem(app.Photos, p)
	for range 3 {
		if res := h.Invoke(app.CountAlbums, pipelinetest.StreamEvent(rem)); !res.OK() {
			t.Fatal(res.Err, res.Failed)
		}
	}
	if n := albumCount(t, env, "x"); n != "1" {
		t.Errorf("after redelivered removals album x counts %s, want 1", n)
	}
	// Modifications (a photo uploaded again) do not count.
	if res := h.Invoke(app.CountAlbums, pipelinetest.StreamEvent(pipelinetest.ModifiedItem(app.Photos, q, q))); !res.OK() {
		t.Fatal(res.Err)
	}
	if n := albumCount(t, env, "x"); n != "1" {
		t.Errorf("a modification changed the count to %s", n)
	}
}

// TestStaleEvents: events about uploads that are gone or back again.
func TestStaleEvents(t *testing.T) {
	env := start(t)
	h := pipelinetest.New(t, app.App, env.Endpoint())
	img := pngOf(10, 10)
	if res := h.Invoke(app.Thumbnail, pipelinetest.S3Event(pipelinetest.CreatedObject(app.Uploads, "incoming/gone.png", img))); !res.OK() {
		t.Errorf("an upload removed before its event is processed: %v", res.Err)
	}
	env.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("photos-uploads"), Key: aws.String("incoming/back.png"), Body: bytes.NewReader(img)})
	idle(t, env)
	// A removal delivered after the upload came back keeps its thumbnail.
	if res := h.Invoke(app.Cleanup, pipelinetest.S3Event(pipelinetest.RemovedObject(app.Uploads, "incoming/back.png"))); !res.OK() {
		t.Fatal(res.Err)
	}
	if _, err := env.S3Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("photos-uploads"), Key: aws.String(app.ThumbKey("back.png"))}); err != nil {
		t.Errorf("a late removal deleted the thumbnail of the current upload: %v", err)
	}
}

func TestPhotoID(t *testing.T) {
	for _, c := range []struct{ key, id, album, thumb string }{
		{"incoming/trip/a.jpg", "trip/a.jpg", "trip", "thumbs/trip/a.png"},
		{"incoming/a.jpg", "a.jpg", "default", "thumbs/a.png"},
		{"incoming/2024/summer/b.png", "2024/summer/b.png", "2024/summer", "thumbs/2024/summer/b.png"},
	} {
		id, album := app.PhotoID(c.key)
		if id != c.id || album != c.album || app.ThumbKey(id) != c.thumb {
			t.Errorf("PhotoID(%q) = %q, %q, thumb %q", c.key, id, album, app.ThumbKey(id))
		}
	}
}
