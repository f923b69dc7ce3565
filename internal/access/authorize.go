package access

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/internal/policy"
	"github.com/nanopipe/nanopipe/pipeline"
)

// DeniedError refuses a call of a stage that its declaration does not
// allow: the same call is refused by IAM once deployed. It reads as an AWS
// API error (smithy.APIError) with the code AccessDenied, as the deployed
// refusal does, so code handling it works the same in tests, locally and
// in Lambda.
type DeniedError struct {
	Stage    string
	Action   string // the IAM action, e.g. s3:PutObject
	Resource string // s3://bucket/key, s3://bucket (listings), table NAME, ...
	// Fix is the declaration to add; empty when no declaration grants the
	// action (ListBuckets, CreateTable, PartiQL, tagging, ...).
	Fix string
}

func (e *DeniedError) Error() string { return "AccessDenied: " + e.ErrorMessage() }

// ErrorCode is AWS's code of the refusal.
func (e *DeniedError) ErrorCode() string { return "AccessDenied" }

// ErrorMessage says what was refused and the fix.
func (e *DeniedError) ErrorMessage() string {
	if e.Fix == "" {
		on := ""
		if e.Resource != "" {
			on = " on " + e.Resource
		}
		return fmt.Sprintf("stage %q is not allowed %s%s: no Reads, Writes or Deletes grants it, so the deployed role does not allow it either; use the calls its declarations grant (the bucket and table handles' own methods are among them)",
			e.Stage, e.Action, on)
	}
	return fmt.Sprintf("stage %q is not allowed %s on %s: no Reads, Writes or Deletes of the stage covers it; add %s to its declaration (deployed, IAM refuses the call the same way)",
		e.Stage, e.Action, e.Resource, e.Fix)
}

// ErrorFault says the caller is at fault, as for AWS's refusal.
func (e *DeniedError) ErrorFault() int { return 1 } // smithy.FaultClient

// Object reports whether stage s may perform the S3 object action (an
// IAM action such as s3:GetObject) on key of bucket b, and if not, which
// declaration would allow it.
func Object(s *pipeline.Stage, action string, b *pipeline.Bucket, key string) error {
	check := func(list []plumbing.Access, kind string) bool {
		for _, a := range list {
			if a.Covers(b, key) && policy.ObjectGranted(action, b.IsVersioned(), kind) {
				return true
			}
		}
		return false
	}
	if check(plumbing.Reads(s), "read") || check(plumbing.Writes(s), "write") || check(plumbing.Deletes(s), "delete") {
		return nil
	}
	method := "Writes"
	switch {
	case slices.Contains(policy.ObjectRead(true), action):
		method = "Reads"
	case action == "s3:DeleteObject":
		method = "Deletes"
	}
	return &DeniedError{Stage: s.Name(), Action: action, Resource: "s3://" + b.Name() + "/" + key,
		Fix: fmt.Sprintf(".%s(%s.Keys(%q, \"\"))", method, bucketRef(b), keyDir(key))}
}

// List reports whether stage s may list keys of bucket b under prefix: a
// read of a prefix covering it allows it, as the s3:prefix condition of
// the deployed policy does.
func List(s *pipeline.Stage, b *pipeline.Bucket, prefix string) error {
	for _, a := range plumbing.Reads(s) {
		if a.Bucket == b && strings.HasPrefix(prefix, a.Prefix) {
			return nil
		}
	}
	return &DeniedError{Stage: s.Name(), Action: "s3:ListBucket", Resource: fmt.Sprintf("s3://%s (prefix %q)", b.Name(), prefix),
		Fix: fmt.Sprintf(".Reads(%s.Keys(%q, \"\"))", bucketRef(b), prefix)}
}

// Table reports whether stage s may perform the DynamoDB action
// (dynamodb:PutItem, ...) on table t (or one of its indexes).
func Table(s *pipeline.Stage, action string, t *pipeline.Table) error {
	for _, g := range []struct {
		list    []plumbing.Access
		actions []string
	}{
		{plumbing.Reads(s), policy.TableRead()},
		{plumbing.Writes(s), policy.TableWrite()},
		{plumbing.Deletes(s), policy.TableDelete()},
	} {
		for _, a := range g.list {
			if a.CoversTable(t) && slices.Contains(g.actions, action) {
				return nil
			}
		}
	}
	method := "Writes"
	if slices.Contains(policy.TableRead(), action) && !slices.Contains(policy.TableWrite(), action) {
		method = "Reads"
	}
	return &DeniedError{Stage: s.Name(), Action: action, Resource: "table " + t.Name(),
		Fix: fmt.Sprintf(".%s(%s)", method, tableRef(t))}
}

func bucketRef(b *pipeline.Bucket) string { return fmt.Sprintf("<bucket %s>", b.Name()) }
func tableRef(t *pipeline.Table) string   { return fmt.Sprintf("<table %s>", t.Name()) }

// keyDir is the prefix a fix suggests for a key: its directory.
func keyDir(key string) string {
	d := path.Dir(key)
	if d == "." || d == "/" {
		return ""
	}
	return d + "/"
}
