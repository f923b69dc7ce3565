package pipelinetest

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/internal/s3event"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Region and Account are what generated events claim to come from.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

var seq atomic.Int64

func next() int64 { return seq.Add(1) }

// ObjectRecord is one S3 event record, as S3 writes it into a notification.
type ObjectRecord map[string]any

// CreatedObject builds an ObjectCreated:Put record for key in bucket b, with the
// size and ETag of body. The key is form-encoded as S3 does.
func CreatedObject(b *pipeline.Bucket, key string, body []byte) ObjectRecord {
	sum := md5.Sum(body)
	return objectRecord(b, "ObjectCreated:Put", key, int64(len(body)), hex.EncodeToString(sum[:]))
}

// CreatedObjectBy builds an ObjectCreated record of the given sub-event (such as
// triggers.ObjectCreatedCopy) for key, with the given size.
func CreatedObjectBy(b *pipeline.Bucket, event triggers.S3Event, key string, size int64) ObjectRecord {
	name := string(event)[len("s3:"):]
	return objectRecord(b, name, key, size, fmt.Sprintf("%032x", next()))
}

// RemovedObject builds an ObjectRemoved:Delete record for key.
func RemovedObject(b *pipeline.Bucket, key string) ObjectRecord {
	return objectRecord(b, "ObjectRemoved:Delete", key, 0, "")
}

func objectRecord(b *pipeline.Bucket, event, key string, size int64, etag string) ObjectRecord {
	obj := map[string]any{"key": s3event.EncodeKey(key), "sequencer": fmt.Sprintf("%016X", next())}
	if event[:len("ObjectCreated")] == "ObjectCreated" {
		obj["size"] = size
		obj["eTag"] = etag
	}
	return ObjectRecord{
		"eventVersion":      "2.1",
		"eventSource":       "aws:s3",
		"awsRegion":         Region,
		"eventTime":         time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"eventName":         event,
		"userIdentity":      map[string]any{"principalId": "AWS:TESTPRINCIPAL"},
		"requestParameters": map[string]any{"sourceIPAddress": "127.0.0.1"},
		"responseElements":  map[string]any{"x-amz-request-id": fmt.Sprintf("REQ%013d", next()), "x-amz-id-2": "test"},
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"configurationId": "nanopipe-test",
			"bucket": map[string]any{
				"name":          b.Name(),
				"ownerIdentity": map[string]any{"principalId": "TESTOWNER"},
				"arn":           "arn:aws:s3:::" + b.Name(),
			},
			"object": obj,
		},
	}
}

// S3Event is the Lambda payload of an S3 notification with the records.
func S3Event(records ...ObjectRecord) []byte {
	b, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		panic(err)
	}
	return b
}

// StreamRecord is one DynamoDB stream record, as Lambda delivers it.
type StreamRecord map[string]any

// InsertedItem builds an INSERT record of item in table t. The keys are taken from
// the item by the table's key schema.
func InsertedItem[T any](t *pipeline.Table, item T) StreamRecord {
	return streamRecord(t, triggers.Insert, nil, marshal(item))
}

// ModifiedItem builds a MODIFY record from old to new.
func ModifiedItem[T any](t *pipeline.Table, old, new T) StreamRecord {
	return streamRecord(t, triggers.Modify, marshal(old), marshal(new))
}

// RemovedItem builds a REMOVE record of old.
func RemovedItem[T any](t *pipeline.Table, old T) StreamRecord {
	return streamRecord(t, triggers.Remove, marshal(old), nil)
}

// SequenceNumber returns the record's sequence number, the identifier batch
// responses report.
func (r StreamRecord) SequenceNumber() string {
	return r["dynamodb"].(map[string]any)["SequenceNumber"].(string)
}

func marshal(v any) map[string]types.AttributeValue {
	m, err := attributevalue.MarshalMap(v)
	if err != nil {
		panic(fmt.Sprintf("pipelinetest: marshal %T: %v", v, err))
	}
	return m
}

// StreamARN is the stream ARN generated events carry for table t.
func StreamARN(t *pipeline.Table) string {
	if arn := t.StreamARN(); arn != "" {
		return arn
	}
	return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s/stream/2026-01-01T00:00:00.000", Region, Account, t.Name())
}

func streamRecord(t *pipeline.Table, kind triggers.Kind, old, new map[string]types.AttributeValue) StreamRecord {
	img := new
	if img == nil {
		img = old
	}
	keys := map[string]types.AttributeValue{}
	for _, k := range []*pipeline.KeyAttr{ptr(t.PartitionKey()), t.SortKey()} {
		if k == nil {
			continue
		}
		v, ok := img[k.Name]
		if !ok {
			panic(fmt.Sprintf("pipelinetest: item for table %s lacks key attribute %q", t.Name(), k.Name))
		}
		keys[k.Name] = v
	}
	view := t.StreamView()
	if view == "" {
		view = pipeline.ViewNewAndOldImages
	}
	n := next()
	ddb := map[string]any{
		"ApproximateCreationDateTime": time.Now().Unix(),
		"Keys":                        avMap(keys),
		"SequenceNumber":              strconv.FormatInt(100000000000000000+n, 10) + "00000000000",
		"SizeBytes":                   64,
		"StreamViewType":              string(view),
	}
	if new != nil && (view == pipeline.ViewNewImage || view == pipeline.ViewNewAndOldImages) {
		ddb["NewImage"] = avMap(new)
	}
	if old != nil && (view == pipeline.ViewOldImage || view == pipeline.ViewNewAndOldImages) {
		ddb["OldImage"] = avMap(old)
	}
	return StreamRecord{
		"eventID":        fmt.Sprintf("%032x", n),
		"eventName":      string(kind),
		"eventVersion":   "1.1",
		"eventSource":    "aws:dynamodb",
		"awsRegion":      Region,
		"dynamodb":       ddb,
		"eventSourceARN": StreamARN(t),
	}
}

func ptr[T any](v T) *T { return &v }

// StreamEvent is the Lambda payload of a stream batch with the records.
func StreamEvent(records ...StreamRecord) []byte {
	if records == nil {
		records = []StreamRecord{}
	}
	b, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		panic(err)
	}
	return b
}

// avMap renders attribute values in DynamoDB's JSON form, as stream
// records carry them.
func avMap(m map[string]types.AttributeValue) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = avJSON(v)
	}
	return out
}

func avJSON(v types.AttributeValue) map[string]any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": base64.StdEncoding.EncodeToString(v.Value)}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": true}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *types.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, b := range v.Value {
			bs[i] = base64.StdEncoding.EncodeToString(b)
		}
		return map[string]any{"BS": bs}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = avJSON(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": avMap(v.Value)}
	}
	panic(fmt.Sprintf("pipelinetest: unsupported attribute value %T", v))
}
