package access

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/nanopipe/nanopipe/pipeline"
)

// Caller tells which stages a request acts for. ok false means the
// request is not a stage's (the AWS CLI, a test, the environment itself):
// it is not checked. The emulator's slots are told apart by their AppID.
type Caller func(r *http.Request) (stages []*pipeline.Stage, ok bool)

// Guard returns a handler that checks the requests of stages against the
// policy before next serves them, and refuses the others with AWS's
// AccessDenied error shapes. denied, when set, is told of every refusal
// (a HEAD request's refusal has no body to carry the message).
func (p *Policy) Guard(next http.Handler, caller Caller, denied func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stages, ok := caller(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		target := r.Header.Get("X-Amz-Target")
		svc, op, _ := strings.Cut(target, ".")
		var checks []check
		isDynamo := svc == "DynamoDB_20120810" || svc == "DynamoDBStreams_20120810"
		if isDynamo {
			body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			checks = dynamoDBRequestChecks(svc, op, body)
		} else {
			var err error
			if checks, err = s3RequestChecks(r); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		if err := p.authorize(stages, checks); err != nil {
			if denied != nil {
				denied(err)
			}
			if isDynamo {
				writeDynamoDBDenied(w, err)
			} else {
				writeS3Denied(w, r, err)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// AppID returns the application ID an AWS SDK put into the request's
// User-Agent ("app/ID"): the SDKs take it from AWS_SDK_UA_APP_ID, so it
// names the process that sent the request without touching what the
// request is signed with (servers that check signatures, and DynamoDB
// Local, which keeps a database per access key, see the usual
// credentials).
func AppID(r *http.Request) string {
	for _, f := range strings.Fields(r.Header.Get("User-Agent")) {
		if id, ok := strings.CutPrefix(f, "app/"); ok {
			return id
		}
	}
	return ""
}

func writeS3Denied(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	if r.Method == http.MethodHead {
		return
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Error><Code>AccessDenied</Code><Message>")
	xml.EscapeText(&b, []byte(err.Error()))
	b.WriteString("</Message><Resource>")
	xml.EscapeText(&b, []byte(r.URL.Path))
	b.WriteString("</Resource><RequestId>nanopipe-access</RequestId></Error>")
	w.Write(b.Bytes())
}

func writeDynamoDBDenied(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{
		"__type":  "com.amazon.coral.service#AccessDeniedException",
		"message": err.Error(),
	})
}

// dynamoDBRequestChecks returns what a DynamoDB or Streams JSON request
// needs authorized.
func dynamoDBRequestChecks(svc, op string, body []byte) []check {
	type named struct{ TableName string }
	var in struct {
		TableName     string
		StreamArn     string
		RequestItems  map[string]json.RawMessage
		TransactItems []struct {
			ConditionCheck, Put, Update, Delete, Get *named
		}
	}
	json.Unmarshal(body, &in)
	if svc == "DynamoDBStreams_20120810" {
		switch op {
		case "DescribeStream", "GetShardIterator", "GetRecords", "ListStreams":
			t := in.StreamArn
			if t == "" {
				t = in.TableName
			}
			return []check{{kind: streamCheck, action: "dynamodb:" + op, table: t}}
		}
		return []check{otherDynamoDB(op)}
	}
	switch op {
	case "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable":
		return []check{tableAction("dynamodb:"+op, in.TableName)}
	case "BatchGetItem", "BatchWriteItem":
		var cs []check
		for _, t := range slices.Sorted(maps.Keys(in.RequestItems)) {
			cs = append(cs, tableAction("dynamodb:"+op, t))
		}
		return cs
	case "TransactGetItems", "TransactWriteItems":
		var cs []check
		for _, it := range in.TransactItems {
			switch {
			case it.Get != nil:
				cs = append(cs, tableAction("dynamodb:GetItem", it.Get.TableName))
			case it.ConditionCheck != nil:
				cs = append(cs, tableAction("dynamodb:ConditionCheckItem", it.ConditionCheck.TableName))
			case it.Put != nil:
				cs = append(cs, tableAction("dynamodb:PutItem", it.Put.TableName))
			case it.Update != nil:
				cs = append(cs, tableAction("dynamodb:UpdateItem", it.Update.TableName))
			case it.Delete != nil:
				cs = append(cs, tableAction("dynamodb:DeleteItem", it.Delete.TableName))
			}
		}
		return cs
	}
	return []check{otherDynamoDB(op)}
}

// Sub-resources of S3 requests that make them other operations than the
// object and listing calls declarations grant.
var subresources = []string{
	"acl", "tagging", "attributes", "retention", "legal-hold", "torrent", "restore", "select",
	"lifecycle", "policy", "policyStatus", "cors", "website", "notification", "encryption", "replication",
	"versioning", "location", "logging", "ownershipControls", "publicAccessBlock", "accelerate",
	"requestPayment", "object-lock", "intelligent-tiering", "inventory", "metrics", "analytics",
}

func subresource(q map[string][]string) string {
	for _, s := range subresources {
		if _, ok := q[s]; ok {
			return s
		}
	}
	return ""
}

// s3RequestChecks returns what a path-style S3 REST request needs
// authorized (the SDK addresses an IP endpoint path-style).
func s3RequestChecks(r *http.Request) ([]check, error) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	verb := map[string]string{http.MethodGet: "Get", http.MethodHead: "Get", http.MethodPut: "Put", http.MethodDelete: "Delete", http.MethodPost: "Post"}[r.Method]
	if bucket == "" {
		if r.Method == http.MethodGet {
			return []check{otherAction("s3:ListAllMyBuckets", "")}, nil
		}
		return []check{otherAction("s3:"+r.Method, "")}, nil
	}
	if sub := subresource(q); sub != "" {
		scope := "Bucket"
		res := "s3://" + bucket
		if key != "" {
			scope, res = "Object", res+"/"+key
		}
		return []check{otherAction(fmt.Sprintf("s3:%s%s%s", verb, scope, title(sub)), res)}, nil
	}
	copySrc := r.Header.Get("X-Amz-Copy-Source")
	if key == "" {
		switch {
		case r.Method == http.MethodGet && has("versions"):
			return []check{otherAction("s3:ListBucketVersions", "s3://"+bucket)}, nil
		case r.Method == http.MethodGet && has("uploads"):
			return []check{otherAction("s3:ListBucketMultipartUploads", "s3://"+bucket)}, nil
		case r.Method == http.MethodGet:
			return []check{listAction(bucket, q.Get("prefix"))}, nil
		case r.Method == http.MethodHead:
			return []check{listAction(bucket, "")}, nil
		case r.Method == http.MethodPost && has("delete"):
			body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
			if err != nil {
				return nil, err
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var d struct {
				Objects []struct {
					Key       string
					VersionId string
				} `xml:"Object"`
			}
			if err := xml.Unmarshal(body, &d); err != nil {
				return nil, fmt.Errorf("malformed DeleteObjects request: %w", err)
			}
			var cs []check
			for _, o := range d.Objects {
				cs = append(cs, objectAction(deleteAction(&o.VersionId), bucket, o.Key))
			}
			return cs, nil
		case r.Method == http.MethodPut:
			return []check{otherAction("s3:CreateBucket", "s3://"+bucket)}, nil
		case r.Method == http.MethodDelete:
			return []check{otherAction("s3:DeleteBucket", "s3://"+bucket)}, nil
		}
		return []check{otherAction("s3:"+verb+"Bucket", "s3://"+bucket)}, nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if has("uploadId") {
			return []check{otherAction("s3:ListMultipartUploadParts", "s3://"+bucket+"/"+key)}, nil
		}
		v := q.Get("versionId")
		return []check{objectAction(readAction(&v), bucket, key)}, nil
	case http.MethodPut:
		if copySrc != "" {
			return copyChecks(bucket, key, copySrc), nil
		}
		return []check{objectAction("s3:PutObject", bucket, key)}, nil
	case http.MethodPost:
		if has("uploads") || has("uploadId") {
			return []check{objectAction("s3:PutObject", bucket, key)}, nil
		}
	case http.MethodDelete:
		if has("uploadId") {
			return []check{objectAction("s3:AbortMultipartUpload", bucket, key)}, nil
		}
		v := q.Get("versionId")
		return []check{objectAction(deleteAction(&v), bucket, key)}, nil
	}
	return []check{otherAction("s3:"+verb+"Object", "s3://"+bucket+"/"+key)}, nil
}

// title turns "legal-hold" into "LegalHold".
func title(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '-' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}
