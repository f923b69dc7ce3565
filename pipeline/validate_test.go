package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

type item struct {
	ID     string `dynamodbav:"id"`
	Status string `dynamodbav:"status"`
	Size   int    `dynamodbav:"size"`
}

func onObj(context.Context, triggers.Object) error        { return nil }
func onItem(context.Context, triggers.Change[item]) error { return nil }

// TestValidation shows, for each class of misdeclaration, the error text a
// developer gets: it names the stage, the resource and the fix.
func TestValidation(t *testing.T) {
	tests := []struct {
		name    string
		declare func(a *pipeline.App)
		want    []string // substrings of the error
	}{
		{
			name: "duplicate stage name",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				pipeline.OnObject(a, "resize", b.Created(triggers.Prefix("a/")), onObj)
				pipeline.OnObject(a, "resize", b.Created(triggers.Prefix("b/")), onObj)
			},
			want: []string{`duplicate name "resize"`, `stage "resize" is already declared`, "give the stage another name"},
		},
		{
			name: "duplicate resource name",
			declare: func(a *pipeline.App) {
				a.Bucket("data")
				a.Table("data", pipeline.PartitionKey("id", pipeline.String))
			},
			want: []string{`duplicate name "data"`, `bucket "data" is already declared`, "give the table another name"},
		},
		{
			name: "overlapping S3 filters",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				pipeline.OnObject(a, "images", b.Created(triggers.Prefix("in/")), onObj)
				pipeline.OnObject(a, "jpegs", b.Created(triggers.Only(triggers.ObjectCreatedPut), triggers.Prefix("in/photos/"), triggers.Suffix(".jpg")), onObj)
			},
			want: []string{`stages "images" (prefix "in/") and "jpegs" (prefix "in/photos/", suffix ".jpg") of bucket "uploads" overlap on s3:ObjectCreated:Put`, "Configurations overlap", "make the prefixes or suffixes disjoint"},
		},
		{
			name: "S3 loop",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				pipeline.OnObject(a, "resize", b.Created(triggers.Prefix("img/")), onObj).Writes(b.Keys("img/small/", ""))
			},
			want: []string{"loop through an S3 trigger", `stage "resize" writes bucket uploads prefix "img/small/", which triggers "resize" (prefix "img/")`, `.AllowLoop("why it ends") on stage "resize"`},
		},
		{
			name: "DynamoDB loop through a downstream stage",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
				pipeline.OnObject(a, "ingest", b.Created(), onObj).Writes(tb)
				pipeline.OnChange(a, "enrich", tb.Changes(), onItem).Writes(b.Keys("out/", ""), tb)
			},
			want: []string{"loop through a DynamoDB stream trigger", `stage "enrich" writes table items, whose stream triggers "enrich"`, "AWS cannot detect loops through DynamoDB streams"},
		},
		{
			name: "S3 to DynamoDB and back",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
				pipeline.OnObject(a, "ingest", b.Created(triggers.Prefix("in/")), onObj).Writes(tb)
				pipeline.OnChange(a, "export", tb.Changes(), onItem).Writes(b.Keys("in/exports/", ""))
			},
			want: []string{`stage "ingest" writes table items, whose stream triggers "export"`, `stage "export" writes bucket uploads prefix "in/exports/", which triggers "ingest"`},
		},
		{
			name: "keys whose suffix matches the trigger",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				pipeline.OnObject(a, "convert", b.Created(triggers.Prefix("in/"), triggers.Suffix(".csv")), onObj).
					Writes(b.Keys("in/converted/", ".csv"))
			},
			want: []string{`stage "convert" writes bucket uploads keys "in/converted/*.csv", which triggers "convert" (prefix "in/", suffix ".csv")`},
		},
		{
			name: "deletes where removals trigger",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				pipeline.OnObject(a, "purge", b.Removed(triggers.Prefix("in/")), onObj).Deletes(b.Keys("in/thumbs/", ""))
			},
			want: []string{`stage "purge" deletes bucket uploads prefix "in/thumbs/", which triggers "purge" (prefix "in/")`},
		},
		{
			name: "deletes of items whose removals trigger",
			declare: func(a *pipeline.App) {
				tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
				pipeline.OnChange(a, "cascade", tb.Changes(triggers.Remove), onItem).Deletes(tb)
			},
			want: []string{`stage "cascade" deletes table items, whose stream triggers "cascade"`},
		},
		{
			name: "batch size out of range",
			declare: func(a *pipeline.App) {
				tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
				pipeline.OnChange(a, "index", tb.Changes(triggers.BatchSize(20000)), onItem)
			},
			want: []string{`stage "index" on table "items"`, "BatchSize(20000) out of range: Lambda takes 1 to 10000 records"},
		},
		{
			name: "every numeric stream option out of range",
			declare: func(a *pipeline.App) {
				tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
				pipeline.OnChange(a, "index", tb.Changes(
					triggers.BatchingWindow(301*time.Second),
					triggers.Retries(10001),
					triggers.MaxRecordAge(30*time.Second),
					triggers.Parallelization(11),
					triggers.TumblingWindow(901*time.Second),
				), onItem)
			},
			want: []string{"BatchingWindow(5m1s) out of range", "Retries(10001) out of range", "MaxRecordAge(30s) out of range", "Parallelization(11) out of range", "TumblingWindow(15m1s) out of range"},
		},
		{
			name: "async retries out of range",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				pipeline.OnObject(a, "resize", b.Created(triggers.Retries(3), triggers.MaxEventAge(7*time.Hour)), onObj)
			},
			want: []string{`stage "resize" on bucket "uploads"`, "Retries(3) out of range: Lambda retries an asynchronous (S3) invocation 0 to 2 times", "MaxEventAge(7h0m0s) out of range"},
		},
		{
			name: "function settings out of range",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				pipeline.OnObject(a, "resize", b.Created(), onObj).Memory(64).Timeout(20 * time.Minute)
			},
			want: []string{"Memory(64) out of range: Lambda takes 128 to 10240 MB", "Timeout(20m0s) out of range"},
		},
		{
			name: "stream on existing table without stream ARN",
			declare: func(a *pipeline.App) {
				tb := a.ExistingTable("legacy-orders", pipeline.PartitionKey("id", pipeline.String))
				pipeline.OnChange(a, "sync", tb.Changes(), onItem)
			},
			want: []string{`stage "sync" is triggered by the stream of existing table "legacy-orders", which has no stream ARN`, `pipeline.StreamARN("arn:aws:dynamodb:REGION:ACCOUNT:table/legacy-orders/stream/LABEL")`},
		},
		{
			name: "bad bucket name",
			declare: func(a *pipeline.App) {
				a.Bucket("Uploads_Bucket")
			},
			want: []string{`bucket "Uploads_Bucket": S3 bucket names are 3-63 lowercase letters`},
		},
		{
			name: "group with two stages on one table",
			declare: func(a *pipeline.App) {
				tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
				pipeline.OnChange(a, "one", tb.Changes(triggers.Insert), onItem).Group("workers")
				pipeline.OnChange(a, "two", tb.Changes(triggers.Remove), onItem).Group("workers")
			},
			want: []string{`group "workers" has stages "one" and "two" triggered by the stream of table "items"`},
		},
		{
			name: "filter on an attribute the item type lacks",
			declare: func(a *pipeline.App) {
				tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
				pipeline.OnChange(a, "ready", tb.Changes(triggers.Where(triggers.NewImage("staus").Equals("ready"))), onItem)
			},
			want: []string{`stage "ready" on table "items"`, `"staus"`},
		},
		{
			name: "nil handler",
			declare: func(a *pipeline.App) {
				b := a.Bucket("uploads")
				pipeline.OnObject(a, "resize", b.Created(), nil)
			},
			want: []string{`stage "resize": the handler function is nil`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := pipeline.New("test", pipeline.CollectErrors())
			tt.declare(a)
			err := a.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			t.Logf("error text:\n%v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q", w)
				}
			}
		})
	}
}

