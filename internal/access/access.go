package access

import (
	"fmt"
	"strings"

	"github.com/nanopipe/nanopipe/internal/policy"
	"github.com/nanopipe/nanopipe/pipeline"
)

// Policy checks calls of an app's stages against their declarations. It
// knows the app's buckets and tables by the physical names the stages are
// given.
type Policy struct {
	app     *pipeline.App
	buckets map[string]*pipeline.Bucket
	tables  map[string]*pipeline.Table
}

// NewPolicy returns the policy of app, whose buckets and tables have the
// physical names of the maps (declared name -> physical name; a name
// missing from a map is used as declared).
func NewPolicy(app *pipeline.App, buckets, tables map[string]string) *Policy {
	p := &Policy{app: app, buckets: map[string]*pipeline.Bucket{}, tables: map[string]*pipeline.Table{}}
	for _, b := range app.Buckets() {
		n := b.Name()
		if v := buckets[n]; v != "" {
			n = v
		}
		p.buckets[n] = b
	}
	for _, t := range app.Tables() {
		n := t.Name()
		if v := tables[n]; v != "" {
			n = v
		}
		p.tables[n] = t
	}
	return p
}

// A check is one IAM authorization a call needs.
type check struct {
	kind   checkKind
	action string // IAM action, e.g. s3:PutObject
	bucket string // physical bucket name (object, list)
	key    string // object key, or the listed prefix
	table  string // physical table name or ARN (table)
}

type checkKind int

const (
	objectCheck checkKind = iota
	listCheck
	tableCheck
	streamCheck
	otherCheck // an action no declaration grants
)

func objectAction(action, bucket, key string) check {
	return check{kind: objectCheck, action: action, bucket: bucket, key: key}
}

func listAction(bucket, prefix string) check {
	return check{kind: listCheck, action: "s3:ListBucket", bucket: bucket, key: prefix}
}

func tableAction(action, table string) check {
	return check{kind: tableCheck, action: action, table: table}
}

func otherAction(action, resource string) check {
	return check{kind: otherCheck, action: action, key: resource}
}

// authorize returns nil when every check passes for one of stages, or the
// error of the first check none of them passes (for the first stage).
func (p *Policy) authorize(stages []*pipeline.Stage, checks []check) error {
	for _, c := range checks {
		var first error
		for _, s := range stages {
			err := p.authorizeOne(s, c)
			if err == nil {
				first = nil
				break
			}
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return first
		}
	}
	return nil
}

func (p *Policy) authorizeOne(s *pipeline.Stage, c check) error {
	switch c.kind {
	case objectCheck, listCheck:
		b := p.buckets[c.bucket]
		if b == nil {
			res := "s3://" + c.bucket + "/" + c.key
			if c.kind == listCheck {
				res = fmt.Sprintf("s3://%s (prefix %q)", c.bucket, c.key)
			}
			return &DeniedError{Stage: s.Name(), Action: c.action, Resource: res,
				Fix: fmt.Sprintf("the bucket (App.ExistingBucket(%q)) and a Reads or Writes of it", c.bucket)}
		}
		if c.kind == listCheck {
			return List(s, b, c.key)
		}
		if !grantable(c.action) {
			return &DeniedError{Stage: s.Name(), Action: c.action, Resource: "s3://" + c.bucket + "/" + c.key}
		}
		return Object(s, c.action, b, c.key)
	case tableCheck:
		t := p.tables[tableName(c.table)]
		if t == nil {
			return &DeniedError{Stage: s.Name(), Action: c.action, Resource: "table " + c.table,
				Fix: fmt.Sprintf("the table (App.ExistingTable(%q, ...)) and a Reads or Writes of it", tableName(c.table))}
		}
		return Table(s, c.action, t)
	case streamCheck:
		// The deployed role reads the streams that trigger the function.
		if t := s.Table(); t != nil && (c.table == "" || p.tables[tableName(c.table)] == t) {
			return nil
		}
		return &DeniedError{Stage: s.Name(), Action: c.action, Resource: "stream " + c.table}
	}
	return &DeniedError{Stage: s.Name(), Action: c.action, Resource: c.key}
}

// grantable reports whether some declaration can grant an object action.
func grantable(action string) bool {
	for _, list := range [][]string{policy.ObjectRead(true), policy.ObjectWrite(), policy.ObjectDelete()} {
		for _, a := range list {
			if a == action {
				return true
			}
		}
	}
	return false
}

// tableName returns the table name of a name or a table or stream ARN
// (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME[/...]).
func tableName(nameOrARN string) string {
	if !strings.HasPrefix(nameOrARN, "arn:") {
		return nameOrARN
	}
	i := strings.Index(nameOrARN, ":table/")
	if i < 0 {
		return nameOrARN
	}
	rest := nameOrARN[i+len(":table/"):]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
