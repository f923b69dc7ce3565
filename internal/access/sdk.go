package access

import (
	"context"
	"maps"
	"net/url"
	"slices"
	"strings"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/nanopipe/nanopipe/pipeline"
)

const middlewareID = "nanopipe.DeclaredAccess"

// S3Options returns the option adding the check of the stage's declared
// accesses to an S3 client, for pipeline.Env.S3Options. A nil stage (the
// clients of a context bound with pipeline.WithEnv: a test's seeding) is
// not checked.
func (p *Policy) S3Options(s *pipeline.Stage) []func(*s3.Options) {
	if s == nil {
		return nil
	}
	return []func(*s3.Options){func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, p.addCheck(s, s3Checks))
	}}
}

// DynamoDBOptions returns the option adding the check of the stage's
// declared accesses to a DynamoDB client, for pipeline.Env.DynamoDBOptions.
func (p *Policy) DynamoDBOptions(s *pipeline.Stage) []func(*dynamodb.Options) {
	if s == nil {
		return nil
	}
	return []func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, p.addCheck(s, dynamoDBChecks))
	}}
}

// addCheck returns the stack option of a middleware that authorizes the
// operation's input first of all, before retries or signing, so a refused
// call is neither sent nor retried.
func (p *Policy) addCheck(s *pipeline.Stage, checks func(op string, in any) []check) func(*middleware.Stack) error {
	stages := []*pipeline.Stage{s}
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc(middlewareID,
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetOperationName(ctx)
				if err := p.authorize(stages, checks(op, in.Parameters)); err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, err
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func readAction(versionID *string) string {
	if str(versionID) != "" {
		return "s3:GetObjectVersion"
	}
	return "s3:GetObject"
}

func deleteAction(versionID *string) string {
	if str(versionID) != "" {
		return "s3:DeleteObjectVersion"
	}
	return "s3:DeleteObject"
}

// copySource decodes x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, with an optional "?versionId=".
func copySource(src string) (bucket, key, versionID string) {
	src, q, _ := strings.Cut(src, "?")
	if v, err := url.ParseQuery(q); err == nil {
		versionID = v.Get("versionId")
	}
	if u, err := url.PathUnescape(src); err == nil {
		src = u
	}
	src = strings.TrimPrefix(src, "/")
	bucket, key, _ = strings.Cut(src, "/")
	return bucket, key, versionID
}

func copyChecks(destBucket, destKey, src string) []check {
	b, k, v := copySource(src)
	return []check{objectAction("s3:PutObject", destBucket, destKey), objectAction(readAction(&v), b, k)}
}

// s3Checks returns what an S3 operation's input needs authorized.
func s3Checks(op string, in any) []check {
	switch in := in.(type) {
	case *s3.GetObjectInput:
		return []check{objectAction(readAction(in.VersionId), str(in.Bucket), str(in.Key))}
	case *s3.HeadObjectInput:
		return []check{objectAction(readAction(in.VersionId), str(in.Bucket), str(in.Key))}
	case *s3.PutObjectInput:
		return []check{objectAction("s3:PutObject", str(in.Bucket), str(in.Key))}
	case *s3.CopyObjectInput:
		return copyChecks(str(in.Bucket), str(in.Key), str(in.CopySource))
	case *s3.CreateMultipartUploadInput:
		return []check{objectAction("s3:PutObject", str(in.Bucket), str(in.Key))}
	case *s3.UploadPartInput:
		return []check{objectAction("s3:PutObject", str(in.Bucket), str(in.Key))}
	case *s3.UploadPartCopyInput:
		return copyChecks(str(in.Bucket), str(in.Key), str(in.CopySource))
	case *s3.CompleteMultipartUploadInput:
		return []check{objectAction("s3:PutObject", str(in.Bucket), str(in.Key))}
	case *s3.AbortMultipartUploadInput:
		return []check{objectAction("s3:AbortMultipartUpload", str(in.Bucket), str(in.Key))}
	case *s3.DeleteObjectInput:
		return []check{objectAction(deleteAction(in.VersionId), str(in.Bucket), str(in.Key))}
	case *s3.DeleteObjectsInput:
		var cs []check
		if in.Delete != nil {
			for _, o := range in.Delete.Objects {
				cs = append(cs, objectAction(deleteAction(o.VersionId), str(in.Bucket), str(o.Key)))
			}
		}
		return cs
	case *s3.ListObjectsV2Input:
		return []check{listAction(str(in.Bucket), str(in.Prefix))}
	case *s3.ListObjectsInput:
		return []check{listAction(str(in.Bucket), str(in.Prefix))}
	case *s3.HeadBucketInput:
		return []check{listAction(str(in.Bucket), "")}
	}
	return []check{otherS3(op)}
}

// otherS3 names the IAM action of an operation no declaration grants.
func otherS3(op string) check {
	action := "s3:" + op
	switch op {
	case "ListBuckets":
		action = "s3:ListAllMyBuckets"
	case "ListObjectVersions":
		action = "s3:ListBucketVersions"
	case "ListMultipartUploads":
		action = "s3:ListBucketMultipartUploads"
	case "ListParts":
		action = "s3:ListMultipartUploadParts"
	}
	return otherAction(action, "")
}

// dynamoDBChecks returns what a DynamoDB operation's input needs
// authorized.
func dynamoDBChecks(op string, in any) []check {
	switch in := in.(type) {
	case *dynamodb.GetItemInput:
		return []check{tableAction("dynamodb:GetItem", str(in.TableName))}
	case *dynamodb.PutItemInput:
		return []check{tableAction("dynamodb:PutItem", str(in.TableName))}
	case *dynamodb.UpdateItemInput:
		return []check{tableAction("dynamodb:UpdateItem", str(in.TableName))}
	case *dynamodb.DeleteItemInput:
		return []check{tableAction("dynamodb:DeleteItem", str(in.TableName))}
	case *dynamodb.QueryInput:
		return []check{tableAction("dynamodb:Query", str(in.TableName))}
	case *dynamodb.ScanInput:
		return []check{tableAction("dynamodb:Scan", str(in.TableName))}
	case *dynamodb.DescribeTableInput:
		return []check{tableAction("dynamodb:DescribeTable", str(in.TableName))}
	case *dynamodb.BatchGetItemInput:
		var cs []check
		for _, t := range slices.Sorted(maps.Keys(in.RequestItems)) {
			cs = append(cs, tableAction("dynamodb:BatchGetItem", t))
		}
		return cs
	case *dynamodb.BatchWriteItemInput:
		var cs []check
		for _, t := range slices.Sorted(maps.Keys(in.RequestItems)) {
			cs = append(cs, tableAction("dynamodb:BatchWriteItem", t))
		}
		return cs
	case *dynamodb.TransactGetItemsInput:
		var cs []check
		for _, it := range in.TransactItems {
			if it.Get != nil {
				cs = append(cs, tableAction("dynamodb:GetItem", str(it.Get.TableName)))
			}
		}
		return cs
	case *dynamodb.TransactWriteItemsInput:
		var cs []check
		for _, it := range in.TransactItems {
			switch {
			case it.ConditionCheck != nil:
				cs = append(cs, tableAction("dynamodb:ConditionCheckItem", str(it.ConditionCheck.TableName)))
			case it.Put != nil:
				cs = append(cs, tableAction("dynamodb:PutItem", str(it.Put.TableName)))
			case it.Update != nil:
				cs = append(cs, tableAction("dynamodb:UpdateItem", str(it.Update.TableName)))
			case it.Delete != nil:
				cs = append(cs, tableAction("dynamodb:DeleteItem", str(it.Delete.TableName)))
			}
		}
		return cs
	}
	return []check{otherDynamoDB(op)}
}

func otherDynamoDB(op string) check {
	action := "dynamodb:" + op
	switch op {
	case "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction":
		action = "dynamodb:PartiQL (" + op + ")"
	}
	return otherAction(action, "")
}
