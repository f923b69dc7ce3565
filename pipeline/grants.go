package pipeline

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/nanopipe/nanopipe/internal/policy"
)

// AccessDeniedError is what a stage gets locally for a call its
// declaration does not allow: the same call would be refused by IAM once
// deployed.
type AccessDeniedError struct {
	Stage    string
	Action   string // the IAM action, e.g. s3:PutObject
	Resource string // s3://bucket/key, s3://bucket (listings) or table NAME
	Fix      string // the declaration to add
}

func (e *AccessDeniedError) Error() string {
	return fmt.Sprintf("AccessDenied: stage %q is not allowed %s on %s: no Reads, Writes or Deletes of the stage covers it; add %s to its declaration (deployed, IAM refuses the call the same way)",
		e.Stage, e.Action, e.Resource, e.Fix)
}

// ErrorCode makes the error read as an AWS API error code.
func (e *AccessDeniedError) ErrorCode() string { return "AccessDenied" }

// AuthorizeObject reports whether the stage may perform the S3 object
// action (an IAM action such as s3:GetObject) on key of bucket b, and if
// not, which declaration would allow it.
func (s *Stage) AuthorizeObject(action string, b *Bucket, key string) error {
	check := func(list []Access, kind string) bool {
		for _, a := range list {
			if a.Covers(b, key) && policy.ObjectGranted(action, b.versioned, kind) {
				return true
			}
		}
		return false
	}
	if check(s.reads, "read") || check(s.writes, "write") || check(s.deletes, "delete") {
		return nil
	}
	method := "Writes"
	switch {
	case slices.Contains(policy.ObjectRead(true), action):
		method = "Reads"
	case action == "s3:DeleteObject":
		method = "Deletes"
	}
	return &AccessDeniedError{Stage: s.name, Action: action, Resource: "s3://" + b.name + "/" + key,
		Fix: fmt.Sprintf(".%s(%s.Keys(%q, \"\"))", method, bucketRef(b), keyDir(key))}
}

// AuthorizeList reports whether the stage may list keys of bucket b under
// prefix: a read of a prefix covering it allows it, as the s3:prefix
// condition of the deployed policy does.
func (s *Stage) AuthorizeList(b *Bucket, prefix string) error {
	for _, a := range s.reads {
		if a.Bucket == b && strings.HasPrefix(prefix, a.Prefix) {
			return nil
		}
	}
	return &AccessDeniedError{Stage: s.name, Action: "s3:ListBucket", Resource: fmt.Sprintf("s3://%s (prefix %q)", b.name, prefix),
		Fix: fmt.Sprintf(".Reads(%s.Keys(%q, \"\"))", bucketRef(b), prefix)}
}

// AuthorizeTable reports whether the stage may perform the DynamoDB
// action (dynamodb:PutItem, ...) on table t.
func (s *Stage) AuthorizeTable(action string, t *Table) error {
	for _, a := range s.reads {
		if a.Table == t && slices.Contains(policy.TableRead(), action) {
			return nil
		}
	}
	for _, a := range s.writes {
		if a.Table == t && slices.Contains(policy.TableWrite(), action) {
			return nil
		}
	}
	for _, a := range s.deletes {
		if a.Table == t && slices.Contains(policy.TableDelete(), action) {
			return nil
		}
	}
	method := "Writes"
	if slices.Contains(policy.TableRead(), action) && !slices.Contains(policy.TableWrite(), action) {
		method = "Reads"
	}
	return &AccessDeniedError{Stage: s.name, Action: action, Resource: "table " + t.name,
		Fix: fmt.Sprintf(".%s(%s)", method, tableRef(t))}
}

func bucketRef(b *Bucket) string { return fmt.Sprintf("<bucket %s>", b.name) }
func tableRef(t *Table) string   { return fmt.Sprintf("<table %s>", t.name) }

// keyDir is the prefix a fix suggests for a key: its directory.
func keyDir(key string) string {
	d := path.Dir(key)
	if d == "." || d == "/" {
		return ""
	}
	return d + "/"
}
