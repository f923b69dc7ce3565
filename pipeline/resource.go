package pipeline

import (
	"context"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/triggers"
)

// AttrType is the DynamoDB type of a key attribute.
type AttrType string

// Key attribute types.
const (
	String AttrType = "S"
	Number AttrType = "N"
	Binary AttrType = "B"
)

// KeyAttr is a table key attribute: its name and type.
type KeyAttr struct {
	Name string
	Type AttrType
}

// PartitionKey declares a table's partition (hash) key.
func PartitionKey(name string, t AttrType) KeyAttr { return KeyAttr{Name: name, Type: t} }

// StreamView is what a table's stream records carry.
type StreamView string

// Stream view types.
const (
	ViewKeysOnly        StreamView = "KEYS_ONLY"
	ViewNewImage        StreamView = "NEW_IMAGE"
	ViewOldImage        StreamView = "OLD_IMAGE"
	ViewNewAndOldImages StreamView = "NEW_AND_OLD_IMAGES"
)

// Resource is something a stage reads or writes: a *Bucket, a bucket prefix
// (Bucket.Keys) or a *Table.
type Resource interface {
	access() access
}

// Bucket is an S3 bucket of the app: one the stack creates, or an existing
// one imported by name. Its methods declare triggers and accesses and, in
// stage code, reach the bucket under its physical name.
type Bucket struct {
	app       *App
	name      string
	existing  bool
	versioned bool
}

// BucketOption configures a bucket the stack creates.
type BucketOption func(*Bucket)

// Versioned enables versioning on a bucket the stack creates.
func Versioned() BucketOption { return func(b *Bucket) { b.versioned = true } }

// Name returns the declared (logical) name; use PhysicalName in stage code.
func (b *Bucket) Name() string { return b.name }

// Existing reports whether the bucket is imported rather than created.
func (b *Bucket) Existing() bool { return b.existing }

// IsVersioned reports whether the bucket was declared Versioned.
func (b *Bucket) IsVersioned() bool { return b.versioned }

func (b *Bucket) access() access { return access{Bucket: b} }

// Keys is the part of the bucket whose keys start with prefix and end with
// suffix, for Reads, Writes and Deletes: Keys("incoming/", ".errors.txt")
// lets a stage triggered by incoming/*.csv write reports next to the
// uploads without triggering itself. Deployed, it becomes the IAM resource
// arn:aws:s3:::BUCKET/PREFIX*SUFFIX.
func (b *Bucket) Keys(prefix, suffix string) Resource {
	return bucketKeys{b: b, prefix: prefix, suffix: suffix}
}

type bucketKeys struct {
	b              *Bucket
	prefix, suffix string
}

func (p bucketKeys) access() access { return access{Bucket: p.b, Prefix: p.prefix, Suffix: p.suffix} }

// Created is a trigger on objects created in the bucket (every way: Put,
// Post, Copy, CompleteMultipartUpload), narrowed by options such as
// triggers.Prefix, triggers.Suffix and triggers.Only.
func (b *Bucket) Created(opts ...triggers.ObjectOption) triggers.ObjectTrigger {
	return triggerplumbing.NewObjectTrigger(b.name, []triggers.S3Event{triggers.ObjectCreated}, opts...)
}

// Removed is a trigger on objects removed from the bucket (Delete and
// DeleteMarkerCreated).
func (b *Bucket) Removed(opts ...triggers.ObjectOption) triggers.ObjectTrigger {
	return triggerplumbing.NewObjectTrigger(b.name, []triggers.S3Event{triggers.ObjectRemoved}, opts...)
}

// Table is a DynamoDB table of the app: one the stack creates, or an
// existing one imported by name (with its stream ARN when stages are
// triggered by it).
type Table struct {
	app       *App
	name      string
	existing  bool
	partition KeyAttr
	sort      *KeyAttr
	view      StreamView
	streamARN string
	ttlAttr   string
	indexes   []*Index
}

// TableOption configures a table.
type TableOption func(*Table)

// SortKey declares a table's sort (range) key.
func SortKey(name string, t AttrType) TableOption {
	return func(tb *Table) { k := KeyAttr{Name: name, Type: t}; tb.sort = &k }
}

