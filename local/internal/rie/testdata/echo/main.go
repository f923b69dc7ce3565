// Command echo is the smallest Lambda function the emulator tests run: it
// answers with its process ID, the request ID and the environment
// variables asked for, or fails as asked.
package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Mode string   `json:"mode"`
	Env  []string `json:"env"`
}

func handle(ctx context.Context, in request) (map[string]any, error) {
	switch in.Mode {
	case "fail":
		return nil, errors.New("refused as asked")
	case "panic":
		panic("panicked as asked")
	case "sleep":
		time.Sleep(5 * time.Second)
	case "crash":
		go func() { panic("crashed as asked") }()
		time.Sleep(5 * time.Second)
	}
	out := map[string]any{"pid": os.Getpid()}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		out["requestId"] = lc.AwsRequestID
	}
	for _, k := range in.Env {
		out[k] = os.Getenv(k)
	}
	return out, nil
}

func main() { lambda.Start(handle) }