func TestValidDeclarations(t *testing.T) {
	tests := []struct {
		name    string
		declare func(a *pipeline.App)
	}{
		{"disjoint suffixes on one prefix", func(a *pipeline.App) {
			b := a.Bucket("uploads")
			pipeline.OnObject(a, "jpg", b.Created(triggers.Prefix("in/"), triggers.Suffix(".jpg")), onObj)
			pipeline.OnObject(a, "png", b.Created(triggers.Prefix("in/"), triggers.Suffix(".png")), onObj)
		}},
		{"created and removed on the same prefix", func(a *pipeline.App) {
			b := a.Bucket("uploads")
			pipeline.OnObject(a, "add", b.Created(triggers.Prefix("in/")), onObj)
			pipeline.OnObject(a, "del", b.Removed(triggers.Prefix("in/")), onObj)
		}},
		{"different sub-events", func(a *pipeline.App) {
			b := a.Bucket("uploads")
			pipeline.OnObject(a, "put", b.Created(triggers.Only(triggers.ObjectCreatedPut)), onObj)
			pipeline.OnObject(a, "copy", b.Created(triggers.Only(triggers.ObjectCreatedCopy)), onObj)
		}},
		{"write outside the trigger prefix", func(a *pipeline.App) {
			b := a.Bucket("uploads")
			pipeline.OnObject(a, "resize", b.Created(triggers.Prefix("in/")), onObj).Writes(b.Keys("out/", ""))
		}},
		{"reports next to the uploads, outside the trigger's suffix", func(a *pipeline.App) {
			b := a.Bucket("uploads")
			pipeline.OnObject(a, "load", b.Created(triggers.Prefix("in/"), triggers.Suffix(".csv")), onObj).
				Reads(b.Keys("in/", "")).Writes(b.Keys("in/", ".errors.txt"))
		}},
		{"a move deletes where it is triggered by creations", func(a *pipeline.App) {
			b := a.Bucket("uploads")
			pipeline.OnObject(a, "move", b.Created(triggers.Prefix("in/")), onObj).
				Reads(b.Keys("in/", "")).Writes(b.Keys("done/", "")).Deletes(b.Keys("in/", ""))
		}},
		{"deleting items a stage of inserts triggers on", func(a *pipeline.App) {
			tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
			pipeline.OnChange(a, "expire", tb.Changes(triggers.Insert), onItem).Deletes(tb)
		}},
		{"allowed loop", func(a *pipeline.App) {
			tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
			pipeline.OnChange(a, "stamp", tb.Changes(triggers.Insert), onItem).Writes(tb).AllowLoop("it only updates items, and updates are MODIFY records the trigger filters out")
		}},
		{"existing table with stream ARN", func(a *pipeline.App) {
			tb := a.ExistingTable("orders", pipeline.PartitionKey("id", pipeline.String),
				pipeline.StreamARN("arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000"))
			pipeline.OnChange(a, "sync", tb.Changes(), onItem)
		}},
		{"every limit at its edge", func(a *pipeline.App) {
			tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
			pipeline.OnChange(a, "edge", tb.Changes(triggers.BatchSize(10000), triggers.BatchingWindow(300*time.Second),
				triggers.Retries(triggers.RetryForever), triggers.MaxRecordAge(604800*time.Second), triggers.Parallelization(10),
				triggers.TumblingWindow(900*time.Second)), onItem).Memory(10240).Timeout(900 * time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := pipeline.New("test", pipeline.CollectErrors())
			tt.declare(a)
			if err := a.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestDeclarationPanicsWithoutCollectErrors(t *testing.T) {
	a := pipeline.New("test")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic for an out-of-range batch size")
		}
		if !strings.Contains(r.(error).Error(), "BatchSize(0) out of range") {
			t.Fatalf("panic = %v", r)
		}
	}()
	pipeline.OnChange(a, "index", tb.Changes(triggers.BatchSize(0)), onItem)
}

func TestGroupConflicts(t *testing.T) {
	tests := []struct {
		name    string
		declare func(a *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table)
		want    string
	}{
		{"architectures", func(a *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			pipeline.OnObject(a, "a", b.Created(), onObj).Group("g")
			pipeline.OnChange(a, "b", tb.Changes(), onItem).Group("g").Architecture(pipeline.X86_64)
		}, `group "g": stage "a" runs on arm64 but stage "b" on x86_64`},
		{"async settings", func(a *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			pipeline.OnObject(a, "a", b.Created(), onObj).Group("g")
			pipeline.OnObject(a, "b", b.Removed(triggers.Retries(0)), onObj).Group("g")
		}, `stages "a" and "b" declare different Retries, MaxEventAge or OnFailure`},
		{"variables", func(a *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			pipeline.OnObject(a, "a", b.Created(), onObj).Group("g").Setenv("MODE", "x")
			pipeline.OnChange(a, "b", tb.Changes(), onItem).Group("g").Setenv("MODE", "y")
		}, `stages "a" and "b" set variable MODE to different values`},
		{"concurrency", func(a *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			pipeline.OnObject(a, "a", b.Created(), onObj).Group("g").ReservedConcurrency(1)
			pipeline.OnChange(a, "b", tb.Changes(), onItem).Group("g").ReservedConcurrency(2)
		}, `reserve different concurrency (1 and 2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := pipeline.New("g", pipeline.CollectErrors())
			tt.declare(a, a.Bucket("uploads"), a.Table("items", pipeline.PartitionKey("id", pipeline.String)))
			err := a.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	a := pipeline.New("g")
	b := a.Bucket("uploads")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnObject(a, "a", b.Created(), onObj).Group("g").Memory(512).Setenv("A", "1")
	pipeline.OnChange(a, "b", tb.Changes(), onItem).Group("g").Timeout(60*time.Second).Setenv("B", "2")
	cfg, err := plumbing.FunctionConfig(a, "g")
	if err != nil || cfg.MemoryMB != 512 || cfg.Timeout != 60*time.Second || cfg.Environment["A"] != "1" || cfg.Environment["B"] != "2" {
		t.Errorf("FunctionConfig(g) = %+v, %v", cfg, err)
	}
}
