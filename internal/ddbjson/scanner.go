package ddbjson

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of skipped and decoded values, as encoding/json
// does, so that hostile input cannot exhaust the stack.
const maxDepth = 10000

// SyntaxError reports malformed JSON, or JSON whose shape is not what a
// stream payload or an attribute value must be.
type SyntaxError struct {
	// Offset is the byte offset in the input at which the problem was found.
	Offset int
	msg    string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("ddbjson: malformed JSON at offset %d: %s", e.Offset, e.msg)
}

// scanner is a cursor over a JSON document. Its methods consume one
// syntactic element each and leave pos just after it.
type scanner struct {
	data []byte
	pos  int
	// scratch receives unescaped strings; a string returned from it is
	// valid until the next call that unescapes.
	scratch []byte
	depth   int
}

func (s *scanner) errAt(pos int, format string, args ...any) error {
	return &SyntaxError{Offset: pos, msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) errHere(format string, args ...any) error {
	return s.errAt(s.pos, format, args...)
}

// unexpected reports the byte at pos (or the end of input) where want was
// expected.
func (s *scanner) unexpected(want string) error {
	if s.pos >= len(s.data) {
		return s.errHere("unexpected end of input, expected %s", want)
	}
	return s.errHere("unexpected %q, expected %s", s.data[s.pos], want)
}

// ws skips insignificant white space. Lambda's payloads have none between
// tokens, so the common case is one comparison.
func (s *scanner) ws() {
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return
	}
	s.wsSlow()
}

func (s *scanner) wsSlow() {
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if c > ' ' || (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
			return
		}
		s.pos++
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// consume skips white space and the byte c, which must come next.
func (s *scanner) consume(c byte, want string) error {
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return nil
	}
	return s.unexpected(want)
}

// more is called after a member or element: it consumes a ',' and reports
// true, or consumes the closing byte and reports false.
func (s *scanner) more(closing byte) (bool, error) {
	s.ws()
	if s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',':
			s.pos++
			return true, nil
		case closing:
			s.pos++
			return false, nil
		}
	}
	if closing == '}' {
		return false, s.unexpected("',' or '}'")
	}
	return false, s.unexpected("',' or ']'")
}

// openObject consumes '{' and reports whether the object has members; an
// empty object is consumed entirely.
func (s *scanner) openObject() (bool, error) {
	if err := s.consume('{', "'{'"); err != nil {
		return false, err
	}
	if s.peek() == '}' {
		s.pos++
		return false, nil
	}
	return true, nil
}

// openArray is openObject for arrays.
func (s *scanner) openArray() (bool, error) {
	if err := s.consume('[', "'['"); err != nil {
		return false, err
	}
	if s.peek() == ']' {
		s.pos++
		return false, nil
	}
	return true, nil
}

// key reads an object member name and the ':' after it. The result may
// alias the input or the scratch buffer.
func (s *scanner) key() ([]byte, error) {
	s.ws()
	k, err := s.str()
	if err != nil {
		return nil, err
	}
	if err := s.consume(':', "':'"); err != nil {
		return nil, err
	}
	return k, nil
}

// strClass marks the bytes that end the fast path of a string: the quote,
// the backslash, control characters and non-ASCII bytes.
var strClass = func() (t [256]bool) {
	for i := 0; i < 0x20; i++ {
		t[i] = true
	}
	t['"'] = true
	t['\\'] = true
	for i := 0x80; i < 0x100; i++ {
		t[i] = true
	}
	return t
}()

