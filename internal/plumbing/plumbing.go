// Package plumbing is the part of package pipeline that nanopipe's own
// packages need and users do not: how an app maps onto Lambda functions
// (Groups, FunctionConfig), what a function's environment holds
// (FunctionEnvironment, EnvFromEnviron), the handler serving it, a
// stage's declared accesses (Reads, Writes, Deletes) and running one stage
// on a payload (Invoke). The cdk package, the local environment and the
// test harness use it.
package plumbing

import (
	"context"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/internal/plumbing/hook"
	"github.com/nanopipe/nanopipe/pipeline"
)

type lent = hook.Pipeline[pipeline.App, pipeline.Stage, pipeline.Bucket, pipeline.Table, pipeline.Env, pipeline.Function, Access]

// Access is one declared read, write or delete of a stage: a whole
// bucket, the keys of a bucket with a prefix (and suffix), or a table.
// Exactly one of Bucket and Table is set. Its String form ("bucket NAME
// prefix \"P\"", "table NAME") is the one App.Describe shows.
type Access = hook.Access[*pipeline.Bucket, *pipeline.Table]

// p returns what package pipeline registered in its init, which has run:
// this package imports it.
func p() *lent { return hook.Registered.(*lent) }

// Groups returns the functions the app deploys as: each declared group
// with its stages, and every ungrouped stage alone under its own name.
func Groups(a *pipeline.App) map[string][]*pipeline.Stage { return p().Groups(a) }

// FunctionNames returns the keys of Groups, sorted.
func FunctionNames(a *pipeline.App) []string { return p().FunctionNames(a) }

// FunctionConfig returns the configuration of the function named name (a
// group, or an ungrouped stage): the largest memory and timeout its stages
// ask for, their one architecture and reserved concurrency, and the union
// of their variables. What cannot be merged is an error naming both
// stages.
func FunctionConfig(a *pipeline.App, name string) (pipeline.Function, error) {
	return p().FunctionConfig(a, name)
}

// Resources returns the buckets and tables the stages touch (triggers,
// reads and writes), in declaration order: what a function serving them
// needs names for.
func Resources(stages []*pipeline.Stage) ([]*pipeline.Bucket, []*pipeline.Table) {
	return p().Resources(stages)
}

// StreamTables returns the tables whose streams trigger the stages.
func StreamTables(stages []*pipeline.Stage) []*pipeline.Table { return p().StreamTables(stages) }

// EnvFromEnviron builds the Env of a function from the environment
// contract (package contract), returning the stages it serves. Every
// resource those stages touch must be named; a missing variable is a
// deployment error and is reported by name.
func EnvFromEnviron(a *pipeline.App, getenv func(string) string, cfg aws.Config) (*pipeline.Env, []*pipeline.Stage, error) {
	return p().EnvFromEnviron(a, getenv, cfg)
}

// Handler returns the Lambda handler of a function serving the given
// stages: a payload goes to the one stage whose trigger it comes from (S3
// records by bucket, event type and key filters; stream batches by the
// table of their event source ARN).
func Handler(a *pipeline.App, env *pipeline.Env, stages []*pipeline.Stage) (lambda.Handler, error) {
	return p().Handler(a, env, stages)
}

// Reads returns the stage's declared reads (Stage.Reads).
func Reads(s *pipeline.Stage) []Access { return p().Reads(s) }

// Writes returns the stage's declared writes (Stage.Writes).
func Writes(s *pipeline.Stage) []Access { return p().Writes(s) }

// Deletes returns the stage's declared delete-only accesses
// (Stage.Deletes).
func Deletes(s *pipeline.Stage) []Access { return p().Deletes(s) }

// Invoke runs the stage on one Lambda payload against env, as the Lambda
// runtime does: for a stream stage the result is the partial batch
// response JSON; for an S3 stage it is "null", and a failed object makes
// the error non-nil. The local environment and the test harness call it.
func Invoke(ctx context.Context, s *pipeline.Stage, env *pipeline.Env, payload []byte) ([]byte, error) {
	return p().Invoke(s, ctx, env, payload)
}

// BucketVar is the variable holding the bucket's physical name.
func BucketVar(b *pipeline.Bucket) string { return contract.BucketVar(b.Name()) }

// TableVar is the variable holding the table's physical name.
func TableVar(t *pipeline.Table) string { return contract.TableVar(t.Name()) }

// StreamVar is the variable holding the table's stream ARN.
func StreamVar(t *pipeline.Table) string { return contract.StreamVar(t.Name()) }

// FunctionEnvironment returns the variables of the contract for a function
// serving the stages, given how to name each resource (the cdk package
// passes CloudFormation tokens; the local environment passes local names).
// streamARN is asked only for stream-triggered tables.
func FunctionEnvironment(stages []*pipeline.Stage, bucketName func(*pipeline.Bucket) string, tableName, streamARN func(*pipeline.Table) string) map[string]string {
	env := map[string]string{}
	if len(stages) == 0 {
		return env
	}
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = s.Name()
	}
	sort.Strings(names)
	env[contract.App] = stages[0].App().Name()
	env[contract.Stages] = strings.Join(names, ",")
	bs, ts := Resources(stages)
	for _, b := range bs {
		env[BucketVar(b)] = bucketName(b)
	}
	for _, t := range ts {
		env[TableVar(t)] = tableName(t)
	}
	for _, t := range StreamTables(stages) {
		env[StreamVar(t)] = streamARN(t)
	}
	return env
}
