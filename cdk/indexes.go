package cdk

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/pipeline"
)

// addIndexes gives a table the stack creates its declared secondary
// indexes (every attribute projected), defining their key attributes
// after the table's own (attrs).
func addIndexes(props *awsdynamodb.CfnTableProps, t *pipeline.Table, attrs []interface{}) {
	ixs := t.Indexes()
	if len(ixs) == 0 {
		return
	}
	defined := map[string]bool{t.PartitionKey().Name: true}
	if sk := t.SortKey(); sk != nil {
		defined[sk.Name] = true
	}
	var global, local []interface{}
	for _, ix := range ixs {
		keys := []interface{}{&awsdynamodb.CfnTable_KeySchemaProperty{AttributeName: jsii.String(ix.Partition().Name), KeyType: jsii.String("HASH")}}
		for _, k := range []*pipeline.KeyAttr{new(ix.Partition()), ix.Sort()} {
			if k != nil && !defined[k.Name] {
				defined[k.Name] = true
				attrs = append(attrs, &awsdynamodb.CfnTable_AttributeDefinitionProperty{AttributeName: jsii.String(k.Name), AttributeType: jsii.String(string(k.Type))})
			}
		}
		if sk := ix.Sort(); sk != nil {
			keys = append(keys, &awsdynamodb.CfnTable_KeySchemaProperty{AttributeName: jsii.String(sk.Name), KeyType: jsii.String("RANGE")})
		}
		proj := &awsdynamodb.CfnTable_ProjectionProperty{ProjectionType: jsii.String("ALL")}
		if ix.Global() {
			global = append(global, &awsdynamodb.CfnTable_GlobalSecondaryIndexProperty{IndexName: jsii.String(ix.Name()), KeySchema: keys, Projection: proj})
		} else {
			local = append(local, &awsdynamodb.CfnTable_LocalSecondaryIndexProperty{IndexName: jsii.String(ix.Name()), KeySchema: keys, Projection: proj})
		}
	}
	props.AttributeDefinitions = attrs
	if len(global) > 0 {
		props.GlobalSecondaryIndexes = global
	}
	if len(local) > 0 {
		props.LocalSecondaryIndexes = local
	}
}
