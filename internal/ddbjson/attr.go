package ddbjson

import (
	"encoding/base64"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// avType is the member name of an attribute value object: its DynamoDB type.
type avType uint8

const (
	tNone avType = iota
	tS
	tN
	tB
	tBOOL
	tNULL
	tL
	tM
	tSS
	tNS
	tBS
)

var avTypeNames = [...]string{tNone: "?", tS: "S", tN: "N", tB: "B", tBOOL: "BOOL", tNULL: "NULL",
	tL: "L", tM: "M", tSS: "SS", tNS: "NS", tBS: "BS"}

func (t avType) String() string { return avTypeNames[t] }

func avTypeOf(name []byte) avType {
	switch string(name) {
	case "S":
		return tS
	case "N":
		return tN
	case "B":
		return tB
	case "BOOL":
		return tBOOL
	case "NULL":
		return tNULL
	case "L":
		return tL
	case "M":
		return tM
	case "SS":
		return tSS
	case "NS":
		return tNS
	case "BS":
		return tBS
	}
	return tNone
}

// openAV consumes the start of an attribute value object, `{"T":`, and
// returns T. The common spellings are recognised without a string scan.
func (s *scanner) openAV() (avType, error) {
	s.ws()
	data := s.data
	i := s.pos
	if i >= len(data) || data[i] != '{' {
		return tNone, s.unexpected("attribute value object")
	}
	i++
	for i < len(data) && data[i] <= ' ' && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	if i+3 < len(data) && data[i] == '"' {
		t, n := tNone, 0
		switch c, c2 := data[i+1], data[i+2]; {
		case c2 == '"':
			n = 3
			switch c {
			case 'S':
				t = tS
			case 'N':
				t = tN
			case 'M':
				t = tM
			case 'L':
				t = tL
			case 'B':
				t = tB
			}
		case c2 == 'S' && data[i+3] == '"':
			n = 4
			switch c {
			case 'S':
				t = tSS
			case 'N':
				t = tNS
			case 'B':
				t = tBS
			}
		}
		if t != tNone {
			s.pos = i + n
			if s.pos < len(data) && data[s.pos] == ':' {
				s.pos++
				return t, nil
			}
			return t, s.consume(':', "':'")
		}
	}
	s.pos = i
	if s.peek() == '}' {
		return tNone, s.errHere("attribute value object has no type member")
	}
	at := s.pos
	k, err := s.key()
	if err != nil {
		return tNone, err
	}
	t := avTypeOf(k)
	if t == tNone {
		return tNone, s.errAt(at, "unknown attribute value type %q", k)
	}
	return t, nil
}

// closeAV consumes the '}' that ends an attribute value object.
func (s *scanner) closeAV() error {
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	if s.pos < len(s.data) && s.data[s.pos] == ',' {
		return s.errHere("attribute value object has more than one member")
	}
	return s.unexpected("'}'")
}

// typed reports that the member of an attribute value object has the wrong
// JSON type.
func (s *scanner) typed(t avType, want string) error {
	return s.errHere("%s attribute value must be %s", t, want)
}

// avString reads the string member of an S or N value.
func (s *scanner) avString(t avType) ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.typed(t, "a string")
	}
	return s.str()
}

// avBool reads the member of a BOOL or NULL value.
func (s *scanner) avBool(t avType) (bool, error) {
	switch s.peek() {
	case 't', 'f':
		return s.boolean()
	}
	return false, s.typed(t, "true or false")
}

// avBinary reads a base64 string into a new slice (never nil, as
// base64.StdEncoding.DecodeString returns).
func (s *scanner) avBinary(t avType) ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.typed(t, "a base64 string")
	}
	at := s.pos
	src, err := s.str()
	if err != nil {
		return nil, err
	}
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Decode(dst, src)
	if err != nil {
		return nil, s.errAt(at, "%s attribute value is not valid base64: %v", t, err)
	}
	return dst[:n], nil
}

// AttributeMap decodes a DynamoDB-JSON attribute map, such as the Keys of a
// stream record, into its types.AttributeValue form. JSON null gives a nil
// map. Every attribute is checked to be a well-formed attribute value.
func AttributeMap(data []byte) (map[string]types.AttributeValue, error) {
	s := scanner{data: data}
	if null, err := s.null(); null || err != nil {
		if err == nil {
			err = s.end()
		}
		return nil, err
	}
	m, err := s.avMap()
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// av reads a whole attribute value object.
func (s *scanner) av() (types.AttributeValue, error) {
	t, err := s.openAV()
	if err != nil {
		return nil, err
	}
	v, err := s.avBody(t)
	if err != nil {
		return nil, err
	}
	return v, s.closeAV()
}

// avBody reads the member of an attribute value object whose type t has
// been read. Collections are never nil, as the SDK's own JSON decoder makes
// them.
func (s *scanner) avBody(t avType) (types.AttributeValue, error) {
	if s.depth++; s.depth > maxDepth {
		return nil, s.errHere("nesting deeper than %d", maxDepth)
	}
	defer func() { s.depth-- }()
	switch t {
	case tS, tN:
		b, err := s.avString(t)
		if err != nil {
			return nil, err
		}
		if t == tS {
			return &types.AttributeValueMemberS{Value: string(b)}, nil
		}
		return &types.AttributeValueMemberN{Value: string(b)}, nil
	case tB:
		b, err := s.avBinary(t)
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberB{Value: b}, nil
	case tBOOL:
		b, err := s.avBool(t)
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberBOOL{Value: b}, nil
	case tNULL:
		b, err := s.avBool(t)
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberNULL{Value: b}, nil
	case tL:
		if s.peek() != '[' {
			return nil, s.typed(t, "an array")
		}
		l := []types.AttributeValue{}
		has, err := s.openArray()
		for has && err == nil {
			var v types.AttributeValue
			if v, err = s.av(); err != nil {
				return nil, err
			}
			l = append(l, v)
			has, err = s.more(']')
		}
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case tM:
		if s.peek() != '{' {
			return nil, s.typed(t, "an object")
		}
		m, err := s.avMap()
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	case tSS, tNS:
		if s.peek() != '[' {
			return nil, s.typed(t, "an array of strings")
		}
		l := []string{}
		has, err := s.openArray()
		for has && err == nil {
			var b []byte
			if b, err = s.avString(t); err != nil {
				return nil, err
			}
			l = append(l, string(b))
			has, err = s.more(']')
		}
		if err != nil {
			return nil, err
		}
		if t == tSS {
			return &types.AttributeValueMemberSS{Value: l}, nil
		}
		return &types.AttributeValueMemberNS{Value: l}, nil
	case tBS:
		if s.peek() != '[' {
			return nil, s.typed(t, "an array of base64 strings")
		}
		l := [][]byte{}
		has, err := s.openArray()
		for has && err == nil {
			var b []byte
			if b, err = s.avBinary(t); err != nil {
				return nil, err
			}
			l = append(l, b)
			has, err = s.more(']')
		}
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberBS{Value: l}, nil
	}
	return nil, s.errHere("unknown attribute value type")
}

// avMap reads an object of attribute values.
func (s *scanner) avMap() (map[string]types.AttributeValue, error) {
	m := map[string]types.AttributeValue{}
	has, err := s.openObject()
	for has && err == nil {
		var k []byte
		if k, err = s.key(); err != nil {
			return nil, err
		}
		name := string(k)
		var v types.AttributeValue
		if v, err = s.av(); err != nil {
			return nil, err
		}
		m[name] = v
		has, err = s.more('}')
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}
