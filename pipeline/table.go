package pipeline

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrNotFound is returned by Table.Get when no item has the key.
var ErrNotFound = errors.New("pipeline: item not found")

// ErrConditionFailed is returned (wrapped, with DynamoDB's
// ConditionalCheckFailedException) by a Put, Update or Delete whose If
// condition does not hold.
var ErrConditionFailed = errors.New("pipeline: condition failed")

// WriteOption configures a Put, Update or Delete of a table item.
type WriteOption func(*writeOptions)

type writeOptions struct {
	cond    *expression.ConditionBuilder
	newInto any
}

// If makes the write conditional, built with package
// github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression: the write
// happens only when cond holds for the item as stored, else it returns
// ErrConditionFailed. Create only, for example:
//
//	orders.Put(ctx, order, pipeline.If(expression.AttributeNotExists(expression.Name("id"))))
func If(cond expression.ConditionBuilder) WriteOption {
	return func(o *writeOptions) { o.cond = &cond }
}

// ReturnNew unmarshals the item as it is after an Update into out (a
// pointer), as attributevalue.UnmarshalMap does.
func ReturnNew(out any) WriteOption {
	return func(o *writeOptions) { o.newInto = out }
}

func (t *Table) writeOpts(op string, opts []WriteOption) (writeOptions, error) {
	var o writeOptions
	for _, f := range opts {
		f(&o)
	}
	if o.newInto != nil && op != "update" {
		return o, fmt.Errorf("pipeline: %s table %s: ReturnNew is an option of Update only", op, t.name)
	}
	return o, nil
}

// condition renders the If condition of a put or delete, if any.
func (t *Table) condition(what string, o writeOptions) (*string, map[string]string, map[string]types.AttributeValue, error) {
	if o.cond == nil {
		return nil, nil, nil, nil
	}
	ex, err := expression.NewBuilder().WithCondition(*o.cond).Build()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pipeline: %s table %s: condition: %w", what, t.name, err)
	}
	return ex.Condition(), ex.Names(), ex.Values(), nil
}

// writeErr wraps a failed write, marking a failed condition.
func writeErr(what, name string, err error) error {
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return fmt.Errorf("pipeline: %s table %s: %w: %w", what, name, ErrConditionFailed, err)
	}
	return fmt.Errorf("pipeline: %s table %s: %w", what, name, err)
}

// Put writes an item, marshalled with attributevalue.MarshalMap
// (`dynamodbav` tags). With If it is a conditional put.
func (t *Table) Put(ctx context.Context, item any, opts ...WriteOption) error {
	o, err := t.writeOpts("put into", opts)
	if err != nil {
		return err
	}
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return fmt.Errorf("pipeline: put into table %s: marshal %T: %w", t.name, item, err)
	}
	if _, err := t.keyOf("put into", av); err != nil {
		return err
	}
	name, c, err := t.resolve(ctx)
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{TableName: &name, Item: av}
	if in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, err = t.condition("put into", o); err != nil {
		return err
	}
	if _, err := c.PutItem(ctx, in); err != nil {
		return writeErr("put into", name, err)
	}
	return nil
}

// Get reads the item with the given key into out. The key is the item
// itself (a struct of the item type), the Keys of a stream change
// (triggers.Change.Keys), or a map of the key attributes
// (map[string]string{"id": id}): the table's key attributes are taken from
// it, others are ignored. It returns ErrNotFound when there is none.
func (t *Table) Get(ctx context.Context, key, out any) error {
	k, err := t.key("get from", key)
	if err != nil {
		return err
	}
	name, c, err := t.resolve(ctx)
	if err != nil {
		return err
	}
	res, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &name, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("pipeline: get from table %s: %w", name, err)
	}
	if res.Item == nil {
		return ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return fmt.Errorf("pipeline: get from table %s: unmarshal into %T: %w", name, out, err)
	}
	return nil
}

