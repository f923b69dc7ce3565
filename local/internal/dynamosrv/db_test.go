package dynamosrv

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/nanopipe/nanopipe/local/internal/awsconf"
)

type clients struct {
	db  *DB
	ddb *dynamodb.Client
	st  *dynamodbstreams.Client
}

func open(t *testing.T, dir string) clients {
	t.Helper()
	db, err := Open(Options{Dir: dir, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(db)
	t.Cleanup(func() { hs.Close(); db.Close() })
	cfg := awsconf.Config()
	return clients{
		db:  db,
		ddb: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(hs.URL) }),
		st:  dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(hs.URL) }),
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func createTable(t *testing.T, c clients, name, view string, sort bool) {
	t.Helper()
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}
	if sort {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange})
	}
	if view != "" {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(view)}
	}
	if _, err := c.ddb.CreateTable(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

// records reads every record of every shard of the table's stream.
func records(t *testing.T, c clients, table string) []stypes.Record {
	t.Helper()
	ctx := context.Background()
	d, err := c.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.st.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: d.Table.LatestStreamArn})
	if err != nil {
		t.Fatal(err)
	}
	var out []stypes.Record
	for _, sh := range ds.StreamDescription.Shards {
		it, err := c.st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: d.Table.LatestStreamArn, ShardId: sh.ShardId, ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.st.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Records...)
	}
	return out
}

func TestTables(t *testing.T) {
	ctx := context.Background()
	c := open(t, "")
	createTable(t, c, "one", "NEW_AND_OLD_IMAGES", false)
	createTable(t, c, "two", "", true)
	d, err := c.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("one")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Table.TableStatus != types.TableStatusActive || aws.ToString(d.Table.LatestStreamArn) == "" || d.Table.StreamSpecification == nil || len(d.Table.AttributeDefinitions) != 1 || d.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("describe: %+v", d.Table)
	}
	l, err := c.ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil || len(l.TableNames) != 2 || l.TableNames[0] != "one" {
		t.Errorf("list tables: %v %v", l, err)
	}
	_, err = c.ddb.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("one"), AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}}, KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}, BillingMode: types.BillingModePayPerRequest})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("duplicate create: %v", err)
	}
	_, err = c.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("missing table: %v", err)
	}
}

func TestItems(t *testing.T) {
	ctx := context.Background()
	c := open(t, "")
	createTable(t, c, "ttt", "NEW_AND_OLD_IMAGES", false)
	put := func(item map[string]types.AttributeValue) {
		t.Helper()
		if _, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("ttt"), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put(map[string]types.AttributeValue{"pk": s("a"), "n": n("1"), "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}, "b": &types.AttributeValueMemberB{Value: []byte{}}, "big": n("12345678901234567890123456789012345678")})

	// ConditionalCheckFailedException, with the old item when asked.
	_, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("ttt"), Item: map[string]types.AttributeValue{"pk": s("a")}, ConditionExpression: aws.String("attribute_not_exists(pk)"), ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("conditional put: %v", err)
	}
	if ccf.Item["n"].(*types.AttributeValueMemberN).Value != "1" {
		t.Errorf("condition failure item: %v", ccf.Item)
	}

	// ReturnValues ALL_OLD returns the replaced item, intact.
	out, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("ttt"), Item: map[string]types.AttributeValue{"pk": s("a"), "n": n("2")}, ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		t.Fatal(err)
	}
	if out.Attributes["n"].(*types.AttributeValueMemberN).Value != "1" || out.Attributes["big"].(*types.AttributeValueMemberN).Value != "12345678901234567890123456789012345678" {
		t.Errorf("ALL_OLD: %v", out.Attributes)
	}
	if l, ok := out.Attributes["l"].(*types.AttributeValueMemberL); !ok || len(l.Value) != 0 {
		t.Errorf("empty list lost: %#v", out.Attributes["l"])
	}
	if b, ok := out.Attributes["b"].(*types.AttributeValueMemberB); !ok || len(b.Value) != 0 {
		t.Errorf("empty binary lost: %#v", out.Attributes["b"])
	}

	// Update expressions.
	u, err := c.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String("ttt"),
		Key:                       map[string]types.AttributeValue{"pk": s("a")},
		UpdateExpression:          aws.String("SET #n = #n + :one, tags = list_append(if_not_exists(tags, :empty), :tag) ADD cnt :one REMOVE gone"),
		ConditionExpression:       aws.String("#n = :two"),
		ExpressionAttributeNames:  map[string]string{"#n": "n"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1"), ":two": n("2"), ":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}, ":tag": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x")}}},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Attributes["n"].(*types.AttributeValueMemberN).Value != "3" || len(u.Attributes["tags"].(*types.AttributeValueMemberL).Value) != 1 || u.Attributes["cnt"].(*types.AttributeValueMemberN).Value != "1" {
		t.Errorf("update: %v", u.Attributes)
	}
	// An unused placeholder is refused, as DynamoDB does.
	_, err = c.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("ttt"), Key: map[string]types.AttributeValue{"pk": s("a")}, ExpressionAttributeNames: map[string]string{"#x": "x"}})
	if err == nil {
		t.Errorf("unused ExpressionAttributeNames accepted")
	}
	// Projection.
	g, err := c.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("ttt"), Key: map[string]types.AttributeValue{"pk": s("a")}, ProjectionExpression: aws.String("tags[0], cnt")})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Item) != 2 || len(g.Item["tags"].(*types.AttributeValueMemberL).Value) != 1 {
		t.Errorf("projection: %v", g.Item)
	}
	// A projection matching nothing still returns an (empty) item.
	g, _ = c.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("ttt"), Key: map[string]types.AttributeValue{"pk": s("a")}, ProjectionExpression: aws.String("nothing")})
	if g.Item == nil {
		t.Errorf("projection matching nothing returned no item")
	}
	// A write that changes nothing, and a failed one, write no stream record.
	before := len(records(t, c, "ttt"))
	c.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("ttt"), Key: map[string]types.AttributeValue{"pk": s("a")}, UpdateExpression: aws.String("SET cnt = :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")}})
	c.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("ttt"), Key: map[string]types.AttributeValue{"pk": s("a")}, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if after := len(records(t, c, "ttt")); after != before {
		t.Errorf("no-change and failed writes added %d records", after-before)
	}
}

