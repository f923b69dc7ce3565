package cdk

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/cloudformationinclude"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// A fragment is the part of the construct's template written in plain Go:
// every resource of the functions (log group, role, function, failure
// queues and their policies, asynchronous invocation configuration, event
// source mappings, alarms) and every stack output. The construct brings
// it into the stack with one CfnInclude instead of a jsii round trip per
// resource, property and reference, which is what synth time grows with.
// CfnInclude still makes each resource a construct of its L1 class
// (CfnFunction, CfnRole, CfnQueue, ...), which the accessors return, so
// overrides, dependencies, tags, aspects and cdk-nag work on them as on
// any other resource.
//
// The resources keep the logical IDs CDK gives a construct of that id
// directly under the Pipeline (makeUniqueID), so the template is the same
// as when each was created one by one. References between them are
// written as Ref and Fn::GetAtt; references to resources outside it (the
// buckets, tables, asset, alarm topic) are CDK tokens, which are strings
// that resolve in the same synth.
type fragment struct {
	path      []string // ids of the construct's scopes below its stack, its own last
	resources map[string]any
	outputs   map[string]any
}

func newFragment(path []string) *fragment {
	return &fragment{path: path, resources: map[string]any{}, outputs: map[string]any{}}
}

// logicalID is the logical ID CDK gives a resource of this id created
// directly under the construct.
func (fr *fragment) logicalID(id string) string {
	return makeUniqueID(append(append([]string{}, fr.path...), id))
}

// add adds a resource and returns its logical ID.
func (fr *fragment) add(id, typ string, props, metadata map[string]any) string {
	lid := fr.logicalID(id)
	if _, dup := fr.resources[lid]; dup {
		panic(fmt.Sprintf("cdk: two resources with the id %q", id))
	}
	r := map[string]any{"Type": typ, "Properties": props}
	if metadata != nil {
		r["Metadata"] = metadata
	}
	fr.resources[lid] = r
	return lid
}

func (fr *fragment) output(id string, value any, description string) {
	fr.outputs[id] = map[string]any{"Value": value, "Description": description}
}

func ref(lid string) map[string]any { return map[string]any{"Ref": lid} }

func getAtt(lid, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{lid, attr}}
}

// attMarker stands for an attribute of a fragment resource where the
// code takes a string (the arns interface of the IAM policies); write
// turns it into Fn::GetAtt. It must be a whole value: one inside a longer
// string is a bug, and write panics on it.
func attMarker(lid, attr string) string { return "\x00" + lid + "\x00" + attr + "\x00" }

var markerRE = regexp.MustCompile("^\x00([A-Za-z0-9]+)\x00([A-Za-z0-9.]+)\x00$")

func resolveMarkers(v any) any {
	switch v := v.(type) {
	case string:
		if !strings.Contains(v, "\x00") {
			return v
		}
		m := markerRE.FindStringSubmatch(v)
		if m == nil {
			panic(fmt.Sprintf("cdk: an attribute of a resource inside a longer string: %q", v))
		}
		return getAtt(m[1], m[2])
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = resolveMarkers(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = resolveMarkers(x)
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = resolveMarkers(x)
		}
		return out
	}
	return v
}

// write brings the fragment into scope as a CfnInclude of id, through
// file (an empty temporary file, removed here).
func (fr *fragment) write(scope constructs.Construct, id string, file *os.File) cloudformationinclude.CfnInclude {
	defer os.Remove(file.Name())
	enc := json.NewEncoder(file)
	enc.SetEscapeHTML(false)
	err := enc.Encode(map[string]any{
		"Resources": resolveMarkers(fr.resources),
		"Outputs":   resolveMarkers(fr.outputs),
	})
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		panic(fmt.Sprintf("cdk: writing the template fragment %s: %v", file.Name(), err))
	}
	loadSupport()
	return cloudformationinclude.NewCfnInclude(scope, jsii.String(id), &cloudformationinclude.CfnIncludeProps{
		TemplateFile: jsii.String(file.Name()),
	})
}

// makeUniqueID is CDK's logical ID of a resource whose construct ids,
// from below its stack, are components (makeUniqueId in aws-cdk-lib's
// core): the ids run together without non-alphanumerics, "Default"
// dropped, "Resource" and repeated suffixes left out of the readable part,
// and the first 8 hex digits of the MD5 of the path appended.
func makeUniqueID(components []string) string {
	var kept []string
	for _, c := range components {
		if c != "Default" {
			kept = append(kept, c)
		}
	}
	if len(kept) == 1 {
		if c := nonAlnum.ReplaceAllString(kept[0], ""); len(c) <= 255 {
			return c
		}
	}
	sum := md5.Sum([]byte(strings.Join(kept, "/")))
	hash := strings.ToUpper(hex.EncodeToString(sum[:])[:8])
	var human []string
	for _, c := range kept {
		if len(human) == 0 || !strings.HasSuffix(human[len(human)-1], c) {
			human = append(human, c)
		}
	}
	var b strings.Builder
	for _, c := range human {
		if c != "Resource" {
			b.WriteString(nonAlnum.ReplaceAllString(c, ""))
		}
	}
	h := b.String()
	if len(h) > 240 {
		h = h[:240]
	}
	return h + hash
}

var nonAlnum = regexp.MustCompile(`[^A-Za-z0-9]`)
