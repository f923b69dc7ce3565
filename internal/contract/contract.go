// Package contract is the environment contract between a deployment and
// the Lambda runtime of package pipeline. The cdk package writes these
// variables into each function and the local environment into each
// emulated one; the runtime reads them at cold start. Stage code never
// reads them: bucket and table handles resolve physical names.
//
//	NANOPIPE_APP               the app's name, checked against the binary's declaration
//	NANOPIPE_STAGES            comma-separated names of the stages the function serves
//	NANOPIPE_BUCKET_<NAME>     physical name of the bucket declared as <name>
//	NANOPIPE_TABLE_<NAME>      physical name of the table declared as <name>
//	NANOPIPE_STREAM_<NAME>     stream ARN of the table declared as <name> (stream-triggered tables)
//	NANOPIPE_LOG_LEVEL         debug, info (default), warn or error
//	NANOPIPE_TRACING           "active": record the stages' S3 and DynamoDB calls as X-Ray subsegments
//	NANOPIPE_DESCRIBE          set: print the declaration (App.Describe) and exit
//
// <NAME> is the declared name upper-cased with every character other than
// A-Z and 0-9 replaced by '_' (see Name).
package contract

import "strings"

// The variables of the contract with fixed names.
const (
	App      = "NANOPIPE_APP"
	Stages   = "NANOPIPE_STAGES"
	LogLevel = "NANOPIPE_LOG_LEVEL"
	// Tracing, set to "active" on a function with X-Ray active tracing,
	// makes the runtime record every S3 and DynamoDB call its stages make
	// through their handles as an X-Ray subsegment of the sampled
	// invocation.
	Tracing = "NANOPIPE_TRACING"
	// Describe, set to any value, makes App.Main print the declaration
	// (App.Describe) and exit instead of serving: tools that hold a
	// declaration, such as the local environment's --watch, use it to
	// tell whether a rebuilt binary declares the same pipeline.
	Describe = "NANOPIPE_DESCRIBE"

	// Prefix starts every variable of the contract; a stage's own
	// variables may not use it.
	Prefix = "NANOPIPE_"

	bucketPrefix = "NANOPIPE_BUCKET_"
	tablePrefix  = "NANOPIPE_TABLE_"
	streamPrefix = "NANOPIPE_STREAM_"
)

// Name turns a declared name into the <NAME> part of a variable.
func Name(declared string) string {
	var b strings.Builder
	for _, r := range declared {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// BucketVar is the variable holding the physical name of the bucket
// declared as name.
func BucketVar(name string) string { return bucketPrefix + Name(name) }

// TableVar is the variable holding the physical name of the table
// declared as name.
func TableVar(name string) string { return tablePrefix + Name(name) }

// StreamVar is the variable holding the stream ARN of the table declared
// as name.
func StreamVar(name string) string { return streamPrefix + Name(name) }
