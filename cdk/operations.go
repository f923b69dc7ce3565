package cdk

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Alarms are the thresholds of the alarms the construct creates. A zero
// field takes its default; a negative one turns that kind of alarm off.
// Every alarm notifies the alarm actions when it fires and when it is OK
// again, and treats missing data as OK.
type Alarms struct {
	// FailedEvents fires when at least this many events or records are in
	// a failure queue (they failed every retry), or were dropped after
	// their last retry by a trigger that keeps no failures
	// (triggers.Discard) or sends them elsewhere (an S3 stage's
	// triggers.Queue or triggers.Topic). Default 1.
	FailedEvents int
	// IteratorAge fires when a function triggered by a stream lags this far
	// behind it (the age of the newest record it read, at its maximum over
	// Period): records are failing and retried, or arrive faster than the
	// function keeps up. Default 5 minutes.
	IteratorAge time.Duration
	// Throttles fires when a function's invocations are throttled at least
	// this many times within Period (reserved concurrency or the
	// account's limit is too low). Lambda retries throttled events, so a
	// few are not lost, only late. Default 10.
	Throttles int
	// Period is the window each alarm evaluates, a multiple of a minute.
	// Default 5 minutes.
	Period time.Duration
}

// The thresholds Alarms' zero fields take.
const (
	DefaultFailedEvents = 1
	DefaultIteratorAge  = 5 * time.Minute
	DefaultThrottles    = 10
	DefaultAlarmPeriod  = 5 * time.Minute
)

func (a *Alarms) resolve() (Alarms, error) {
	var r Alarms
	if a != nil {
		r = *a
	}
	if r.FailedEvents == 0 {
		r.FailedEvents = DefaultFailedEvents
	}
	if r.IteratorAge == 0 {
		r.IteratorAge = DefaultIteratorAge
	}
	if r.Throttles == 0 {
		r.Throttles = DefaultThrottles
	}
	if r.Period == 0 {
		r.Period = DefaultAlarmPeriod
	}
	if r.Period < time.Minute || r.Period%time.Minute != 0 {
		return r, fmt.Errorf("cdk: Props.Alarms.Period %v: use a whole number of minutes", r.Period)
	}
	return r, nil
}

