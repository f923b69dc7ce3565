package ddbjson

import (
	"errors"
	"reflect"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Event is a Lambda invocation payload from a DynamoDB stream, with the
// fields of a tumbling-window invocation when there are any.
type Event struct {
	// Records are the stream records in the order Lambda sent them.
	Records []Record

	// HasWindow is true when the payload carries a "window" object, that is
	// for a mapping with a tumbling window.
	HasWindow bool
	// WindowStart and WindowEnd bound the window (RFC 3339 in the payload).
	WindowStart, WindowEnd time.Time
	// State is the window's state as the previous invocation returned it;
	// nil when the payload has none.
	State map[string]string
	// ShardID is the shard the records come from (windowed invocations only).
	ShardID string
	// EventSourceARN is the stream ARN at the top level of a windowed
	// invocation; each record has its own copy as well.
	EventSourceARN string
	// IsFinalInvokeForWindow is true for the last invocation of a window.
	IsFinalInvokeForWindow bool
	// IsWindowTerminatedEarly is true when the window ended before its time.
	IsWindowTerminatedEarly bool
}

// Record is one stream record. The byte slices alias the input of
// ParseEvent; they are nil when the member is absent or null.
type Record struct {
	// Raw is the whole record object, exactly as it appears in the input.
	Raw []byte

	EventID        string
	EventName      string
	EventVersion   string
	EventSource    string
	AWSRegion      string
	EventSourceARN string

	// UserIdentityType and UserIdentityPrincipalID are set for removals by
	// DynamoDB's time-to-live process ("Service", "dynamodb.amazonaws.com").
	UserIdentityType        string
	UserIdentityPrincipalID string

	// ApproximateCreationDateTime is the time the change was written to the
	// stream, in UTC; zero when absent.
	ApproximateCreationDateTime time.Time
	// Keys, NewImage and OldImage are DynamoDB-JSON attribute maps, for
	// AttributeMap and Unmarshal.
	Keys, NewImage, OldImage []byte
	SequenceNumber           string
	SizeBytes                int64
	StreamViewType           string
}

// ParseEvent parses a Lambda DynamoDB stream payload into ev in one pass.
//
// It reuses the backing array of ev.Records and overwrites every other
// field of ev. Unknown members are skipped at any level; member names are
// matched exactly, as Lambda spells them. The images are validated as JSON
// but not decoded: Raw, Keys, NewImage and OldImage alias data, so data
// must not be modified while ev is in use. Malformed JSON, or a known member
// of the wrong JSON type, is reported as a *SyntaxError with its offset.
func ParseEvent(data []byte, ev *Event) error {
	return ParseEventFunc(data, ev, nil)
}

// Image names the attribute maps of a record.
type Image uint8

// The attribute maps of a stream record.
const (
	Keys Image = iota
	NewImage
	OldImage
)

// ImageFunc is called by ParseEventFunc for each attribute map of record
// number rec (an index into ev.Records; the record's other members may not
// have been read yet). It may decode the map in place with dec, once.
type ImageFunc func(rec int, which Image, dec *ImageDecoder)

// ParseEventFunc is ParseEvent that hands each Keys, NewImage and OldImage
// to fn as the scan reaches it, so that a caller decoding every image reads
// the payload once instead of twice.
//
// A decoding error returned by dec is the caller's to keep: the parser then
// goes back over the image as plain JSON, and fails only if that is
// malformed too. The raw slices in ev are set either way.
func ParseEventFunc(data []byte, ev *Event, fn ImageFunc) error {
	recs := ev.Records[:0]
	*ev = Event{}
	p := eventParser{scanner: scanner{data: data}, fn: fn}
	err := p.event(ev, recs)
	if err == nil {
		err = p.end()
	}
	return err
}

// ImageDecoder decodes one image in place during ParseEventFunc.
type ImageDecoder struct {
	p     *eventParser
	state uint8 // 0: not used, 1: decoded, 2: failed
}

// Unmarshal decodes the image into v as Unmarshal does.
func (x *ImageDecoder) Unmarshal(v any) error {
	if x.state != 0 {
		return errors.New("ddbjson: image already decoded")
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		x.state = 2
		return &pathError{err: &attributevalue.InvalidUnmarshalError{Type: reflect.TypeOf(v)}}
	}
	d := decoder{scanner: x.p.scanner}
	err := d.top(planFor(rv.Type()), rv)
	return x.finish(&d.scanner, err)
}

// AttributeMap decodes the image as AttributeMap does.
func (x *ImageDecoder) AttributeMap() (map[string]types.AttributeValue, error) {
	if x.state != 0 {
		return nil, errors.New("ddbjson: image already decoded")
	}
	s := x.p.scanner
	m, err := s.avMap()
	return m, x.finish(&s, err)
}

func (x *ImageDecoder) finish(s *scanner, err error) error {
	x.p.scratch = s.scratch
	if err != nil {
		x.state = 2
		return topError(err)
	}
	x.state = 1
	x.p.pos = s.pos
	return nil
}

type eventParser struct {
	scanner
	// last holds the previous record's repetitive strings, so that a batch
	// of records from one stream shares them instead of allocating each.
	last Record
	fn   ImageFunc
	rec  int // index of the record being read
	img  ImageDecoder
}

func (p *eventParser) event(ev *Event, recs []Record) error {
	defer func() { ev.Records = recs }()
	has, err := p.openObject()
	if err != nil || !has {
		return err
	}
	for {
		k, err := p.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "Records":
			if recs, err = p.records(recs); err != nil {
				return err
			}
		case "window":
			if err := p.window(ev); err != nil {
				return err
			}
		case "state":
			if err := p.state(ev); err != nil {
				return err
			}
		case "shardId":
			if ev.ShardID, err = p.string(""); err != nil {
				return err
			}
		case "eventSourceARN":
			if ev.EventSourceARN, err = p.string(p.last.EventSourceARN); err != nil {
				return err
			}
		case "isFinalInvokeForWindow":
			if ev.IsFinalInvokeForWindow, err = p.optBool(); err != nil {
				return err
			}
		case "isWindowTerminatedEarly":
			if ev.IsWindowTerminatedEarly, err = p.optBool(); err != nil {
				return err
			}
		default:
			if err := p.skip(); err != nil {
				return err
			}
		}
		if more, err := p.more('}'); err != nil || !more {
			return err
		}
	}
}

