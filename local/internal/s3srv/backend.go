package s3srv

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/johannesboyne/gofakes3"
)

// backend adapts the store to gofakes3, which serves the requests the
// Server does not handle itself (bucket operations, listings, versioning
// settings, multipart bookkeeping). It implements the optional
// VersionedBackend and MultipartBackend too: gofakes3 finds them by type
// assertion.
type backend struct{ s *store }

var (
	_ gofakes3.Backend          = backend{}
	_ gofakes3.VersionedBackend = backend{}
	_ gofakes3.MultipartBackend = backend{}
)

// fakeErr turns a store error into the error gofakes3 renders.
func fakeErr(err error) error {
	var e *Error
	if errors.As(err, &e) {
		if e.Resource != "" {
			return gofakes3.ResourceError(gofakes3.ErrorCode(e.Code), e.Resource)
		}
		return gofakes3.ErrorMessage(gofakes3.ErrorCode(e.Code), e.Message)
	}
	return err
}

func contentOf(info objectInfo) *gofakes3.Content {
	return &gofakes3.Content{
		Key:          info.Key,
		LastModified: gofakes3.NewContentTime(info.Modified),
		ETag:         `"` + info.ETag + `"`,
		Size:         info.Size,
		StorageClass: gofakes3.StorageClass("STANDARD"),
		Owner:        &gofakes3.UserInfo{ID: Owner, DisplayName: "local"},
	}
}

func (b backend) ListBuckets() ([]gofakes3.BucketInfo, error) {
	var out []gofakes3.BucketInfo
	for _, bk := range b.s.listBuckets() {
		out = append(out, gofakes3.BucketInfo{Name: bk.Name, CreationDate: gofakes3.NewContentTime(bk.Created)})
	}
	return out, nil
}

func (b backend) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	var p, d string
	if prefix != nil {
		p, d = prefix.Prefix, prefix.Delimiter
	}
	max := int(page.MaxKeys)
	entries, truncated, err := b.s.list(name, p, d, page.Marker, max)
	if err != nil {
		return nil, fakeErr(err)
	}
	out := gofakes3.NewObjectList()
	for _, e := range entries {
		if e.Prefix != "" {
			out.AddPrefix(e.Prefix)
		} else {
			out.Add(contentOf(e.Info))
		}
	}
	if truncated && len(entries) > 0 {
		out.IsTruncated = true
		last := entries[len(entries)-1]
		out.NextMarker = last.Prefix
		if last.Prefix == "" {
			out.NextMarker = last.Info.Key
		}
	}
	return out, nil
}

func (b backend) CreateBucket(name string) error { return fakeErr(b.s.createBucket(name)) }

func (b backend) BucketExists(name string) (bool, error) { return b.s.bucketExists(name), nil }

func (b backend) DeleteBucket(name string) error { return fakeErr(b.s.deleteBucket(name, false)) }

func (b backend) ForceDeleteBucket(name string) error { return fakeErr(b.s.deleteBucket(name, true)) }

func (b backend) object(bucket, key, vid string, rng *gofakes3.ObjectRangeRequest, head bool) (*gofakes3.Object, error) {
	info, err := b.s.head(bucket, key, vid)
	if err != nil {
		if info.DeleteMarker {
			return &gofakes3.Object{Name: key, VersionID: gofakes3.VersionID(info.VersionID), IsDeleteMarker: true, Contents: io.NopCloser(strings.NewReader(""))}, nil
		}
		return nil, fakeErr(err)
	}
	obj := &gofakes3.Object{Name: key, Metadata: responseMeta(info), Size: info.Size, VersionID: gofakes3.VersionID(info.VersionID)}
	if head {
		obj.Contents = io.NopCloser(strings.NewReader(""))
		return obj, nil
	}
	var off, n int64 = 0, -1
	if rng != nil {
		r, err := rng.Range(info.Size)
		if err != nil {
			return nil, err
		}
		if r != nil {
			off, n = r.Start, r.Length
			obj.Range = r
		}
	}
	_, rc, err := b.s.open(bucket, key, vid, off, n)
	if err != nil {
		return nil, fakeErr(err)
	}
	obj.Contents = rc
	return obj, nil
}

