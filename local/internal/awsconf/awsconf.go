// Package awsconf builds the aws.Config that local tooling and tests use
// against a local endpoint: static credentials, a fixed region and the
// SDK's own HTTP client, without config.LoadDefaultConfig (which reads
// AWS_CA_BUNDLE and shared files, slow and error-prone on 127.0.0.1).
package awsconf

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region the local environment reports.
const Region = "us-east-1"

// Config returns a configuration for clients of a local endpoint.
func Config() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			// Stages run concurrently against one endpoint: keep their
			// connections instead of opening new ones.
			t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
		}),
		RetryMaxAttempts: 3,
	}
}
