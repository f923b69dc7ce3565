package versity

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/s3srv"
)

// webhookRecord is one record as versitygw 1.8 posts it to the webhook:
// S3's "Records" shape with its own deviations (see Normalize).
type webhookRecord struct {
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	AWSRegion    string `json:"awsRegion"`
	UserIdentity struct {
		PrincipalID string `json:"PrincipalId"`
	} `json:"userIdentity"`
	RequestParameters struct {
		SourceIPAddress string `json:"sourceIPAddress"`
	} `json:"requestParameters"`
	ResponseElements struct {
		RequestID string `json:"x-amz-request-id"`
		ID2       string `json:"x-amz-id-2"`
	} `json:"responseElements"`
	S3 struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string  `json:"key"`
			Size      int64   `json:"size"`
			ETag      *string `json:"eTag"`
			VersionID *string `json:"versionId"`
			Sequencer string  `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// Event is one object change as the gateway reported it, before it is
// turned into AWS's record shape.
type Event struct {
	// Name is the event name without the "s3:" prefix, DeleteObjects
	// mapped to Delete: "ObjectCreated:Put", "ObjectRemoved:Delete", ...
	Name      string
	Bucket    string
	Key       string // the raw key, not encoded
	Size      int64
	ETag      string // unquoted
	VersionID string
	// Seq is the gateway's sequence number: it counts events in the order
	// the gateway sent them, across keys.
	Seq       uint64
	RequestID string
	ID2       string
	SourceIP  string
	Region    string
	Time      time.Time
}

// ParseWebhook decodes one webhook body into events. Bodies that are not
// object events (the gateway's start-up test event, tagging and ACL
// events) yield none.
func ParseWebhook(body []byte, received time.Time) ([]Event, error) {
	var msg struct {
		Records []webhookRecord
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, fmt.Errorf("versity: webhook body: %w", err)
	}
	var out []Event
	for _, r := range msg.Records {
		name := strings.TrimPrefix(r.EventName, "s3:")
		switch name {
		case "ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload", "ObjectRemoved:Delete":
		case "ObjectRemoved:DeleteObjects": // not an AWS name: S3 reports each key of DeleteObjects as a Delete
			name = "ObjectRemoved:Delete"
		default:
			continue
		}
		ev := Event{
			Name:      name,
			Bucket:    r.S3.Bucket.Name,
			Key:       r.S3.Object.Key,
			Size:      r.S3.Object.Size,
			RequestID: r.ResponseElements.RequestID,
			ID2:       r.ResponseElements.ID2,
			SourceIP:  r.RequestParameters.SourceIPAddress,
			Region:    r.AWSRegion,
			Time:      received,
		}
		if r.S3.Object.ETag != nil {
			ev.ETag = strings.Trim(*r.S3.Object.ETag, `"`)
		}
		if r.S3.Object.VersionID != nil {
			ev.VersionID = *r.S3.Object.VersionID
		}
		fmt.Sscanf(r.S3.Object.Sequencer, "%X", &ev.Seq)
		// The gateway stamps whole seconds in its local zone; when the
		// webhook received the event within that second, the arrival time
		// is the finer stamp of the same instant.
		if t, err := time.Parse(time.RFC3339, r.EventTime); err == nil && (received.IsZero() || received.Sub(t) < 0 || received.Sub(t) >= 2*time.Second) {
			ev.Time = t
		}
		out = append(out, ev)
	}
	return out, nil
}

// Created reports whether the event creates an object.
func (ev Event) Created() bool { return strings.HasPrefix(ev.Name, "ObjectCreated:") }

// Normalize turns an event into a record in AWS's exact shape, as the
// embedded S3 writes it. It fixes where versitygw 1.8 deviates from S3:
//
//   - eventName without the "s3:" prefix, and ObjectRemoved:Delete for
//     each key of a DeleteObjects (the gateway says DeleteObjects);
//   - eventVersion 2.1 (the gateway says 2.2);
//   - eventTime in UTC with milliseconds (the gateway writes whole seconds
//     in its local zone);
//   - userIdentity.principalId (the gateway writes PrincipalId) and the
//     bucket's ownerIdentity, as the embedded S3 reports them;
//   - the bucket ARN "arn:aws:s3:::BUCKET" (the gateway appends the key);
//   - the key form-encoded as S3 writes it (the gateway writes it raw);
//   - eTag unquoted, and eTag and size only for created objects (the
//     gateway writes size 0 for Copy and CompleteMultipartUpload: callers
//     fill Size first);
//   - versionId only for versioned buckets, never null;
//   - request IDs (the gateway copies empty request headers: callers fill
//     RequestID and ID2 first);
//   - no glacierEventData, and configurationId "" for the engine to name.
//
// seq is the record's sequencer.
func Normalize(ev Event, versioned bool, seq string) s3srv.Record {
	c := s3srv.Change{
		Name: ev.Name, Region: ev.Region, Time: ev.Time, Bucket: ev.Bucket, Key: ev.Key,
		Size: ev.Size, ETag: ev.ETag, Sequencer: seq,
		Request: s3srv.Request{ID: ev.RequestID, ID2: ev.ID2, SourceIP: ev.SourceIP},
	}
	if versioned {
		c.VersionID = ev.VersionID
	}
	return s3srv.NewRecord(c)
}
