package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// SDKStreams reads streams through the DynamoDB and DynamoDB Streams APIs
// of any endpoint, with aws-sdk-go-v2 clients: DynamoDB Local, the
// embedded server over HTTP, or AWS itself.
type SDKStreams struct {
	DynamoDB *dynamodb.Client
	Streams  *dynamodbstreams.Client
}

// NewSDKStreams returns a stream source over the two clients.
func NewSDKStreams(ddb *dynamodb.Client, st *dynamodbstreams.Client) *SDKStreams {
	return &SDKStreams{DynamoDB: ddb, Streams: st}
}

// StreamARN implements StreamSource with DescribeTable.
func (s *SDKStreams) StreamARN(ctx context.Context, table string) (string, error) {
	out, err := s.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		return "", err
	}
	if out.Table.StreamSpecification == nil || !aws.ToBool(out.Table.StreamSpecification.StreamEnabled) {
		return "", nil
	}
	return aws.ToString(out.Table.LatestStreamArn), nil
}

// Shards implements StreamSource with DescribeStream, following its pages.
func (s *SDKStreams) Shards(ctx context.Context, arn string) ([]string, error) {
	var ids []string
	var start *string
	for {
		out, err := s.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &arn, ExclusiveStartShardId: start})
		if err != nil {
			return nil, err
		}
		for _, sh := range out.StreamDescription.Shards {
			ids = append(ids, aws.ToString(sh.ShardId))
		}
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return ids, nil
		}
	}
}

// Iterator implements StreamSource with GetShardIterator.
func (s *SDKStreams) Iterator(ctx context.Context, arn, shard string, typ IteratorType, seq string) (string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: &shard, ShardIteratorType: types.ShardIteratorType(typ)}
	if seq != "" {
		in.SequenceNumber = &seq
	}
	out, err := s.Streams.GetShardIterator(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ShardIterator), nil
}

// Records implements StreamSource with GetRecords, turning each record
// back into the JSON Lambda delivers.
func (s *SDKStreams) Records(ctx context.Context, it string, limit int) ([]StreamRecord, string, error) {
	out, err := s.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &it, Limit: aws.Int32(int32(limit))})
	if err != nil {
		return nil, "", err
	}
	recs := make([]StreamRecord, 0, len(out.Records))
	for _, r := range out.Records {
		recs = append(recs, recordJSON(r))
	}
	return recs, aws.ToString(out.NextShardIterator), nil
}

func recordJSON(r types.Record) StreamRecord {
	var b bytes.Buffer
	w := func(k string, v any) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		switch v := v.(type) {
		case json.RawMessage:
			b.Write(v)
		default:
			vb, _ := json.Marshal(v)
			b.Write(vb)
		}
	}
	b.WriteByte('{')
	w("eventID", aws.ToString(r.EventID))
	w("eventName", string(r.EventName))
	w("eventVersion", aws.ToString(r.EventVersion))
	w("eventSource", aws.ToString(r.EventSource))
	w("awsRegion", aws.ToString(r.AwsRegion))
	d := r.Dynamodb
	var db bytes.Buffer
	db.WriteByte('{')
	field := func(k string, v []byte) {
		if db.Len() > 1 {
			db.WriteByte(',')
		}
		db.WriteString(`"` + k + `":`)
		db.Write(v)
	}
	var created int64
	if d.ApproximateCreationDateTime != nil {
		created = d.ApproximateCreationDateTime.Unix()
		field("ApproximateCreationDateTime", []byte(strconv.FormatInt(created, 10)))
	}
	field("Keys", attrMap(d.Keys))
	if d.NewImage != nil {
		field("NewImage", attrMap(d.NewImage))
	}
	if d.OldImage != nil {
		field("OldImage", attrMap(d.OldImage))
	}
	seq, _ := json.Marshal(aws.ToString(d.SequenceNumber))
	field("SequenceNumber", seq)
	field("SizeBytes", []byte(strconv.FormatInt(aws.ToInt64(d.SizeBytes), 10)))
	field("StreamViewType", []byte(`"`+string(d.StreamViewType)+`"`))
	db.WriteByte('}')
	w("dynamodb", json.RawMessage(db.Bytes()))
	if r.UserIdentity != nil {
		w("userIdentity", map[string]string{"type": aws.ToString(r.UserIdentity.Type), "principalId": aws.ToString(r.UserIdentity.PrincipalId)})
	}
	b.WriteByte('}')
	rec := StreamRecord{Sequence: aws.ToString(d.SequenceNumber), JSON: b.Bytes()}
	if d.ApproximateCreationDateTime != nil {
		rec.Created = *d.ApproximateCreationDateTime
	}
	return rec
}

func attrMap(m map[string]types.AttributeValue) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(attr(m[k]))
	}
	b.WriteByte('}')
	return b.Bytes()
}

func attr(v types.AttributeValue) []byte {
	var out any
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		out = map[string]string{"S": v.Value}
	case *types.AttributeValueMemberN:
		out = map[string]string{"N": v.Value}
	case *types.AttributeValueMemberB:
		out = map[string]string{"B": base64.StdEncoding.EncodeToString(v.Value)}
	case *types.AttributeValueMemberSS:
		out = map[string][]string{"SS": v.Value}
	case *types.AttributeValueMemberNS:
		out = map[string][]string{"NS": v.Value}
	case *types.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, x := range v.Value {
			bs[i] = base64.StdEncoding.EncodeToString(x)
		}
		out = map[string][]string{"BS": bs}
	case *types.AttributeValueMemberBOOL:
		out = map[string]bool{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		out = map[string]bool{"NULL": true}
	case *types.AttributeValueMemberM:
		return append(append([]byte(`{"M":`), attrMap(v.Value)...), '}')
	case *types.AttributeValueMemberL:
		var b bytes.Buffer
		b.WriteString(`{"L":[`)
		for i, e := range v.Value {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(attr(e))
		}
		b.WriteString("]}")
		return b.Bytes()
	}
	b, _ := json.Marshal(out)
	return b
}
