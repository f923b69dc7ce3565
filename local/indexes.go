package local

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/local/internal/dynamosrv"
)

// indexWait bounds how long a global index added to a table of DynamoDB
// Local may take to become active (it fills from the table's items).
var indexWait = 5 * time.Minute

// indexFix adds to an index that cannot be brought in line in place (see
// dynamosrv.IndexMismatchError) what the user can do about it.
func (e *Environment) indexFix(err error) error {
	var mm *dynamosrv.IndexMismatchError
	if !errors.As(err, &mm) {
		return err
	}
	change := "declare it as a GlobalIndex instead, which can be added to an existing table"
	if mm.Have != nil {
		change = "give the changed index a new name (a deployed stack cannot change an index's keys in place either)"
	}
	var recreate string
	switch {
	case e.ext.ddb == nil || (e.ext.ownDDB && e.opts.Dir != ""):
		recreate = fmt.Sprintf("delete the state directory %s and start again, to create table %s anew with the index (the items and state kept there are lost)", e.opts.Dir, mm.Table)
	case e.ext.ddb.Endpoint != "" && !e.ext.ddb.Isolated:
		recreate = fmt.Sprintf("delete table %s from DynamoDB Local (aws dynamodb delete-table --table-name %s --endpoint-url %s) and start again, to create it anew with the index", mm.Table, mm.Table, e.ext.ddb.Endpoint)
	default:
		recreate = fmt.Sprintf("delete table %s from DynamoDB Local and start again, to create it anew with the index", mm.Table)
	}
	return fmt.Errorf("%w; to fix it, %s, or %s", err, change, recreate)
}

// addIndexesDDBLocal creates, one at a time as DynamoDB allows, the
// declared global indexes a table of DynamoDB Local lacks, and waits until
// each is active; a declared local index it lacks, or an index keyed
// otherwise than declared, is refused.
func (e *Environment) addIndexesDDBLocal(c *dynamodb.Client, t dynamosrv.Table, cur *types.TableDescription) error {
	var have []dynamosrv.Index
	keys := func(ks []types.KeySchemaElement, defs map[string]string) (pk dynamosrv.KeyDef, sk *dynamosrv.KeyDef) {
		for _, k := range ks {
			d := dynamosrv.KeyDef{Name: aws.ToString(k.AttributeName), Type: defs[aws.ToString(k.AttributeName)]}
			if k.KeyType == types.KeyTypeRange {
				sk = &d
			} else {
				pk = d
			}
		}
		return pk, sk
	}
	defs := map[string]string{}
	for _, d := range cur.AttributeDefinitions {
		defs[aws.ToString(d.AttributeName)] = string(d.AttributeType)
	}
	for _, g := range cur.GlobalSecondaryIndexes {
		pk, sk := keys(g.KeySchema, defs)
		have = append(have, dynamosrv.Index{Name: aws.ToString(g.IndexName), PK: pk, SK: sk})
	}
	for _, l := range cur.LocalSecondaryIndexes {
		pk, sk := keys(l.KeySchema, defs)
		have = append(have, dynamosrv.Index{Name: aws.ToString(l.IndexName), PK: pk, SK: sk, Local: true})
	}
	missing, err := dynamosrv.MissingIndexes(t.Name, have, t.Indexes)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), indexWait)
	defer cancel()
	for _, ix := range missing {
		var ks []types.KeySchemaElement
		for _, k := range []struct {
			d    *dynamosrv.KeyDef
			role types.KeyType
		}{{&ix.PK, types.KeyTypeHash}, {ix.SK, types.KeyTypeRange}} {
			if k.d == nil {
				continue
			}
			if typ, ok := defs[k.d.Name]; ok && typ != k.d.Type {
				return fmt.Errorf("table %s defines attribute %s as %s, and index %s declares it %s: an attribute has one key type", t.Name, k.d.Name, typ, ix.Name, k.d.Type)
			}
			defs[k.d.Name] = k.d.Type
			ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(k.d.Name), KeyType: k.role})
		}
		var ad []types.AttributeDefinition
		for name, typ := range defs {
			ad = append(ad, types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeType(typ)})
		}
		_, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName:            aws.String(t.Name),
			AttributeDefinitions: ad,
			GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
				IndexName:  aws.String(ix.Name),
				KeySchema:  ks,
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			}}},
		})
		if err != nil {
			return fmt.Errorf("local: add global index %s to table %s in DynamoDB Local: %w", ix.Name, t.Name, err)
		}
		if err := waitIndexActive(ctx, c, t.Name, ix.Name); err != nil {
			return err
		}
	}
	return nil
}

// waitIndexActive polls until the table and its global index are active.
func waitIndexActive(ctx context.Context, c *dynamodb.Client, table, index string) error {
	for {
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("local: wait for global index %s of table %s in DynamoDB Local: %w", index, table, err)
		}
		status := types.IndexStatus("missing")
		for _, g := range d.Table.GlobalSecondaryIndexes {
			if aws.ToString(g.IndexName) == index {
				status = g.IndexStatus
			}
		}
		if status == types.IndexStatusActive && d.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("local: global index %s of table %s in DynamoDB Local is still %s after %s", index, table, status, indexWait)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
