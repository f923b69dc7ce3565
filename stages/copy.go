package stages

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Copy limits. CopyObject copies objects up to 5 GiB in one call; larger
// ones are copied part by part (UploadPartCopy), parts copied in parallel.
var (
	maxSingleCopy int64 = 5 << 30
	copyPartSize  int64 = 512 << 20 // 10,000 parts of 512 MiB cover S3's 5 TiB maximum
	copyParallel        = 8
)

// CopyOption configures Copy and Move.
type CopyOption func(*copyConfig)

type copyConfig struct {
	rename func(key string) string
}

// Rename computes where an object goes: the destination key is the
// stage's prefix followed by rename(key). Without it, the key loses the
// trigger's prefix: incoming/a.csv copied by a stage triggered on
// incoming/ to prefix done/ becomes done/a.csv.
func Rename(rename func(key string) string) CopyOption {
	return func(c *copyConfig) { c.rename = rename }
}

// Copy declares a stage that copies every object its trigger fires on to
// bucket dst under prefix (server-side, metadata and content type kept).
// It declares reading the keys its trigger matches and writing
// dst.Keys(prefix, "").
//
// Each event copies the version it is about (the copy is conditional on
// the event's ETag): when the object was replaced or removed since, the
// event is skipped, because the newer version's own event copies it. A
// redelivered event copies again, to the same key: the result is the same.
// Objects over 5 GiB are copied in parts of 512 MiB, 8 at a time.
func Copy(app *pipeline.App, name string, t triggers.ObjectTrigger, dst *pipeline.Bucket, prefix string, opts ...CopyOption) (s *pipeline.Stage) {
	defer refusedObject(app, name, t, &s)
	c := newCopier(app, name, t, dst, prefix, false, opts)
	return pipeline.OnObject(app, name, t, c.run).
		Reads(c.src.Keys(t.Prefix, t.Suffix)).
		Writes(dst.Keys(prefix, ""))
}

// Move declares a stage that moves every object its trigger fires on to
// bucket dst under prefix: a Copy, then the removal of the source. It
// also declares deleting the keys its trigger matches (a delete fires no
// ObjectCreated trigger, so this is no loop).
//
// A redelivered event whose source is gone finds the move done and
// succeeds. The removal is conditional on the ETag of the version moved,
// so an object replaced between the copy and the removal is kept for its
// own event to move.
func Move(app *pipeline.App, name string, t triggers.ObjectTrigger, dst *pipeline.Bucket, prefix string, opts ...CopyOption) (s *pipeline.Stage) {
	defer refusedObject(app, name, t, &s)
	c := newCopier(app, name, t, dst, prefix, true, opts)
	return pipeline.OnObject(app, name, t, c.run).
		Reads(c.src.Keys(t.Prefix, t.Suffix)).
		Writes(dst.Keys(prefix, "")).
		Deletes(c.src.Keys(t.Prefix, t.Suffix))
}

type copier struct {
	name    string
	src     *pipeline.Bucket
	dst     *pipeline.Bucket
	trigger triggers.ObjectTrigger
	prefix  string
	move    bool
	cfg     copyConfig
}

func newCopier(app *pipeline.App, name string, t triggers.ObjectTrigger, dst *pipeline.Bucket, prefix string, move bool, opts []CopyOption) *copier {
	src := sourceBucket(app, name, t)
	ownBucket(app, name, dst, "the destination bucket")
	what := "Copy"
	if move {
		what = "Move"
	}
	if !createdOnly(t) {
		declError(name, "%s needs an ObjectCreated trigger (uploads.Created(...)), not %v", what, t.Events)
	}
	c := &copier{name: name, src: src, dst: dst, trigger: t, prefix: prefix, move: move}
	for _, o := range opts {
		if o == nil {
			declError(name, "nil CopyOption")
		}
		o(&c.cfg)
	}
	return c
}

func (c *copier) target(key string) string {
	if c.cfg.rename != nil {
		return c.prefix + c.cfg.rename(key)
	}
	return c.prefix + strings.TrimPrefix(key, c.trigger.Prefix)
}

