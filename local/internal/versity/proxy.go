package versity

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// op is an S3 operation that changes an object, and so has events.
type op int

const (
	opNone op = iota
	opPut
	opCopy
	opComplete
	opDelete
	opDeleteObjects
)

// classify tells which object-changing operation a path-style request is.
func classify(r *http.Request) (op, string, string) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	sub := func(names ...string) bool {
		for _, n := range names {
			if q.Has(n) {
				return true
			}
		}
		return false
	}
	if bucket == "" {
		return opNone, "", ""
	}
	if key == "" {
		if r.Method == http.MethodPost && q.Has("delete") {
			return opDeleteObjects, bucket, ""
		}
		return opNone, bucket, ""
	}
	other := sub("tagging", "acl", "retention", "legal-hold", "restore", "select", "attributes")
	switch {
	case other:
	case r.Method == http.MethodPut && !sub("uploadId", "partNumber"):
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return opCopy, bucket, key
		}
		return opPut, bucket, key
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return opComplete, bucket, key
	case r.Method == http.MethodDelete && !q.Has("uploadId"):
		return opDelete, bucket, key
	}
	return opNone, bucket, key
}

// waiter collects the events a request through ServeHTTP is waiting for.
type waiter struct {
	evs    []Event
	signal chan struct{}
}

func (s *Server) register(ids []string) *waiter {
	w := &waiter{signal: make(chan struct{}, 1)}
	s.mu.Lock()
	for _, id := range ids {
		s.waiting[id] = w
	}
	s.mu.Unlock()
	return w
}

// collect waits until want events arrived or the wait is over, and stops
// waiting for more: later ones are delivered on their own.
func (s *Server) collect(ids []string, w *waiter, want int) []Event {
	deadline := time.NewTimer(s.opts.EventWait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		n := len(w.evs)
		s.mu.Unlock()
		if n >= want {
			break
		}
		select {
		case <-w.signal:
			continue
		case <-deadline.C:
		case <-s.closed:
		}
		break
	}
	s.unregister(ids)
	s.mu.Lock()
	defer s.mu.Unlock()
	return w.evs
}

func (s *Server) unregister(ids []string) {
	s.mu.Lock()
	for _, id := range ids {
		delete(s.waiting, id)
	}
	s.mu.Unlock()
}

// lockKeys serialises the requests through ServeHTTP that change the same
// objects: the gateway's events name no request, so a request takes the
// events of its keys.
func (s *Server) lockKeys(ids []string) func() {
	var stripes []int
	seen := map[int]bool{}
	for _, id := range ids {
		h := fnv.New32a()
		h.Write([]byte(id))
		n := int(h.Sum32() % uint32(len(s.stripes)))
		if !seen[n] {
			seen[n] = true
			stripes = append(stripes, n)
		}
	}
	sort.Ints(stripes) // one order, so no two requests deadlock
	for _, n := range stripes {
		s.stripes[n].Lock()
	}
	return func() {
		for _, n := range stripes {
			s.stripes[n].Unlock()
		}
	}
}

