package dynamosrv

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/internal/itemsize"
)

// TestItemSizeIsItemsizes checks that the emulator counts an item's size
// toward the 400 KB limit as package itemsize does (the rules the Load
// stage checks rows with), for every kind of value and nesting.
func TestItemSizeIsItemsizes(t *testing.T) {
	wire := `{"id":{"S":"abc"},"n":{"N":"-123.4500"},"ok":{"BOOL":true},"z":{"NULL":true},"b":{"B":"AQID"},
		"ss":{"SS":["a","bc"]},"ns":{"NS":["1","1000"]},"bs":{"BS":["AQ=="]},
		"l":{"L":[{"NULL":true},{"N":"7"},{"L":[]},{"M":{"k":{"S":"xy"}}}]},
		"m":{"M":{"k":{"S":"xy"},"inner":{"M":{"e":{"L":[{"S":"é"}]}}}}}}`
	var it Item
	if err := json.Unmarshal([]byte(wire), &it); err != nil {
		t.Fatal(err)
	}
	sdk := map[string]types.AttributeValue{
		"id": &types.AttributeValueMemberS{Value: "abc"},
		"n":  &types.AttributeValueMemberN{Value: "-123.4500"},
		"ok": &types.AttributeValueMemberBOOL{Value: true},
		"z":  &types.AttributeValueMemberNULL{Value: true},
		"b":  &types.AttributeValueMemberB{Value: []byte{1, 2, 3}},
		"ss": &types.AttributeValueMemberSS{Value: []string{"a", "bc"}},
		"ns": &types.AttributeValueMemberNS{Value: []string{"1", "1000"}},
		"bs": &types.AttributeValueMemberBS{Value: [][]byte{{1}}},
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberNULL{Value: true}, &types.AttributeValueMemberN{Value: "7"},
			&types.AttributeValueMemberL{Value: []types.AttributeValue{}},
			&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: "xy"}}}}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"k": &types.AttributeValueMemberS{Value: "xy"},
			"inner": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"e": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "é"}}}}}}},
	}
	if got, want := it.size(), itemsize.Item(sdk); got != want || want == 0 {
		t.Errorf("emulator size %d, itemsize %d", got, want)
	}
}
