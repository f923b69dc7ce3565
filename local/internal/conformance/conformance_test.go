package conformance_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/local/internal/conformance"
	"github.com/nanopipe/nanopipe/local/internal/dynamolocal"
	"github.com/nanopipe/nanopipe/local/internal/envhook"
)

// ddbLocal is the DynamoDB Local every test of the binary shares: it takes
// seconds to start. Each test names its tables uniquely.
var (
	ddbLocal    *dynamolocal.Server
	ddbLocalErr error
)

func TestMain(m *testing.M) {
	begin := time.Now()
	ddbLocal, ddbLocalErr = dynamolocal.Start(context.Background(), dynamolocal.Options{})
	if ddbLocalErr == nil {
		fmt.Fprintf(os.Stderr, "conformance: DynamoDB Local started in %s (isolated: %v)\n", time.Since(begin).Round(time.Millisecond), ddbLocal.Isolated)
	}
	code := m.Run()
	if ddbLocal != nil {
		ddbLocal.Close()
	}
	os.Exit(code)
}

func dynamoDBLocal(t *testing.T) *dynamolocal.Server {
	t.Helper()
	if ddbLocalErr != nil {
		t.Fatalf("DynamoDB Local could not be started (run scripts/backends-setup.sh): %v", ddbLocalErr)
	}
	return ddbLocal
}

// withDynamoDBLocal returns opts with the tables in the shared DynamoDB
// Local.
func withDynamoDBLocal(t *testing.T, opts local.Options) local.Options {
	envhook.SetDynamoDBLocal(&opts, dynamoDBLocal(t))
	return opts
}

func TestEmbedded(t *testing.T) {
	conformance.Run(t, conformance.Backend{Name: "embedded"})
}

func TestDynamoDBLocal(t *testing.T) {
	conformance.Run(t, conformance.Backend{Name: "dynamodb-local", Options: withDynamoDBLocal(t, local.Options{}), Settle: 250 * time.Millisecond})
}

func TestVersityGW(t *testing.T) {
	conformance.Run(t, conformance.Backend{Name: "versitygw", Options: local.Options{S3: local.VersityGW}})
}

func TestDynamoDBLocalAndVersityGW(t *testing.T) {
	conformance.Run(t, conformance.Backend{Name: "dynamodb-local+versitygw", Options: withDynamoDBLocal(t, local.Options{S3: local.VersityGW}), Settle: 250 * time.Millisecond})
}
