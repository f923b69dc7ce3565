package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nanopipe/nanopipe/local/internal/dynamosrv"
	"github.com/nanopipe/nanopipe/pipeline"
)

// dynamoCall sends one DynamoDB JSON request to the endpoint and returns
// the status and the error type ("" on success) with its message.
func dynamoCall(t *testing.T, endpoint, op, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	target := "DynamoDB_20120810."
	if s, ok := strings.CutPrefix(op, "Streams."); ok {
		target, op = "DynamoDBStreams_20120810.", s
	}
	req.Header.Set("X-Amz-Target", target+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", string(b)
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Msg     string `json:"Message"`
	}
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.Type[strings.LastIndex(e.Type, "#")+1:], e.Message + e.Msg
}

// testDynamoDBAPI checks request validation where the embedded DynamoDB
// once differed from DynamoDB Local (and DynamoDB): each request must
// fail, or succeed, the same way on every backend.
func testDynamoDBAPI(t *testing.T, h *harness) {
	app := pipeline.New(name("api"))
	one := app.Table(name("one"), pipeline.PartitionKey("id", pipeline.String))
	two := app.Table(name("two"), pipeline.PartitionKey("id", pipeline.String), pipeline.SortKey("sk", pipeline.String))
	env := h.start(t, app, nil)
	ep := env.Endpoint()
	nest := func(n int) string { return strings.Repeat(`{"M":{"a":`, n) + `{"S":"x"}` + strings.Repeat(`}}`, n) }
	for _, req := range []string{
		`PutItem {"TableName":"ONE","Item":{"id":{"S":"a"},"n":{"N":"1"}}}`,
		`PutItem {"TableName":"TWO","Item":{"id":{"S":"h"},"sk":{"S":"1"}}}`,
	} {
		op, body, _ := strings.Cut(strings.NewReplacer("ONE", one.Name(), "TWO", two.Name()).Replace(req), " ")
		if code, typ, msg := dynamoCall(t, ep, op, body); code != 200 {
			t.Fatalf("%s: %s %s", req, typ, msg)
		}
	}
	for _, tc := range []struct {
		name, op, body, want string // want: an error type, or "" for success
		contains             string
	}{
		{"number with spaces", "PutItem", `{"TableName":"ONE","Item":{"id":{"S":"b"},"n":{"N":" 5"}}}`, "ValidationException", "cannot be converted into a number"},
		{"number set with spaces", "PutItem", `{"TableName":"ONE","Item":{"id":{"S":"b"},"n":{"NS":["5 "]}}}`, "ValidationException", "cannot be converted into a number"},
		{"32 levels of nesting", "PutItem", `{"TableName":"ONE","Item":{"id":{"S":"b"},"v":` + nest(31) + `}}`, "", ""},
		{"33 levels of nesting", "PutItem", `{"TableName":"ONE","Item":{"id":{"S":"b"},"v":` + nest(32) + `}}`, "ValidationException", "Nesting Levels have exceeded supported limits"},
		{"partition key of 2048 bytes", "PutItem", `{"TableName":"ONE","Item":{"id":{"S":"` + strings.Repeat("ü", 1024) + `"}}}`, "", ""},
		{"partition key over 2048 bytes", "PutItem", `{"TableName":"ONE","Item":{"id":{"S":"` + strings.Repeat("k", 2049) + `"}}}`, "ValidationException", "primary key values must be under"},
		{"sort key of 1024 bytes", "PutItem", `{"TableName":"TWO","Item":{"id":{"S":"h"},"sk":{"S":"` + strings.Repeat("s", 1024) + `"}}}`, "", ""},
		{"sort key over 1024 bytes", "PutItem", `{"TableName":"TWO","Item":{"id":{"S":"h"},"sk":{"S":"` + strings.Repeat("s", 1025) + `"}}}`, "ValidationException", "primary key values must be under"},
		{"get with a key over the limit", "GetItem", `{"TableName":"ONE","Key":{"id":{"S":"` + strings.Repeat("k", 2049) + `"}}}`, "ValidationException", "primary key values must be under"},
		{"reserved word in an update", "UpdateItem", `{"TableName":"ONE","Key":{"id":{"S":"a"}},"UpdateExpression":"SET status = :v","ExpressionAttributeValues":{":v":{"N":"1"}}}`, "ValidationException", "reserved keyword; reserved keyword: status"},
		{"reserved word through a name", "UpdateItem", `{"TableName":"ONE","Key":{"id":{"S":"a"}},"UpdateExpression":"SET #s = :v","ExpressionAttributeNames":{"#s":"status"},"ExpressionAttributeValues":{":v":{"N":"1"}}}`, "", ""},
		{"reserved word in a condition", "PutItem", `{"TableName":"ONE","Item":{"id":{"S":"a"}},"ConditionExpression":"attribute_not_exists(name)"}`, "ValidationException", "reserved keyword"},
		{"reserved word in a projection", "GetItem", `{"TableName":"ONE","Key":{"id":{"S":"a"}},"ProjectionExpression":"id, data"}`, "ValidationException", "reserved keyword"},
		{"size() is a function, not a name", "PutItem", `{"TableName":"ONE","Item":{"id":{"S":"a"},"n":{"N":"1"}},"ConditionExpression":"size(id) = :one","ExpressionAttributeValues":{":one":{"N":"1"}}}`, "", ""},
		{"query filter on the sort key", "Query", `{"TableName":"TWO","KeyConditionExpression":"id = :h","FilterExpression":"sk > :a","ExpressionAttributeValues":{":h":{"S":"h"},":a":{"S":"0"}}}`, "ValidationException", "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"},
		{"scan filter on the sort key", "Scan", `{"TableName":"TWO","FilterExpression":"sk > :a","ExpressionAttributeValues":{":a":{"S":"0"}}}`, "", ""},
		{"list tables with limit 0", "ListTables", `{"Limit":0}`, "ValidationException", "greater than or equal to 1"},
	} {
		t.Run(testName(tc.name), func(t *testing.T) {
			body := strings.NewReplacer(`"ONE"`, `"`+one.Name()+`"`, `"TWO"`, `"`+two.Name()+`"`).Replace(tc.body)
			code, typ, msg := dynamoCall(t, ep, tc.op, body)
			if typ != tc.want || !strings.Contains(msg, tc.contains) {
				t.Errorf("%s: %d %s %q, want %q containing %q", tc.op, code, typ, msg, tc.want, tc.contains)
			}
		})
	}
	t.Run("empty pages list no items", func(t *testing.T) {
		for _, req := range [][2]string{
			{"Query", `{"TableName":"TWO","KeyConditionExpression":"id = :h","ExpressionAttributeValues":{":h":{"S":"nobody"}}}`},
			{"Scan", `{"TableName":"TWO","FilterExpression":"attribute_exists(nothing)"}`},
		} {
			_, typ, out := dynamoCall(t, ep, req[0], strings.ReplaceAll(req[1], `"TWO"`, `"`+two.Name()+`"`))
			if typ != "" || !strings.Contains(out, `"Items":[]`) {
				t.Errorf("%s of nothing: %s %s, want \"Items\":[]", req[0], typ, out)
			}
		}
		_, _, out := dynamoCall(t, ep, "Query", `{"TableName":"`+two.Name()+`","KeyConditionExpression":"id = :h","ExpressionAttributeValues":{":h":{"S":"nobody"}},"Select":"COUNT"}`)
		if strings.Contains(out, `"Items"`) {
			t.Errorf("Select COUNT: %s, want no Items", out)
		}
	})
	t.Run("every reserved word", func(t *testing.T) {
		var accepted []string
		for _, w := range append(dynamosrv.ReservedWords(), "Status", "sTaTuS") {
			body := fmt.Sprintf(`{"TableName":"%s","Key":{"id":{"S":"a"}},"UpdateExpression":"SET %s = :v","ExpressionAttributeValues":{":v":{"N":"1"}}}`, one.Name(), w)
			if _, typ, msg := dynamoCall(t, ep, "UpdateItem", body); typ != "ValidationException" || !strings.Contains(msg, "reserved keyword") && !strings.Contains(msg, "Syntax error") {
				accepted = append(accepted, w)
			}
		}
		if len(accepted) > 0 {
			t.Errorf("not reserved here: %v", accepted)
		}
		for _, w := range []string{"id", "n", "album", "photos", "thumb", "width", "height", "email", "title", "price", "sequencer", "created_at", "updatedAt", "payload", "total_count", "statuses", "item_name"} {
			body := fmt.Sprintf(`{"TableName":"%s","Key":{"id":{"S":"z"}},"UpdateExpression":"SET %s = :v","ExpressionAttributeValues":{":v":{"N":"1"}}}`, one.Name(), w)
			if w == "id" {
				continue // a key attribute cannot be updated
			}
			if _, typ, msg := dynamoCall(t, ep, "UpdateItem", body); typ != "" {
				t.Errorf("%s refused: %s %s", w, typ, msg)
			}
		}
	})
}

