// Package s3srv is the local environment's embedded S3: an http.Handler
// speaking S3's REST protocol (path-style), storing buckets and objects in
// memory or under a directory, and reporting every object change as an
// event record in AWS's exact shape.
//
// # Events
//
// Put, Copy, CompleteMultipartUpload, Delete and DeleteObjects each emit
// one record per object: eventVersion 2.1, form-encoded key, a sequencer
// that increases per key (and across restarts), the eTag and size of
// created objects, the versionId on versioned buckets, and the request's
// x-amz-request-id. A delete of a key that does not exist emits nothing.
// Subscribers are called after the change is stored. A subscriber that
// cannot keep an event durably returns an error: the request is then
// answered 500 InternalError, not acknowledged, though the change stays
// stored. The record is kept in memory and sent again before the key's
// next record, or by the next delete of the key that finds it gone (a
// client's retry of a delete), so the write a client finally sees succeed
// has its event; a retried PUT makes a new event besides.
//
// # Built on gofakes3
//
// gofakes3 serves bucket operations, listings, versioning settings and
// multipart bookkeeping through this package's own Backend (which also
// implements gofakes3's VersionedBackend and MultipartBackend). The object
// data path is served here, to own its events and to fix where gofakes3
// 1.2.0 deviates from S3:
//
//   - GET and HEAD after a multipart upload report the "-N" ETag that
//     CompleteMultipartUpload returned; partNumber GET and HEAD work;
//     EntityTooSmall and InvalidPartOrder are raised;
//   - a "dir/" object rolls up into a common prefix under delimiter "/";
//     max-keys=0 returns no keys and is echoed as MaxKeys; KeyCount is
//     written even when it is 0; the last page carries no continuation
//     token; listings report StorageClass; a max-keys that is not a
//     number from 0 up, or a continuation token this server did not issue,
//     is refused with 400 InvalidArgument (tokens carry a checksum);
//   - x-amz-version-id is sent on versioned buckets only;
//   - If-Match, If-None-Match (also "*" on PUT), If-Modified-Since and
//     If-Unmodified-Since are honoured; copy-source conditions too;
//   - CopyObject keeps the source's metadata under COPY and replaces it
//     under REPLACE, and refuses a copy onto itself without changes;
//   - Cache-Control, Content-Language and Expires are stored; request
//     headers that are not object metadata are not echoed back;
//   - aws-chunked bodies (SigV4 streaming, with or without trailing
//     checksums, as current SDKs and CLIs send them) are decoded for every
//     upload, parts included; UploadPartCopy works.
//
// Checked against versitygw by the conformance suite (package
// local/conformance), it was fixed to answer a CreateBucket of a bucket it
// already has with 409 BucketAlreadyOwnedByYou (gofakes3 answers 500, which
// SDKs retry), and a malformed version ID with 400 InvalidArgument rather
// than 404 NoSuchVersion.
//
// Small objects (up to 64 KB) are kept in the store's journal, larger ones
// in a file each: creating a file costs more than the rest of a small PUT.
package s3srv
