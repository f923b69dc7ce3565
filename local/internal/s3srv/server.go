package s3srv

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/johannesboyne/gofakes3"

	"github.com/nanopipe/nanopipe/internal/s3event"
	"github.com/nanopipe/nanopipe/local/internal/tracked"
)

// Options configure a Server.
type Options struct {
	// Dir keeps buckets and objects under this directory, so they survive a
	// restart; "" keeps them in memory.
	Dir string
	// Region is reported in event records (default us-east-1).
	Region string
}

// Server is the embedded S3 endpoint: an http.Handler speaking S3's REST
// protocol with path-style addressing, reporting every object change to
// its subscribers.
type Server struct {
	st    *store
	fake  http.Handler
	reqID atomic.Uint64
}

// New opens (or creates) the store and returns the server.
func New(opts Options) (*Server, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	ev := &eventer{region: opts.Region}
	st, err := openStore(opts.Dir, ev)
	if err != nil {
		return nil, err
	}
	s := &Server{st: st}
	s.reqID.Store(uint64(time.Now().UnixNano()))
	fake := gofakes3.New(backend{st}, gofakes3.WithTimeSkewLimit(0), gofakes3.WithIntegrityCheck(true))
	s.fake = fake.Server()
	return s, nil
}

// Subscribe registers fn to receive every object event, after the change it
// reports is stored, in the goroutine of the request that made it. fn must
// return quickly. fn returns an error when it could not keep the event
// durably: the request is then answered 500 InternalError (which clients
// retry) instead of being acknowledged, and the change stays stored.
func (s *Server) Subscribe(fn func(Record) error) { s.st.events.subscribe(fn) }

// CreateBucket creates a bucket; it is no error if it exists.
func (s *Server) CreateBucket(name string) error {
	err := s.st.createBucket(name)
	var e *Error
	if errors.As(err, &e) && e.Code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	return err
}

// SetVersioning sets a bucket's versioning status: "Enabled" or "Suspended".
func (s *Server) SetVersioning(bucket, status string) error {
	return s.st.setVersioning(bucket, status)
}

// Close flushes the store.
func (s *Server) Close() error { return s.st.close() }

func (s *Server) newRequest(r *http.Request) Request {
	id := fmt.Sprintf("%016X", s.reqID.Add(1))
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = "127.0.0.1"
	}
	return Request{ID: id, ID2: base64.StdEncoding.EncodeToString([]byte(id + id + id)), SourceIP: ip}
}

// ServeHTTP handles the object operations whose events and semantics the
// embedded S3 owns (put, copy, get, head, delete, multipart parts and
// completion, DeleteObjects) and hands the rest to gofakes3.
//
// No request ends the process: a panic while serving one is answered with
// 500 InternalError.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := s.newRequest(r)
	h := w.Header()
	h.Set("x-amz-request-id", req.ID)
	h.Set("x-amz-id-2", req.ID2)
	h.Set("Server", "AmazonS3")
	tw := &tracked.Writer{ResponseWriter: w}
	w = tw
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if !tw.Wrote {
				s.fail(w, r, req, fmt.Errorf("panic serving %s %s: %v", r.Method, r.URL.Path, v))
			}
		}
	}()
	if err := decodeChunked(r); err != nil {
		s.fail(w, r, req, err)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	if !utf8.ValidString(path) {
		// S3 keys are UTF-8; anything else would be renamed by the journal.
		s.fail(w, r, req, &Error{http.StatusBadRequest, "InvalidURI", "Couldn't parse the specified URI.", r.URL.EscapedPath()})
		return
	}
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		for k, v := range requestMeta(r) {
			if !utf8.ValidString(v) {
				s.fail(w, r, req, &Error{http.StatusBadRequest, "InvalidArgument", "Header " + k + " is not valid UTF-8: metadata values must be UTF-8 (RFC 2047-encode other text).", ""})
				return
			}
		}
	}
	q := r.URL.Query()
	var err error
	handled := true
	switch {
	case bucket == "":
		handled = false
	case key == "":
		if r.Method == http.MethodGet && has(q, "encoding-type") {
			err = s.listEncoded(w, r, q)
		} else if r.Method == http.MethodPost && has(q, "delete") {
			err = s.deleteObjects(w, r, req, bucket)
		} else if r.Method == http.MethodPut && len(q) == 0 && s.st.bucketExists(bucket) {
			// gofakes3 answers 500 here: S3 says 409 BucketAlreadyOwnedByYou.
			err = &Error{http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", bucket}
		} else if isListing(r, q) && s.st.bucketExists(bucket) {
			err = s.list(w, r, bucket)
		} else if r.Method == http.MethodPost && !has(q, "uploads") {
			r.Header.Set("X-Amz-Nanopipe-Post", "1")
			handled = false
		} else {
			handled = false
		}
	case has(q, "uploadId"):
		switch r.Method {
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				err = s.uploadPartCopy(w, r, req, bucket, key)
			} else {
				err = s.uploadPart(w, r, bucket, key)
			}
		case http.MethodPost:
			err = s.complete(w, r, req, bucket, key)
		default:
			handled = false
		}
	case r.Method == http.MethodPost && has(q, "uploads"):
		err = s.initiate(w, r, bucket, key)
	case has(q, "tagging") || has(q, "acl") || has(q, "attributes") || has(q, "retention") || has(q, "legal-hold"):
		handled = false
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		err = s.copy(w, r, req, bucket, key)
	case r.Method == http.MethodPut:
		err = s.put(w, r, req, bucket, key)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		err = s.get(w, r, bucket, key)
	case r.Method == http.MethodDelete:
		err = s.delete(w, r, req, bucket, key)
	default:
		handled = false
	}
	if !handled {
		s.fake.ServeHTTP(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, req, err)
	}
}