func TestQueryPagination(t *testing.T) {
	ctx := context.Background()
	c := open(t, "")
	createTable(t, c, "qqq", "", true)
	for i := 0; i < 10; i++ {
		c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("qqq"), Item: map[string]types.AttributeValue{"pk": s("p"), "sk": n(fmt.Sprint(i)), "odd": &types.AttributeValueMemberBOOL{Value: i%2 == 1}}})
	}
	c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("qqq"), Item: map[string]types.AttributeValue{"pk": s("other"), "sk": n("1")}})
	var got []string
	var start map[string]types.AttributeValue
	pages := 0
	for {
		out, err := c.ddb.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String("qqq"),
			KeyConditionExpression:    aws.String("pk = :p AND sk >= :lo"),
			FilterExpression:          aws.String("odd = :t"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("p"), ":lo": n("2"), ":t": &types.AttributeValueMemberBOOL{Value: true}},
			Limit:                     aws.Int32(3),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if out.ScannedCount > 3 {
			t.Errorf("page scanned %d > Limit", out.ScannedCount)
		}
		for _, it := range out.Items {
			got = append(got, it["sk"].(*types.AttributeValueMemberN).Value)
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
	}
	if fmt.Sprint(got) != "[3 5 7 9]" || pages != 3 {
		t.Errorf("query pages %d items %v", pages, got)
	}
	desc, _ := c.ddb.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("qqq"), KeyConditionExpression: aws.String("pk = :p AND sk BETWEEN :a AND :b"), ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("p"), ":a": n("3"), ":b": n("5")}, ScanIndexForward: aws.Bool(false)})
	if len(desc.Items) != 3 || desc.Items[0]["sk"].(*types.AttributeValueMemberN).Value != "5" {
		t.Errorf("descending query: %v", desc.Items)
	}
	// Scan pages through everything once.
	seen := 0
	start = nil
	for {
		out, err := c.ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("qqq"), Limit: aws.Int32(4), ExclusiveStartKey: start})
		if err != nil {
			t.Fatal(err)
		}
		seen += len(out.Items)
		if out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
	}
	if seen != 11 {
		t.Errorf("scan saw %d items", seen)
	}
}

