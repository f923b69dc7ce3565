package pipeline

import "slices"

// The IAM actions each kind of declaration grants. The cdk package writes
// exactly these into a function's policy, and the local environment and
// the test harness refuse any other call a stage makes, so a missing
// declaration fails locally the way it would fail deployed.
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
