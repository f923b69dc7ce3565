package access_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nanopipe/nanopipe/internal/access"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

func TestDeclarations(t *testing.T) {
	a := pipeline.New("grants")
	up := a.Bucket("uploads")
	ver := a.Bucket("archive", pipeline.Versioned())
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String))
	logs := a.Table("logs", pipeline.PartitionKey("id", pipeline.String))
	st := pipeline.OnObject(a, "thumb", up.Created(triggers.Prefix("in/")), func(context.Context, triggers.Object) error { return nil }).
		Reads(up.Keys("in/", ""), ver, tb).
		Writes(up.Keys("thumbs/", ""), up.Keys("in/", ".err"), logs).
		Deletes(up.Keys("tmp/", ""), tb)

	allowed := []struct{ action, bucket, key string }{
		{"s3:GetObject", "uploads", "in/a.jpg"},
		{"s3:PutObject", "uploads", "thumbs/a.png"},
		{"s3:DeleteObject", "uploads", "thumbs/a.png"},
		{"s3:AbortMultipartUpload", "uploads", "thumbs/big.bin"},
		{"s3:PutObject", "uploads", "in/a.jpg.err"},
		{"s3:DeleteObject", "uploads", "tmp/x"},
		{"s3:GetObjectVersion", "archive", "any/key"},
	}
	for _, c := range allowed {
		if err := access.Object(st, c.action, a.BucketNamed(c.bucket), c.key); err != nil {
			t.Errorf("%s %s/%s refused: %v", c.action, c.bucket, c.key, err)
		}
	}
	refused := []struct{ action, bucket, key, fix string }{
		{"s3:PutObject", "uploads", "out/a.png", `.Writes(<bucket uploads>.Keys("out/", ""))`},
		{"s3:PutObject", "uploads", "in/a.jpg", `.Writes(<bucket uploads>.Keys("in/", ""))`},
		{"s3:GetObject", "uploads", "thumbs/a.png", `.Reads(<bucket uploads>.Keys("thumbs/", ""))`},
		{"s3:PutObject", "uploads", "tmp/x", `.Writes(<bucket uploads>.Keys("tmp/", ""))`},
		{"s3:GetObjectVersion", "uploads", "in/a.jpg", `.Reads(`},
		{"s3:DeleteObject", "archive", "a", `.Deletes(<bucket archive>.Keys("", ""))`},
	}
	for _, c := range refused {
		err := access.Object(st, c.action, a.BucketNamed(c.bucket), c.key)
		var ad *access.DeniedError
		if !errors.As(err, &ad) {
			t.Errorf("%s %s/%s allowed, want AccessDenied", c.action, c.bucket, c.key)
			continue
		}
		if !strings.Contains(err.Error(), c.fix) || !strings.HasPrefix(err.Error(), `AccessDenied: stage "thumb" is not allowed `+c.action) {
			t.Errorf("error %q does not name the fix %q", err, c.fix)
		}
	}
	if err := access.List(st, up, "in/2024/"); err != nil {
		t.Errorf("list in/2024/: %v", err)
	}
	if err := access.List(st, up, ""); err == nil {
		t.Error("listing the whole bucket allowed with only in/ read")
	}

	tables := []struct {
		action string
		table  *pipeline.Table
		ok     bool
	}{
		{"dynamodb:GetItem", tb, true},
		{"dynamodb:Query", tb, true},
		{"dynamodb:DeleteItem", tb, true},
		{"dynamodb:PutItem", tb, false},
		{"dynamodb:BatchWriteItem", tb, false},
		{"dynamodb:PutItem", logs, true},
		{"dynamodb:UpdateItem", logs, true},
		{"dynamodb:Scan", logs, false},
	}
	for _, c := range tables {
		err := access.Table(st, c.action, c.table)
		if (err == nil) != c.ok {
			t.Errorf("%s on %s: err %v, want allowed=%v", c.action, c.table.Name(), err, c.ok)
		}
	}
	err := access.Table(st, "dynamodb:Scan", logs)
	if err == nil || !strings.Contains(err.Error(), ".Reads(<table logs>)") {
		t.Errorf("Scan on logs: %v", err)
	}
}