// Delete removes the item with the given key (taken as Get takes it).
// With If it is a conditional delete.
func (t *Table) Delete(ctx context.Context, key any, opts ...WriteOption) error {
	o, err := t.writeOpts("delete from", opts)
	if err != nil {
		return err
	}
	k, err := t.key("delete from", key)
	if err != nil {
		return err
	}
	name, c, err := t.resolve(ctx)
	if err != nil {
		return err
	}
	in := &dynamodb.DeleteItemInput{TableName: &name, Key: k}
	if in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, err = t.condition("delete from", o); err != nil {
		return err
	}
	if _, err := c.DeleteItem(ctx, in); err != nil {
		return writeErr("delete from", name, err)
	}
	return nil
}

// Update changes the item with the given key (taken as Get takes it),
// creating it when there is none, with an update built with package
// github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression, which names
// attributes and values safely (reserved words included):
//
//	err := counts.Update(ctx, map[string]string{"album": a},
//		expression.Add(expression.Name("photos"), expression.Value(1)),
//		pipeline.ReturnNew(&count))
//
// With If the update is conditional; with ReturnNew the updated item is
// unmarshalled into out.
func (t *Table) Update(ctx context.Context, key any, update expression.UpdateBuilder, opts ...WriteOption) error {
	o, err := t.writeOpts("update", opts)
	if err != nil {
		return err
	}
	k, err := t.key("update", key)
	if err != nil {
		return err
	}
	b := expression.NewBuilder().WithUpdate(update)
	if o.cond != nil {
		b = b.WithCondition(*o.cond)
	}
	ex, err := b.Build()
	if err != nil {
		return fmt.Errorf("pipeline: update table %s: expression: %w", t.name, err)
	}
	name, c, err := t.resolve(ctx)
	if err != nil {
		return err
	}
	in := &dynamodb.UpdateItemInput{TableName: &name, Key: k, UpdateExpression: ex.Update(),
		ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values()}
	if o.cond != nil {
		in.ConditionExpression = ex.Condition()
	}
	if o.newInto != nil {
		in.ReturnValues = types.ReturnValueAllNew
	}
	res, err := c.UpdateItem(ctx, in)
	if err != nil {
		return writeErr("update", name, err)
	}
	if o.newInto != nil {
		if err := attributevalue.UnmarshalMap(res.Attributes, o.newInto); err != nil {
			return fmt.Errorf("pipeline: update table %s: unmarshal into %T: %w", name, o.newInto, err)
		}
	}
	return nil
}

// QueryOption configures a Query.
type QueryOption func(*queryOptions)

type queryOptions struct {
	filter *expression.ConditionBuilder
	limit  int
	desc   bool
}

// Filter drops the items of a Query for which cond does not hold (after
// they are read: they still count towards read capacity).
func Filter(cond expression.ConditionBuilder) QueryOption {
	return func(o *queryOptions) { o.filter = &cond }
}

// Limit stops a Query after n items.
func Limit(n int) QueryOption { return func(o *queryOptions) { o.limit = n } }

// Descending returns a Query's items in descending sort key order.
func Descending() QueryOption { return func(o *queryOptions) { o.desc = true } }

// Query reads the items whose keys satisfy the key condition, built with
// package github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression, in
// sort key order, into out, a pointer to a slice of the item type. It
// reads every page (up to Limit):
//
//	var list []Order
//	err := orders.Query(ctx, expression.Key("customer").Equal(expression.Value(c)), &list)
//
// Queries of the table itself are strongly consistent.
func (t *Table) Query(ctx context.Context, key expression.KeyConditionBuilder, out any, opts ...QueryOption) error {
	return t.query(ctx, nil, key, out, opts)
}

