package itemsize_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/internal/itemsize"
)

func TestNumber(t *testing.T) {
	tests := []struct {
		n    string
		want int
	}{
		{"0", 1}, {"1", 2}, {"12", 2}, {"123", 3}, {"100", 2}, {"1000000", 2},
		{"-1", 3}, {"0.5", 2}, {"0.05", 2}, {"1.5", 3}, {"12345678901234567890", 11},
	}
	for _, tt := range tests {
		if got := itemsize.Number(tt.n); got != tt.want {
			t.Errorf("Number(%q) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func TestItem(t *testing.T) {
	item := map[string]types.AttributeValue{
		"id":   &types.AttributeValueMemberS{Value: "abc"},                // 2 + 3
		"n":    &types.AttributeValueMemberN{Value: "123"},                // 1 + 3
		"ok":   &types.AttributeValueMemberBOOL{Value: true},              // 2 + 1
		"tags": &types.AttributeValueMemberSS{Value: []string{"a", "bc"}}, // 4 + 3
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{ // 1 + 3 + (1+1) + (1+2)
			&types.AttributeValueMemberNULL{Value: true}, &types.AttributeValueMemberN{Value: "7"}}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{ // 1 + 3 + (1+1+2)
			"k": &types.AttributeValueMemberS{Value: "xy"}}},
	}
	if got, want := itemsize.Item(item), 5+4+3+7+(1+3+2+3)+(1+3+4); got != want {
		t.Errorf("Item = %d, want %d", got, want)
	}
	big := map[string]types.AttributeValue{"b": &types.AttributeValueMemberS{Value: strings.Repeat("x", itemsize.Limit)}}
	if itemsize.Item(big) <= itemsize.Limit {
		t.Errorf("an item with a %d-byte string is not over the limit", itemsize.Limit)
	}
}
