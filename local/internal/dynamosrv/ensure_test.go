package dynamosrv

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func ordersTable(indexes ...Index) Table {
	return Table{Name: "orders", PK: KeyDef{"id", "S"}, SK: &KeyDef{"line", "N"}, StreamView: "NEW_IMAGE", Indexes: indexes}
}

var byCustomer = Index{Name: "by-customer", PK: KeyDef{"customer", "S"}, SK: &KeyDef{"placed", "N"}}

// queryCustomer returns the ids of a customer's orders through the index,
// in the index's order.
func queryCustomer(t *testing.T, c clients, customer string) []string {
	t.Helper()
	out, err := c.ddb.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 aws.String("orders"),
		IndexName:                 aws.String("by-customer"),
		KeyConditionExpression:    aws.String("customer = :c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": s(customer)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range out.Items {
		ids = append(ids, it["id"].(*types.AttributeValueMemberS).Value)
	}
	return ids
}

// A table kept in a state directory gets a global index declared after
// its creation, filled from the items it already holds, and keeps it
// across restarts.
func TestEnsureAddsGlobalIndexToExistingTable(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c := open(t, dir)
	if err := c.db.Ensure(ordersTable()); err != nil {
		t.Fatal(err)
	}
	items := []map[string]types.AttributeValue{
		{"id": s("o-1"), "line": n("1"), "customer": s("c-1"), "placed": n("20")},
		{"id": s("o-2"), "line": n("1"), "customer": s("c-1"), "placed": n("10")},
		{"id": s("o-3"), "line": n("1"), "customer": s("c-2"), "placed": n("5")},
		{"id": s("o-4"), "line": n("1"), "customer": s("c-1")},                 // no sort key: not indexed
		{"id": s("o-5"), "line": n("1"), "customer": n("1"), "placed": n("1")}, // customer a number: not indexed
	}
	for _, it := range items {
		if _, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	c.db.Close()

	c = open(t, dir)
	if err := c.db.Ensure(ordersTable(byCustomer)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(queryCustomer(t, c, "c-1"), ","); got != "o-2,o-1" {
		t.Errorf("customer c-1 through the added index: %s, want o-2,o-1", got)
	}
	sc, err := c.ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("orders"), IndexName: aws.String("by-customer")})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Count != 3 {
		t.Errorf("the index holds %d items, want the 3 with a string customer and a number placed", sc.Count)
	}
	// Writes after the index was added reach it.
	if _, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders"), Item: map[string]types.AttributeValue{"id": s("o-6"), "line": n("1"), "customer": s("c-2"), "placed": n("1")}}); err != nil {
		t.Fatal(err)
	}
	// The stream the table had is still on, with the same ARN.
	d, err := c.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Table.GlobalSecondaryIndexes) != 1 || aws.ToString(d.Table.GlobalSecondaryIndexes[0].IndexName) != "by-customer" || d.Table.GlobalSecondaryIndexes[0].IndexStatus != types.IndexStatusActive {
		t.Errorf("global indexes: %+v", d.Table.GlobalSecondaryIndexes)
	}
	if d.Table.StreamSpecification == nil || !aws.ToBool(d.Table.StreamSpecification.StreamEnabled) {
		t.Error("adding the index turned the stream off")
	}
	c.db.Close()

	// A restart with the same declaration finds the index there and keeps
	// it as it is.
	c = open(t, dir)
	if err := c.db.Ensure(ordersTable(byCustomer)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(queryCustomer(t, c, "c-2"), ","); got != "o-6,o-3" {
		t.Errorf("customer c-2 after a restart: %s, want o-6,o-3", got)
	}
	have, err := c.db.Indexes("orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != 1 || !sameKeys(have[0], byCustomer) {
		t.Errorf("indexes after the restart: %+v", have)
	}
}

// Several global indexes are added at once; an index the table has beyond
// the declaration stays.
func TestEnsureAddsSeveralGlobalIndexes(t *testing.T) {
	c := open(t, "")
	byStatus := Index{Name: "by-status", PK: KeyDef{"status", "S"}}
	if err := c.db.Ensure(ordersTable(byStatus)); err != nil {
		t.Fatal(err)
	}
	byPlaced := Index{Name: "by-placed", PK: KeyDef{"placed", "N"}}
	if err := c.db.Ensure(ordersTable(byCustomer, byPlaced)); err != nil {
		t.Fatal(err)
	}
	have, err := c.db.Indexes("orders")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ix := range have {
		names = append(names, ix.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "by-customer,by-placed,by-status" {
		t.Errorf("indexes: %v", names)
	}
}

// A local index cannot be added to an existing table, nor an index's keys
// changed: Ensure refuses, naming the table and the index, and changes
// nothing.
func TestEnsureRefusesIndexChangesInPlace(t *testing.T) {
	c := open(t, "")
	if err := c.db.Ensure(ordersTable(byCustomer)); err != nil {
		t.Fatal(err)
	}
	byAmount := Index{Name: "by-amount", PK: KeyDef{"id", "S"}, SK: &KeyDef{"amount", "N"}, Local: true}
	rekeyed := byCustomer
	rekeyed.SK = &KeyDef{"total", "N"}
	for _, tc := range []struct {
		name string
		tab  Table
		want []string
	}{
		{"local index", ordersTable(byCustomer, byAmount), []string{"table orders", "local index by-amount", "only be created with its table"}},
		{"changed keys", ordersTable(rekeyed), []string{"table orders", "index by-customer", "sort placed (N)", "sort total (N)", "cannot be changed"}},
		{"global made local", ordersTable(Index{Name: "by-customer", PK: KeyDef{"id", "S"}, SK: &KeyDef{"placed", "N"}, Local: true}), []string{"global index by-customer", "cannot be changed"}},
	} {
		err := c.db.Ensure(tc.tab)
		var mm *IndexMismatchError
		if !errors.As(err, &mm) || mm.Table != "orders" {
			t.Errorf("%s: Ensure = %v, want an *IndexMismatchError", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}
	have, err := c.db.Indexes("orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != 1 || !sameKeys(have[0], byCustomer) {
		t.Errorf("a refused Ensure changed the indexes: %+v", have)
	}
}
