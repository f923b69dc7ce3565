// Package policy holds the IAM actions each kind of declaration grants
// (Reads, Writes, Deletes of buckets and tables, stream triggers). The cdk
// package writes exactly these into a function's policy, and the local
// environment refuses any other call a stage makes, so a missing
// declaration fails locally the way it would fail deployed.
package policy

import "slices"

var (
	objectRead     = []string{"s3:GetObject"}
	objectReadVers = []string{"s3:GetObject", "s3:GetObjectVersion"}
	objectWrite    = []string{"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
	objectDelete   = []string{"s3:DeleteObject"}
	tableRead      = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
	tableWrite     = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
	tableDelete    = []string{"dynamodb:DeleteItem"}
	streamRead     = []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
)

// ObjectRead are the actions Reads grants on a bucket's keys (with
// s3:ListBucket on the bucket, limited to the read prefixes).
func ObjectRead(versioned bool) []string {
	if versioned {
		return slices.Clone(objectReadVers)
	}
	return slices.Clone(objectRead)
}

// ObjectWrite are the actions Writes grants on a bucket's keys.
func ObjectWrite() []string { return slices.Clone(objectWrite) }

// ObjectDelete are the actions Deletes grants on a bucket's keys.
func ObjectDelete() []string { return slices.Clone(objectDelete) }

// TableRead are the actions Reads grants on a table.
func TableRead() []string { return slices.Clone(tableRead) }

// TableWrite are the actions Writes grants on a table.
func TableWrite() []string { return slices.Clone(tableWrite) }

// TableDelete are the actions Deletes grants on a table. Batch deletes
// need Writes: IAM cannot limit BatchWriteItem to deletes.
func TableDelete() []string { return slices.Clone(tableDelete) }

// StreamRead are the actions a stream trigger needs on its stream (the
// event source mapping also needs dynamodb:ListStreams on the table's
// streams).
func StreamRead() []string { return slices.Clone(streamRead) }

// ObjectGranted reports whether a declaration of the kind ("read",
// "write" or "delete") grants the S3 object action.
func ObjectGranted(action string, versioned bool, kind string) bool {
	switch kind {
	case "read":
		return slices.Contains(ObjectRead(versioned), action)
	case "write":
		return slices.Contains(objectWrite, action)
	case "delete":
		return slices.Contains(objectDelete, action)
	}
	return false
}
