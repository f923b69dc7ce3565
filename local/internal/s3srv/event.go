package s3srv

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nanopipe/nanopipe/internal/s3event"
)

// Record is one S3 event notification record in AWS's exact shape
// (eventVersion 2.1): the element of an S3 notification's "Records".
type Record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      Principal         `json:"userIdentity"`
	RequestParameters RequestParameters `json:"requestParameters"`
	ResponseElements  ResponseElements  `json:"responseElements"`
	S3                Entity            `json:"s3"`
}

// Principal names who caused the event.
type Principal struct {
	PrincipalID string `json:"principalId"`
}

// RequestParameters of the request that caused the event.
type RequestParameters struct {
	SourceIPAddress string `json:"sourceIPAddress"`
}

// ResponseElements identify the request that caused the event.
type ResponseElements struct {
	RequestID string `json:"x-amz-request-id"`
	ID2       string `json:"x-amz-id-2"`
}

// Entity is the "s3" member of a record.
type Entity struct {
	SchemaVersion   string       `json:"s3SchemaVersion"`
	ConfigurationID string       `json:"configurationId"`
	Bucket          BucketEntity `json:"bucket"`
	Object          ObjectEntity `json:"object"`
}

// BucketEntity is the bucket of a record.
type BucketEntity struct {
	Name          string    `json:"name"`
	OwnerIdentity Principal `json:"ownerIdentity"`
	ARN           string    `json:"arn"`
}