func (b backend) GetObject(bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	return b.object(bucket, key, "", rng, false)
}

func (b backend) HeadObject(bucket, key string) (*gofakes3.Object, error) {
	return b.object(bucket, key, "", nil, true)
}

func (b backend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	r, err := b.s.deleteObject(Request{}, bucket, key, "")
	return gofakes3.ObjectDeleteResult{IsDeleteMarker: r.DeleteMarker, VersionID: gofakes3.VersionID(r.VersionID)}, fakeErr(err)
}

func (b backend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	var c putConditions
	if cond != nil {
		if cond.IfMatch != nil {
			c.IfMatch = *cond.IfMatch
		}
		if cond.IfNoneMatch != nil {
			c.IfNoneMatch = *cond.IfNoneMatch
		}
	}
	event := "ObjectCreated:Put"
	if meta["X-Amz-Nanopipe-Post"] != "" {
		event = "ObjectCreated:Post"
	}
	info, err := b.s.put(Request{}, bucket, key, storedMeta(meta), io.LimitReader(input, size), nil, c, event)
	if err != nil {
		return gofakes3.PutObjectResult{}, fakeErr(err)
	}
	return gofakes3.PutObjectResult{VersionID: gofakes3.VersionID(visibleVID(b.s, bucket, info))}, nil
}

func visibleVID(s *store, bucket string, info objectInfo) string {
	if v, _ := s.versioning(bucket); v == "" {
		return ""
	}
	return info.VersionID
}

func (b backend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var res gofakes3.MultiDeleteResult
	for _, k := range keys {
		if _, err := b.s.deleteObject(Request{}, bucket, k, ""); err != nil {
			res.Error = append(res.Error, gofakes3.ErrorResult{Key: k, Code: gofakes3.ErrInternal, Message: err.Error()})
			continue
		}
		res.Deleted = append(res.Deleted, gofakes3.ObjectID{Key: k})
	}
	return res, nil
}

func (b backend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	info, _, err := b.s.copyObject(Request{}, srcBucket, srcKey, "", dstBucket, dstKey, true, storedMeta(meta), nil, putConditions{})
	if err != nil {
		return gofakes3.CopyObjectResult{}, fakeErr(err)
	}
	return gofakes3.CopyObjectResult{ETag: `"` + info.ETag + `"`, LastModified: gofakes3.NewContentTime(info.Modified)}, nil
}

// ---- VersionedBackend

func (b backend) VersioningConfiguration(bucket string) (gofakes3.VersioningConfiguration, error) {
	v, err := b.s.versioning(bucket)
	return gofakes3.VersioningConfiguration{Status: gofakes3.VersioningStatus(v)}, fakeErr(err)
}

func (b backend) SetVersioningConfiguration(bucket string, v gofakes3.VersioningConfiguration) error {
	return fakeErr(b.s.setVersioning(bucket, string(v.Status)))
}

func (b backend) GetObjectVersion(bucket, key string, vid gofakes3.VersionID, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	return b.object(bucket, key, string(vid), rng, false)
}

func (b backend) HeadObjectVersion(bucket, key string, vid gofakes3.VersionID) (*gofakes3.Object, error) {
	return b.object(bucket, key, string(vid), nil, true)
}

func (b backend) DeleteObjectVersion(bucket, key string, vid gofakes3.VersionID) (gofakes3.ObjectDeleteResult, error) {
	r, err := b.s.deleteObject(Request{}, bucket, key, string(vid))
	return gofakes3.ObjectDeleteResult{IsDeleteMarker: r.DeleteMarker, VersionID: gofakes3.VersionID(r.VersionID)}, fakeErr(err)
}

