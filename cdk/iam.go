package cdk

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/internal/policy"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// The actions a declared access grants. Each list is what the runtime's
// handles call, nothing more: reads never include writes, deletes never
// include puts, and no action is a wildcard.
// The actions come from package pipeline, which the local environment
// enforces too: what passes locally is what IAM allows deployed.
var (
	objectReadActions   = policy.ObjectRead(false)
	versionReadActions  = policy.ObjectRead(true)
	objectWriteActions  = policy.ObjectWrite()
	objectDeleteActions = policy.ObjectDelete()
	tableReadActions    = policy.TableRead()
	tableWriteActions   = policy.TableWrite()
	tableDeleteActions  = policy.TableDelete()
	streamReadActions   = policy.StreamRead()
)

// arns names the resources a policy refers to: CloudFormation tokens when
// synthesizing, plain strings in tests of the policy alone.
type arns interface {
	bucketARN(*pipeline.Bucket) string
	tableARN(*pipeline.Table) string
	streamARN(*pipeline.Table) string
	queueARN(*queuePlan) string
	logGroupARN(*fnPlan) string
}

// statement is one IAM policy statement.
type statement struct {
	sid       string
	actions   []string
	resources []string
	condition map[string]any
}

func (s statement) render() map[string]any {
	m := map[string]any{
		"Sid":      s.sid,
		"Effect":   "Allow",
		"Action":   oneOrMany(s.actions),
		"Resource": oneOrMany(s.resources),
	}
	if s.condition != nil {
		m["Condition"] = s.condition
	}
	return m
}

