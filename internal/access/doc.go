// Package access enforces, in the local environment (`dev`) and in the test
// harness (pipelinetest), what each stage declared it reads, writes and
// deletes: the grants the cdk package writes into the function's IAM role.
// It is the one implementation of that check. A call the declaration does not cover is
// refused with an AccessDenied error that names the declaration to add,
// so a missing grant fails on the workstation, not after deploy.
//
// # What is checked
//
// Every call is reduced to the IAM actions and resources the deployed role
// is checked for, and each is put to Object, List or Table:
//
//   - S3 GetObject and HeadObject: s3:GetObject on the key
//     (s3:GetObjectVersion with a versionId);
//   - PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload:
//     s3:PutObject; CopyObject and UploadPartCopy: s3:PutObject on the
//     destination and s3:GetObject on the source; AbortMultipartUpload:
//     s3:AbortMultipartUpload;
//   - DeleteObject and every key of DeleteObjects: s3:DeleteObject
//     (s3:DeleteObjectVersion with a versionId, which no declaration
//     grants);
//   - ListObjects and ListObjectsV2: s3:ListBucket under the requested
//     prefix; HeadBucket: s3:ListBucket on the whole bucket;
//   - DynamoDB item calls on their table (GetItem, PutItem, UpdateItem,
//     DeleteItem, Query, Scan, DescribeTable), BatchGetItem and
//     BatchWriteItem per table, TransactGetItems and TransactWriteItems
//     per item (GetItem, PutItem, UpdateItem, DeleteItem,
//     ConditionCheckItem);
//   - anything else (ListBuckets, CreateTable, PartiQL, tagging, ...) is
//     refused: no declaration grants it and the deployed role does not
//     allow it either.
//
// Buckets and tables are known by their physical names; one the app does
// not declare is refused with the hint to declare it (ExistingBucket,
// ExistingTable).
//
// # Where it is checked
//
// In-process, S3Options and DynamoDBOptions add a middleware to a stage's
// clients (through pipeline.Env's hooks) that checks the typed input
// before anything is sent; the error is a *DeniedError, which reads as an
// AWS API error (smithy.APIError, code AccessDenied) through the SDK's
// OperationError.
//
// Out of process (the runtime interface emulator), the function's
// processes cannot be given a middleware: Guard checks the requests at the
// local endpoint instead. Each emulator slot runs with its own
// AWS_SDK_UA_APP_ID, which the SDK writes into every request's User-Agent
// (AppID reads it back), and a Caller maps it to the stage running in the
// slot; the credentials stay the environment's usual ones. Refused
// requests get AWS's own error shapes: S3's 403 AccessDenied XML, and
// DynamoDB's AccessDeniedException, with the same message.
//
// # Grouped stages
//
// Deployed, the stages of a group share one function and one role, the
// union of their grants. Locally each stage is held to its own
// declaration (a request made during a function's init, when no stage
// runs, to the union): a group is a packaging choice, and moving a stage
// out of its group must not break it.
package access