// webhook receives the gateway's events. Those of a request going through
// ServeHTTP go to it; the others (requests sent to the gateway directly)
// are completed as well as they can be and delivered at once.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, "versity: "+err.Error(), http.StatusBadRequest)
		return
	}
	evs, err := ParseWebhook(body, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var failed error
	for _, ev := range evs {
		s.mu.Lock()
		wt := s.waiting[ev.Bucket+"/"+ev.Key]
		if wt != nil {
			wt.evs = append(wt.evs, ev)
			s.mu.Unlock()
			select {
			case wt.signal <- struct{}{}:
			default:
			}
			continue
		}
		_, watched := s.buckets[ev.Bucket]
		s.mu.Unlock()
		if watched {
			if err := s.deliver([]Event{s.complete(r.Context(), ev)}); err != nil {
				// The gateway acknowledged the request already; an error
				// status is all that can tell it the event was not kept.
				failed = err
			}
		}
	}
	if failed != nil {
		http.Error(w, "versity: "+failed.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// complete fills in what the gateway leaves out of an event of a request
// that did not go through ServeHTTP.
func (s *Server) complete(ctx context.Context, ev Event) Event {
	if ev.RequestID == "" {
		ev.RequestID, ev.ID2 = s.newRequestID()
	}
	s.mu.Lock()
	versioned := s.buckets[ev.Bucket]
	s.mu.Unlock()
	if ev.Created() && (ev.Size == 0 || versioned && ev.VersionID == "") {
		in := &s3.HeadObjectInput{Bucket: aws.String(ev.Bucket), Key: aws.String(ev.Key)}
		if ev.VersionID != "" {
			in.VersionId = aws.String(ev.VersionID)
		}
		if h, err := s.client.HeadObject(ctx, in); err == nil {
			ev.Size = aws.ToInt64(h.ContentLength)
			if versioned && ev.VersionID == "" {
				ev.VersionID = aws.ToString(h.VersionId)
			}
		}
	}
	return ev
}

// deliver hands the events to the subscribers, in order. It returns the
// subscribers' errors: an event they could not keep durably.
func (s *Server) deliver(evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	s.deliverM.Lock()
	defer s.deliverM.Unlock()
	var errs []error
	s.mu.Lock()
	subs := s.subs
	s.mu.Unlock()
	for _, ev := range evs {
		s.mu.Lock()
		versioned := s.buckets[ev.Bucket]
		s.mu.Unlock()
		js := Normalize(ev, versioned, s.seq.Next()).JSON()
		for _, fn := range subs {
			if err := fn(js); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

var idCounter atomic.Uint64

// newRequestID returns an x-amz-request-id and x-amz-id-2 in S3's format.
func (s *Server) newRequestID() (string, string) {
	id := fmt.Sprintf("%016X", uint64(time.Now().UnixNano())^idCounter.Add(1)<<40)
	return id, base64.StdEncoding.EncodeToString([]byte(id + id + id))
}

// ServeHTTP forwards an S3 request (path-style) to the gateway. A request
// that creates or removes an object of a watched bucket returns once its
// events are delivered, as the embedded S3's do, with the events made
// exact from the request and the response: the request ID the client
// sees, the version ID, the size of copies and multipart uploads, delete
// markers, and no event for a delete of a key that did not exist or a key
// of DeleteObjects that failed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, bucket, key := classify(r)
	s.mu.Lock()
	_, watched := s.buckets[bucket]
	s.mu.Unlock()
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "http", strings.TrimPrefix(s.endpoint, "http://")
	out.Host = r.Host // the client signed it
	if kind == opNone || !watched {
		resp, err := s.rt.RoundTrip(out)
		if err != nil {
			http.Error(w, "versity: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		copyHeader(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	ctx := r.Context()
	id, id2 := s.newRequestID()
	want := 1
	var dels []objectID
	existed := map[objectID]bool{}
	switch kind {
	case opDeleteObjects:
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, "versity: "+err.Error(), http.StatusBadRequest)
			return
		}
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		var req struct {
			Objects []objectID `xml:"Object"`
		}
		xml.Unmarshal(body, &req)
		dels, want = req.Objects, len(req.Objects)
	case opDelete:
		dels = []objectID{{Key: key, VersionID: r.URL.Query().Get("versionId")}}
	}
	ids := []string{bucket + "/" + key}
	if kind == opDeleteObjects {
		ids = ids[:0]
		for _, o := range dels {
			ids = append(ids, bucket+"/"+o.Key)
		}
	}
	defer s.lockKeys(ids)()
	for _, o := range dels {
		existed[o] = s.exists(ctx, bucket, o)
	}
	wt := s.register(ids)
	resp, err := s.rt.RoundTrip(out)
	if err != nil {
		s.unregister(ids)
		http.Error(w, "versity: "+err.Error(), http.StatusBadGateway)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		s.unregister(ids)
		http.Error(w, "versity: "+err.Error(), http.StatusBadGateway)
		return
	}
	if resp.StatusCode/100 == 2 {
		got := s.collect(ids, wt, want)
		base := Event{Bucket: bucket, RequestID: id, ID2: id2, Region: s.opts.Region, Time: time.Now(), SourceIP: "127.0.0.1"}
		if len(got) > 0 {
			base.Time, base.SourceIP = got[0].Time, got[0].SourceIP
		}
		if err := s.deliver(s.exact(ctx, kind, base, key, resp, body, got, dels, existed)); err != nil {
			// Stored by the gateway, but not acknowledged: the client
			// retries, and the retry makes a new event.
			w.Header().Set("X-Amz-Request-Id", id)
			w.Header().Set("X-Amz-Id-2", id2)
			writeInternalError(w, key, id, err)
			return
		}
	} else {
		s.unregister(ids)
	}
	copyHeader(w.Header(), resp.Header)
	w.Header().Set("X-Amz-Request-Id", id)
	w.Header().Set("X-Amz-Id-2", id2)
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

// objectID is a key and version of DeleteObjects' request.
type objectID struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId"`
}

// exists reports whether a delete of o removes something that has an
// event: a current object (or, with a version ID, that version).
func (s *Server) exists(ctx context.Context, bucket string, o objectID) bool {
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.Key)}
	if o.VersionID != "" {
		in.VersionId = aws.String(o.VersionID)
	}
	_, err := s.client.HeadObject(ctx, in)
	var ae smithy.APIError
	if err == nil {
		return true
	}
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NoSuchKey", "NoSuchVersion":
			return false
		case "MethodNotAllowed": // a delete marker, named by its version
			return o.VersionID != ""
		}
	}
	return true
}

// exact makes the events of a successful request from what the request
// and the response say, with the gateway's events for the rest.
func (s *Server) exact(ctx context.Context, kind op, base Event, key string, resp *http.Response, body []byte, got []Event, dels []objectID, existed map[objectID]bool) []Event {
	s.mu.Lock()
	versioned := s.buckets[base.Bucket]
	s.mu.Unlock()
	switch kind {
	case opPut, opCopy, opComplete:
		ev := base
		ev.Key = key
		ev.Name = map[op]string{opPut: "ObjectCreated:Put", opCopy: "ObjectCreated:Copy", opComplete: "ObjectCreated:CompleteMultipartUpload"}[kind]
		for _, g := range got {
			ev.ETag, ev.Size = g.ETag, g.Size
		}
		if ev.ETag == "" {
			ev.ETag = strings.Trim(resp.Header.Get("ETag"), `"`)
			if i := bytes.Index(body, []byte("<ETag>")); i >= 0 {
				rest := body[i+len("<ETag>"):]
				if j := bytes.Index(rest, []byte("</ETag>")); j >= 0 {
					ev.ETag = strings.Trim(strings.ReplaceAll(string(rest[:j]), "&#34;", `"`), `"`)
				}
			}
		}
		if versioned {
			ev.VersionID = resp.Header.Get("X-Amz-Version-Id")
		}
		if kind != opPut || len(got) == 0 {
			// The gateway reports size 0 for copies and multipart uploads.
			in := &s3.HeadObjectInput{Bucket: aws.String(ev.Bucket), Key: aws.String(key)}
			if ev.VersionID != "" {
				in.VersionId = aws.String(ev.VersionID)
			}
			if h, err := s.client.HeadObject(ctx, in); err == nil {
				ev.Size = aws.ToInt64(h.ContentLength)
				if ev.ETag == "" {
					ev.ETag = strings.Trim(aws.ToString(h.ETag), `"`)
				}
			}
		}
		return []Event{ev}
	case opDelete:
		o := dels[0]
		if !existed[o] {
			return nil
		}
		ev := base
		ev.Key, ev.Name, ev.VersionID = key, "ObjectRemoved:Delete", o.VersionID
		if o.VersionID == "" && resp.Header.Get("X-Amz-Delete-Marker") == "true" {
			ev.Name, ev.VersionID = "ObjectRemoved:DeleteMarkerCreated", resp.Header.Get("X-Amz-Version-Id")
		}
		return []Event{ev}
	case opDeleteObjects:
		var res struct {
			Deleted []struct {
				Key                   string `xml:"Key"`
				VersionID             string `xml:"VersionId"`
				DeleteMarker          bool   `xml:"DeleteMarker"`
				DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId"`
			} `xml:"Deleted"`
		}
		xml.Unmarshal(body, &res)
		var evs []Event
		// In the request's order: the gateway posts them in any order.
		for _, o := range dels {
			if !existed[o] {
				continue
			}
			for _, d := range res.Deleted {
				if d.Key != o.Key || d.VersionID != o.VersionID && o.VersionID != "" {
					continue
				}
				ev := base
				ev.Key, ev.Name, ev.VersionID = o.Key, "ObjectRemoved:Delete", o.VersionID
				if o.VersionID == "" && d.DeleteMarker {
					ev.Name, ev.VersionID = "ObjectRemoved:DeleteMarkerCreated", d.DeleteMarkerVersionID
				}
				evs = append(evs, ev)
				break
			}
		}
		return evs
	}
	return nil
}

// writeInternalError answers 500 InternalError, in S3's shape, for a change
// the gateway stored but whose event could not be queued durably.
func writeInternalError(w http.ResponseWriter, key, requestID string, err error) {
	type errorBody struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		Resource  string   `xml:"Resource,omitempty"`
		RequestID string   `xml:"RequestId"`
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(errorBody{Code: "InternalError", Message: "We encountered an internal error. Please try again. (The change was stored, but its event could not be queued durably: " + err.Error() + ")", Resource: key, RequestID: requestID})
}

var hopHeaders = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true, "Upgrade": true, "Trailer": true}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if !hopHeaders[k] {
			dst[k] = vs
		}
	}
}
