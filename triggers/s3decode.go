package triggers

import (
	"fmt"

	"github.com/nanopipe/nanopipe/internal/s3event"
)

// DecodeObjects decodes a Lambda S3 notification payload into objects,
// URL-decoding each key. S3 form-encodes keys in events ("+" for a space,
// %-escapes for the rest), so the key in the payload is not the key a
// GetObject call needs.
//
// A record whose key is not valid form encoding is an error: the event is
// then retried and ends at the on-failure destination rather than being
// processed under a wrong key.
func DecodeObjects(payload []byte) ([]Object, error) {
	records, err := s3event.Split(payload)
	if err != nil {
		return nil, err
	}
	objs := make([]Object, 0, len(records))
	for i, raw := range records {
		r, err := s3event.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("triggers: decode S3 event record %d: %w", i, err)
		}
		objs = append(objs, Object{
			Bucket:    r.Bucket,
			Key:       r.Key,
			Size:      r.Size,
			ETag:      r.ETag,
			VersionID: r.VersionID,
			Sequencer: r.Sequencer,
			Event:     r.Event,
			Time:      r.Time,
			Region:    r.Region,
			RequestID: r.RequestID,
			raw:       raw,
		})
	}
	return objs, nil
}

// RawRecord returns the record's JSON exactly as Lambda delivered it, for
// the rare stage that needs a field Object does not carry: unmarshal it
// into aws-lambda-go's events.S3EventRecord. It is nil for an Object that
// was not decoded from an event.
func (o Object) RawRecord() []byte { return o.raw }
