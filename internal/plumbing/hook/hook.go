// Package hook is where package pipeline leaves the functions it lends
// nanopipe's other packages (cdk, local, pipelinetest) without making
// them API. Package plumbing gives them their types; use that.
package hook

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// Pipeline holds the lent functions. Its type parameters are pipeline's
// App, Stage, Bucket, Table, Env and Function types, which this package
// cannot name without an import cycle.
type Pipeline[App, Stage, Bucket, Table, Env, Function any] struct {
	Groups         func(*App) map[string][]*Stage
	FunctionNames  func(*App) []string
	FunctionConfig func(*App, string) (Function, error)
	Resources      func([]*Stage) ([]*Bucket, []*Table)
	StreamTables   func([]*Stage) []*Table
	EnvFromEnviron func(*App, func(string) string, aws.Config) (*Env, []*Stage, error)
	Handler        func(*App, *Env, []*Stage) (lambda.Handler, error)
}

// Registered is the *Pipeline package pipeline sets in its init.
var Registered any