func (t *Table) query(ctx context.Context, ix *Index, key expression.KeyConditionBuilder, out any, opts []QueryOption) error {
	what := "table " + t.name
	if ix != nil {
		what = fmt.Sprintf("index %s of table %s", ix.name, t.name)
	}
	var o queryOptions
	for _, f := range opts {
		f(&o)
	}
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("pipeline: query %s: out is %T; pass a pointer to a slice of the item type (&items)", what, out)
	}
	b := expression.NewBuilder().WithKeyCondition(key)
	if o.filter != nil {
		b = b.WithFilter(*o.filter)
	}
	ex, err := b.Build()
	if err != nil {
		return fmt.Errorf("pipeline: query %s: expression: %w", what, err)
	}
	name, c, err := t.resolve(ctx)
	if err != nil {
		return err
	}
	in := &dynamodb.QueryInput{TableName: &name, KeyConditionExpression: ex.KeyCondition(), FilterExpression: ex.Filter(),
		ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
		ConsistentRead: aws.Bool(ix == nil || !ix.global), ScanIndexForward: aws.Bool(!o.desc)}
	if ix != nil {
		in.IndexName = &ix.name
	}
	var items []map[string]types.AttributeValue
	for {
		if o.limit > 0 {
			in.Limit = aws.Int32(int32(o.limit - len(items)))
		}
		res, err := c.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("pipeline: query %s: %w", what, err)
		}
		items = append(items, res.Items...)
		if len(res.LastEvaluatedKey) == 0 || (o.limit > 0 && len(items) >= o.limit) {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	if err := attributevalue.UnmarshalListOfMaps(items, out); err != nil {
		return fmt.Errorf("pipeline: query %s: unmarshal into %T: %w", what, out, err)
	}
	return nil
}

// key returns the key attributes of a key argument of Get, Delete or
// Update.
func (t *Table) key(what string, key any) (map[string]types.AttributeValue, error) {
	var m map[string]types.AttributeValue
	switch k := key.(type) {
	case map[string]types.AttributeValue:
		m = k
	case nil:
		return nil, fmt.Errorf("pipeline: %s table %s: the key is nil; pass the item, the Keys of a change or a map of the key attributes", what, t.name)
	default:
		var err error
		if m, err = attributevalue.MarshalMap(key); err != nil {
			return nil, fmt.Errorf("pipeline: %s table %s: marshal key %T: %w; pass the item, the Keys of a change or a map of the key attributes", what, t.name, key, err)
		}
	}
	return t.keyOf(what, m)
}

// keyOf picks the table's key attributes from an item or key map,
// checking they are there with the declared types.
func (t *Table) keyOf(what string, m map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, 2)
	for _, k := range t.keyAttrs() {
		v, ok := m[k.Name]
		if !ok {
			return nil, fmt.Errorf("pipeline: %s table %s: the key lacks attribute %q (the table's key is %s); pass the item, the Keys of a change or a map with the key attributes", what, t.name, k.Name, t.keyText())
		}
		if got := avType(v); got != k.Type {
			return nil, fmt.Errorf("pipeline: %s table %s: key attribute %q is %s, but the table declares it %s", what, t.name, k.Name, typeWord(got), typeWord(k.Type))
		}
		out[k.Name] = v
	}
	return out, nil
}

func (t *Table) keyAttrs() []KeyAttr {
	ks := []KeyAttr{t.partition}
	if t.sort != nil {
		ks = append(ks, *t.sort)
	}
	return ks
}

func (t *Table) keyText() string {
	s := fmt.Sprintf("partition key %q (%s)", t.partition.Name, typeWord(t.partition.Type))
	if t.sort != nil {
		s += fmt.Sprintf(", sort key %q (%s)", t.sort.Name, typeWord(t.sort.Type))
	}
	return s
}

func avType(v types.AttributeValue) AttrType {
	switch v.(type) {
	case *types.AttributeValueMemberS:
		return String
	case *types.AttributeValueMemberN:
		return Number
	case *types.AttributeValueMemberB:
		return Binary
	}
	return "other"
}

func typeWord(t AttrType) string {
	switch t {
	case String:
		return "a string (S)"
	case Number:
		return "a number (N)"
	case Binary:
		return "binary (B)"
	case "BOOL":
		return "a boolean (BOOL)"
	case "NULL":
		return "NULL"
	}
	return "not a string, number or binary"
}
