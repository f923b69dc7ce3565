package triggers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// s3Record is the part of an S3 event record nanopipe reads. It is decoded
// without aws-lambda-go's types, whose key decoding fails the whole payload
// on one badly encoded key without saying which.
type s3Record struct {
	AWSRegion        string            `json:"awsRegion"`
	EventTime        time.Time         `json:"eventTime"`
	EventName        string            `json:"eventName"`
	ResponseElements map[string]string `json:"responseElements"`
	S3               struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"eTag"`
			VersionID string `json:"versionId"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// DecodeObjects decodes a Lambda S3 notification payload into objects,
// URL-decoding each key. S3 form-encodes keys in events ("+" for a space,
// %-escapes for the rest), so the key in the payload is not the key a
// GetObject call needs.
//
// A record whose key is not valid form encoding is an error: the event is
// then retried and ends at the on-failure destination rather than being
// processed under a wrong key.
func DecodeObjects(payload []byte) ([]Object, error) {
	records, err := SplitS3Event(payload)
	if err != nil {
		return nil, err
	}
	objs := make([]Object, 0, len(records))
	for i, raw := range records {
		o, err := DecodeObjectRecord(raw)
		if err != nil {
			return nil, fmt.Errorf("triggers: decode S3 event record %d: %w", i, err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// SplitS3Event returns the raw records of an S3 notification payload.
func SplitS3Event(payload []byte) ([]json.RawMessage, error) {
	var ev struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("triggers: decode S3 event: %w", err)
	}
	if len(ev.Records) == 0 {
		return nil, errors.New("triggers: decode S3 event: no Records (is this an S3 notification? s3:TestEvent payloads have no records)")
	}
	return ev.Records, nil
}

// DecodeObjectRecord decodes one raw S3 event record.
func DecodeObjectRecord(raw []byte) (Object, error) {
	var r s3Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Object{}, err
	}
	key, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil {
		return Object{}, fmt.Errorf("object key %q is not URL-encoded as S3 sends keys: %w", r.S3.Object.Key, err)
	}
	if r.S3.Bucket.Name == "" {
		return Object{}, errors.New("record has no s3.bucket.name")
	}
	event := strings.TrimPrefix(r.EventName, "s3:")
	if !strings.HasPrefix(event, "ObjectCreated:") && !strings.HasPrefix(event, "ObjectRemoved:") {
		return Object{}, fmt.Errorf("event %q is not an ObjectCreated or ObjectRemoved event", r.EventName)
	}
	return Object{
		Bucket:    r.S3.Bucket.Name,
		Key:       key,
		Size:      r.S3.Object.Size,
		ETag:      strings.Trim(r.S3.Object.ETag, `"`),
		VersionID: r.S3.Object.VersionID,
		Sequencer: r.S3.Object.Sequencer,
		Event:     event,
		Time:      r.EventTime,
		Region:    r.AWSRegion,
		RequestID: r.ResponseElements["x-amz-request-id"],
		raw:       raw,
	}, nil
}

// EncodeKey form-encodes an object key the way S3 writes keys into event
// records ("+" for a space, %-escapes for reserved bytes, "/" kept): the
// inverse of the decoding DecodeObjects applies.
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// Record decodes the event record as aws-lambda-go's type, for the rare
// stage that needs a field nanopipe does not surface. It fails for an
// Object that was not decoded from an event.
func (o Object) Record() (events.S3EventRecord, error) {
	var r events.S3EventRecord
	if o.raw == nil {
		return r, fmt.Errorf("triggers: object %s has no raw record (it was not decoded from an event)", o.Key)
	}
	if err := json.Unmarshal(o.raw, &r); err != nil {
		return r, fmt.Errorf("triggers: decode raw record of %s: %w", o.Key, err)
	}
	return r, nil
}

// RawRecord returns the record's JSON exactly as Lambda delivered it.
func (o Object) RawRecord() []byte { return o.raw }
