// Package itemsize computes an item's size as DynamoDB counts it toward
// its 400 KB item limit, exactly, once for nanopipe: the local DynamoDB
// emulator refuses items over the limit with it, and the Load stage
// reports rows whose items would be refused before writing them.
//
// DynamoDB documents the rules: attribute names and string and binary
// values count their UTF-8 bytes; a number counts about one byte per two
// significant digits plus one (see Number); booleans and NULL one byte;
// sets the sum of their elements; lists and maps 3 bytes plus, per
// element, one byte and the element's size (and, for maps, the key).
package itemsize

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Limit is DynamoDB's largest item, in bytes.
const Limit = 400 * 1024

// Overheads of lists and maps.
const (
	Container = 3 // a list or map
	Element   = 1 // each element of a list or map
)

// Item is the size of an item: its attribute names and values.
func Item(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + Value(v)
	}
	return n
}

// Value is the size of one attribute value.
func Value(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return Number(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		return sum(v.Value, func(s string) int { return len(s) })
	case *types.AttributeValueMemberNS:
		return sum(v.Value, Number)
	case *types.AttributeValueMemberBS:
		return sum(v.Value, func(b []byte) int { return len(b) })
	case *types.AttributeValueMemberL:
		n := Container
		for _, e := range v.Value {
			n += Element + Value(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := Container
		for k, e := range v.Value {
			n += Element + len(k) + Value(e)
		}
		return n
	}
	return 0
}

// sum is the size of a set: the sum of its elements' sizes.
func sum[E any](set []E, size func(E) int) int {
	n := 0
	for _, e := range set {
		n += size(e)
	}
	return n
}

// Number is the size of a number given as DynamoDB's text: DynamoDB
// stores it as base-100 digits aligned on the decimal point, without
// leading or trailing zero pairs, plus an exponent byte, plus a
// terminator byte for negative numbers.
func Number(n string) int {
	neg := strings.HasPrefix(n, "-")
	n = strings.TrimLeft(n, "+-")
	whole, frac, _ := strings.Cut(n, ".")
	if len(whole)%2 == 1 {
		whole = "0" + whole
	}
	if len(frac)%2 == 1 {
		frac += "0"
	}
	digits := whole + frac
	i, j := 0, len(digits)
	for i < j && digits[i:i+2] == "00" {
		i += 2
	}
	for j > i && digits[j-2:j] == "00" {
		j -= 2
	}
	size := (j-i)/2 + 1
	if neg {
		size++
	}
	return size
}
