package cdk_test

import (
	"slices"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/nanopipe/nanopipe/pipeline"
)

// TestIndexes: a table's declared secondary indexes are created with it,
// their key attributes defined once, and a stage that reads the table may
// query them (the index ARNs are granted with the table's reads, and only
// with reads).
func TestIndexes(t *testing.T) {
	app := pipeline.New("idx")
	inbox := app.Bucket("idx-inbox")
	orders := app.Table("orders", pipeline.PartitionKey("customer", pipeline.String), pipeline.SortKey("id", pipeline.String))
	orders.GlobalIndex("by-status", pipeline.PartitionKey("status", pipeline.String)).SortKey("total", pipeline.Number)
	orders.GlobalIndex("by-id", pipeline.PartitionKey("id", pipeline.String))
	orders.LocalIndex("by-placed", "placed", pipeline.String)
	plain := app.Table("plain", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnObject(app, "report", inbox.Created(), onObject).Reads(orders, plain)
	pipeline.OnObject(app, "load", inbox.Removed(), onObject).Writes(orders)
	_, tmpl := synth(t, app, nil)

	has(t, tmpl, "AWS::DynamoDB::Table", map[string]any{
		"TableName": assertions.Match_Absent(), // CloudFormation names it
		"AttributeDefinitions": []any{
			map[string]any{"AttributeName": "customer", "AttributeType": "S"},
			map[string]any{"AttributeName": "id", "AttributeType": "S"},
			map[string]any{"AttributeName": "status", "AttributeType": "S"},
			map[string]any{"AttributeName": "total", "AttributeType": "N"},
			map[string]any{"AttributeName": "placed", "AttributeType": "S"},
		},
		"GlobalSecondaryIndexes": []any{
			map[string]any{"IndexName": "by-status", "Projection": map[string]any{"ProjectionType": "ALL"}, "KeySchema": []any{
				map[string]any{"AttributeName": "status", "KeyType": "HASH"},
				map[string]any{"AttributeName": "total", "KeyType": "RANGE"},
			}},
			map[string]any{"IndexName": "by-id", "Projection": map[string]any{"ProjectionType": "ALL"}, "KeySchema": []any{
				map[string]any{"AttributeName": "id", "KeyType": "HASH"},
			}},
		},
		"LocalSecondaryIndexes": []any{
			map[string]any{"IndexName": "by-placed", "Projection": map[string]any{"ProjectionType": "ALL"}, "KeySchema": []any{
				map[string]any{"AttributeName": "customer", "KeyType": "HASH"},
				map[string]any{"AttributeName": "placed", "KeyType": "RANGE"},
			}},
		},
	})
	ordersID, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineOrdersTable")
	plainID, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelinePlainTable")
	join := func(parts ...any) map[string]any { return map[string]any{"Fn::Join": []any{"", parts}} }

	report := statements(t, tmpl, "Report")
	equalJSON(t, "report reads", report["ReadTables"]["Resource"], []any{
		getAtt(ordersID, "Arn"), join(getAtt(ordersID, "Arn"), "/index/*"), getAtt(plainID, "Arn"),
	})
	load := statements(t, tmpl, "Load")
	if got := sids(load); slices.Contains(got, "ReadTables") {
		t.Errorf("a stage that only writes the table reads it: %v", got)
	}
	equalJSON(t, "load writes", load["WriteTables"]["Resource"], getAtt(ordersID, "Arn"))
}
