package pipeline

import (
	"fmt"
	"sort"
	"strings"
)

// The environment contract between a deployment and the runtime. The cdk
// package writes these variables into each function; the runtime reads
// them at cold start. Stage code never reads them: bucket and table
// handles resolve physical names.
//
//	NANOPIPE_APP               the app's name, checked against the binary's declaration
//	NANOPIPE_STAGES            comma-separated names of the stages the function serves
//	NANOPIPE_BUCKET_<NAME>     physical name of the bucket declared as <name>
//	NANOPIPE_TABLE_<NAME>      physical name of the table declared as <name>
//	NANOPIPE_STREAM_<NAME>     stream ARN of the table declared as <name> (stream-triggered tables)
//	NANOPIPE_LOG_LEVEL         debug, info (default), warn or error
//	NANOPIPE_DESCRIBE          set: print the declaration (App.Describe) and exit
//
// <NAME> is the declared name upper-cased with every character other than
// A-Z and 0-9 replaced by '_' (see EnvName).
const (
	EnvApp      = "NANOPIPE_APP"
	EnvStages   = "NANOPIPE_STAGES"
	EnvLogLevel = "NANOPIPE_LOG_LEVEL"

	envPrefix       = "NANOPIPE_"
	envBucketPrefix = "NANOPIPE_BUCKET_"
	envTablePrefix  = "NANOPIPE_TABLE_"
	envStreamPrefix = "NANOPIPE_STREAM_"
)

// EnvName turns a declared name into the <NAME> part of a variable.
func EnvName(declared string) string {
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

// BucketEnvVar is the variable holding the bucket's physical name.
func BucketEnvVar(b *Bucket) string { return envBucketPrefix + EnvName(b.name) }

// TableEnvVar is the variable holding the table's physical name.
func TableEnvVar(t *Table) string { return envTablePrefix + EnvName(t.name) }

// StreamEnvVar is the variable holding the table's stream ARN.
func StreamEnvVar(t *Table) string { return envStreamPrefix + EnvName(t.name) }

// Resources returns the buckets and tables the stages touch (triggers,
// reads and writes), in declaration order: what a function serving them
// needs names for.
func Resources(stages []*Stage) ([]*Bucket, []*Table) {
	if len(stages) == 0 {
		return nil, nil
	}
	app := stages[0].app
	useB, useT := map[*Bucket]bool{}, map[*Table]bool{}
	for _, s := range stages {
		if b := s.Bucket(); b != nil {
			useB[b] = true
		}
		if t := s.Table(); t != nil {
			useT[t] = true
		}
		for _, a := range append(append(s.ReadAccesses(), s.WriteAccesses()...), s.deletes...) {
			if a.Bucket != nil {
				useB[a.Bucket] = true
			}
			if a.Table != nil {
				useT[a.Table] = true
			}
		}
	}
	var bs []*Bucket
	var ts []*Table
	for _, b := range app.buckets {
		if useB[b] {
			bs = append(bs, b)
		}
	}
	for _, t := range app.tables {
		if useT[t] {
			ts = append(ts, t)
		}
	}
	return bs, ts
}

// StreamTables returns the tables whose streams trigger the stages.
func StreamTables(stages []*Stage) []*Table {
	var out []*Table
	seen := map[*Table]bool{}
	for _, s := range stages {
		if t := s.Table(); t != nil && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// FunctionEnvironment returns the variables of the contract for a function
// serving the stages, given how to name each resource (the cdk package
// passes CloudFormation tokens; the local environment passes local names).
// streamARN is asked only for stream-triggered tables.
func FunctionEnvironment(stages []*Stage, bucketName func(*Bucket) string, tableName, streamARN func(*Table) string) map[string]string {
	env := map[string]string{}
	if len(stages) == 0 {
		return env
	}
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = s.name
	}
	sort.Strings(names)
	env[EnvApp] = stages[0].app.name
	env[EnvStages] = strings.Join(names, ",")
	bs, ts := Resources(stages)
	for _, b := range bs {
		env[BucketEnvVar(b)] = bucketName(b)
	}
	for _, t := range ts {
		env[TableEnvVar(t)] = tableName(t)
	}
	for _, t := range StreamTables(stages) {
		env[StreamEnvVar(t)] = streamARN(t)
	}
	return env
}

func (a *App) checkEnvNames() []error {
	var errs []error
	seen := map[string]string{}
	for _, b := range a.buckets {
		v := BucketEnvVar(b)
		if prev, ok := seen[v]; ok {
			errs = append(errs, fmt.Errorf("pipeline: bucket %q and %s map to the same variable %s; rename one (names differing only in case, '.', '-' or '_' collide)", b.name, prev, v))
		}
		seen[v] = fmt.Sprintf("bucket %q", b.name)
	}
	for _, t := range a.tables {
		v := TableEnvVar(t)
		if prev, ok := seen[v]; ok {
			errs = append(errs, fmt.Errorf("pipeline: table %q and %s map to the same variable %s; rename one (names differing only in case, '.', '-' or '_' collide)", t.name, prev, v))
		}
		seen[v] = fmt.Sprintf("table %q", t.name)
	}
	return errs
}