func (c *copier) run(ctx context.Context, o triggers.Object) error {
	log := pipeline.Logger(ctx)
	srcName, dstName := c.src.PhysicalName(ctx), c.dst.PhysicalName(ctx)
	key := c.target(o.Key)
	if key == "" {
		return fmt.Errorf("copy s3://%s/%s: the destination key is empty", srcName, o.Key)
	}
	from := fmt.Sprintf("s3://%s/%s", srcName, o.Key)
	to := fmt.Sprintf("s3://%s/%s", dstName, key)
	client := c.dst.S3(ctx)
	var err error
	if o.Size > maxSingleCopy {
		err = c.copyParts(ctx, client, srcName, o, dstName, key)
	} else {
		in := &s3.CopyObjectInput{
			Bucket:     &dstName,
			Key:        &key,
			CopySource: aws.String(copySource(srcName, o.Key, o.VersionID)),
		}
		if o.ETag != "" {
			in.CopySourceIfMatch = aws.String(`"` + o.ETag + `"`)
		}
		_, err = client.CopyObject(ctx, in)
	}
	switch {
	case notFound(err) && c.move:
		log.Info("already moved: the source is gone", "source", from, "target", to)
		return nil
	case notFound(err):
		log.Info("skipped: the source was removed since the event", "source", from)
		return nil
	case preconditionFailed(err):
		log.Info("skipped: the source was replaced since the event; the newer version's event copies it", "source", from)
		return nil
	case err != nil:
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	if !c.move {
		return nil
	}
	del := &s3.DeleteObjectInput{Bucket: &srcName, Key: &o.Key}
	if o.ETag != "" {
		del.IfMatch = aws.String(`"` + o.ETag + `"`)
	}
	_, err = c.src.S3(ctx).DeleteObject(ctx, del)
	switch {
	case preconditionFailed(err):
		log.Info("kept the source: it was replaced during the move; its own event moves it", "source", from)
		return nil
	case err != nil && !notFound(err):
		return fmt.Errorf("move %s to %s: copied, but removing the source failed: %w", from, to, err)
	}
	return nil
}

// copySource is the x-amz-copy-source value: bucket/key URL-encoded,
// with the version when the event names one.
func copySource(bucket, key, version string) string {
	s := url.PathEscape(bucket) + "/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
	if version != "" {
		s += "?versionId=" + url.QueryEscape(version)
	}
	return s
}

// copyParts copies an object too large for CopyObject with a multipart
// upload whose parts are copied server-side.
func (c *copier) copyParts(ctx context.Context, client *s3.Client, srcName string, o triggers.Object, dstName, key string) error {
	head, err := c.src.S3(ctx).HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srcName, Key: &o.Key, IfMatch: etagCond(o.ETag)})
	if err != nil {
		return err
	}
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &dstName, Key: &key, ContentType: head.ContentType, Metadata: head.Metadata,
		ContentEncoding: head.ContentEncoding, ContentDisposition: head.ContentDisposition, CacheControl: head.CacheControl,
	})
	if err != nil {
		return err
	}
	abort := func() {
		client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &dstName, Key: &key, UploadId: up.UploadId})
	}
	size := aws.ToInt64(head.ContentLength)
	n := int((size + copyPartSize - 1) / copyPartSize)
	parts := make([]s3types.CompletedPart, n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, copyParallel)
	)
	for i := range n {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			lo := int64(i) * copyPartSize
			hi := min(lo+copyPartSize, size) - 1
			out, err := client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket: &dstName, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				CopySource:        aws.String(copySource(srcName, o.Key, o.VersionID)),
				CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", lo, hi)),
				CopySourceIfMatch: etagCond(o.ETag),
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			parts[i] = s3types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(int32(i + 1))}
		}()
	}
	wg.Wait()
	if first != nil {
		abort()
		return first
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &dstName, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		abort()
		return err
	}
	return nil
}

func etagCond(etag string) *string {
	if etag == "" {
		return nil
	}
	return aws.String(`"` + etag + `"`)
}
