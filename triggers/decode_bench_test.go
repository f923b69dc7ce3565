package triggers_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/triggers"
)

// benchItem is the item type of the benchmark table: 12 attributes of the
// usual kinds (strings, numbers, a boolean, lists, nested maps).
type benchItem struct {
	PK      string            `dynamodbav:"pk"`
	SK      string            `dynamodbav:"sk"`
	Name    string            `dynamodbav:"name"`
	Email   string            `dynamodbav:"email"`
	Count   int               `dynamodbav:"count"`
	Price   float64           `dynamodbav:"price"`
	Active  bool              `dynamodbav:"active"`
	Tags    []string          `dynamodbav:"tags"`
	Scores  []int             `dynamodbav:"scores"`
	Address benchAddress      `dynamodbav:"address"`
	Attrs   map[string]string `dynamodbav:"attrs"`
	Lines   []benchLine       `dynamodbav:"lines"`
}

type benchAddress struct {
	Street string   `dynamodbav:"street"`
	City   string   `dynamodbav:"city"`
	Zip    string   `dynamodbav:"zip"`
	Geo    benchGeo `dynamodbav:"geo"`
}

type benchGeo struct {
	Lat float64 `dynamodbav:"lat"`
	Lng float64 `dynamodbav:"lng"`
}

type benchLine struct {
	SKU   string  `dynamodbav:"sku"`
	Qty   int     `dynamodbav:"qty"`
	Price float64 `dynamodbav:"price"`
	Note  string  `dynamodbav:"note"`
}

// benchRecords is the batch size of the benchmark (Lambda's default).
const benchRecords = 100

// benchPayload builds, deterministically, a NEW_AND_OLD_IMAGES stream
// payload of benchRecords MODIFY records whose images are about 1 KB of
// DynamoDB JSON each.
func benchPayload() []byte {
	r := rand.New(rand.NewSource(42))
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
		"juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra"}
	word := func() string { return words[r.Intn(len(words))] }
	item := func(i, version int) benchItem {
		it := benchItem{
			PK:     fmt.Sprintf("customer#%06d", i),
			SK:     fmt.Sprintf("order#%04d-%02d", i%97, version),
			Name:   word() + " " + word() + " " + word(),
			Email:  fmt.Sprintf("%s.%s%d@example.com", word(), word(), r.Intn(1000)),
			Count:  r.Intn(100000),
			Price:  float64(r.Intn(1000000)) / 100,
			Active: r.Intn(2) == 0,
			Address: benchAddress{
				Street: fmt.Sprintf("%d %s %s Street", r.Intn(9999), word(), word()),
				City:   word() + "ville",
				Zip:    fmt.Sprintf("%05d", r.Intn(100000)),
				Geo:    benchGeo{Lat: float64(r.Intn(180000000))/1e6 - 90, Lng: float64(r.Intn(360000000))/1e6 - 180},
			},
			Attrs: map[string]string{},
		}
		for j := 0; j < 4; j++ {
			it.Tags = append(it.Tags, word())
			it.Scores = append(it.Scores, r.Intn(1000))
		}
		for j := 0; j < 3; j++ {
			it.Attrs[word()+strconv.Itoa(j)] = word() + " " + word()
		}
		for j := 0; j < 4; j++ {
			it.Lines = append(it.Lines, benchLine{
				SKU:   fmt.Sprintf("SKU-%05d", r.Intn(100000)),
				Qty:   1 + r.Intn(9),
				Price: float64(r.Intn(100000)) / 100,
				Note:  word() + " " + word(),
			})
		}
		return it
	}
	type record struct {
		EventID        string         `json:"eventID"`
		EventName      string         `json:"eventName"`
		EventVersion   string         `json:"eventVersion"`
		EventSource    string         `json:"eventSource"`
		AWSRegion      string         `json:"awsRegion"`
		Dynamodb       map[string]any `json:"dynamodb"`
		EventSourceARN string         `json:"eventSourceARN"`
	}
	image := func(it benchItem) json.RawMessage {
		m, err := attributevalue.MarshalMap(it)
		if err != nil {
			panic(err)
		}
		return appendAVMap(nil, m, r)
	}
	var recs []record
	for i := 0; i < benchRecords; i++ {
		old, cur := item(i, 1), item(i, 2)
		cur.PK, cur.SK = old.PK, old.SK
		keys := appendAVMap(nil, map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: old.PK},
			"sk": &types.AttributeValueMemberS{Value: old.SK},
		}, r)
		recs = append(recs, record{
			EventID:      fmt.Sprintf("%032x", r.Uint64()),
			EventName:    "MODIFY",
			EventVersion: "1.1",
			EventSource:  "aws:dynamodb",
			AWSRegion:    "eu-west-1",
			Dynamodb: map[string]any{
				"ApproximateCreationDateTime": 1700000000 + i,
				"Keys":                        json.RawMessage(keys),
				"NewImage":                    image(cur),
				"OldImage":                    image(old),
				"SequenceNumber":              strconv.Itoa(4000000000000000000 + i*1000),
				"SizeBytes":                   1900 + i,
				"StreamViewType":              "NEW_AND_OLD_IMAGES",
			},
			EventSourceARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-prod/stream/2024-01-01T00:00:00.000",
		})
	}
	b, err := json.Marshal(map[string]any{"Records": recs})
	if err != nil {
		panic(err)
	}
	return b
}

// appendAVMap writes an attribute map as DynamoDB JSON, members in an
// order drawn from r: like DynamoDB's own order it is neither the
// declaration order nor the same for every item, but unlike Go map
// iteration it is the same on every run.
func appendAVMap(b []byte, m map[string]types.AttributeValue, r *rand.Rand) []byte {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	b = append(b, '{')
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		b = appendAV(b, m[k], r)
	}
	return append(b, '}')
}