func (b backend) DeleteMultiVersions(bucket string, objects ...gofakes3.ObjectID) (gofakes3.MultiDeleteResult, error) {
	var res gofakes3.MultiDeleteResult
	for _, o := range objects {
		r, err := b.s.deleteObject(Request{}, bucket, o.Key, o.VersionID)
		if err != nil {
			res.Error = append(res.Error, gofakes3.ErrorResult{Key: o.Key, Code: gofakes3.ErrInternal, Message: err.Error()})
			continue
		}
		res.Deleted = append(res.Deleted, gofakes3.ObjectID{Key: o.Key, VersionID: r.VersionID})
	}
	return res, nil
}

func (b backend) ListBucketVersions(bucket string, prefix *gofakes3.Prefix, page *gofakes3.ListBucketVersionsPage) (*gofakes3.ListBucketVersionsResult, error) {
	var p, d string
	if prefix != nil {
		p, d = prefix.Prefix, prefix.Delimiter
	}
	max := 1000
	var km, vm string
	if page != nil {
		if page.MaxKeys > 0 {
			max = int(page.MaxKeys)
		}
		km, vm = page.KeyMarker, string(page.VersionIDMarker)
	}
	vs, prefixes, truncated, nk, nv, err := b.s.listVersions(bucket, p, d, km, vm, max)
	if err != nil {
		return nil, fakeErr(err)
	}
	res := gofakes3.NewListBucketVersionsResult(bucket, prefix, page)
	for _, cp := range prefixes {
		res.AddPrefix(cp)
	}
	for _, v := range vs {
		vid := gofakes3.VersionID(v.Info.VersionID)
		if v.Info.DeleteMarker {
			res.Versions = append(res.Versions, &gofakes3.DeleteMarker{Key: v.Info.Key, VersionID: vid, IsLatest: v.Latest, LastModified: gofakes3.NewContentTime(v.Info.Modified)})
			continue
		}
		res.Versions = append(res.Versions, &gofakes3.Version{Key: v.Info.Key, VersionID: vid, IsLatest: v.Latest, LastModified: gofakes3.NewContentTime(v.Info.Modified), Size: v.Info.Size, StorageClass: "STANDARD", ETag: `"` + v.Info.ETag + `"`})
	}
	res.IsTruncated = truncated
	res.NextKeyMarker, res.NextVersionIDMarker = nk, gofakes3.VersionID(nv)
	return res, nil
}

// ---- MultipartBackend

func (b backend) CreateMultipartUpload(bucket, key string, meta map[string]string) (gofakes3.UploadID, error) {
	id, err := b.s.createUpload(bucket, key, storedMeta(meta))
	return gofakes3.UploadID(id), fakeErr(err)
}

func (b backend) UploadPart(bucket, key string, id gofakes3.UploadID, n int, size int64, input io.Reader) (string, error) {
	etag, err := b.s.uploadPart(bucket, key, string(id), n, io.LimitReader(input, size), nil)
	if err != nil {
		return "", fakeErr(err)
	}
	return `"` + etag + `"`, nil
}

func (b backend) ListMultipartUploads(bucket string, marker *gofakes3.UploadListMarker, prefix gofakes3.Prefix, limit int64) (*gofakes3.ListMultipartUploadsResult, error) {
	us, err := b.s.listUploads(bucket, prefix.Prefix)
	if err != nil {
		return nil, fakeErr(err)
	}
	res := &gofakes3.ListMultipartUploadsResult{Bucket: bucket, MaxUploads: limit, Prefix: prefix.Prefix}
	if marker != nil {
		res.KeyMarker, res.UploadIDMarker = marker.Object, marker.UploadID
	}
	for _, u := range us {
		if marker != nil && (u.Key < marker.Object || (u.Key == marker.Object && (marker.UploadID == "" || u.ID <= string(marker.UploadID)))) {
			continue
		}
		if int64(len(res.Uploads)) == limit {
			res.IsTruncated = true
			last := res.Uploads[len(res.Uploads)-1]
			res.NextKeyMarker, res.NextUploadIDMarker = last.Key, last.UploadID
			break
		}
		owner := &gofakes3.UserInfo{ID: Owner, DisplayName: "local"}
		res.Uploads = append(res.Uploads, gofakes3.ListMultipartUploadItem{Key: u.Key, UploadID: gofakes3.UploadID(u.ID), Initiator: owner, Owner: owner, StorageClass: "STANDARD", Initiated: gofakes3.NewContentTime(u.Initiated)})
	}
	return res, nil
}