func TestTransactions(t *testing.T) {
	ctx := context.Background()
	c := open(t, "")
	createTable(t, c, "xxx", "NEW_IMAGE", false)
	c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("xxx"), Item: map[string]types.AttributeValue{"pk": s("exists")}})
	before := len(records(t, c, "xxx"))
	_, err := c.ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("xxx"), Item: map[string]types.AttributeValue{"pk": s("new")}}},
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("xxx"), Key: map[string]types.AttributeValue{"pk": s("exists")}, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		t.Fatalf("transaction: %v", err)
	}
	if len(tce.CancellationReasons) != 2 || aws.ToString(tce.CancellationReasons[0].Code) != "None" || aws.ToString(tce.CancellationReasons[1].Code) != "ConditionalCheckFailed" {
		t.Errorf("reasons: %+v", tce.CancellationReasons)
	}
	if len(records(t, c, "xxx")) != before {
		t.Errorf("cancelled transaction wrote stream records")
	}
	_, err = c.ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("xxx"), Item: map[string]types.AttributeValue{"pk": s("new")}}},
		{Update: &types.Update{TableName: aws.String("xxx"), Key: map[string]types.AttributeValue{"pk": s("exists")}, UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]types.AttributeValue{":v": n("1")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := c.ddb.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{{Get: &types.Get{TableName: aws.String("xxx"), Key: map[string]types.AttributeValue{"pk": s("new")}}}, {Get: &types.Get{TableName: aws.String("xxx"), Key: map[string]types.AttributeValue{"pk": s("none")}}}}})
	if err != nil || len(tg.Responses) != 2 || tg.Responses[0].Item == nil || tg.Responses[1].Item != nil {
		t.Errorf("transact get: %v %v", tg, err)
	}
	bw, err := c.ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"xxx": {{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": s("b1")}}}, {DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{"pk": s("new")}}}}}})
	if err != nil || len(bw.UnprocessedItems) != 0 {
		t.Fatalf("batch write: %v", err)
	}
	bg, err := c.ddb.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"xxx": {Keys: []map[string]types.AttributeValue{{"pk": s("b1")}, {"pk": s("new")}}}}})
	if err != nil || len(bg.Responses["xxx"]) != 1 {
		t.Errorf("batch get: %v %v", bg, err)
	}
}

func TestStreamViews(t *testing.T) {
	ctx := context.Background()
	for _, view := range []string{"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"} {
		t.Run(view, func(t *testing.T) {
			c := open(t, "")
			createTable(t, c, "vvv", view, false)
			key := map[string]types.AttributeValue{"pk": s("k")}
			c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("vvv"), Item: map[string]types.AttributeValue{"pk": s("k"), "a": n("1")}})
			c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("vvv"), Item: map[string]types.AttributeValue{"pk": s("k"), "a": n("2")}})
			c.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("vvv"), Key: key})
			recs := records(t, c, "vvv")
			if len(recs) != 3 {
				t.Fatalf("%d records", len(recs))
			}
			for i, want := range []stypes.OperationType{"INSERT", "MODIFY", "REMOVE"} {
				r := recs[i]
				if r.EventName != want || aws.ToString(r.EventVersion) != "1.1" || r.Dynamodb.StreamViewType != stypes.StreamViewType(view) || len(r.Dynamodb.Keys) != 1 {
					t.Errorf("record %d: %s %+v", i, r.EventName, r.Dynamodb)
				}
				hasNew, hasOld := r.Dynamodb.NewImage != nil, r.Dynamodb.OldImage != nil
				wantNew := (view == "NEW_IMAGE" || view == "NEW_AND_OLD_IMAGES") && want != "REMOVE"
				wantOld := (view == "OLD_IMAGE" || view == "NEW_AND_OLD_IMAGES") && want != "INSERT"
				if hasNew != wantNew || hasOld != wantOld {
					t.Errorf("record %d %s: new image %v old image %v", i, want, hasNew, hasOld)
				}
				if i > 0 && aws.ToString(recs[i-1].Dynamodb.SequenceNumber) >= aws.ToString(r.Dynamodb.SequenceNumber) {
					t.Errorf("sequence numbers out of order")
				}
			}
		})
	}
}

func TestRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := open(t, dir)
	createTable(t, c, "rrr", "NEW_IMAGE", false)
	for i := 0; i < 5; i++ {
		c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("rrr"), Item: map[string]types.AttributeValue{"pk": s(fmt.Sprint(i))}})
	}
	c.db.Close()
	c2 := open(t, dir)
	sc, err := c2.ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("rrr")})
	if err != nil || len(sc.Items) != 5 {
		t.Fatalf("after restart: %v %v", sc, err)
	}
	if n := len(records(t, c2, "rrr")); n != 5 {
		t.Errorf("after restart %d stream records", n)
	}
	c2.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("rrr"), Item: map[string]types.AttributeValue{"pk": s("later")}})
	recs := records(t, c2, "rrr")
	max := ""
	for _, r := range recs[:len(recs)] {
		if sq := aws.ToString(r.Dynamodb.SequenceNumber); sq > max {
			max = sq
		}
	}
	var later string
	for _, r := range recs {
		if r.Dynamodb.Keys["pk"].(*stypes.AttributeValueMemberS).Value == "later" {
			later = aws.ToString(r.Dynamodb.SequenceNumber)
		}
	}
	if later != max {
		t.Errorf("sequence numbers went backwards across a restart")
	}
}