// ObjectEntity is the object of a record. Size and eTag are present for
// created objects only; versionId on versioned buckets only.
type ObjectEntity struct {
	Key       string `json:"key"`
	Size      *int64 `json:"size,omitempty"`
	ETag      string `json:"eTag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Sequencer string `json:"sequencer"`
}

// Owner is the principal the embedded server reports as the bucket owner
// and the caller of every request.
const Owner = "A3NL1KOZZKExample"

type eventer struct {
	region string
	seq    Sequencer
	mu     sync.Mutex
	subs   []func(Record) error
	// unsent holds, per bucket/key, the records a subscriber could not
	// keep, oldest first: they are sent again before the key's next
	// record, or by the next delete of the key that has none (a retried
	// delete finds the object gone).
	unsent map[string]unsentRecords
	// persist, when set (a store under a directory), journals a key's
	// unsent records whenever they change (none: all were sent), so they
	// outlive a crash; it is called under mu, in the order of the changes.
	persist func(bucket, key string, recs []Record) error
}

type unsentRecords struct {
	bucket, key string
	recs        []Record
}

// restore sets the unsent records of a key, as the journal kept them.
func (e *eventer) restore(bucket, key string, recs []Record) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := bucket + "/" + key
	if len(recs) == 0 {
		delete(e.unsent, id)
		return
	}
	if e.unsent == nil {
		e.unsent = map[string]unsentRecords{}
	}
	e.unsent[id] = unsentRecords{bucket, key, recs}
}

// Sequencer makes S3 sequencers: hexadecimal strings of one length that
// increase with every call, and across restarts (they start from the
// clock). Called under a store's lock, the sequencers of one key increase
// in the order of its changes.
type Sequencer struct {
	mu   sync.Mutex
	last uint64
}

// Next returns the next sequencer.
func (s *Sequencer) Next() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := uint64(time.Now().UnixNano())
	if n <= s.last {
		n = s.last + 1
	}
	s.last = n
	return fmt.Sprintf("%018X", n)
}

func (e *eventer) subscribe(fn func(Record) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = append(e.subs, fn)
}

// emit hands the change's record to every subscriber, after the key's
// unsent records. An error of one (its event is not queued durably) is
// returned as 500 InternalError, for the request to answer instead of
// acknowledging the change: the client retries, and the retry sends the
// record again (a delete that finds the object gone) or makes a new one.
// The change stays stored.
func (e *eventer) emit(req Request, name string, b *bucket, info objectInfo, seq string) error {
	c := Change{Name: name, Region: e.region, Time: time.Now(), Bucket: b.Name, Key: info.Key, Size: info.Size, ETag: info.ETag, Sequencer: seq, Request: req}
	if b.versioned() {
		c.VersionID = info.VersionID
	}
	rec := NewRecord(c)
	return e.send(b.Name, info.Key, &rec)
}

// resend sends the key's unsent records, if any.
func (e *eventer) resend(bucket, key string) error { return e.send(bucket, key, nil) }

func (e *eventer) send(bucket, key string, rec *Record) error {
	id := bucket + "/" + key
	e.mu.Lock()
	subs := e.subs
	recs := e.unsent[id].recs
	hadUnsent := len(recs) > 0
	delete(e.unsent, id)
	e.mu.Unlock()
	if len(subs) == 0 {
		if hadUnsent {
			e.restore(bucket, key, recs)
		}
		return nil
	}
	if rec != nil {
		recs = append(recs, *rec)
	}
	for i, r := range recs {
		var errs []error
		for _, fn := range subs {
			if err := fn(r); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			e.mu.Lock()
			if e.unsent == nil {
				e.unsent = map[string]unsentRecords{}
			}
			left := append(recs[i:len(recs):len(recs)], e.unsent[id].recs...)
			e.unsent[id] = unsentRecords{bucket, key, left}
			if e.persist != nil {
				// Best effort: when this fails too, the records are kept
				// in memory only, as the caller's 500 says.
				e.persist(bucket, key, left)
			}
			e.mu.Unlock()
			return errEventNotQueued(key, err)
		}
	}
	if hadUnsent && e.persist != nil {
		e.mu.Lock()
		if _, again := e.unsent[id]; !again {
			e.persist(bucket, key, nil)
		}
		e.mu.Unlock()
	}
	return nil
}

// errEventNotQueued is the error of a change whose event a subscriber
// could not queue durably.
func errEventNotQueued(key string, err error) *Error {
	return &Error{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again. (The change was stored, but its event could not be queued durably: " + err.Error() + ")", key}
}

// Change is one object change, as NewRecord reports it.
type Change struct {
	// Name is the event name without "s3:": "ObjectCreated:Put", ...
	Name   string
	Region string // "" is us-east-1
	Time   time.Time
	Bucket string
	Key    string // the key itself, not encoded
	// Size and ETag (unquoted) are reported for created objects only.
	Size int64
	ETag string
	// VersionID is set for versioned buckets only.
	VersionID string
	Sequencer string
	Request   Request // SourceIP "" is 127.0.0.1
}

// NewRecord returns the record S3 writes for a change, in AWS's exact
// shape: eventVersion 2.1, the time in UTC with milliseconds, the key
// form-encoded, the bucket owner and caller this server reports. The
// embedded S3 and the normalisation of other servers' events both build
// their records here.
func NewRecord(c Change) Record {
	region, ip := c.Region, c.Request.SourceIP
	if region == "" {
		region = "us-east-1"
	}
	if ip == "" {
		ip = "127.0.0.1"
	}
	rec := Record{
		EventVersion:      "2.1",
		EventSource:       "aws:s3",
		AWSRegion:         region,
		EventTime:         c.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		EventName:         c.Name,
		UserIdentity:      Principal{PrincipalID: "AWS:" + Owner},
		RequestParameters: RequestParameters{SourceIPAddress: ip},
		ResponseElements:  ResponseElements{RequestID: c.Request.ID, ID2: c.Request.ID2},
		S3: Entity{
			SchemaVersion: "1.0",
			Bucket:        BucketEntity{Name: c.Bucket, OwnerIdentity: Principal{PrincipalID: Owner}, ARN: "arn:aws:s3:::" + c.Bucket},
			Object:        ObjectEntity{Key: s3event.EncodeKey(c.Key), VersionID: c.VersionID, Sequencer: c.Sequencer},
		},
	}
	if strings.HasPrefix(c.Name, "ObjectCreated:") {
		size := c.Size
		rec.S3.Object.Size = &size
		rec.S3.Object.ETag = c.ETag
	}
	return rec
}

// JSON returns the record's JSON.
func (r Record) JSON() []byte {
	b, _ := json.Marshal(r)
	return b
}