func (b backend) ListParts(bucket, key string, id gofakes3.UploadID, marker int, limit int64) (*gofakes3.ListMultipartUploadPartsResult, error) {
	ps, truncated, err := b.s.listParts(bucket, key, string(id), marker, int(limit))
	if err != nil {
		return nil, fakeErr(err)
	}
	res := &gofakes3.ListMultipartUploadPartsResult{Bucket: bucket, Key: key, UploadID: id, StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: limit, IsTruncated: truncated}
	for _, p := range ps {
		res.Parts = append(res.Parts, gofakes3.ListMultipartUploadPartItem{PartNumber: p.N, LastModified: gofakes3.NewContentTime(p.Mod), ETag: `"` + p.ETag + `"`, Size: p.Size})
	}
	if truncated && len(ps) > 0 {
		res.NextPartNumberMarker = ps[len(ps)-1].N
	}
	return res, nil
}

func (b backend) AbortMultipartUpload(bucket, key string, id gofakes3.UploadID) error {
	return fakeErr(b.s.abortUpload(bucket, key, string(id)))
}

func (b backend) CompleteMultipartUpload(bucket, key string, id gofakes3.UploadID, in *gofakes3.CompleteMultipartUploadRequest) (gofakes3.VersionID, string, error) {
	parts := make([]completedPart, len(in.Parts))
	for i, p := range in.Parts {
		parts[i] = completedPart{N: p.PartNumber, ETag: p.ETag}
	}
	info, err := b.s.completeUpload(Request{}, bucket, key, string(id), parts, putConditions{})
	if err != nil {
		return "", "", fakeErr(err)
	}
	return gofakes3.VersionID(visibleVID(b.s, bucket, info)), `"` + info.ETag + `"`, nil
}

// ---- metadata

// storedHeaders are the request headers S3 keeps with an object and
// returns on GET and HEAD, besides x-amz-meta-*.
var storedHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Type", "Expires", "X-Amz-Website-Redirect-Location", "X-Amz-Storage-Class", "X-Amz-Tagging"}

// storedMeta keeps what S3 stores of a request's headers, given as
// canonical header names.
func storedMeta(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		ck := http.CanonicalHeaderKey(k)
		if strings.HasPrefix(ck, "X-Amz-Meta-") {
			out[ck] = v
			continue
		}
		for _, s := range storedHeaders {
			if ck == s {
				out[ck] = v
			}
		}
	}
	// Content-Encoding aws-chunked is transport framing, not the object's.
	if ce := out["Content-Encoding"]; ce != "" {
		var keep []string
		for _, p := range strings.Split(ce, ",") {
			if p = strings.TrimSpace(p); p != "" && p != "aws-chunked" {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			delete(out, "Content-Encoding")
		} else {
			out["Content-Encoding"] = strings.Join(keep, ",")
		}
	}
	delete(out, "X-Amz-Tagging")
	if out["X-Amz-Storage-Class"] == "STANDARD" {
		delete(out, "X-Amz-Storage-Class")
	}
	return out
}

// responseMeta is the metadata of info as response headers.
func responseMeta(info objectInfo) map[string]string {
	out := make(map[string]string, len(info.Meta)+2)
	for k, v := range info.Meta {
		out[k] = v
	}
	if out["Content-Type"] == "" {
		out["Content-Type"] = "binary/octet-stream"
	}
	out["Last-Modified"] = info.Modified.UTC().Format(http.TimeFormat)
	return out
}