func has(q url.Values, k string) bool { _, ok := q[k]; return ok }

type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, req Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{http.StatusInternalServerError, "InternalError", err.Error(), ""}
	}
	if e.Status == http.StatusNotModified {
		w.WriteHeader(e.Status)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(errorBody{Code: e.Code, Message: e.Message, Resource: e.Resource, RequestID: req.ID})
}

func writeXML(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/xml")
	io.WriteString(w, xml.Header)
	return xml.NewEncoder(w).Encode(v)
}

const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// requestMeta collects the headers S3 stores with an object.
func requestMeta(r *http.Request) map[string]string {
	m := map[string]string{}
	for k, v := range r.Header {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return storedMeta(m)
}

func contentMD5(r *http.Request) ([]byte, error) {
	v, ok := r.Header["Content-Md5"]
	if !ok {
		return nil, nil
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[0]))
	if err != nil || len(sum) != md5.Size {
		return nil, &Error{http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified was invalid.", ""}
	}
	return sum, nil
}

func conditions(r *http.Request) putConditions {
	return putConditions{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}
}

func (s *Server) setVersionHeader(w http.ResponseWriter, bucket string, info objectInfo) {
	if vid := visibleVID(s.st, bucket, info); vid != "" {
		w.Header().Set("x-amz-version-id", vid)
	}
}

const maxKeyLen = 1024

func (s *Server) put(w http.ResponseWriter, r *http.Request, req Request, bucket, key string) error {
	if len(key) > maxKeyLen {
		return &Error{http.StatusBadRequest, "KeyTooLongError", "Your key is too long", key}
	}
	if r.ContentLength < 0 && r.Header.Get("Transfer-Encoding") == "" {
		return &Error{http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.", ""}
	}
	sum, err := contentMD5(r)
	if err != nil {
		return err
	}
	info, err := s.st.put(req, bucket, key, requestMeta(r), r.Body, sum, conditions(r), "ObjectCreated:Put")
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+info.ETag+`"`)
	s.setVersionHeader(w, bucket, info)
	w.WriteHeader(http.StatusOK)
	return nil
}

// copySource parses x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, with an optional "?versionId=".
func copySource(v string) (bucket, key, vid string, err error) {
	src, query, _ := strings.Cut(v, "?")
	src, err = url.PathUnescape(strings.TrimPrefix(src, "/"))
	if err != nil || !utf8.ValidString(src) {
		return "", "", "", &Error{http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", ""}
	}
	bucket, key, ok := strings.Cut(src, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", "", &Error{http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", ""}
	}
	if query != "" {
		qv, _ := url.ParseQuery(query)
		vid = qv.Get("versionId")
	}
	return bucket, key, vid, nil
}

func copyConditions(r *http.Request) func(objectInfo) error {
	return func(src objectInfo) error {
		if v := r.Header.Get("X-Amz-Copy-Source-If-Match"); v != "" && trimETag(v) != src.ETag {
			return errPrecondition()
		}
		if v := r.Header.Get("X-Amz-Copy-Source-If-None-Match"); v != "" && trimETag(v) == src.ETag {
			return errPrecondition()
		}
		if v := r.Header.Get("X-Amz-Copy-Source-If-Unmodified-Since"); v != "" {
			if t, err := http.ParseTime(v); err == nil && src.Modified.Truncate(time.Second).After(t) {
				return errPrecondition()
			}
		}
		if v := r.Header.Get("X-Amz-Copy-Source-If-Modified-Since"); v != "" {
			if t, err := http.ParseTime(v); err == nil && !src.Modified.Truncate(time.Second).After(t) {
				return errPrecondition()
			}
		}
		return nil
	}
}

type copyResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
}

