package s3srv

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
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
	mu     sync.Mutex
	last   uint64
	subs   []func(Record)
}

// sequence returns the next sequencer value. It is called under the store's
// lock, so the sequencers of one key increase in the order of its changes,
// and they keep increasing across restarts (they start from the clock).
func (e *eventer) sequence() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := uint64(time.Now().UnixNano())
	if n <= e.last {
		n = e.last + 1
	}
	e.last = n
	return n
}

func (e *eventer) subscribe(fn func(Record)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = append(e.subs, fn)
}

func (e *eventer) emit(req Request, name string, b *bucket, info objectInfo, seq uint64) {
	e.mu.Lock()
	subs := e.subs
	e.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	rec := Record{
		EventVersion:      "2.1",
		EventSource:       "aws:s3",
		AWSRegion:         e.region,
		EventTime:         time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		EventName:         name,
		UserIdentity:      Principal{PrincipalID: "AWS:" + Owner},
		RequestParameters: RequestParameters{SourceIPAddress: req.SourceIP},
		ResponseElements:  ResponseElements{RequestID: req.ID, ID2: req.ID2},
		S3: Entity{
			SchemaVersion: "1.0",
			Bucket:        BucketEntity{Name: b.Name, OwnerIdentity: Principal{PrincipalID: Owner}, ARN: "arn:aws:s3:::" + b.Name},
			Object:        ObjectEntity{Key: EncodeKey(info.Key), ETag: info.ETag, Sequencer: fmt.Sprintf("%018X", seq)},
		},
	}
	if name[:len("ObjectCreated")] == "ObjectCreated" {
		size := info.Size
		rec.S3.Object.Size = &size
	}
	if b.versioned() {
		rec.S3.Object.VersionID = info.VersionID
	}
	for _, fn := range subs {
		fn(rec)
	}
}

// JSON returns the record's JSON.
func (r Record) JSON() []byte {
	b, _ := json.Marshal(r)
	return b
}