func (p *eventParser) records(recs []Record) ([]Record, error) {
	if null, err := p.null(); null || err != nil {
		return recs, err
	}
	has, err := p.openArray()
	if err != nil || !has {
		return recs, err
	}
	for {
		recs = append(recs, Record{})
		p.rec = len(recs) - 1
		if err := p.record(&recs[p.rec]); err != nil {
			return recs, err
		}
		if more, err := p.more(']'); err != nil || !more {
			return recs, err
		}
	}
}

func (p *eventParser) record(r *Record) error {
	p.ws()
	start := p.pos
	has, err := p.openObject()
	if err != nil {
		return err
	}
	for has {
		k, err := p.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "eventID":
			r.EventID, err = p.string("")
		case "eventName":
			r.EventName, err = p.string(p.last.EventName)
		case "eventVersion":
			r.EventVersion, err = p.string(p.last.EventVersion)
		case "eventSource":
			r.EventSource, err = p.string(p.last.EventSource)
		case "awsRegion":
			r.AWSRegion, err = p.string(p.last.AWSRegion)
		case "eventSourceARN":
			r.EventSourceARN, err = p.string(p.last.EventSourceARN)
		case "userIdentity":
			err = p.userIdentity(r)
		case "dynamodb":
			err = p.streamRecord(r)
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
		if has, err = p.more('}'); err != nil {
			return err
		}
	}
	r.Raw = p.data[start:p.pos:p.pos]
	p.last = *r
	return nil
}

func (p *eventParser) userIdentity(r *Record) error {
	if null, err := p.null(); null || err != nil {
		return err
	}
	has, err := p.openObject()
	for has && err == nil {
		var k []byte
		if k, err = p.key(); err != nil {
			return err
		}
		switch string(k) {
		case "type":
			r.UserIdentityType, err = p.string(p.last.UserIdentityType)
		case "principalId":
			r.UserIdentityPrincipalID, err = p.string(p.last.UserIdentityPrincipalID)
		default:
			err = p.skip()
		}
		if err == nil {
			has, err = p.more('}')
		}
	}
	return err
}

func (p *eventParser) streamRecord(r *Record) error {
	if null, err := p.null(); null || err != nil {
		return err
	}
	has, err := p.openObject()
	for has && err == nil {
		var k []byte
		if k, err = p.key(); err != nil {
			return err
		}
		switch string(k) {
		case "ApproximateCreationDateTime":
			err = p.creationTime(r)
		case "Keys":
			r.Keys, err = p.image(Keys)
		case "NewImage":
			r.NewImage, err = p.image(NewImage)
		case "OldImage":
			r.OldImage, err = p.image(OldImage)
		case "SequenceNumber":
			r.SequenceNumber, err = p.string("")
		case "SizeBytes":
			r.SizeBytes, err = p.int64()
		case "StreamViewType":
			r.StreamViewType, err = p.string(p.last.StreamViewType)
		default:
			err = p.skip()
		}
		if err == nil {
			has, err = p.more('}')
		}
	}
	return err
}