// Stream declares the table's stream view type. A table the stack creates
// gets NEW_AND_OLD_IMAGES when a stage is triggered by it and no view is
// declared.
func Stream(v StreamView) TableOption { return func(t *Table) { t.view = v } }

// StreamARN gives the stream ARN of an existing table; stages can be
// triggered by an existing table only with it.
func StreamARN(arn string) TableOption { return func(t *Table) { t.streamARN = arn } }

// TimeToLive names the attribute holding items' expiry time (epoch seconds)
// on a table the stack creates.
func TimeToLive(attr string) TableOption { return func(t *Table) { t.ttlAttr = attr } }

// Name returns the declared (logical) name; use PhysicalName in stage code.
func (t *Table) Name() string { return t.name }

// Existing reports whether the table is imported rather than created.
func (t *Table) Existing() bool { return t.existing }

// PartitionKey returns the table's partition key.
func (t *Table) PartitionKey() KeyAttr { return t.partition }

// SortKey returns the table's sort key, or nil.
func (t *Table) SortKey() *KeyAttr { return t.sort }

// StreamARN returns the declared stream ARN of an existing table.
func (t *Table) StreamARN() string { return t.streamARN }

// TTLAttribute returns the time-to-live attribute, or "".
func (t *Table) TTLAttribute() string { return t.ttlAttr }

// StreamView returns the stream view type the table has: the declared one,
// NEW_AND_OLD_IMAGES when stages are triggered by it and none was declared,
// or "" when the table has no stream.
func (t *Table) StreamView() StreamView {
	if t.view != "" {
		return t.view
	}
	for _, s := range t.app.stages {
		if s.stream != nil && s.stream.Table == t.name {
			return ViewNewAndOldImages
		}
	}
	return ""
}

func (t *Table) access() access { return access{Table: t} }

// Index is a secondary index of a table: a global one (its own partition
// key, and optionally a sort key) or a local one (the table's partition
// key with another sort key). Indexes project every attribute. Declare one
// with Table.GlobalIndex or Table.LocalIndex; query it with Index.Query.
// Reads of the table grant queries of its indexes.
type Index struct {
	table     *Table
	name      string
	global    bool
	partition KeyAttr
	sort      *KeyAttr
}

// GlobalIndex declares a global secondary index of the table, keyed by
// partition (add a sort key with Index.SortKey):
//
//	var ByCustomer = Orders.GlobalIndex("by-customer", pipeline.PartitionKey("customer", pipeline.String)).SortKey("placed", pipeline.String)
//
// The stack creates it with a table it creates, and the local environment
// with its tables, or adds it to a table it already keeps; of an existing
// table, declare the indexes it has.
func (t *Table) GlobalIndex(name string, partition KeyAttr) *Index {
	return t.addIndex(&Index{table: t, name: name, global: true, partition: partition})
}

// LocalIndex declares a local secondary index of the table: the table's
// partition key with the sort key sortAttr. The table must have a sort
// key, and local indexes exist only from the table's creation: the local
// environment refuses to start when a table it keeps lacks one.
func (t *Table) LocalIndex(name, sortAttr string, typ AttrType) *Index {
	return t.addIndex(&Index{table: t, name: name, partition: t.partition, sort: &KeyAttr{Name: sortAttr, Type: typ}})
}

func (t *Table) addIndex(ix *Index) *Index {
	kind := "GlobalIndex"
	if !ix.global {
		kind = "LocalIndex"
	}
	where := fmt.Sprintf("pipeline: table %q: %s(%q)", t.name, kind, ix.name)
	if !indexNameRE.MatchString(ix.name) {
		t.app.fail(fmt.Errorf("%s: use 3-255 letters, digits, '_', '-' or '.'", where))
	}
	for _, o := range t.indexes {
		if o.name == ix.name {
			t.app.fail(fmt.Errorf("%s: the table already has an index of that name; give each index its own", where))
		}
	}
	if !ix.global && t.sort == nil {
		t.app.fail(fmt.Errorf("%s: a local index needs a table with a sort key; declare pipeline.SortKey on the table, or use GlobalIndex", where))
	}
	t.indexes = append(t.indexes, ix)
	if n := ix.count(); n > ix.limit() {
		t.app.fail(fmt.Errorf("%s: a table has at most %d %s indexes", where, ix.limit(), map[bool]string{true: "global", false: "local"}[ix.global]))
	}
	ix.checkKey(ix.partition, "partition")
	if ix.sort != nil {
		ix.checkKey(*ix.sort, "sort")
	}
	return ix
}