func appendAV(b []byte, av types.AttributeValue, r *rand.Rand) []byte {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		b = strconv.AppendQuote(append(b, `{"S":`...), v.Value)
	case *types.AttributeValueMemberN:
		b = strconv.AppendQuote(append(b, `{"N":`...), v.Value)
	case *types.AttributeValueMemberBOOL:
		b = strconv.AppendBool(append(b, `{"BOOL":`...), v.Value)
	case *types.AttributeValueMemberL:
		b = append(b, `{"L":[`...)
		for i, e := range v.Value {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAV(b, e, r)
		}
		b = append(b, ']')
	case *types.AttributeValueMemberM:
		b = appendAVMap(append(b, `{"M":`...), v.Value, r)
	default:
		panic(fmt.Sprintf("benchmark items have no %T", av))
	}
	return append(b, '}')
}

// commonDecode is what Go code on Lambda does today: encoding/json into
// aws-lambda-go's event type, then, per record, conversion of the images
// to the SDK's attribute values and attributevalue.UnmarshalMap.
func commonDecode(payload []byte) ([]triggers.Change[benchItem], error) {
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	out := make([]triggers.Change[benchItem], len(ev.Records))
	for i, r := range ev.Records {
		c := &out[i]
		c.Kind = triggers.Kind(r.EventName)
		c.EventID = r.EventID
		c.SequenceNumber = r.Change.SequenceNumber
		c.Keys = lambdaToSDKMap(r.Change.Keys)
		if r.Change.NewImage != nil {
			c.New = new(benchItem)
			if err := attributevalue.UnmarshalMap(lambdaToSDKMap(r.Change.NewImage), c.New); err != nil {
				return nil, err
			}
		}
		if r.Change.OldImage != nil {
			c.Old = new(benchItem)
			if err := attributevalue.UnmarshalMap(lambdaToSDKMap(r.Change.OldImage), c.Old); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// lambdaToSDKMap converts aws-lambda-go attribute values to the SDK's.
func lambdaToSDKMap(m map[string]events.DynamoDBAttributeValue) map[string]types.AttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		out[k] = lambdaToSDK(v)
	}
	return out
}

func lambdaToSDK(v events.DynamoDBAttributeValue) types.AttributeValue {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}
	case events.DataTypeList:
		l := make([]types.AttributeValue, len(v.List()))
		for i, e := range v.List() {
			l[i] = lambdaToSDK(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case events.DataTypeMap:
		return &types.AttributeValueMemberM{Value: lambdaToSDKMap(v.Map())}
	}
	panic(fmt.Sprintf("unknown DynamoDB data type %v", v.DataType()))
}

// The floor: encoding/json into structs shaped exactly like the payload,
// one struct per attribute value, numbers left as strings. No generic
// attribute values, no conversion: the least work a decoder built on
// encoding/json can do to get at the same data.
type (
	floorS    struct{ S string }
	floorN    struct{ N string }
	floorBOOL struct{ BOOL bool }
	floorLine struct {
		M struct {
			SKU   floorS `json:"sku"`
			Qty   floorN `json:"qty"`
			Price floorN `json:"price"`
			Note  floorS `json:"note"`
		}
	}
	floorImage struct {
		PK      floorS               `json:"pk"`
		SK      floorS               `json:"sk"`
		Name    floorS               `json:"name"`
		Email   floorS               `json:"email"`
		Count   floorN               `json:"count"`
		Price   floorN               `json:"price"`
		Active  floorBOOL            `json:"active"`
		Tags    struct{ L []floorS } `json:"tags"`
		Scores  struct{ L []floorN } `json:"scores"`
		Address struct {
			M struct {
				Street floorS `json:"street"`
				City   floorS `json:"city"`
				Zip    floorS `json:"zip"`
				Geo    struct {
					M struct {
						Lat floorN `json:"lat"`
						Lng floorN `json:"lng"`
					}
				} `json:"geo"`
			}
		} `json:"address"`
		Attrs struct{ M map[string]floorS } `json:"attrs"`
		Lines struct{ L []floorLine }       `json:"lines"`
	}
	floorPayload struct {
		Records []struct {
			EventID        string `json:"eventID"`
			EventName      string `json:"eventName"`
			EventVersion   string `json:"eventVersion"`
			EventSource    string `json:"eventSource"`
			AWSRegion      string `json:"awsRegion"`
			EventSourceARN string `json:"eventSourceARN"`
			Dynamodb       struct {
				ApproximateCreationDateTime float64
				Keys                        struct {
					PK floorS `json:"pk"`
					SK floorS `json:"sk"`
				}
				NewImage       *floorImage
				OldImage       *floorImage
				SequenceNumber string
				SizeBytes      int64
				StreamViewType string
			} `json:"dynamodb"`
		}
	}
)

// BenchmarkDecodeStream decodes the whole benchRecords-record payload per
// iteration, three ways; the reported ns/op, B/op and allocs/op are per
// batch.
func BenchmarkDecodeStream(b *testing.B) {
	payload := benchPayload()
	b.Run("nanopipe", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			ev, err := triggers.DecodeStream[benchItem](payload)
			if err != nil || ev.Errors != nil || len(ev.Changes) != benchRecords {
				b.Fatal(err, ev.Errors)
			}
		}
	})
	b.Run("common", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			changes, err := commonDecode(payload)
			if err != nil || len(changes) != benchRecords {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			var p floorPayload
			if err := json.Unmarshal(payload, &p); err != nil || len(p.Records) != benchRecords {
				b.Fatal(err)
			}
		}
	})
}
