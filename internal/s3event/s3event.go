// Package s3event reads and writes the parts of S3 event notifications
// nanopipe's packages share: splitting a payload into records, decoding one
// record, and the form encoding S3 applies to keys in records. Stage code
// uses triggers.DecodeObjects and triggers.Object instead.
package s3event

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// wire is the part of an S3 event record nanopipe reads. It is decoded
// without aws-lambda-go's types, whose key decoding fails the whole payload
// on one badly encoded key without saying which.
type wire struct {
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

// Record is one decoded S3 event record; triggers.Object documents the
// fields.
type Record struct {
	Bucket    string
	Key       string // URL-decoded
	Size      int64
	ETag      string // without quotes
	VersionID string
	Sequencer string
	Event     string // without the "s3:" prefix
	Time      time.Time
	Region    string
	RequestID string
}

// Split returns the raw records of an S3 notification payload.
func Split(payload []byte) ([]json.RawMessage, error) {
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

// Decode decodes one raw S3 event record, URL-decoding its key.
func Decode(raw []byte) (Record, error) {
	var r wire
	if err := json.Unmarshal(raw, &r); err != nil {
		return Record{}, err
	}
	key, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil {
		return Record{}, fmt.Errorf("object key %q is not URL-encoded as S3 sends keys: %w", r.S3.Object.Key, err)
	}
	if r.S3.Bucket.Name == "" {
		return Record{}, errors.New("record has no s3.bucket.name")
	}
	event := strings.TrimPrefix(r.EventName, "s3:")
	if !strings.HasPrefix(event, "ObjectCreated:") && !strings.HasPrefix(event, "ObjectRemoved:") {
		return Record{}, fmt.Errorf("event %q is not an ObjectCreated or ObjectRemoved event", r.EventName)
	}
	return Record{
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
	}, nil
}

// EncodeKey form-encodes an object key the way S3 writes keys into event
// records ("+" for a space, %-escapes for reserved bytes, "/" kept): the
// inverse of the decoding Decode applies.
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}
