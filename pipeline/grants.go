package pipeline

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// The IAM actions each kind of declaration grants. The cdk package writes
// exactly these into a function's policy, and the local environment
// refuses any other call a stage makes, so a missing declaration fails
// locally the way it would fail deployed.
var (
	objectRead       = []string{"s3:GetObject"}
	objectReadVers   = []string{"s3:GetObject", "s3:GetObjectVersion"}
	objectList       = []string{"s3:ListBucket"}
	objectWrite      = []string{"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
	objectDelete     = []string{"s3:DeleteObject"}
	tableRead        = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
	tableWrite       = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
	tableDelete      = []string{"dynamodb:DeleteItem"}
	streamReadAction = []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
)

// ObjectReadActions are the actions Reads grants on a bucket's keys
// (with s3:ListBucket on the bucket, limited to the read prefixes).
func ObjectReadActions(versioned bool) []string {
	if versioned {
		return slices.Clone(objectReadVers)
	}
	return slices.Clone(objectRead)
}

// ObjectWriteActions are the actions Writes grants on a bucket's keys.
func ObjectWriteActions() []string { return slices.Clone(objectWrite) }

// ObjectDeleteActions are the actions Deletes grants on a bucket's keys.
func ObjectDeleteActions() []string { return slices.Clone(objectDelete) }

// TableReadActions are the actions Reads grants on a table.
func TableReadActions() []string { return slices.Clone(tableRead) }

// TableWriteActions are the actions Writes grants on a table.
func TableWriteActions() []string { return slices.Clone(tableWrite) }

// TableDeleteActions are the actions Deletes grants on a table. Batch
// deletes need Writes: IAM cannot limit BatchWriteItem to deletes.
func TableDeleteActions() []string { return slices.Clone(tableDelete) }

// StreamReadActions are the actions a stream trigger needs on its stream
// (the event source mapping also needs dynamodb:ListStreams on the
// table's streams).
func StreamReadActions() []string { return slices.Clone(streamReadAction) }

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

// objectActionKinds says which declarations grant an S3 object action.
func objectActionGranted(action string, versioned bool, kind string) bool {
	switch kind {
	case "read":
		return slices.Contains(ObjectReadActions(versioned), action)
	case "write":
		return slices.Contains(objectWrite, action)
	case "delete":
		return slices.Contains(objectDelete, action)
	}
	return false
}

// AuthorizeObject reports whether the stage may perform the S3 object
// action (an IAM action such as s3:GetObject) on key of bucket b, and if
// not, which declaration would allow it.
func (s *Stage) AuthorizeObject(action string, b *Bucket, key string) error {
	check := func(list []Access, kind string) bool {
		for _, a := range list {
			if a.Covers(b, key) && objectActionGranted(action, b.versioned, kind) {
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
	case slices.Contains(objectReadVers, action):
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
		if a.Table == t && slices.Contains(tableRead, action) {
			return nil
		}
	}
	for _, a := range s.writes {
		if a.Table == t && slices.Contains(tableWrite, action) {
			return nil
		}
	}
	for _, a := range s.deletes {
		if a.Table == t && slices.Contains(tableDelete, action) {
			return nil
		}
	}
	method := "Writes"
	if slices.Contains(tableRead, action) && !slices.Contains(tableWrite, action) {
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