var (
	emailRE        = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	outputPrefixRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*)?$`)
)

// fixedName is the name <app>-<env>-<parts> with Props.FixedNames, and nil
// (CloudFormation names the resource) without.
func (p *Pipeline) fixedName(max int, parts ...string) *string {
	if !p.props.FixedNames {
		return nil
	}
	return jsii.String(physicalName(max, append([]string{p.plan.prefix}, parts...)...))
}

func (p *Pipeline) fixedAlarmName(parts ...string) *string {
	return p.fixedName(maxAlarmName, parts...)
}

// output adds a stack output whose logical ID is Props.OutputPrefix + id,
// the same on every synth: docs/deploying.md lists them. The outputs are
// part of the construct's template fragment, which keeps their logical
// IDs as written. Two pipelines in one stack without distinct prefixes
// would add outputs of the same name, which NewSafely refuses first.
func (p *Pipeline) output(id string, value any, description string) {
	p.fr.output(p.props.OutputPrefix+id, value, description)
}

// addAlarmTopic sets the alarm actions: the ARNs in Props.AlarmActions, or
// a topic of the app's, which only CloudWatch alarms of this account may
// publish to, over TLS.
func (p *Pipeline) addAlarmTopic() {
	if len(p.props.AlarmActions) > 0 {
		p.actions = p.props.AlarmActions
		return
	}
	topic := awssns.NewCfnTopic(p, jsii.String("AlarmTopic"), &awssns.CfnTopicProps{
		TopicName:   p.fixedName(256, "alarms"),
		DisplayName: jsii.String("nanopipe " + p.plan.prefix + " alarms"),
	})
	topic.AddMetadata(jsii.String("cdk_nag"), nagSuppressions(nagSuppression{
		id:     "AwsSolutions-SNS2",
		reason: "CloudWatch cannot publish to a topic encrypted with the AWS managed key (alias/aws/sns), and a customer managed key costs a key per app; alarm notifications carry the alarm's name and state, no data of the pipeline.",
	}))
	p.topic = topic
	arn := *topic.Ref()
	p.actions = []string{arn}
	p.pseudo()
	awssns.NewCfnTopicPolicy(p, jsii.String("AlarmTopicPolicy"), &awssns.CfnTopicPolicyProps{
		Topics: jsii.Strings(arn),
		PolicyDocument: map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{
				map[string]any{
					"Sid":       "CloudWatchAlarms",
					"Effect":    "Allow",
					"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
					"Action":    "sns:Publish",
					"Resource":  arn,
					"Condition": map[string]any{
						"StringEquals": map[string]any{"aws:SourceAccount": p.account},
						"ArnLike":      map[string]any{"aws:SourceArn": "arn:" + p.partition + ":cloudwatch:" + p.region + ":" + p.account + ":alarm:*"},
					},
				},
				map[string]any{
					"Sid":       "DenyWithoutTLS",
					"Effect":    "Deny",
					"Principal": map[string]any{"AWS": "*"},
					"Action":    "sns:Publish",
					"Resource":  arn,
					"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				},
			},
		},
	})
	for i, e := range p.props.AlarmEmails {
		awssns.NewCfnSubscription(p, jsii.String("AlarmEmail"+strconv.Itoa(i+1)), &awssns.CfnSubscriptionProps{
			TopicArn: jsii.String(arn),
			Protocol: jsii.String("email"),
			Endpoint: jsii.String(e),
		})
	}
	p.output("AlarmTopicArn", arn, "SNS topic notified when an alarm of the pipeline fires and when it is OK again; subscribe to it")
}

// functionAlarms adds the alarms of one function: throttles, the age of
// its streams' iterators, and the events its asynchronous invocations
// drop when their failures do not go to a failure queue of the app (whose
// own alarm covers them).
func (p *Pipeline) functionAlarms(f *fnPlan, d *deployedFunction) {
	stages := fmt.Sprintf("function %s (stages %v)", f.name, f.stageNames())
	if p.thresholds.Throttles > 0 {
		p.alarm(f.id+"ThrottlesAlarm", p.fixedAlarmName(f.name, "throttles"),
			fmt.Sprintf("Invocations of %s are throttled: its events wait (and are retried) for lack of concurrency.", stages),
			"AWS/Lambda", "Throttles", "FunctionName", d.name, "Sum", float64(p.thresholds.Throttles))
	}
	if len(f.streams) > 0 && p.thresholds.IteratorAge > 0 {
		p.alarm(f.id+"IteratorAgeAlarm", p.fixedAlarmName(f.name, "iterator-age"),
			fmt.Sprintf("%s lags behind its streams by %v or more: a batch keeps failing and is retried, or records arrive faster than it processes them.", stages, p.thresholds.IteratorAge),
			"AWS/Lambda", "IteratorAge", "FunctionName", d.name, "Maximum", float64(p.thresholds.IteratorAge.Milliseconds()))
	}
	if f.async != nil && f.async.dest.Kind != triggers.DefaultQueue && p.thresholds.FailedEvents > 0 {
		p.alarm(f.id+"AsyncDroppedAlarm", p.fixedAlarmName(f.name, "dropped"),
			fmt.Sprintf("%s gave up on S3 events after their last retry; they went to the trigger's own destination, or were discarded.", stages),
			"AWS/Lambda", "AsyncEventsDropped", "FunctionName", d.name, "Sum", float64(p.thresholds.FailedEvents))
	}
}

// alarm fires when the statistic of the metric (of one function, queue
// or mapping) reaches threshold over the period, and notifies the alarm
// actions both ways.
func (p *Pipeline) alarm(id string, name *string, description, namespace, metric, dimension string, value any, statistic string, threshold float64) {
	actions := make([]any, len(p.actions))
	for i, a := range p.actions {
		actions[i] = a
	}
	props := map[string]any{
		"AlarmDescription":   description,
		"Namespace":          namespace,
		"MetricName":         metric,
		"Dimensions":         []any{map[string]any{"Name": dimension, "Value": value}},
		"Statistic":          statistic,
		"Period":             p.thresholds.Period.Seconds(),
		"EvaluationPeriods":  1,
		"Threshold":          threshold,
		"ComparisonOperator": "GreaterThanOrEqualToThreshold",
		"TreatMissingData":   "notBreaching",
		"AlarmActions":       actions,
		"OKActions":          actions,
	}
	if name != nil {
		props["AlarmName"] = *name
	}
	p.fr.add(id, "AWS::CloudWatch::Alarm", props, nil)
}

// AlarmTopic returns the SNS topic the construct created for the alarms,
// or nil when Props.AlarmActions named other actions.
func (p *Pipeline) AlarmTopic() awssns.CfnTopic { return p.topic }

// logRank orders log levels from the most verbose.
var logRank = map[string]int{pipeline.LogDebug: 0, pipeline.LogInfo: 1, pipeline.LogWarn: 2, pipeline.LogError: 3}

// observability is what applies to the function: traced when one of its
// stages is, the most verbose log level of its stages, override (from
// Props.LogLevel) over both.
func (f *fnPlan) observability(override string) pipeline.Observability {
	var o pipeline.Observability
	for _, s := range f.stages {
		so := s.Observability()
		o.Tracing = o.Tracing || so.Tracing
		if so.LogLevel != "" && (o.LogLevel == "" || logRank[so.LogLevel] < logRank[o.LogLevel]) {
			o.LogLevel = so.LogLevel
		}
	}
	if override != "" {
		o.LogLevel = override
	}
	if o.LogLevel == "" {
		o.LogLevel = pipeline.LogInfo
	}
	return o
}

// xrayStatement lets a traced function send its segments.
var xrayStatement = statement{sid: "WriteTraces", actions: []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, resources: []string{"*"}}