func testName(s string) string { return strings.ReplaceAll(s, " ", "_") }

// s3Err returns the HTTP status and error code of an S3 call's error.
func s3Err(err error) string {
	if err == nil {
		return "ok"
	}
	var re *smithyhttp.ResponseError
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	if errors.As(err, &re) {
		return fmt.Sprintf("%d %s", re.HTTPStatusCode(), code)
	}
	return err.Error()
}

// testS3API checks S3 behaviours where the embedded S3 once differed from
// versitygw (and S3), with the ones the event paths depend on.
func testS3API(t *testing.T, h *harness) {
	app := pipeline.New(name("s3api"))
	plain := app.Bucket(name("plain"))
	versioned := app.Bucket(name("versioned"), pipeline.Versioned())
	env := h.start(t, app, nil)
	c := env.S3Client()
	ctx := context.Background()
	B, V, K := aws.String(plain.Name()), aws.String(versioned.Name()), aws.String
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: B, Key: K("k"), Body: strings.NewReader("hello")})
	if err != nil {
		t.Fatal(err)
	}
	vput, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: V, Key: K("k"), Body: strings.NewReader("one")})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"d/", "d/a", "d/b/c"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: B, Key: K(k), Body: strings.NewReader("")}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(in *s3.GetObjectInput) string {
		in.Bucket = B
		if in.Key == nil {
			in.Key = K("k")
		}
		o, err := c.GetObject(ctx, in)
		if err != nil {
			return s3Err(err)
		}
		defer o.Body.Close()
		b, _ := io.ReadAll(o.Body)
		return fmt.Sprintf("ok %s %s", b, aws.ToString(o.ContentRange))
	}
	list := func(in *s3.ListObjectsV2Input) string {
		in.Bucket = B
		o, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return s3Err(err)
		}
		var out []string
		for _, x := range o.Contents {
			out = append(out, aws.ToString(x.Key))
		}
		for _, p := range o.CommonPrefixes {
			out = append(out, "prefix:"+aws.ToString(p.Prefix))
		}
		return fmt.Sprintf("%v truncated=%v", out, aws.ToBool(o.IsTruncated))
	}
	for _, tc := range []struct{ name, got, want string }{
		{"create a bucket one owns", s3Err(func() error { _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: B}); return err }()), "409 BucketAlreadyOwnedByYou"},
		{"malformed version id", get(&s3.GetObjectInput{VersionId: K("nosuchversion")}), "400 InvalidArgument"},
		{"range", get(&s3.GetObjectInput{Range: K("bytes=1-2")}), "ok el bytes 1-2/5"},
		{"suffix range", get(&s3.GetObjectInput{Range: K("bytes=-2")}), "ok lo bytes 3-4/5"},
		{"unsatisfiable range", get(&s3.GetObjectInput{Range: K("bytes=100-200")}), "416 InvalidRange"},
		{"If-Match fails", get(&s3.GetObjectInput{IfMatch: K(`"abc"`)}), "412 PreconditionFailed"},
		{"If-None-Match matches", get(&s3.GetObjectInput{IfNoneMatch: put.ETag}), "304 NotModified"},
		{"missing key", get(&s3.GetObjectInput{Key: K("nope")}), "404 NoSuchKey"},
		{"PUT If-None-Match * on an existing key", s3Err(func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: B, Key: K("k"), Body: strings.NewReader("x"), IfNoneMatch: K("*")})
			return err
		}()), "412 PreconditionFailed"},
		{"copy onto itself unchanged", s3Err(func() error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: B, Key: K("k"), CopySource: K(plain.Name() + "/k")})
			return err
		}()), "400 InvalidRequest"},
		{"missing bucket", s3Err(func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: K(name("nobucket")), Key: K("x"), Body: strings.NewReader("x")})
			return err
		}()), "404 NoSuchBucket"},
		{"list with delimiter", list(&s3.ListObjectsV2Input{Delimiter: K("/")}), "[k prefix:d/] truncated=false"},
		{"list under a prefix", list(&s3.ListObjectsV2Input{Prefix: K("d/"), Delimiter: K("/")}), "[d/ d/a prefix:d/b/] truncated=false"},
		{"list max-keys 0", list(&s3.ListObjectsV2Input{MaxKeys: aws.Int32(0)}), "[] truncated=false"},
		{"list a page", list(&s3.ListObjectsV2Input{MaxKeys: aws.Int32(2)}), "[d/ d/a] truncated=true"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	t.Run("multipart errors", func(t *testing.T) {
		mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: B, Key: K("mp")})
		if err != nil {
			t.Fatal(err)
		}
		var parts []s3types.CompletedPart
		for i, body := range []string{"small", "x"} {
			up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: B, Key: K("mp"), UploadId: mp.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: strings.NewReader(body)})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, s3types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1))})
		}
		complete := func(ps []s3types.CompletedPart) string {
			_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: B, Key: K("mp"), UploadId: mp.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: ps}})
			return s3Err(err)
		}
		if got := complete(parts); got != "400 EntityTooSmall" {
			t.Errorf("a part under 5 MiB before the last: %s, want 400 EntityTooSmall", got)
		}
		if got := complete([]s3types.CompletedPart{{ETag: aws.String(`"00000000000000000000000000000000"`), PartNumber: aws.Int32(1)}}); got != "400 InvalidPart" {
			t.Errorf("a part with a wrong ETag: %s, want 400 InvalidPart", got)
		}
		c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: B, Key: K("mp"), UploadId: mp.UploadId})
		if got := complete(parts[1:]); got != "404 NoSuchUpload" {
			t.Errorf("complete after abort: %s, want 404 NoSuchUpload", got)
		}
	})
	t.Run("versioned reads", func(t *testing.T) {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: V, Key: K("k"), VersionId: vput.VersionId})
		if err != nil {
			t.Fatal(err)
		}
		o.Body.Close()
		if aws.ToString(o.VersionId) != aws.ToString(vput.VersionId) {
			t.Errorf("version %s, want %s", aws.ToString(o.VersionId), aws.ToString(vput.VersionId))
		}
		d, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: V, Key: K("k")})
		if err != nil || !aws.ToBool(d.DeleteMarker) || d.VersionId == nil {
			t.Fatalf("delete in a versioned bucket: %+v %v, want a delete marker", d, err)
		}
		if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: V, Key: K("k")}); s3Err(err) != "404 NoSuchKey" {
			t.Errorf("GET behind a delete marker: %s, want 404 NoSuchKey", s3Err(err))
		}
		vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: V})
		if err != nil || len(vs.Versions) != 1 || len(vs.DeleteMarkers) != 1 {
			t.Errorf("versions %+v %v, want 1 version and 1 marker", vs, err)
		}
	})
}