func oneOrMany(v []string) any {
	if len(v) == 1 {
		return v[0]
	}
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

// policyStatements returns the statements of the function's role: writing
// its own logs, sending to its on-failure destinations, reading the
// streams that trigger it, and exactly the reads, writes and deletes its
// stages declare. Object access is scoped to the declared keys
// (arn:aws:s3:::bucket/prefix*suffix), listing to the declared prefixes
// through the s3:prefix condition; an access another one covers adds
// nothing.
//
// wildcards lists the resources with a '*' (key scopes, and the streams
// of a table for ListStreams), for the cdk-nag suppression that explains
// them.
func (f *fnPlan) policyStatements(a arns) (stmts []statement, wildcards []string) {
	stmts = append(stmts, statement{sid: "WriteOwnLogs", actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, resources: []string{a.logGroupARN(f)}})

	var queues, topics []string
	addDest := func(d triggers.Destination, q *queuePlan) {
		switch d.Kind {
		case triggers.DefaultQueue:
			queues = appendNew(queues, a.queueARN(q))
		case triggers.QueueARN:
			queues = appendNew(queues, d.ARN)
		case triggers.TopicARN:
			topics = appendNew(topics, d.ARN)
		}
	}
	if f.async != nil {
		addDest(f.async.dest, f.async.queue)
	}
	for _, s := range f.streams {
		addDest(s.trigger.OnFailure, s.queue)
	}
	if len(queues) > 0 {
		stmts = append(stmts, statement{sid: "SendFailuresToQueue", actions: []string{"sqs:SendMessage"}, resources: queues})
	}
	if len(topics) > 0 {
		stmts = append(stmts, statement{sid: "SendFailuresToTopic", actions: []string{"sns:Publish"}, resources: topics})
	}

	if len(f.streams) > 0 {
		var streams, lists []string
		for _, s := range f.streams {
			streams = appendNew(streams, a.streamARN(s.table))
			// ListStreams names the table's streams, whose label is only
			// known after deploy.
			l := a.tableARN(s.table) + "/stream/*"
			lists = appendNew(lists, l)
		}
		wildcards = append(wildcards, lists...)
		stmts = append(stmts,
			statement{sid: "ReadTriggerStreams", actions: streamReadActions, resources: streams},
			statement{sid: "ListTriggerStreams", actions: []string{"dynamodb:ListStreams"}, resources: lists})
	}

	var reads, writes, deletes []plumbing.Access
	for _, st := range f.stages {
		reads = append(reads, plumbing.Reads(st)...)
		writes = append(writes, plumbing.Writes(st)...)
		deletes = append(deletes, plumbing.Deletes(st)...)
	}
	reads, writes = minimalAccesses(reads), minimalAccesses(writes)
	// A write grants deletes too: only deletes no write covers remain.
	deletes = minimalAccesses(uncovered(deletes, writes))

	// Object reads: one statement per action set (versioned buckets also
	// read versions), one ListBucket statement per bucket.
	var readPlain, readVersions, listStmts []statement
	var listBuckets []*pipeline.Bucket
	listPrefixes := map[*pipeline.Bucket][]string{}
	for _, r := range reads {
		if r.Bucket == nil {
			continue
		}
		res := objectARN(a, r)
		wildcards = append(wildcards, res)
		if r.Bucket.IsVersioned() {
			readVersions = mergeInto(readVersions, "ReadVersionedObjects", versionReadActions, res)
		} else {
			readPlain = mergeInto(readPlain, "ReadObjects", objectReadActions, res)
		}
		if _, ok := listPrefixes[r.Bucket]; !ok {
			listBuckets = append(listBuckets, r.Bucket)
		}
		listPrefixes[r.Bucket] = append(listPrefixes[r.Bucket], r.Prefix+"*")
	}
	for i, b := range listBuckets {
		st := statement{sid: fmt.Sprintf("ListObjects%d", i), actions: []string{"s3:ListBucket"}, resources: []string{a.bucketARN(b)}}
		if ps := listPrefixes[b]; !(len(ps) == 1 && ps[0] == "*") {
			st.condition = map[string]any{"StringLike": map[string]any{"s3:prefix": oneOrMany(ps)}}
		}
		listStmts = append(listStmts, st)
	}
	stmts = append(stmts, readPlain...)
	stmts = append(stmts, readVersions...)
	stmts = append(stmts, listStmts...)

	// Object writes and deletes: one statement each, over every key pattern.
	objects := func(accs []plumbing.Access, sid string, actions []string) {
		var st []statement
		for _, acc := range accs {
			if acc.Bucket != nil {
				res := objectARN(a, acc)
				wildcards = append(wildcards, res)
				st = mergeInto(st, sid, actions, res)
			}
		}
		stmts = append(stmts, st...)
	}
	objects(writes, "WriteObjects", objectWriteActions)
	objects(deletes, "DeleteObjects", objectDeleteActions)

	// Item actions: one statement per kind of access, over its tables.
	tables := func(accs []plumbing.Access, sid string, actions []string) {
		var arns []string
		for _, acc := range accs {
			if acc.Table != nil {
				arns = appendNew(arns, a.tableARN(acc.Table))
				// Queries of a table's secondary indexes are authorized
				// on the index ARNs.
				if sid == "ReadTables" && len(acc.Table.Indexes()) > 0 {
					ix := a.tableARN(acc.Table) + "/index/*"
					arns = appendNew(arns, ix)
					wildcards = append(wildcards, ix)
				}
			}
		}
		if len(arns) > 0 {
			stmts = append(stmts, statement{sid: sid, actions: actions, resources: arns})
		}
	}
	tables(reads, "ReadTables", tableReadActions)
	tables(writes, "WriteTables", tableWriteActions)
	tables(deletes, "DeleteItems", tableDeleteActions)
	return stmts, dedupe(wildcards)
}

// policyDocument renders statements as an IAM policy document.
func policyDocument(stmts []statement) map[string]any {
	out := make([]any, len(stmts))
	for i, s := range stmts {
		out[i] = s.render()
	}
	return map[string]any{"Version": "2012-10-17", "Statement": out}
}

// objectARN is the IAM resource of the keys a bucket access covers:
// arn:aws:s3:::bucket/prefix*suffix.
func objectARN(a arns, acc plumbing.Access) string {
	return a.bucketARN(acc.Bucket) + "/" + acc.Prefix + "*" + acc.Suffix
}

// covers reports whether access b grants at least what access a does: the
// same table, or keys of the same bucket under a shorter (or equal) prefix
// and suffix.
func covers(b, a plumbing.Access) bool {
	if a.Table != nil || b.Table != nil {
		return a.Table == b.Table
	}
	return a.Bucket == b.Bucket && strings.HasPrefix(a.Prefix, b.Prefix) && strings.HasSuffix(a.Suffix, b.Suffix)
}

// minimalAccesses drops accesses another one covers, and repeats (the
// first of equal accesses stays).
func minimalAccesses(in []plumbing.Access) []plumbing.Access {
	var out []plumbing.Access
	for i, a := range in {
		covered := false
		for j, b := range in {
			if j == i || !covers(b, a) {
				continue
			}
			if equal := covers(a, b); !equal || j < i {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, a)
		}
	}
	return out
}

// uncovered returns the accesses of in that no access of by covers.
func uncovered(in, by []plumbing.Access) []plumbing.Access {
	var out []plumbing.Access
	for _, a := range in {
		if !slices.ContainsFunc(by, func(b plumbing.Access) bool { return covers(b, a) }) {
			out = append(out, a)
		}
	}
	return out
}

func mergeInto(stmts []statement, sid string, actions []string, resource string) []statement {
	for i := range stmts {
		if stmts[i].sid == sid {
			stmts[i].resources = appendNew(stmts[i].resources, resource)
			return stmts
		}
	}
	return append(stmts, statement{sid: sid, actions: actions, resources: []string{resource}})
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		out = appendNew(out, s)
	}
	return out
}
