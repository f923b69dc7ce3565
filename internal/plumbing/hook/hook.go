// Package hook is where package pipeline leaves the functions it lends
// nanopipe's other packages (cdk, local, pipelinetest) without making
// them API. Package plumbing gives them their types; use that.
package hook

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// Pipeline holds the lent functions. Its type parameters are pipeline's
// App, Stage, Bucket, Table, Env and Function types and its Access
// instance, which this package cannot name without an import cycle.
type Pipeline[App, Stage, Bucket, Table, Env, Function, Access any] struct {
	Groups         func(*App) map[string][]*Stage
	FunctionNames  func(*App) []string
	FunctionConfig func(*App, string) (Function, error)
	Resources      func([]*Stage) ([]*Bucket, []*Table)
	StreamTables   func([]*Stage) []*Table
	EnvFromEnviron func(*App, func(string) string, aws.Config) (*Env, []*Stage, error)
	Handler        func(*App, *Env, []*Stage) (lambda.Handler, error)
	Reads          func(*Stage) []Access
	Writes         func(*Stage) []Access
	Deletes        func(*Stage) []Access
	Invoke         func(*Stage, context.Context, *Env, []byte) ([]byte, error)
}

// Registered is the *Pipeline package pipeline sets in its init.
var Registered any

// Named is what Access needs of pipeline's *Bucket and *Table.
type Named interface {
	comparable
	Name() string
}

// Access is one declared read, write or delete: a whole bucket, the keys
// of a bucket with a prefix (and suffix), or a table. Exactly one of
// Bucket and Table is set. Package pipeline instantiates it with its
// *Bucket and *Table.
type Access[B, T Named] struct {
	Bucket B
	// Prefix and Suffix limit a bucket access to keys starting and ending
	// with them; both empty is the whole bucket.
	Prefix string
	Suffix string
	Table  T
}

func (a Access[B, T]) String() string {
	var noTable T
	switch {
	case a.Table != noTable:
		return "table " + a.Table.Name()
	case a.Prefix == "" && a.Suffix == "":
		return "bucket " + a.Bucket.Name()
	case a.Suffix == "":
		return fmt.Sprintf("bucket %s prefix %q", a.Bucket.Name(), a.Prefix)
	}
	return fmt.Sprintf("bucket %s keys %q", a.Bucket.Name(), a.Prefix+"*"+a.Suffix)
}

// Covers reports whether a covers the object key in bucket b.
func (a Access[B, T]) Covers(b B, key string) bool {
	return a.Bucket == b && strings.HasPrefix(key, a.Prefix) && strings.HasSuffix(key[len(a.Prefix):], a.Suffix)
}

// CoversTable reports whether a is an access to table t.
func (a Access[B, T]) CoversTable(t T) bool { return a.Table == t }