func (ix *Index) count() int {
	n := 0
	for _, o := range ix.table.indexes {
		if o.global == ix.global {
			n++
		}
	}
	return n
}

func (ix *Index) limit() int {
	if ix.global {
		return 20
	}
	return 5
}

// checkKey refuses an index key attribute with no name, an unknown type,
// or another type than the table (or another index) gives it: DynamoDB
// has one type per attribute definition.
func (ix *Index) checkKey(k KeyAttr, role string) {
	t := ix.table
	where := fmt.Sprintf("pipeline: table %q: index %q", t.name, ix.name)
	if k.Name == "" {
		t.app.fail(fmt.Errorf("%s: the %s key has no attribute name", where, role))
		return
	}
	if k.Type != String && k.Type != Number && k.Type != Binary {
		t.app.fail(fmt.Errorf("%s: %s key %q has type %q; use pipeline.String, pipeline.Number or pipeline.Binary", where, role, k.Name, k.Type))
		return
	}
	for _, d := range t.attributeDefinitions() {
		if d.Name == k.Name && d.Type != k.Type {
			t.app.fail(fmt.Errorf("%s: %s key %q is declared %s, but the table already defines %q as %s; an attribute has one key type", where, role, k.Name, typeWord(k.Type), k.Name, typeWord(d.Type)))
			return
		}
	}
}

// SortKey gives a global index a sort key.
func (ix *Index) SortKey(name string, typ AttrType) *Index {
	if !ix.global {
		ix.table.app.fail(fmt.Errorf("pipeline: table %q: index %q: a local index has its sort key from LocalIndex; SortKey is for global indexes", ix.table.name, ix.name))
		return ix
	}
	k := KeyAttr{Name: name, Type: typ}
	ix.sort = nil
	ix.checkKey(k, "sort")
	ix.sort = &k
	return ix
}

// Name returns the index's name.
func (ix *Index) Name() string { return ix.name }

// Table returns the indexed table.
func (ix *Index) Table() *Table { return ix.table }

// Global reports whether the index is global (else local).
func (ix *Index) Global() bool { return ix.global }

// Partition returns the index's partition key.
func (ix *Index) Partition() KeyAttr { return ix.partition }

// Sort returns the index's sort key, or nil.
func (ix *Index) Sort() *KeyAttr { return ix.sort }

// Query reads the items of the index whose index keys satisfy the key
// condition into out, as Table.Query does. Queries of a global index are
// eventually consistent, as DynamoDB has them.
func (ix *Index) Query(ctx context.Context, key expression.KeyConditionBuilder, out any, opts ...QueryOption) error {
	return ix.table.query(ctx, ix, key, out, opts)
}

// Indexes returns the table's secondary indexes in declaration order.
func (t *Table) Indexes() []*Index { return append([]*Index(nil), t.indexes...) }

// attributeDefinitions returns the key attributes of the table and its
// indexes, each once, in order: what CreateTable defines.
func (t *Table) attributeDefinitions() []KeyAttr {
	var out []KeyAttr
	seen := map[string]bool{}
	add := func(k *KeyAttr) {
		if k != nil && k.Name != "" && !seen[k.Name] {
			seen[k.Name] = true
			out = append(out, *k)
		}
	}
	add(&t.partition)
	add(t.sort)
	for _, ix := range t.indexes {
		add(&ix.partition)
		add(ix.sort)
	}
	return out
}

// Changes is a trigger on the table's stream, configured with options such
// as triggers.Insert, triggers.BatchSize, triggers.Bisect and triggers.Where.
func (t *Table) Changes(opts ...triggers.StreamOption) triggers.StreamTrigger {
	return triggerplumbing.NewStreamTrigger(t.name, opts...)
}

var (
	stageNameRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
	bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	tableNameRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	indexNameRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
)
