package s3srv_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nanopipe/nanopipe/local/internal/awsconf"
	"github.com/nanopipe/nanopipe/local/internal/s3srv"
	"github.com/nanopipe/nanopipe/local/internal/versity"
)

// TestListingParameters checks the listing parameters S3 checks and
// echoes, on the embedded server and on versitygw, a real S3 server.
func TestListingParameters(t *testing.T) {
	ctx := context.Background()
	t.Run("embedded", func(t *testing.T) {
		srv, err := s3srv.New(s3srv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		c := s3.NewFromConfig(awsconf.Config(), func(o *s3.Options) {
			o.BaseEndpoint = aws.String(hs.URL)
			o.UsePathStyle = true
		})
		checkListing(t, c, true, func(name string) error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
			return err
		})
	})
	t.Run("versitygw", func(t *testing.T) {
		gw, err := versity.Start(ctx, versity.Options{})
		if err != nil {
			t.Fatalf("versitygw could not be started (run scripts/backends-setup.sh): %v", err)
		}
		t.Cleanup(func() { gw.Close() })
		// versitygw's continuation token is the key itself, so it takes any
		// string; S3 (and the embedded server) refuse a token they did not
		// issue.
		checkListing(t, gw.Client(), false, func(name string) error { return gw.CreateBucket(ctx, name, false) })
	})
}

func checkListing(t *testing.T, c *s3.Client, checkTokens bool, create func(string) error) {
	ctx := context.Background()
	if err := create("listing"); err != nil {
		t.Fatal(err)
	}
	b := aws.String("listing")
	empty, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if empty.KeyCount == nil || *empty.KeyCount != 0 {
		t.Errorf("empty listing: KeyCount %v, want 0", empty.KeyCount)
	}
	for _, k := range []string{"a", "b", "c"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	zero, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, MaxKeys: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if zero.MaxKeys == nil || *zero.MaxKeys != 0 || zero.KeyCount == nil || *zero.KeyCount != 0 || len(zero.Contents) != 0 {
		t.Errorf("max-keys=0: MaxKeys %v KeyCount %v, %d keys; want 0, 0, none", zero.MaxKeys, zero.KeyCount, len(zero.Contents))
	}
	zeroV1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, MaxKeys: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if zeroV1.MaxKeys == nil || *zeroV1.MaxKeys != 0 {
		t.Errorf("ListObjects max-keys=0: MaxKeys %v, want 0", zeroV1.MaxKeys)
	}
	// Pages follow their tokens to the end.
	var keys []string
	var token *string
	for range 5 {
		p, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, MaxKeys: aws.Int32(2), ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if token != nil && aws.ToString(p.ContinuationToken) != *token {
			t.Errorf("ContinuationToken %q echoed, sent %q", aws.ToString(p.ContinuationToken), *token)
		}
		for _, o := range p.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if p.NextContinuationToken == nil {
			break
		}
		token = p.NextContinuationToken
	}
	if len(keys) != 3 || keys[0] != "a" || keys[2] != "c" {
		t.Errorf("paged keys %v, want [a b c]", keys)
	}
	bads := []*s3.ListObjectsV2Input{{Bucket: b, MaxKeys: aws.Int32(-1)}}
	if checkTokens {
		bads = append(bads,
			&s3.ListObjectsV2Input{Bucket: b, ContinuationToken: aws.String("garbage")},
			&s3.ListObjectsV2Input{Bucket: b, ContinuationToken: aws.String("YWJj")}, // base64 of "abc", not a token
		)
	}
	for _, bad := range bads {
		_, err := c.ListObjectsV2(ctx, bad)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidArgument" {
			t.Errorf("ListObjectsV2 token %q max-keys %v: got %v, want InvalidArgument", aws.ToString(bad.ContinuationToken), aws.ToInt32(bad.MaxKeys), err)
		}
	}
}
