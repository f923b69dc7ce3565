package cdk

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

func TestPhysicalName(t *testing.T) {
	if got := physicalName(64, "shop", "dev", "load"); got != "shop-dev-load" {
		t.Errorf("short name = %q", got)
	}
	long := strings.Repeat("a", 60)
	a := physicalName(64, "app", "prod", long+"x")
	b := physicalName(64, "app", "prod", long+"y")
	if len(a) != 64 || len(b) != 64 || a == b {
		t.Errorf("long names %q and %q: want 64 characters each, distinct", a, b)
	}
	if a != physicalName(64, "app", "prod", long+"x") {
		t.Error("a long name changes between calls")
	}
}

func TestIDs(t *testing.T) {
	x := newIDs()
	for name, want := range map[string]string{"count-albums": "CountAlbums", "photos_uploads.v2": "PhotosUploadsV2", "X": "X"} {
		if got := x.get(name); got != want {
			t.Errorf("id(%q) = %q, want %q", name, got, want)
		}
	}
	if a, b := x.get("count-albums"), x.get("count_albums"); a == b {
		t.Errorf("names differing only in separators share the id %q", a)
	}
}

// fakeARNs names resources plainly, so policies can be compared as text.
type fakeARNs struct{}

func (fakeARNs) bucketARN(b *pipeline.Bucket) string { return "arn:s3:::" + b.Name() }
func (fakeARNs) tableARN(t *pipeline.Table) string   { return "table/" + t.Name() }
func (fakeARNs) streamARN(t *pipeline.Table) string  { return "table/" + t.Name() + "/stream/1" }
func (fakeARNs) queueARN(q *queuePlan) string        { return "queue/" + q.physical }
func (fakeARNs) logGroupARN(f *fnPlan) string        { return "logs/" + f.physical }

func onObj(context.Context, triggers.Object) error { return nil }

type item struct {
	ID string `dynamodbav:"id"`
}

func onItem(context.Context, triggers.Change[item]) error { return nil }