// image reads an attribute map (or null), through the ImageFunc if there
// is one, and returns its bytes.
func (p *eventParser) image(which Image) ([]byte, error) {
	if null, err := p.null(); null || err != nil {
		return nil, err
	}
	if p.peek() != '{' {
		return nil, p.unexpected("object")
	}
	start := p.pos
	if p.fn != nil {
		// One decoder per parse, reset per image: handing a new one to
		// fn would allocate it each time.
		x := &p.img
		*x = ImageDecoder{p: p}
		p.fn(p.rec, which, x)
		if x.state == 1 {
			return p.data[start:p.pos:p.pos], nil
		}
		p.pos = start
	}
	if err := p.skip(); err != nil {
		return nil, err
	}
	return p.data[start:p.pos:p.pos], nil
}

func (p *eventParser) window(ev *Event) error {
	if null, err := p.null(); null || err != nil {
		return err
	}
	ev.HasWindow = true
	has, err := p.openObject()
	for has && err == nil {
		var k []byte
		if k, err = p.key(); err != nil {
			return err
		}
		switch string(k) {
		case "start":
			ev.WindowStart, err = p.rfc3339()
		case "end":
			ev.WindowEnd, err = p.rfc3339()
		default:
			err = p.skip()
		}
		if err == nil {
			has, err = p.more('}')
		}
	}
	return err
}

func (p *eventParser) rfc3339() (time.Time, error) {
	if null, err := p.null(); null || err != nil {
		return time.Time{}, err
	}
	p.ws()
	at := p.pos
	b, err := p.str()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, string(b))
	if err != nil {
		return time.Time{}, p.errAt(at, "window time %q is not RFC 3339", b)
	}
	return t, nil
}

func (p *eventParser) state(ev *Event) error {
	if null, err := p.null(); null || err != nil {
		return err
	}
	ev.State = map[string]string{}
	has, err := p.openObject()
	for has && err == nil {
		var k []byte
		if k, err = p.key(); err != nil {
			return err
		}
		name := string(k)
		var v string
		if v, err = p.string(""); err != nil {
			return err
		}
		ev.State[name] = v
		has, err = p.more('}')
	}
	return err
}

// string reads a string or null. When the string equals prev, prev is
// returned, which saves an allocation for values that repeat in every
// record of a batch.
func (p *eventParser) string(prev string) (string, error) {
	if null, err := p.null(); null || err != nil {
		return "", err
	}
	b, err := p.str()
	if err != nil {
		return "", err
	}
	if string(b) == prev {
		return prev, nil
	}
	switch string(b) {
	case "INSERT":
		return "INSERT", nil
	case "MODIFY":
		return "MODIFY", nil
	case "REMOVE":
		return "REMOVE", nil
	case "aws:dynamodb":
		return "aws:dynamodb", nil
	case "NEW_AND_OLD_IMAGES":
		return "NEW_AND_OLD_IMAGES", nil
	case "NEW_IMAGE":
		return "NEW_IMAGE", nil
	case "OLD_IMAGE":
		return "OLD_IMAGE", nil
	case "KEYS_ONLY":
		return "KEYS_ONLY", nil
	case "Service":
		return "Service", nil
	case "dynamodb.amazonaws.com":
		return "dynamodb.amazonaws.com", nil
	}
	return string(b), nil
}

func (p *eventParser) optBool() (bool, error) {
	if null, err := p.null(); null || err != nil {
		return false, err
	}
	return p.boolean()
}

// int64 reads an integer number (or null), as encoding/json would into an
// int64: a fraction or exponent is an error.
func (p *eventParser) int64() (int64, error) {
	if null, err := p.null(); null || err != nil {
		return 0, err
	}
	p.ws()
	at := p.pos
	b, err := p.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, p.errAt(at, "number %s is not a 64-bit integer", b)
	}
	return n, nil
}

// creationTime reads ApproximateCreationDateTime, epoch seconds with an
// optional fraction. Plain decimals are converted exactly; other forms
// (exponents) go through float64 as aws-lambda-go does.
func (p *eventParser) creationTime(r *Record) error {
	if null, err := p.null(); null || err != nil {
		return err
	}
	p.ws()
	at := p.pos
	b, err := p.number()
	if err != nil {
		return err
	}
	sec, nsec, ok := decimalSeconds(b)
	if !ok {
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil || f > 1<<62 || f < -(1<<62) {
			return p.errAt(at, "ApproximateCreationDateTime %s out of range", b)
		}
		sec = int64(f)
		nsec = int64((f - float64(sec)) * 1e9)
	}
	r.ApproximateCreationDateTime = time.Unix(sec, nsec).UTC()
	return nil
}

// decimalSeconds splits a plain decimal number of seconds into seconds and
// nanoseconds, truncating digits past the ninth decimal.
func decimalSeconds(b []byte) (sec, nsec int64, ok bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i >= 18 {
			return 0, 0, false
		}
		sec = sec*10 + int64(b[i]-'0')
	}
	if i < len(b) {
		if b[i] != '.' {
			return 0, 0, false
		}
		scale := int64(1e8)
		for i++; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				return 0, 0, false
			}
			nsec += int64(c-'0') * scale
			scale /= 10
		}
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return sec, nsec, true
}
