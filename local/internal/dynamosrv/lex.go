package dynamosrv

import (
	"fmt"
	"strings"
)

// ---- lexer

type tokKind int

const (
	tEOF tokKind = iota
	tName
	tNamePH  // #name
	tValuePH // :value
	tNumber  // list index
	tPunct
)

type token struct {
	k   tokKind
	s   string
	pos int
}

func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == ':':
			j := i + 1
			for j < len(src) && (isIdent(src[j]) || src[j] == '-') {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("Syntax error; token: \"%c\", near: \"%s\"", c, near(src, i))
			}
			k := tNamePH
			if c == ':' {
				k = tValuePH
			}
			out = append(out, token{k, src[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			out = append(out, token{tNumber, src[i:j], i})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdent(src[j]) {
				j++
			}
			out = append(out, token{tName, src[i:j], i})
			i = j
		default:
			if i+1 < len(src) {
				two := src[i : i+2]
				if two == "<=" || two == ">=" || two == "<>" {
					out = append(out, token{tPunct, two, i})
					i += 2
					continue
				}
			}
			if strings.IndexByte("()[],.=<>+-", c) < 0 {
				return nil, fmt.Errorf("Invalid character encountered; character: \"%c\", near: \"%s\"", c, near(src, i))
			}
			out = append(out, token{tPunct, string(c), i})
			i++
		}
	}
	return append(out, token{tEOF, "", len(src)}), nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func near(src string, i int) string {
	end := i + 10
	if end > len(src) {
		end = len(src)
	}
	return src[i:end]
}
