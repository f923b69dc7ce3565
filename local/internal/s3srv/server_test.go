package s3srv

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/nanopipe/nanopipe/local/internal/awsconf"
)

type recorder struct {
	mu   sync.Mutex
	recs []Record
}

func (r *recorder) add(rec Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	return nil
}
func (r *recorder) take() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.recs
	r.recs = nil
	return out
}

func start(t *testing.T, dir string) (*Server, *s3.Client, *recorder) {
	t.Helper()
	srv, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	srv.Subscribe(rec.add)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c := s3.NewFromConfig(awsconf.Config(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(hs.URL)
		o.UsePathStyle = true
	})
	return srv, c, rec
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestObjectsAndEvents(t *testing.T) {
	ctx := context.Background()
	srv, c, rec := start(t, t.TempDir())
	if err := srv.CreateBucket("b"); err != nil {
		t.Fatal(err)
	}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("dir/a b+c.txt"), Body: strings.NewReader("hello"), ContentType: aws.String("text/plain"), CacheControl: aws.String("max-age=60"), Metadata: map[string]string{"who": "me"}})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte("hello"))
	if want := `"` + hex.EncodeToString(sum[:]) + `"`; aws.ToString(put.ETag) != want {
		t.Errorf("ETag %s, want %s", aws.ToString(put.ETag), want)
	}
	if put.VersionId != nil {
		t.Errorf("unversioned bucket returned version id %q", *put.VersionId)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("dir/a b+c.txt")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	if string(body) != "hello" || aws.ToString(got.ContentType) != "text/plain" || aws.ToString(got.CacheControl) != "max-age=60" || got.Metadata["who"] != "me" {
		t.Errorf("get: %q type %q cache %q meta %v", body, aws.ToString(got.ContentType), aws.ToString(got.CacheControl), got.Metadata)
	}
	evs := rec.take()
	if len(evs) != 1 || evs[0].EventName != "ObjectCreated:Put" || evs[0].S3.Object.Key != "dir/a+b%2Bc.txt" || *evs[0].S3.Object.Size != 5 || evs[0].S3.Object.ETag != hex.EncodeToString(sum[:]) {
		t.Fatalf("events %+v", evs)
	}
	if evs[0].ResponseElements.RequestID == "" || evs[0].S3.Object.VersionID != "" {
		t.Errorf("event request id %q version %q", evs[0].ResponseElements.RequestID, evs[0].S3.Object.VersionID)
	}

	// A "dir/" object rolls up into a common prefix with delimiter "/".
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("dir/"), Body: strings.NewReader("")})
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("top"), Body: strings.NewReader("x")})
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.CommonPrefixes) != 1 || aws.ToString(l.CommonPrefixes[0].Prefix) != "dir/" || len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "top" || l.NextContinuationToken != nil {
		t.Errorf("list: prefixes %v contents %d token %v", l.CommonPrefixes, len(l.Contents), l.NextContinuationToken)
	}
	if l.Contents[0].StorageClass != types.ObjectStorageClassStandard {
		t.Errorf("storage class %q", l.Contents[0].StorageClass)
	}
	// Pagination: the last page carries no token.
	p1, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b"), MaxKeys: aws.Int32(2)})
	if !aws.ToBool(p1.IsTruncated) || p1.NextContinuationToken == nil {
		t.Fatalf("page 1 not truncated")
	}
	p2, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b"), MaxKeys: aws.Int32(2), ContinuationToken: p1.NextContinuationToken})
	if aws.ToBool(p2.IsTruncated) || p2.NextContinuationToken != nil || len(p2.Contents) != 1 {
		t.Errorf("page 2: truncated %v token %v n %d", aws.ToBool(p2.IsTruncated), p2.NextContinuationToken, len(p2.Contents))
	}
	rec.take()

	// Conditional writes.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("top"), Body: strings.NewReader("y"), IfNoneMatch: aws.String("*")})
	if code(err) != "PreconditionFailed" {
		t.Errorf("If-None-Match * on existing: %v", err)
	}
	if evs := rec.take(); len(evs) != 0 {
		t.Errorf("failed conditional put emitted %d events", len(evs))
	}

	// Copy: COPY keeps metadata, REPLACE replaces it, self-copy refused.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("b"), Key: aws.String("copy"), CopySource: aws.String("b/dir/a%20b%2Bc.txt")})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("copy")})
	if h.Metadata["who"] != "me" {
		t.Errorf("COPY lost metadata: %v", h.Metadata)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("b"), Key: aws.String("copy"), CopySource: aws.String("b/copy"), MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"new": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	h, _ = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("copy")})
	if h.Metadata["who"] != "" || h.Metadata["new"] != "1" {
		t.Errorf("REPLACE metadata: %v", h.Metadata)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("b"), Key: aws.String("copy"), CopySource: aws.String("b/copy")})
	if code(err) != "InvalidRequest" {
		t.Errorf("self copy: %v", err)
	}
	if evs := rec.take(); len(evs) != 2 || evs[0].EventName != "ObjectCreated:Copy" {
		t.Errorf("copy events: %+v", evs)
	}

	// Multipart: the -N ETag is what HEAD and GET report too.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	part1 := bytes.Repeat([]byte("a"), 5<<20)
	var done []types.CompletedPart
	for i, data := range [][]byte{part1, []byte("tail")} {
		p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b"), Key: aws.String("big"), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{ETag: p.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	comp, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("big"), UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(comp.ETag), `-2"`) {
		t.Errorf("complete ETag %s", aws.ToString(comp.ETag))
	}
	h, _ = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("big")})
	if aws.ToString(h.ETag) != aws.ToString(comp.ETag) || aws.ToInt64(h.ContentLength) != 5<<20+4 {
		t.Errorf("head after multipart: ETag %s length %d", aws.ToString(h.ETag), aws.ToInt64(h.ContentLength))
	}
	evs = rec.take()
	if len(evs) != 1 || evs[0].EventName != "ObjectCreated:CompleteMultipartUpload" || evs[0].S3.Object.ETag+`"` != strings.TrimPrefix(aws.ToString(comp.ETag), `"`) {
		t.Errorf("multipart events: %+v", evs)
	}
	// A small part before the last is refused.
	up2, _ := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("small")})
	var parts2 []types.CompletedPart
	for i := 1; i <= 2; i++ {
		p, _ := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b"), Key: aws.String("small"), UploadId: up2.UploadId, PartNumber: aws.Int32(int32(i)), Body: strings.NewReader("x")})
		parts2 = append(parts2, types.CompletedPart{ETag: p.ETag, PartNumber: aws.Int32(int32(i))})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("small"), UploadId: up2.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts2}})
	if code(err) != "EntityTooSmall" {
		t.Errorf("small parts: %v", err)
	}

	// Delete and DeleteObjects.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("top")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("b"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("copy")}, {Key: aws.String("big")}}}})
	if err != nil {
		t.Fatal(err)
	}
	evs = rec.take()
	if len(evs) != 3 {
		t.Fatalf("delete events: %+v", evs)
	}
	for _, e := range evs {
		if e.EventName != "ObjectRemoved:Delete" || e.S3.Object.Size != nil || e.S3.Object.ETag != "" {
			t.Errorf("delete event %+v", e)
		}
	}
}

func TestVersionedBucket(t *testing.T) {
	ctx := context.Background()
	srv, c, rec := start(t, "")
	srv.CreateBucket("v")
	if err := srv.SetVersioning("v", "Enabled"); err != nil {
		t.Fatal(err)
	}
	p1, _ := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("v"), Key: aws.String("k"), Body: strings.NewReader("1")})
	p2, _ := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("v"), Key: aws.String("k"), Body: strings.NewReader("2")})
	if p1.VersionId == nil || p2.VersionId == nil || *p1.VersionId == *p2.VersionId {
		t.Fatalf("version ids %v %v", p1.VersionId, p2.VersionId)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("v"), Key: aws.String("k"), VersionId: p1.VersionId})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	if string(b) != "1" {
		t.Errorf("old version reads %q", b)
	}
	d, _ := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("v"), Key: aws.String("k")})
	if !aws.ToBool(d.DeleteMarker) {
		t.Errorf("no delete marker")
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("v"), Key: aws.String("k")})
	if code(err) != "NoSuchKey" {
		t.Errorf("get after delete: %v", err)
	}
	evs := rec.take()
	if len(evs) != 3 || evs[2].EventName != "ObjectRemoved:DeleteMarkerCreated" || evs[0].S3.Object.VersionID != *p1.VersionId {
		t.Errorf("events %+v", evs)
	}
	if evs[0].S3.Object.Sequencer >= evs[1].S3.Object.Sequencer || evs[1].S3.Object.Sequencer >= evs[2].S3.Object.Sequencer {
		t.Errorf("sequencers do not increase: %s %s %s", evs[0].S3.Object.Sequencer, evs[1].S3.Object.Sequencer, evs[2].S3.Object.Sequencer)
	}
	vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("v")})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 2 || len(vs.DeleteMarkers) != 1 {
		t.Errorf("versions %d markers %d", len(vs.Versions), len(vs.DeleteMarkers))
	}
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, c, _ := start(t, dir)
	srv.CreateBucket("p")
	for i := 0; i < 3; i++ {
		c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("p"), Key: aws.String(fmt.Sprint("k", i)), Body: strings.NewReader(fmt.Sprint("v", i))})
	}
	c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("p"), Key: aws.String("k1")})
	srv.Close()

	_, c2, _ := start(t, dir)
	l, err := c2.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 2 {
		t.Fatalf("after restart %d objects", len(l.Contents))
	}
	g, err := c2.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("p"), Key: aws.String("k2")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	if string(b) != "v2" {
		t.Errorf("k2 = %q", b)
	}
}
