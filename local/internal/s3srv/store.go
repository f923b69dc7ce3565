package s3srv

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/journal"
)

// Error is an S3 error: the code and message S3 answers with, and the HTTP
// status it comes with.
type Error struct {
	Status   int
	Code     string
	Message  string
	Resource string
}

func (e *Error) Error() string { return "s3srv: " + e.Code + ": " + e.Message }

func errNoSuchBucket(b string) *Error {
	return &Error{http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist", b}
}
func errNoSuchKey(k string) *Error {
	return &Error{http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", k}
}
func errNoSuchVersion(k string) *Error {
	return &Error{http.StatusNotFound, "NoSuchVersion", "The specified version does not exist.", k}
}
func errNoSuchUpload(id string) *Error {
	return &Error{http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", id}
}
func errPrecondition() *Error {
	return &Error{http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", ""}
}
func errInvalidRequest(msg string) *Error {
	return &Error{http.StatusBadRequest, "InvalidRequest", msg, ""}
}

// version is one version of an object (or a delete marker). VersionID is
// "" for the null version, the only one an unversioned bucket has.
type version struct {
	Key          string            `json:"key"`
	VersionID    string            `json:"vid,omitempty"`
	DeleteMarker bool              `json:"dm,omitempty"`
	ETag         string            `json:"etag,omitempty"` // unquoted; "<md5>-N" for multipart objects
	Size         int64             `json:"size"`
	Modified     time.Time         `json:"mod"`
	Meta         map[string]string `json:"meta,omitempty"`
	Parts        []int64           `json:"parts,omitempty"` // part sizes of a multipart object
	File         string            `json:"file,omitempty"`  // data file under the data directory
	// Data holds the bytes of small objects (and of every object of an
	// in-memory store); a directory store logs them in its journal instead
	// of creating a file per object.
	Data []byte `json:"data,omitempty"`
}

type bucket struct {
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	Versioning string    `json:"versioning,omitempty"` // "", "Enabled" or "Suspended"

	objects map[string][]*version // oldest first
	sorted  []string              // keys, sorted; nil when stale
}

type part struct {
	N    int       `json:"n"`
	ETag string    `json:"etag"`
	Size int64     `json:"size"`
	File string    `json:"file,omitempty"`
	Mod  time.Time `json:"mod"`
	Data []byte    `json:"data,omitempty"`
}

type upload struct {
	ID        string            `json:"id"`
	Bucket    string            `json:"bucket"`
	Key       string            `json:"key"`
	Meta      map[string]string `json:"meta,omitempty"`
	Initiated time.Time         `json:"initiated"`
	parts     map[int]*part
}

// Request is what an event needs to know of the request that caused it.
type Request struct {
	ID       string
	ID2      string
	SourceIP string
}

// store holds buckets, object versions and multipart uploads, in memory
// or under a directory, and reports every object change as an event.
type store struct {
	mu      sync.RWMutex
	dir     string // "" keeps data in memory
	j       *journal.Journal
	buckets map[string]*bucket
	uploads map[string]*upload
	events  *eventer
	now     func() time.Time
}

type logEntry struct {
	Op      string   `json:"op"`
	Bucket  *bucket  `json:"bucket,omitempty"`
	Name    string   `json:"name,omitempty"`
	Version *version `json:"v,omitempty"`
	Key     string   `json:"key,omitempty"`
	VID     string   `json:"vid,omitempty"`
	Upload  *upload  `json:"upload,omitempty"`
	Part    *part    `json:"part,omitempty"`
	// Records are the unsent event records of Name/Key ("unsent"): the
	// whole list, replacing any earlier one; empty when all were sent.
	Records []Record `json:"records,omitempty"`
}

func openStore(dir string, ev *eventer) (*store, error) {
	s := &store{dir: dir, buckets: map[string]*bucket{}, uploads: map[string]*upload{}, events: ev, now: time.Now}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("s3srv: %w", err)
	}
	j, err := journal.Open(filepath.Join(dir, "journal.log"), s.replay)
	if err != nil {
		return nil, fmt.Errorf("s3srv: %w", err)
	}
	s.j = j
	if err := s.compact(); err != nil {
		j.Close()
		return nil, err
	}
	// The records of changes whose events could not be queued are kept
	// here too, so a crash before the client's retry does not lose them.
	ev.persist = func(bucket, key string, recs []Record) error {
		return s.j.Append(logEntry{Op: "unsent", Name: bucket, Key: key, Records: recs})
	}
	return s, nil
}

func (s *store) replay(line []byte) error {
	var e logEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return err
	}
	switch e.Op {
	case "bucket":
		b := e.Bucket
		if old := s.buckets[b.Name]; old != nil {
			old.Versioning = b.Versioning
			return nil
		}
		b.objects = map[string][]*version{}
		s.buckets[b.Name] = b
	case "rmbucket":
		delete(s.buckets, e.Name)
	case "put":
		if b := s.buckets[e.Name]; b != nil {
			s.place(b, e.Version, false)
		}
	case "rmver":
		if b := s.buckets[e.Name]; b != nil {
			s.removeVersion(b, e.Key, e.VID, false)
		}
	case "upload":
		e.Upload.parts = map[int]*part{}
		s.uploads[e.Upload.ID] = e.Upload
	case "part":
		if u := s.uploads[e.Name]; u != nil {
			u.parts[e.Part.N] = e.Part
		}
	case "rmupload":
		delete(s.uploads, e.Name)
	case "unsent":
		s.events.restore(e.Name, e.Key, e.Records)
	}
	return nil
}

// compact rewrites the journal as the current state and removes data files
// nothing refers to (left by a crash between writing data and logging it).
func (s *store) compact() error {
	used := map[string]bool{}
	err := s.j.Rewrite(func(emit func(any) error) error {
		for _, b := range s.sortedBuckets() {
			if err := emit(logEntry{Op: "bucket", Bucket: b}); err != nil {
				return err
			}
			for _, key := range b.keys() {
				for _, v := range b.objects[key] {
					used[v.File] = true
					if err := emit(logEntry{Op: "put", Name: b.Name, Version: v}); err != nil {
						return err
					}
				}
			}
		}
		for _, u := range s.unsentEntries() {
			if err := emit(u); err != nil {
				return err
			}
		}
		for _, u := range s.uploads {
			if err := emit(logEntry{Op: "upload", Upload: u}); err != nil {
				return err
			}
			for _, p := range u.parts {
				used[p.File] = true
				if err := emit(logEntry{Op: "part", Name: u.ID, Part: p}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("s3srv: %w", err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.dir, "data"))
	for _, e := range ents {
		if !used[e.Name()] {
			os.Remove(filepath.Join(s.dir, "data", e.Name()))
		}
	}
	return nil
}

func (s *store) close() error { return s.j.Close() }

// unsentEntries are the journal entries of the records not sent yet, by
// bucket and key.
func (s *store) unsentEntries() []logEntry {
	e := s.events
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []logEntry
	for _, id := range slices.Sorted(maps.Keys(e.unsent)) {
		u := e.unsent[id]
		out = append(out, logEntry{Op: "unsent", Name: u.bucket, Key: u.key, Records: u.recs})
	}
	return out
}

func (s *store) sortedBuckets() []*bucket {
	out := make([]*bucket, 0, len(s.buckets))
	for _, b := range s.buckets {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (b *bucket) keys() []string {
	if b.sorted == nil {
		b.sorted = make([]string, 0, len(b.objects))
		for k := range b.objects {
			b.sorted = append(b.sorted, k)
		}
		sort.Strings(b.sorted)
	}
	return b.sorted
}

// latest returns the current version of key, or nil.
func (b *bucket) latest(key string) *version {
	vs := b.objects[key]
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

func (b *bucket) versioned() bool { return b.Versioning != "" }

// place makes v the current version of its key: it replaces the null
// version unless versioning is enabled.
func (s *store) place(b *bucket, v *version, log bool) {
	vs := b.objects[v.Key]
	if len(vs) == 0 {
		b.sorted = nil
	}
	if v.VersionID == "" {
		for i, old := range vs {
			if old.VersionID == "" {
				s.dropData(old)
				vs = append(vs[:i:i], vs[i+1:]...)
				break
			}
		}
	}
	b.objects[v.Key] = append(vs, v)
}

func (s *store) removeVersion(b *bucket, key, vid string, log bool) *version {
	vs := b.objects[key]
	for i, v := range vs {
		if v.VersionID == vid {
			s.dropData(v)
			vs = append(vs[:i:i], vs[i+1:]...)
			if len(vs) == 0 {
				delete(b.objects, key)
				b.sorted = nil
			} else {
				b.objects[key] = vs
			}
			return v
		}
	}
	return nil
}

func (s *store) dropData(v *version) {
	if v.File != "" && s.dir != "" {
		os.Remove(filepath.Join(s.dir, "data", v.File))
	}
}

func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newVersionID returns an ID in the alphabet S3's version IDs use.
func newVersionID() string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
	b := make([]byte, 32)
	rand.Read(b)
	for i := range b {
		b[i] = alpha[int(b[i])%len(alpha)]
	}
	return string(b)
}

// ---- buckets

func (s *store) createBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[name]; ok {
		return &Error{http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", name}
	}
	b := &bucket{Name: name, Created: s.now().UTC(), objects: map[string][]*version{}}
	if err := s.j.Append(logEntry{Op: "bucket", Bucket: b}); err != nil {
		return err
	}
	s.buckets[name] = b
	return nil
}

func (s *store) bucketExists(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.buckets[name] != nil
}

func (s *store) deleteBucket(name string, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if b == nil {
		return errNoSuchBucket(name)
	}
	if len(b.objects) > 0 && !force {
		return &Error{http.StatusConflict, "BucketNotEmpty", "The bucket you tried to delete is not empty", name}
	}
	if err := s.j.Append(logEntry{Op: "rmbucket", Name: name}); err != nil {
		return err
	}
	for _, vs := range b.objects {
		for _, v := range vs {
			s.dropData(v)
		}
	}
	delete(s.buckets, name)
	return nil
}

func (s *store) setVersioning(name, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if b == nil {
		return errNoSuchBucket(name)
	}
	switch status {
	case "Enabled", "Suspended":
	case "":
		return nil
	default:
		return &Error{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", ""}
	}
	if status == "Suspended" && b.Versioning == "" {
		return nil // suspending a never-versioned bucket changes nothing
	}
	nb := *b
	nb.Versioning = status
	if err := s.j.Append(logEntry{Op: "bucket", Bucket: &nb}); err != nil {
		return err
	}
	b.Versioning = status
	return nil
}

func (s *store) versioning(name string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.buckets[name]
	if b == nil {
		return "", errNoSuchBucket(name)
	}
	return b.Versioning, nil
}

// ---- objects

// ObjectInfo describes a stored object version.
type objectInfo struct {
	Key          string
	VersionID    string // "null" on versioned buckets for the null version; "" on unversioned buckets
	DeleteMarker bool
	ETag         string
	Size         int64
	Modified     time.Time
	Meta         map[string]string
	Parts        []int64
}

func (b *bucket) info(v *version) objectInfo {
	o := objectInfo{Key: v.Key, VersionID: v.VersionID, DeleteMarker: v.DeleteMarker, ETag: v.ETag, Size: v.Size, Modified: v.Modified, Meta: v.Meta, Parts: v.Parts}
	if b.versioned() && o.VersionID == "" {
		o.VersionID = "null"
	}
	return o
}

func internalVID(vid string) string {
	if vid == "null" {
		return ""
	}
	return vid
}

// find returns the version asked for: the current one when vid is "", or
// the given version.
func (s *store) find(bucketName, key, vid string) (*bucket, *version, error) {
	b := s.buckets[bucketName]
	if b == nil {
		return nil, nil, errNoSuchBucket(bucketName)
	}
	if vid == "" {
		v := b.latest(key)
		if v == nil {
			return b, nil, errNoSuchKey(key)
		}
		return b, v, nil
	}
	for _, v := range b.objects[key] {
		if v.VersionID == internalVID(vid) {
			return b, v, nil
		}
	}
	if !b.versioned() && vid != "null" || !wellFormedVID(vid) {
		return b, nil, &Error{http.StatusBadRequest, "InvalidArgument", "Invalid version id specified", key}
	}
	return b, nil, errNoSuchVersion(key)
}

// wellFormedVID reports whether vid could be a version ID: S3 answers a
// malformed one with InvalidArgument, a well-formed unknown one with
// NoSuchVersion.
func wellFormedVID(vid string) bool {
	if vid == "null" {
		return true
	}
	if len(vid) != 32 {
		return false
	}
	for i := 0; i < len(vid); i++ {
		c := vid[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// head returns an object's description. A current delete marker reads as
// NoSuchKey, with the marker's description returned for the headers.
func (s *store) head(bucketName, key, vid string) (objectInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, v, err := s.find(bucketName, key, vid)
	if err != nil {
		return objectInfo{}, err
	}
	info := b.info(v)
	if v.DeleteMarker {
		if vid != "" {
			return info, &Error{http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.", key}
		}
		return info, errNoSuchKey(key)
	}
	return info, nil
}

// open returns an object's description and a reader of its bytes from off,
// n bytes long (n < 0: to the end).
func (s *store) open(bucketName, key, vid string, off, n int64) (objectInfo, io.ReadCloser, error) {
	s.mu.RLock()
	b, v, err := s.find(bucketName, key, vid)
	if err != nil {
		s.mu.RUnlock()
		return objectInfo{}, nil, err
	}
	info := b.info(v)
	if v.DeleteMarker {
		s.mu.RUnlock()
		if vid != "" {
			return info, nil, &Error{http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.", key}
		}
		return info, nil, errNoSuchKey(key)
	}
	data, file := v.Data, v.File
	s.mu.RUnlock()
	if n < 0 || off+n > info.Size {
		n = info.Size - off
	}
	if file == "" {
		return info, io.NopCloser(bytes.NewReader(data[off : off+n])), nil
	}
	f, err := os.Open(filepath.Join(s.dir, "data", file))
	if err != nil {
		// The version was replaced while we read: it is gone.
		return info, nil, errNoSuchKey(key)
	}
	return info, struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, n), f}, nil
}

// inlineMax is the largest object a directory store keeps in its journal
// rather than in a file of its own: creating a file costs more than the
// whole rest of a small PUT.
const inlineMax = 64 << 10

// spool reads r into memory (small objects, in-memory stores) or a new
// data file, returning its MD5.
func (s *store) spool(r io.Reader) (file string, data []byte, size int64, sum []byte, err error) {
	h := md5.New()
	var buf bytes.Buffer
	limit := int64(inlineMax + 1)
	if s.dir == "" {
		limit = 1 << 62
	}
	size, err = io.Copy(io.MultiWriter(&buf, h), io.LimitReader(r, limit))
	if err != nil {
		return "", nil, 0, nil, err
	}
	if size < limit {
		return "", buf.Bytes(), size, h.Sum(nil), nil
	}
	file = newID(16)
	f, err := os.Create(filepath.Join(s.dir, "data", file))
	if err != nil {
		return "", nil, 0, nil, err
	}
	if _, err = f.Write(buf.Bytes()); err != nil {
		f.Close()
		os.Remove(filepath.Join(s.dir, "data", file))
		return "", nil, 0, nil, err
	}
	var rest int64
	rest, err = io.Copy(io.MultiWriter(f, h), r)
	size += rest
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(filepath.Join(s.dir, "data", file))
		return "", nil, 0, nil, err
	}
	return file, nil, size, h.Sum(nil), nil
}

func (s *store) discard(file string) {
	if file != "" && s.dir != "" {
		os.Remove(filepath.Join(s.dir, "data", file))
	}
}

// putConditions are the preconditions of a write (If-Match, If-None-Match).
type putConditions struct {
	IfMatch     string
	IfNoneMatch string
}

func (c putConditions) check(key string, cur *version) error {
	exists := cur != nil && !cur.DeleteMarker
	if c.IfNoneMatch != "" {
		if c.IfNoneMatch == "*" && exists {
			return errPrecondition()
		}
		if c.IfNoneMatch != "*" && exists && trimETag(c.IfNoneMatch) == cur.ETag {
			return errPrecondition()
		}
	}
	if c.IfMatch != "" {
		if !exists {
			return errNoSuchKey(key)
		}
		if c.IfMatch != "*" && trimETag(c.IfMatch) != cur.ETag {
			return errPrecondition()
		}
	}
	return nil
}

func trimETag(s string) string {
	return strings.TrimPrefix(strings.Trim(strings.TrimSpace(s), `"`), "W/")
}

// put stores a new object from r. wantMD5, when set, is the Content-MD5
// the client sent.
func (s *store) put(req Request, bucketName, key string, meta map[string]string, r io.Reader, wantMD5 []byte, cond putConditions, event string) (objectInfo, error) {
	if !s.bucketExists(bucketName) {
		return objectInfo{}, errNoSuchBucket(bucketName)
	}
	file, data, size, sum, err := s.spool(r)
	if err != nil {
		return objectInfo{}, &Error{http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header: " + err.Error(), key}
	}
	if wantMD5 != nil && !bytes.Equal(wantMD5, sum) {
		s.discard(file)
		return objectInfo{}, &Error{http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.", key}
	}
	v := &version{Key: key, ETag: hex.EncodeToString(sum), Size: size, Meta: meta, File: file, Data: data}
	return s.commit(req, bucketName, v, cond, event)
}

// commit makes v the current version of its key under the bucket's
// versioning rules, logs it and emits its event.
func (s *store) commit(req Request, bucketName string, v *version, cond putConditions, event string) (objectInfo, error) {
	s.mu.Lock()
	b := s.buckets[bucketName]
	if b == nil {
		s.mu.Unlock()
		s.discard(v.File)
		return objectInfo{}, errNoSuchBucket(bucketName)
	}
	if err := cond.check(v.Key, b.latest(v.Key)); err != nil {
		s.mu.Unlock()
		s.discard(v.File)
		return objectInfo{}, err
	}
	v.Modified = s.now().UTC().Truncate(time.Millisecond)
	if b.Versioning == "Enabled" {
		v.VersionID = newVersionID()
	}
	if err := s.j.Append(logEntry{Op: "put", Name: b.Name, Version: v}); err != nil {
		s.mu.Unlock()
		s.discard(v.File)
		return objectInfo{}, err
	}
	s.place(b, v, true)
	info := b.info(v)
	seq := s.events.seq.Next()
	s.mu.Unlock()
	if err := s.events.emit(req, event, b, info, seq); err != nil {
		return info, err
	}
	return info, nil
}

// copyObject copies a version to a new key. With replaceMeta the new
// object gets meta; otherwise it keeps the source's metadata.
func (s *store) copyObject(req Request, srcBucket, srcKey, srcVID, dstBucket, dstKey string, replaceMeta bool, meta map[string]string, srcCond func(objectInfo) error, cond putConditions) (objectInfo, objectInfo, error) {
	s.mu.RLock()
	sb, sv, err := s.find(srcBucket, srcKey, srcVID)
	if err == nil && sv.DeleteMarker {
		err = errNoSuchKey(srcKey)
		if srcVID != "" {
			err = errInvalidRequest("The source of a copy request may not specifically refer to a delete marker by version id.")
		}
	}
	var src objectInfo
	if err == nil {
		src = sb.info(sv)
	}
	s.mu.RUnlock()
	if err != nil {
		return objectInfo{}, src, err
	}
	if srcCond != nil {
		if err := srcCond(src); err != nil {
			return objectInfo{}, src, err
		}
	}
	if srcBucket == dstBucket && srcKey == dstKey && srcVID == "" && !replaceMeta {
		return objectInfo{}, src, errInvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	_, rc, err := s.open(srcBucket, srcKey, srcVID, 0, -1)
	if err != nil {
		return objectInfo{}, src, err
	}
	defer rc.Close()
	if !replaceMeta {
		meta = src.Meta
	}
	file, data, size, sum, err := s.spool(rc)
	if err != nil {
		return objectInfo{}, src, err
	}
	v := &version{Key: dstKey, ETag: hex.EncodeToString(sum), Size: size, Meta: meta, File: file, Data: data}
	info, err := s.commit(req, dstBucket, v, cond, "ObjectCreated:Copy")
	return info, src, err
}

// DeleteResult is what a delete did.
type deleteResult struct {
	Key          string
	VersionID    string // the version removed, or the delete marker created
	DeleteMarker bool   // a delete marker was created or removed
}

// deleteObject removes the current version (unversioned bucket), adds a
// delete marker (versioned bucket), or removes one version (vid given).
func (s *store) deleteObject(req Request, bucketName, key, vid string) (deleteResult, error) {
	s.mu.Lock()
	b := s.buckets[bucketName]
	if b == nil {
		s.mu.Unlock()
		return deleteResult{}, errNoSuchBucket(bucketName)
	}
	var res deleteResult
	var info objectInfo
	event := ""
	switch {
	case vid != "":
		var victim *version
		for _, v := range b.objects[key] {
			if v.VersionID == internalVID(vid) {
				victim = v
			}
		}
		if victim == nil {
			s.mu.Unlock()
			if !b.versioned() && vid != "null" {
				return res, &Error{http.StatusBadRequest, "InvalidArgument", "Invalid version id specified", key}
			}
			return deleteResult{Key: key, VersionID: vid}, s.events.resend(b.Name, key)
		}
		if err := s.j.Append(logEntry{Op: "rmver", Name: b.Name, Key: key, VID: victim.VersionID}); err != nil {
			s.mu.Unlock()
			return res, err
		}
		info = b.info(victim)
		s.removeVersion(b, key, victim.VersionID, true)
		res = deleteResult{Key: key, VersionID: vid, DeleteMarker: victim.DeleteMarker}
		event = "ObjectRemoved:Delete"
	case b.Versioning == "":
		cur := b.latest(key)
		if cur == nil {
			s.mu.Unlock()
			return deleteResult{Key: key}, s.events.resend(b.Name, key)
		}
		if err := s.j.Append(logEntry{Op: "rmver", Name: b.Name, Key: key, VID: ""}); err != nil {
			s.mu.Unlock()
			return res, err
		}
		info = b.info(cur)
		s.removeVersion(b, key, "", true)
		res = deleteResult{Key: key}
		event = "ObjectRemoved:Delete"
	default:
		cur := b.latest(key)
		if cur == nil || cur.DeleteMarker {
			// S3 adds another marker even then; so do we, but without an
			// event for an object that was already gone.
		}
		m := &version{Key: key, DeleteMarker: true, Modified: s.now().UTC().Truncate(time.Millisecond)}
		if b.Versioning == "Enabled" {
			m.VersionID = newVersionID()
		}
		if err := s.j.Append(logEntry{Op: "put", Name: b.Name, Version: m}); err != nil {
			s.mu.Unlock()
			return res, err
		}
		s.place(b, m, true)
		info = b.info(m)
		res = deleteResult{Key: key, VersionID: info.VersionID, DeleteMarker: true}
		if cur != nil && !cur.DeleteMarker {
			event = "ObjectRemoved:DeleteMarkerCreated"
		}
	}
	seq := s.events.seq.Next()
	s.mu.Unlock()
	if event == "" {
		return res, s.events.resend(b.Name, key)
	}
	info.Size, info.ETag = 0, ""
	if err := s.events.emit(req, event, b, info, seq); err != nil {
		return res, err
	}
	return res, nil
}

// listEntry is one row of a listing: an object or a common prefix.
type listEntry struct {
	Prefix string // set for a common prefix
	Info   objectInfo
}

// list lists current objects with S3's prefix, delimiter and marker rules:
// a key containing the delimiter after the prefix rolls up into a common
// prefix, "dir/" objects included. It returns at most max entries and
// whether more follow.
func (s *store) list(bucketName, prefix, delim, marker string, max int) ([]listEntry, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil, false, errNoSuchBucket(bucketName)
	}
	keys := b.keys()
	i := sort.SearchStrings(keys, prefix)
	if marker > prefix {
		i = sort.SearchStrings(keys, marker)
		if i < len(keys) && keys[i] == marker {
			i++
		}
	}
	var out []listEntry
	for ; i < len(keys); i++ {
		k := keys[i]
		if !strings.HasPrefix(k, prefix) {
			break
		}
		cur := b.latest(k)
		if cur == nil || cur.DeleteMarker {
			continue
		}
		if delim != "" {
			if j := strings.Index(k[len(prefix):], delim); j >= 0 {
				cp := k[:len(prefix)+j+len(delim)]
				if cp <= marker {
					continue
				}
				if len(out) > 0 && out[len(out)-1].Prefix == cp {
					continue
				}
				if len(out) == max {
					return out, true, nil
				}
				out = append(out, listEntry{Prefix: cp})
				continue
			}
		}
		if len(out) == max {
			return out, true, nil
		}
		out = append(out, listEntry{Info: b.info(cur)})
	}
	return out, false, nil
}

// versionEntry is one row of a versions listing.
type versionEntry struct {
	Info   objectInfo
	Latest bool
}

func (s *store) listVersions(bucketName, prefix, delim, keyMarker, vidMarker string, max int) ([]versionEntry, []string, bool, string, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil, nil, false, "", "", errNoSuchBucket(bucketName)
	}
	var out []versionEntry
	var prefixes []string
	n := 0
	keys := b.keys()
	for i := sort.SearchStrings(keys, prefix); i < len(keys); i++ {
		k := keys[i]
		if !strings.HasPrefix(k, prefix) {
			break
		}
		if k < keyMarker || (k == keyMarker && vidMarker == "") {
			continue
		}
		if delim != "" {
			if j := strings.Index(k[len(prefix):], delim); j >= 0 {
				cp := k[:len(prefix)+j+len(delim)]
				if len(prefixes) > 0 && prefixes[len(prefixes)-1] == cp {
					continue
				}
				if n == max {
					return out, prefixes, true, k, "", nil
				}
				prefixes = append(prefixes, cp)
				n++
				continue
			}
		}
		vs := b.objects[k]
		skipping := k == keyMarker && vidMarker != ""
		for j := len(vs) - 1; j >= 0; j-- {
			info := b.info(vs[j])
			if skipping {
				if info.VersionID == vidMarker {
					skipping = false
				}
				continue
			}
			if n == max {
				return out, prefixes, true, k, info.VersionID, nil
			}
			out = append(out, versionEntry{Info: info, Latest: j == len(vs)-1})
			n++
		}
	}
	return out, prefixes, false, "", "", nil
}

func (s *store) listBuckets() []*bucket {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sortedBuckets()
}

// ---- multipart uploads

func (s *store) createUpload(bucketName, key string, meta map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[bucketName] == nil {
		return "", errNoSuchBucket(bucketName)
	}
	u := &upload{ID: newVersionID() + newID(8), Bucket: bucketName, Key: key, Meta: meta, Initiated: s.now().UTC(), parts: map[int]*part{}}
	if err := s.j.Append(logEntry{Op: "upload", Upload: u}); err != nil {
		return "", err
	}
	s.uploads[u.ID] = u
	return u.ID, nil
}

func (s *store) getUpload(bucketName, key, id string) (*upload, error) {
	u := s.uploads[id]
	if u == nil || u.Bucket != bucketName || u.Key != key {
		return nil, errNoSuchUpload(id)
	}
	return u, nil
}

func (s *store) uploadPart(bucketName, key, id string, n int, r io.Reader, wantMD5 []byte) (string, error) {
	if n < 1 || n > 10000 {
		return "", &Error{http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", ""}
	}
	s.mu.RLock()
	_, err := s.getUpload(bucketName, key, id)
	s.mu.RUnlock()
	if err != nil {
		return "", err
	}
	file, data, size, sum, err := s.spool(r)
	if err != nil {
		return "", &Error{http.StatusBadRequest, "IncompleteBody", err.Error(), key}
	}
	if wantMD5 != nil && !bytes.Equal(wantMD5, sum) {
		s.discard(file)
		return "", &Error{http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.", key}
	}
	p := &part{N: n, ETag: hex.EncodeToString(sum), Size: size, File: file, Mod: s.now().UTC(), Data: data}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.getUpload(bucketName, key, id)
	if err != nil {
		s.discard(file)
		return "", err
	}
	if err := s.j.Append(logEntry{Op: "part", Name: id, Part: p}); err != nil {
		s.discard(file)
		return "", err
	}
	if old := u.parts[n]; old != nil {
		s.discard(old.File)
	}
	u.parts[n] = p
	return p.ETag, nil
}

func (s *store) abortUpload(bucketName, key, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.getUpload(bucketName, key, id)
	if err != nil {
		return err
	}
	if err := s.j.Append(logEntry{Op: "rmupload", Name: id}); err != nil {
		return err
	}
	for _, p := range u.parts {
		s.discard(p.File)
	}
	delete(s.uploads, id)
	return nil
}

// completedPart is one part named in a CompleteMultipartUpload request.
type completedPart struct {
	N    int
	ETag string
}

// minPartSize is S3's smallest part but the last.
const minPartSize = 5 << 20

func (s *store) completeUpload(req Request, bucketName, key, id string, parts []completedPart, cond putConditions) (objectInfo, error) {
	s.mu.RLock()
	u, err := s.getUpload(bucketName, key, id)
	var chosen []*part
	if err == nil {
		if len(parts) == 0 {
			err = &Error{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", ""}
		}
		for i, cp := range parts {
			if i > 0 && cp.N <= parts[i-1].N {
				err = &Error{http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.", ""}
				break
			}
			p := u.parts[cp.N]
			if p == nil || trimETag(cp.ETag) != p.ETag {
				err = &Error{http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.", ""}
				break
			}
			if i < len(parts)-1 && p.Size < minPartSize {
				err = &Error{http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", ""}
				break
			}
			chosen = append(chosen, p)
		}
	}
	var meta map[string]string
	if u != nil {
		meta = u.Meta
	}
	s.mu.RUnlock()
	if err != nil {
		return objectInfo{}, err
	}
	// Concatenate the parts into the object's data.
	h := md5.New()
	var readers []io.Reader
	var closers []io.Closer
	sizes := make([]int64, len(chosen))
	for i, p := range chosen {
		raw, _ := hex.DecodeString(p.ETag)
		h.Write(raw)
		sizes[i] = p.Size
		if p.File == "" {
			readers = append(readers, bytes.NewReader(p.Data))
			continue
		}
		f, err := os.Open(filepath.Join(s.dir, "data", p.File))
		if err != nil {
			for _, c := range closers {
				c.Close()
			}
			return objectInfo{}, errNoSuchUpload(id)
		}
		readers = append(readers, f)
		closers = append(closers, f)
	}
	file, data, size, _, err := s.spool(io.MultiReader(readers...))
	for _, c := range closers {
		c.Close()
	}
	if err != nil {
		return objectInfo{}, err
	}
	etag := fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(chosen))
	v := &version{Key: key, ETag: etag, Size: size, Meta: meta, File: file, Data: data, Parts: sizes}
	s.mu.Lock()
	if _, err := s.getUpload(bucketName, key, id); err != nil {
		s.mu.Unlock()
		s.discard(file)
		return objectInfo{}, err
	}
	if err := s.j.Append(logEntry{Op: "rmupload", Name: id}); err != nil {
		s.mu.Unlock()
		s.discard(file)
		return objectInfo{}, err
	}
	for _, p := range s.uploads[id].parts {
		s.discard(p.File)
	}
	delete(s.uploads, id)
	s.mu.Unlock()
	return s.commit(req, bucketName, v, cond, "ObjectCreated:CompleteMultipartUpload")
}

func (s *store) listParts(bucketName, key, id string, marker, max int) ([]*part, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, err := s.getUpload(bucketName, key, id)
	if err != nil {
		return nil, false, err
	}
	var ps []*part
	for _, p := range u.parts {
		if p.N > marker {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].N < ps[j].N })
	if max >= 0 && len(ps) > max {
		return ps[:max], true, nil
	}
	return ps, false, nil
}

func (s *store) listUploads(bucketName, prefix string) ([]*upload, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.buckets[bucketName] == nil {
		return nil, errNoSuchBucket(bucketName)
	}
	var us []*upload
	for _, u := range s.uploads {
		if u.Bucket == bucketName && strings.HasPrefix(u.Key, prefix) {
			us = append(us, u)
		}
	}
	sort.Slice(us, func(i, j int) bool {
		if us[i].Key != us[j].Key {
			return us[i].Key < us[j].Key
		}
		return us[i].Initiated.Before(us[j].Initiated)
	})
	return us, nil
}
