// Package nagcheck runs cdk-nag's AwsSolutions rules over a stack that
// holds a nanopipe pipeline, the check the cdk package's tests and the
// examples use.
//
// # What is suppressed, and where
//
// The cdk package writes the suppressions its own design needs into the
// template, on the resources they concern and each with its reason (IAM5
// for prefix-scoped object ARNs, SQS3 for on-failure queues, S1 for
// buckets without access logs): they hold wherever the template goes.
//
// Suppress adds the rest: findings on the helper function CDK itself adds
// to the stack for S3 notifications, whose role CDK chooses. It matches
// the helper by its construct id, so it suppresses nothing of the user's.
//
// # Usage
//
// In a CDK app, to make cdk synth fail on unsuppressed errors:
//
//	cdk.New(stack, "Pipeline", app.App, props)
//	nagcheck.Apply(stack)
//
// In a test, to list them:
//
//	cdk.New(stack, "Pipeline", app.App, props)
//	for _, f := range nagcheck.Check(stack) { t.Error(f) }
//
// Check synthesizes, so call it before anything else synthesizes the
// stack's app (an app synthesizes once).
package nagcheck

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Finding is one unsuppressed cdk-nag error.
type Finding struct {
	// Path is the construct path of the offending resource.
	Path string
	// Message is cdk-nag's text: the rule id, what is wrong and why it
	// matters.
	Message string
}

func (f Finding) String() string { return f.Path + ": " + f.Message }

// helperSuppressions are the suppressions for CDK's own helper
// functions, by the start of their construct ids. Only findings that
// occur are listed: a suppression of nothing would hide a future finding.
var helperSuppressions = map[string][]*cdknag.NagPackSuppression{
	// Added by bucket.addEventNotification, once per stack.
	"BucketNotificationsHandler": {{
		Id:        jsii.String("AwsSolutions-IAM4"),
		Reason:    jsii.String("CDK's S3 notifications handler writes its own logs through the AWSLambdaBasicExecutionRole managed policy; CDK creates that role, and nanopipe's functions use none."),
		AppliesTo: &[]interface{}{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
	}},
}

// Suppress adds, with their reasons, the suppressions for the helper
// functions CDK adds to stack on behalf of a nanopipe pipeline. Call it
// after cdk.New.
func Suppress(stack awscdk.Stack) {
	for _, child := range *stack.Node().Children() {
		id := *child.Node().Id()
		for prefix, sup := range helperSuppressions {
			if strings.HasPrefix(id, prefix) {
				cdknag.NagSuppressions_AddResourceSuppressions(child, &sup, jsii.Bool(true))
			}
		}
	}
}

// Apply suppresses CDK's helper findings (Suppress) and adds cdk-nag's
// AwsSolutions rules to stack as an aspect: its errors become error
// annotations, which make cdk synth fail. Call it after cdk.New.
func Apply(stack awscdk.Stack) {
	Suppress(stack)
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// Check applies the rules (Apply), synthesizes stack and returns the
// errors no suppression covers, sorted by path.
func Check(stack awscdk.Stack) []Finding {
	Apply(stack)
	msgs := assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	var out []Finding
	for _, m := range *msgs {
		out = append(out, Finding{Path: *m.Id, Message: fmt.Sprint(m.Entry.Data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