func (s *Server) copy(w http.ResponseWriter, r *http.Request, req Request, bucket, key string) error {
	if len(key) > maxKeyLen {
		return &Error{http.StatusBadRequest, "KeyTooLongError", "Your key is too long", key}
	}
	sb, sk, svid, err := copySource(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	replace := false
	switch d := r.Header.Get("X-Amz-Metadata-Directive"); d {
	case "", "COPY":
	case "REPLACE":
		replace = true
	default:
		return &Error{http.StatusBadRequest, "InvalidArgument", "Unknown metadata directive.", ""}
	}
	info, src, err := s.st.copyObject(req, sb, sk, svid, bucket, key, replace, requestMeta(r), copyConditions(r), conditions(r))
	if err != nil {
		return err
	}
	if v, _ := s.st.versioning(sb); v != "" {
		w.Header().Set("x-amz-copy-source-version-id", src.VersionID)
	}
	s.setVersionHeader(w, bucket, info)
	return writeXML(w, copyResult{Xmlns: xmlns, LastModified: info.Modified.Format("2006-01-02T15:04:05.000Z"), ETag: `"` + info.ETag + `"`})
}

// byteRange parses a single "bytes=" range against size. ok is false when
// there is no range to apply (none given, or several, which S3 answers
// with the whole object).
func byteRange(h string, size int64) (off, n int64, ok bool, err error) {
	if h == "" {
		return 0, size, false, nil
	}
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	a, b, _ := strings.Cut(spec, "-")
	invalid := &Error{http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable", ""}
	switch {
	case a == "":
		k, err := strconv.ParseInt(b, 10, 64)
		if err != nil {
			return 0, size, false, nil
		}
		if k == 0 {
			return 0, 0, false, invalid
		}
		if k > size {
			k = size
		}
		return size - k, k, true, nil
	default:
		start, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return 0, size, false, nil
		}
		if start >= size {
			return 0, 0, false, invalid
		}
		end := size - 1
		if b != "" {
			e, err := strconv.ParseInt(b, 10, 64)
			if err != nil || e < start {
				return 0, size, false, nil
			}
			if e < end {
				end = e
			}
		}
		return start, end - start + 1, true, nil
	}
}

var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	vid := q.Get("versionId")
	info, err := s.st.head(bucket, key, vid)
	if err != nil {
		if info.DeleteMarker {
			w.Header().Set("x-amz-delete-marker", "true")
			w.Header().Set("x-amz-version-id", info.VersionID)
		}
		return err
	}
	// Preconditions, in the order S3 evaluates them.
	etag := `"` + info.ETag + `"`
	mod := info.Modified.Truncate(time.Second)
	if v := r.Header.Get("If-Match"); v != "" && v != "*" && trimETag(v) != info.ETag {
		return errPrecondition()
	}
	if v := r.Header.Get("If-Unmodified-Since"); v != "" && r.Header.Get("If-Match") == "" {
		if t, err := http.ParseTime(v); err == nil && mod.After(t) {
			return errPrecondition()
		}
	}
	notModified := false
	if v := r.Header.Get("If-None-Match"); v != "" {
		notModified = v == "*" || trimETag(v) == info.ETag
	} else if v := r.Header.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !mod.After(t) {
			notModified = true
		}
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Last-Modified", info.Modified.UTC().Format(http.TimeFormat))
	s.setVersionHeader(w, bucket, info)
	if notModified {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	for k, v := range responseMeta(info) {
		h.Set(k, v)
	}
	for qk, hk := range responseOverrides {
		if v := q.Get(qk); v != "" {
			h.Set(hk, v)
		}
	}
	h.Set("Accept-Ranges", "bytes")
	off, n := int64(0), info.Size
	status := http.StatusOK
	if pn := q.Get("partNumber"); pn != "" {
		k, err := strconv.Atoi(pn)
		if err != nil || k < 1 {
			return &Error{http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", ""}
		}
		parts := info.Parts
		if len(parts) == 0 {
			parts = []int64{info.Size}
		}
		if k > len(parts) {
			return &Error{http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "The requested partnumber is not satisfiable", ""}
		}
		for _, sz := range parts[:k-1] {
			off += sz
		}
		n = parts[k-1]
		if len(info.Parts) > 0 {
			h.Set("x-amz-mp-parts-count", strconv.Itoa(len(info.Parts)))
			status = http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, info.Size))
		}
	} else {
		o, k, ok, err := byteRange(r.Header.Get("Range"), info.Size)
		if err != nil {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
			return err
		}
		if ok {
			off, n, status = o, k, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, info.Size))
		}
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	_, rc, err := s.st.open(bucket, key, vid, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.WriteHeader(status)
	io.Copy(w, rc)
	return nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, req Request, bucket, key string) error {
	res, err := s.st.deleteObject(req, bucket, key, r.URL.Query().Get("versionId"))
	if err != nil {
		return err
	}
	if res.DeleteMarker {
		w.Header().Set("x-amz-delete-marker", "true")
	}
	if res.VersionID != "" {
		w.Header().Set("x-amz-version-id", res.VersionID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type deleteRequest struct {
	Quiet   bool `xml:"Quiet"`
	Objects []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

type deleted struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteError struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

type deleteResult2 struct {
	XMLName xml.Name      `xml:"DeleteResult"`
	Xmlns   string        `xml:"xmlns,attr"`
	Deleted []deleted     `xml:"Deleted"`
	Errors  []deleteError `xml:"Error"`
}

func (s *Server) deleteObjects(w http.ResponseWriter, r *http.Request, req Request, bucket string) error {
	if !s.st.bucketExists(bucket) {
		return errNoSuchBucket(bucket)
	}
	var in deleteRequest
	if err := xml.NewDecoder(io.LimitReader(r.Body, 2<<20)).Decode(&in); err != nil || len(in.Objects) == 0 {
		return &Error{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", ""}
	}
	if len(in.Objects) > 1000 {
		return &Error{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", ""}
	}
	out := deleteResult2{Xmlns: xmlns}
	for _, o := range in.Objects {
		res, err := s.st.deleteObject(req, bucket, o.Key, o.VersionID)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				e = &Error{Code: "InternalError", Message: err.Error()}
			}
			out.Errors = append(out.Errors, deleteError{Key: o.Key, VersionID: o.VersionID, Code: e.Code, Message: e.Message})
			continue
		}
		if in.Quiet {
			continue
		}
		d := deleted{Key: o.Key, VersionID: o.VersionID}
		if res.DeleteMarker {
			d.DeleteMarker = true
			if o.VersionID == "" {
				d.DeleteMarkerVersionID = res.VersionID
			}
		}
		out.Deleted = append(out.Deleted, d)
	}
	return writeXML(w, out)
}

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

func (s *Server) initiate(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if len(key) > maxKeyLen {
		return &Error{http.StatusBadRequest, "KeyTooLongError", "Your key is too long", key}
	}
	id, err := s.st.createUpload(bucket, key, requestMeta(r))
	if err != nil {
		return err
	}
	return writeXML(w, initiateResult{Xmlns: xmlns, Bucket: bucket, Key: key, UploadID: id})
}

func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil {
		return &Error{http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", ""}
	}
	sum, err := contentMD5(r)
	if err != nil {
		return err
	}
	etag, err := s.st.uploadPart(bucket, key, q.Get("uploadId"), n, r.Body, sum)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	w.WriteHeader(http.StatusOK)
	return nil
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"CopyPartResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
}

func (s *Server) uploadPartCopy(w http.ResponseWriter, r *http.Request, req Request, bucket, key string) error {
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil {
		return &Error{http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", ""}
	}
	sb, sk, svid, err := copySource(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	src, err := s.st.head(sb, sk, svid)
	if err != nil {
		return err
	}
	if err := copyConditions(r)(src); err != nil {
		return err
	}
	off, size := int64(0), src.Size
	if rng := r.Header.Get("X-Amz-Copy-Source-Range"); rng != "" {
		o, k, ok, err := byteRange(rng, src.Size)
		if err != nil || !ok {
			return &Error{http.StatusBadRequest, "InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy", ""}
		}
		off, size = o, k
	}
	_, rc, err := s.st.open(sb, sk, svid, off, size)
	if err != nil {
		return err
	}
	defer rc.Close()
	etag, err := s.st.uploadPart(bucket, key, q.Get("uploadId"), n, rc, nil)
	if err != nil {
		return err
	}
	return writeXML(w, copyPartResult{Xmlns: xmlns, LastModified: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), ETag: `"` + etag + `"`})
}

type completeRequest struct {
	Parts []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, req Request, bucket, key string) error {
	var in completeRequest
	if err := xml.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&in); err != nil {
		return &Error{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", ""}
	}
	parts := make([]completedPart, len(in.Parts))
	for i, p := range in.Parts {
		parts[i] = completedPart{N: p.PartNumber, ETag: p.ETag}
	}
	info, err := s.st.completeUpload(req, bucket, key, r.URL.Query().Get("uploadId"), parts, conditions(r))
	if err != nil {
		return err
	}
	s.setVersionHeader(w, bucket, info)
	loc := (&url.URL{Scheme: "http", Host: r.Host, Path: "/" + bucket + "/" + key}).String()
	return writeXML(w, completeResult{Xmlns: xmlns, Location: loc, Bucket: bucket, Key: key, ETag: `"` + info.ETag + `"`})
}

// decodeChunked replaces an aws-chunked request body (SigV4 streaming,
// signed or unsigned, with or without trailing checksums) by the payload it
// frames, so that every handler reads plain bytes.
func decodeChunked(r *http.Request) error {
	sha := r.Header.Get("X-Amz-Content-Sha256")
	if !strings.HasPrefix(sha, "STREAMING-") {
		return nil
	}
	n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
	if err != nil {
		return &Error{http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.", ""}
	}
	r.Body = &chunkedBody{r: bufio.NewReader(r.Body), c: r.Body}
	r.ContentLength = n
	r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	r.Header.Del("X-Amz-Content-Sha256")
	r.Header.Del("X-Amz-Decoded-Content-Length")
	return nil
}

type chunkedBody struct {
	r    *bufio.Reader
	c    io.Closer
	left int64
	done bool
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	for b.left == 0 {
		if b.done {
			return 0, io.EOF
		}
		line, err := b.r.ReadString('\n')
		if err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue // the CRLF after a chunk's data
		}
		size, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil || n < 0 || strings.HasPrefix(size, "+") {
			return 0, &Error{http.StatusBadRequest, "IncompleteBody", fmt.Sprintf("The aws-chunked frame header %q does not start with a chunk size in hexadecimal.", oneLine(line)), ""}
		}
		if n == 0 {
			b.done = true
			// Trailing headers (checksums) until the blank line, if any.
			for {
				t, err := b.r.ReadString('\n')
				if err != nil || strings.TrimRight(t, "\r\n") == "" {
					break
				}
			}
			return 0, io.EOF
		}
		b.left = n
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *chunkedBody) Close() error { return b.c.Close() }

// oneLine shortens s for an error message.
func oneLine(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// listEncoded serves a listing with encoding-type: the listing gofakes3
// writes, with every key, prefix, delimiter and marker URL-encoded as S3
// encodes them (form encoding, "/" kept), and EncodingType added.
func (s *Server) listEncoded(w http.ResponseWriter, r *http.Request, q url.Values) error {
	if et := q.Get("encoding-type"); et != "url" {
		return &Error{http.StatusBadRequest, "InvalidArgument", "Invalid Encoding Method specified in Request", "encoding-type"}
	}
	rec := &bufferedWriter{h: http.Header{}}
	s.fake.ServeHTTP(rec, r)
	body := rec.body.Bytes()
	if rec.status == 0 || rec.status == http.StatusOK {
		enc, err := encodeListing(body)
		if err != nil {
			return err
		}
		body = enc
	}
	for k, v := range rec.h {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if rec.status != 0 {
		w.WriteHeader(rec.status)
	}
	w.Write(body)
	return nil
}

type bufferedWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.h }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }

// encodedElements are the listing elements S3 URL-encodes under
// encoding-type=url.
var encodedElements = map[string]bool{
	"Key": true, "Prefix": true, "Delimiter": true, "Marker": true, "NextMarker": true,
	"StartAfter": true, "KeyMarker": true, "NextKeyMarker": true,
}

func encodeListing(body []byte) ([]byte, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var out bytes.Buffer
	enc := xml.NewEncoder(&out)
	depth := 0
	in := false
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("s3srv: encode listing: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			in = encodedElements[t.Name.Local]
		case xml.EndElement:
			if depth == 1 {
				if err := enc.EncodeElement("url", xml.StartElement{Name: xml.Name{Local: "EncodingType"}}); err != nil {
					return nil, err
				}
			}
			depth--
			in = false
		case xml.CharData:
			if in {
				tok = xml.CharData(s3event.EncodeKey(string(t)))
			}
		}
		if err := enc.EncodeToken(tok); err != nil {
			return nil, fmt.Errorf("s3srv: encode listing: %w", err)
		}
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