const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special returns a word with the high bit set in each byte of w (eight
// bytes of a string) that needs attention: a quote, a backslash, a control
// character or a non-ASCII byte. For each test the lowest flagged byte is
// exact (borrows only flag bytes above a real match), so the lowest set bit
// of the union is the first such byte. Testing a word at a time matters
// because strings are most of a payload.
func special(w uint64) uint64 {
	q := w ^ ('"' * lows)
	bs := w ^ ('\\' * lows)
	return ((q-lows)&^q | (bs-lows)&^bs | (w-0x20*lows)&^w | w) & highs
}

// str reads a JSON string at pos (after optional white space) and returns its
// unescaped bytes. Strings without escapes are returned as a sub-slice of the
// input; others are unescaped into the scratch buffer. Invalid UTF-8 and
// unpaired surrogate escapes become U+FFFD, as encoding/json does, so that
// both decoders agree on every input.
func (s *scanner) str() ([]byte, error) {
	s.ws()
	data := s.data
	if s.pos >= len(data) || data[s.pos] != '"' {
		return nil, s.unexpected("string")
	}
	start := s.pos + 1
	i := start
	for len(data)-i >= 8 {
		if m := special(binary.LittleEndian.Uint64(data[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			if data[i] == '"' {
				s.pos = i + 1
				return data[start:i], nil
			}
			return s.strSlow(start, i)
		}
		i += 8
	}
	for i < len(data) && !strClass[data[i]] {
		i++
	}
	if i < len(data) && data[i] == '"' {
		s.pos = i + 1
		return data[start:i], nil
	}
	return s.strSlow(start, i)
}

// strSlow finishes a string whose fast scan stopped at i.
func (s *scanner) strSlow(start, i int) ([]byte, error) {
	data := s.data
	out := append(s.scratch[:0], data[start:i]...)
	for {
		if i >= len(data) {
			return nil, s.errAt(i, "unexpected end of input in string")
		}
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.scratch = out
			return out, nil
		case c == '\\':
			if i+1 >= len(data) {
				return nil, s.errAt(i, "unexpected end of input in string escape")
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
				i += 2
			case 'b':
				out = append(out, '\b')
				i += 2
			case 'f':
				out = append(out, '\f')
				i += 2
			case 'n':
				out = append(out, '\n')
				i += 2
			case 'r':
				out = append(out, '\r')
				i += 2
			case 't':
				out = append(out, '\t')
				i += 2
			case 'u':
				r, ok := hex4(data, i+2)
				if !ok {
					return nil, s.errAt(i, "invalid \\u escape in string")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair is two escapes; anything else leaves
					// the first half unpaired.
					if i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
						if r2, ok := hex4(data, i+2); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								out = utf8.AppendRune(out, dec)
								i += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				return nil, s.errAt(i, "invalid escape %q in string", "\\"+string(e))
			}
		case c < 0x20:
			return nil, s.errAt(i, "control character %#02x in string", c)
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, data[i:i+size]...)
			}
			i += size
		}
	}
}

// hex4 decodes the four hex digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipStr skips a string without unescaping it, validating it as str would.
func (s *scanner) skipStr() error {
	data := s.data
	i := s.pos + 1 // past the opening quote, which the caller checked
	for i < len(data) {
		if len(data)-i >= 8 {
			m := special(binary.LittleEndian.Uint64(data[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		}
		c := data[i]
		if !strClass[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			return nil
		case c == '\\':
			if i+1 >= len(data) {
				return s.errAt(i, "unexpected end of input in string escape")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(data, i+2); !ok {
					return s.errAt(i, "invalid \\u escape in string")
				}
				i += 6
			default:
				return s.errAt(i, "invalid escape %q in string", "\\"+string(data[i+1]))
			}
		case c < 0x20:
			return s.errAt(i, "control character %#02x in string", c)
		default: // non-ASCII: any byte is acceptable, invalid UTF-8 is replaced on decode
			i++
		}
	}
	return s.errAt(i, "unexpected end of input in string")
}

// skip skips one JSON value of any kind, validating it.
func (s *scanner) skip() error {
	s.ws()
	if s.pos >= len(s.data) {
		return s.unexpected("value")
	}
	switch c := s.data[s.pos]; c {
	case '"':
		return s.skipStr()
	case '{':
		if s.depth++; s.depth > maxDepth {
			return s.errHere("nesting deeper than %d", maxDepth)
		}
		s.pos++
		if s.peek() == '}' {
			s.pos++
			s.depth--
			return nil
		}
		for {
			if s.peek() != '"' {
				return s.unexpected("string")
			}
			if err := s.skipStr(); err != nil {
				return err
			}
			if err := s.consume(':', "':'"); err != nil {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
			more, err := s.more('}')
			if err != nil {
				return err
			}
			if !more {
				s.depth--
				return nil
			}
		}
	case '[':
		if s.depth++; s.depth > maxDepth {
			return s.errHere("nesting deeper than %d", maxDepth)
		}
		s.pos++
		if s.peek() == ']' {
			s.pos++
			s.depth--
			return nil
		}
		for {
			if err := s.skip(); err != nil {
				return err
			}
			more, err := s.more(']')
			if err != nil {
				return err
			}
			if !more {
				s.depth--
				return nil
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if c == '-' || ('0' <= c && c <= '9') {
			_, err := s.number()
			return err
		}
		return s.unexpected("value")
	}
}

// literal consumes the literal word at pos.
func (s *scanner) literal(word string) error {
	if len(s.data)-s.pos >= len(word) && string(s.data[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return nil
	}
	return s.errHere("invalid literal, expected %s", word)
}

// null consumes a null if one comes next and reports whether it did.
func (s *scanner) null() (bool, error) {
	if s.peek() != 'n' {
		return false, nil
	}
	return true, s.literal("null")
}

// boolean reads true or false.
func (s *scanner) boolean() (bool, error) {
	switch s.peek() {
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	}
	return false, s.unexpected("true or false")
}

// number reads a JSON number and returns its text, validating the grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) number() ([]byte, error) {
	s.ws()
	data := s.data
	start := s.pos
	i := start
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i++; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
		}
	default:
		s.pos = i
		return nil, s.unexpected("digit")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			return nil, s.unexpected("digit after decimal point")
		}
		for i++; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			return nil, s.unexpected("digit in exponent")
		}
		for i++; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
		}
	}
	s.pos = i
	return data[start:i], nil
}

// end checks that nothing but white space follows the document.
func (s *scanner) end() error {
	s.ws()
	if s.pos != len(s.data) {
		return s.errHere("unexpected %q after the top-level value", s.data[s.pos])
	}
	return nil
}