func TestPolicyStatements(t *testing.T) {
	app := pipeline.New("p")
	in := app.Bucket("p-in")
	logs := app.Bucket("p-logs", pipeline.Versioned())
	items := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	old := app.Table("old", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnObject(app, "a", in.Created(triggers.Prefix("new/")), onObj).
		// Covered prefixes and repeats collapse: new/ covers new/big/.
		Reads(in.Keys("new/", ""), in.Keys("new/big/", ""), in.Keys("new/", ""), logs).
		Writes(in.Keys("out/", ""), items, items, in.Keys("rep/", ".txt")).
		// Deletes a write covers need no statement of their own.
		Deletes(in.Keys("out/x/", ""), items, in.Keys("trash/", ".tmp"), old).Group("g")
	pipeline.OnChange(app, "b", items.Changes(triggers.OnFailure(triggers.Discard())), onItem).Reads(items).Group("g")

	pl, err := newPlan(app, "dev")
	if err != nil {
		t.Fatal(err)
	}
	stmts, wildcards := pl.functions[0].policyStatements(fakeARNs{})
	got, _ := json.Marshal(policyDocument(stmts))
	want := `{"Statement":[` +
		`{"Action":["logs:CreateLogStream","logs:PutLogEvents"],"Effect":"Allow","Resource":"logs/p-dev-g","Sid":"WriteOwnLogs"},` +
		`{"Action":"sqs:SendMessage","Effect":"Allow","Resource":"queue/p-dev-g-failures","Sid":"SendFailuresToQueue"},` +
		`{"Action":["dynamodb:DescribeStream","dynamodb:GetRecords","dynamodb:GetShardIterator"],"Effect":"Allow","Resource":"table/items/stream/1","Sid":"ReadTriggerStreams"},` +
		`{"Action":"dynamodb:ListStreams","Effect":"Allow","Resource":"table/items/stream/*","Sid":"ListTriggerStreams"},` +
		`{"Action":"s3:GetObject","Effect":"Allow","Resource":"arn:s3:::p-in/new/*","Sid":"ReadObjects"},` +
		`{"Action":["s3:GetObject","s3:GetObjectVersion"],"Effect":"Allow","Resource":"arn:s3:::p-logs/*","Sid":"ReadVersionedObjects"},` +
		`{"Action":"s3:ListBucket","Condition":{"StringLike":{"s3:prefix":"new/*"}},"Effect":"Allow","Resource":"arn:s3:::p-in","Sid":"ListObjects0"},` +
		`{"Action":"s3:ListBucket","Effect":"Allow","Resource":"arn:s3:::p-logs","Sid":"ListObjects1"},` +
		`{"Action":["s3:PutObject","s3:DeleteObject","s3:AbortMultipartUpload"],"Effect":"Allow","Resource":["arn:s3:::p-in/out/*","arn:s3:::p-in/rep/*.txt"],"Sid":"WriteObjects"},` +
		`{"Action":"s3:DeleteObject","Effect":"Allow","Resource":"arn:s3:::p-in/trash/*.tmp","Sid":"DeleteObjects"},` +
		`{"Action":["dynamodb:GetItem","dynamodb:BatchGetItem","dynamodb:Query","dynamodb:Scan","dynamodb:ConditionCheckItem","dynamodb:DescribeTable"],"Effect":"Allow","Resource":"table/items","Sid":"ReadTables"},` +
		`{"Action":["dynamodb:PutItem","dynamodb:UpdateItem","dynamodb:DeleteItem","dynamodb:BatchWriteItem","dynamodb:ConditionCheckItem","dynamodb:DescribeTable"],"Effect":"Allow","Resource":"table/items","Sid":"WriteTables"},` +
		`{"Action":"dynamodb:DeleteItem","Effect":"Allow","Resource":"table/old","Sid":"DeleteItems"}` +
		`],"Version":"2012-10-17"}`
	if string(got) != want {
		t.Errorf("policy:\n got %s\nwant %s", got, want)
	}
	wantWild := []string{"table/items/stream/*", "arn:s3:::p-in/new/*", "arn:s3:::p-logs/*", "arn:s3:::p-in/out/*", "arn:s3:::p-in/rep/*.txt", "arn:s3:::p-in/trash/*.tmp"}
	if strings.Join(wildcards, " ") != strings.Join(wantWild, " ") {
		t.Errorf("wildcards %v, want %v", wildcards, wantWild)
	}
}

func TestLiteralTail(t *testing.T) {
	for in, want := range map[string]string{
		"${Token[TOKEN.12]}/csv/*":                 "/csv/*",
		"arn:${Token[AWS.Partition.3]}:s3:::b/x/*": ":s3:::b/x/*",
		"plain/*": "plain/*",
		"${Token[A.1]}:x:${Token[B.2]}:table/t/stream/*": ":table/t/stream/*",
	} {
		if got := literalTail(in); got != want {
			t.Errorf("literalTail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMinimalAccesses(t *testing.T) {
	app := pipeline.New("m")
	b := app.Bucket("m-b")
	items := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	acc := func(prefix, suffix string) plumbing.Access {
		return plumbing.Access{Bucket: b, Prefix: prefix, Suffix: suffix}
	}
	in := []plumbing.Access{
		acc("a/", ""), acc("a/b/", ""), acc("a/", ".csv"), // covered by a/
		acc("c/", ".csv"), acc("c/d/", ".csv"), acc("c/", "x.csv"), // covered by c/*.csv
		acc("e/", ".csv"), acc("e/", ".txt"), // disjoint suffixes: both stay
		acc("a/", ""), // repeat
		{Table: items}, {Table: items},
	}
	var got []string
	for _, a := range minimalAccesses(in) {
		got = append(got, a.String())
	}
	want := []string{`bucket m-b prefix "a/"`, `bucket m-b keys "c/*.csv"`, `bucket m-b keys "e/*.csv"`, `bucket m-b keys "e/*.txt"`, "table items"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("minimal accesses\n got %v\nwant %v", got, want)
	}
}
