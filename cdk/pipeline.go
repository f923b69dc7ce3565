package cdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/cloudformationinclude"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	jsiiruntime "github.com/aws/jsii-runtime-go/runtime"

	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Props configures a Pipeline. Package (or Prebuilt) is required; the
// other fields have defaults.
type Props struct {
	// Environment names the deployment: "dev", "prod", or another
	// lowercase name. Empty reads the CDK context value "stage"
	// (cdk synth -c stage=prod), and "dev" when that is unset too.
	// "dev" destroys buckets (emptying them) and tables with the stack;
	// every other environment retains them.
	Environment string
	// Package is the Go package of the app's Lambda main, as go build
	// takes it: an import path, or a directory relative to the working
	// directory ("..", "./cmd/lambda"). It is built once per architecture
	// the app's functions use.
	Package string
	// Prebuilt skips the build: for each architecture, a directory that
	// holds the executable linux Lambda binary named bootstrap and nothing
	// else. For tests, and for builds that happen elsewhere.
	Prebuilt map[pipeline.Arch]string
	// LogRetentionDays is how long the functions' logs are kept; one of
	// the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...).
	// Default 30.
	LogRetentionDays int
	// LogLevel overrides the log level the declaration sets
	// (pipeline.LogLevel, Stage.LogLevel) for every function: "debug",
	// "info", "warn" or "error". Lambda drops JSON log records below it.
	LogLevel string
	// AlarmActions are notified when an alarm fires and when it is OK
	// again: ARNs such as an existing SNS topic's. Empty makes the
	// construct create an SNS topic for the app's alarms (stack output
	// AlarmTopicArn) and notify it.
	AlarmActions []string
	// AlarmEmails subscribes email addresses to the alarm topic the
	// construct creates; AWS mails each a link to confirm the
	// subscription. It needs AlarmActions empty.
	AlarmEmails []string
	// Alarms sets the alarms' thresholds; nil takes DefaultAlarms.
	Alarms *Alarms
	// FixedNames names every table, queue, function, log group, alarm and
	// the alarm topic <app>-<environment>-<name>, as versions before
	// 0.2 did. By default CloudFormation names them, so a change that
	// needs a replacement (a table's key) can be deployed; the functions
	// learn the generated names through their environment either way.
	// Keep it on for stacks deployed with fixed names, whose resources
	// would otherwise be replaced.
	FixedNames bool
	// OutputPrefix starts the logical ID of every stack output; letters
	// and digits, default "". A second pipeline in the same stack needs a
	// prefix of its own (NewSafely says so).
	OutputPrefix string
}

// DefaultLogRetentionDays is the log retention when Props leaves it unset.
const DefaultLogRetentionDays = 30

var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Pipeline is the construct of one app: its buckets and tables, a Lambda
// function per stage or group, the triggers, permissions, on-failure
// queues and alarms. See the package documentation for what it creates.
//
// The accessors return the underlying CloudFormation resources, for the
// rare setting the declaration does not cover (a CfnFunction's tracing,
// say). Changing what the declaration decides defeats the point of it.
type Pipeline struct {
	constructs.Construct

	plan *plan

	bucketL2    map[*pipeline.Bucket]awss3.IBucket
	bucketARNs  map[*pipeline.Bucket]string
	bucketNames map[*pipeline.Bucket]string
	bucketIDs   map[*pipeline.Bucket]string // id of the bucket's construct under the Pipeline
	tables      map[*pipeline.Table]awsdynamodb.CfnTable
	tableARNs   map[*pipeline.Table]string
	tableNames  map[*pipeline.Table]string
	streamARNs  map[*pipeline.Table]string
	functions   map[string]*deployedFunction
	queues      map[string]string // owner -> logical ID in the fragment
	queueARNs   map[*queuePlan]string
	fr          *fragment                        // the resources written as a template
	tmpl        cloudformationinclude.CfnInclude // fr, in the stack
	topic       awssns.CfnTopic                  // the alarm topic the construct created, or nil
	actions     []string                         // alarm and OK actions of every alarm
	props       *Props
	thresholds  Alarms
	stack       awscdk.Stack // holds the outputs

	partition, region, account string
}

// deployedFunction is a function's resources, by logical ID in the
// fragment.
type deployedFunction struct {
	plan           *fnPlan
	name           any // the function's name in the template: a Ref unless Props.FixedNames
	fn, role, logs string
}

// New adds the construct of app to scope, usually the user's stack. It
// panics when the declaration does not validate, when Props are invalid,
// or when the Lambda binary does not build; NewSafely returns those as
// errors.
func New(scope constructs.Construct, id string, app *pipeline.App, props *Props) *Pipeline {
	p, err := NewSafely(scope, id, app, props)
	if err != nil {
		panic(err)
	}
	return p
}

// NewSafely is New returning declaration, configuration and build errors
// instead of panicking. Everything it checks is checked before the first
// resource is added, so on error scope is left unchanged.
func NewSafely(scope constructs.Construct, id string, app *pipeline.App, props *Props) (*Pipeline, error) {
	if props == nil {
		props = &Props{}
	}
	env := props.Environment
	if env == "" {
		if v, ok := scope.Node().TryGetContext(jsii.String("stage")).(string); ok {
			env = v
		}
	}
	if env == "" {
		env = "dev"
	}
	pl, err := newPlan(app, env)
	if err != nil {
		return nil, err
	}
	retention := props.LogRetentionDays
	if retention == 0 {
		retention = DefaultLogRetentionDays
	}
	var errs []error
	if !slices.Contains(retentionDays, retention) {
		errs = append(errs, fmt.Errorf("cdk: Props.LogRetentionDays %d: CloudWatch Logs accepts %v", retention, retentionDays))
	}
	switch props.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("cdk: Props.LogLevel %q: use debug, info, warn or error", props.LogLevel))
	}
	for _, a := range props.AlarmActions {
		if !strings.HasPrefix(a, "arn:") {
			errs = append(errs, fmt.Errorf("cdk: Props.AlarmActions: %q is not an ARN", a))
		}
	}
	for _, e := range props.AlarmEmails {
		if !emailRE.MatchString(e) {
			errs = append(errs, fmt.Errorf("cdk: Props.AlarmEmails: %q is not an email address", e))
		}
	}
	if len(props.AlarmEmails) > 0 && len(props.AlarmActions) > 0 {
		errs = append(errs, errors.New("cdk: Props.AlarmEmails subscribes to the alarm topic the construct creates, and Props.AlarmActions replaces that topic; subscribe the addresses to your own topic instead"))
	}
	if !outputPrefixRE.MatchString(props.OutputPrefix) {
		errs = append(errs, fmt.Errorf("cdk: Props.OutputPrefix %q: use letters and digits, starting with a letter", props.OutputPrefix))
	}
	thresholds, err := props.Alarms.resolve()
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The outputs are children of the stack (see output): a second
	// pipeline there needs a prefix of its own.
	stack := awscdk.Stack_Of(scope)
	marker := jsii.String("NanopipeOutputs" + props.OutputPrefix)
	if stack.Node().TryFindChild(marker) != nil {
		return nil, fmt.Errorf("cdk: the stack already holds a pipeline whose outputs have the prefix %q; give this one a Props.OutputPrefix of its own", props.OutputPrefix)
	}
	assets := map[pipeline.Arch]string{}
	for _, arch := range pl.archs {
		if dir, ok := props.Prebuilt[arch]; ok {
			if err := checkAssetDir(dir, arch); err != nil {
				return nil, err
			}
			assets[arch] = dir
			continue
		}
		if props.Package == "" {
			return nil, fmt.Errorf("cdk: Props.Package is empty: name the Go package of app %q's Lambda main (an import path, or a directory such as \"..\"), or give Props.Prebuilt[%q]", app.Name(), arch)
		}
		dir, err := buildBootstrap(props.Package, arch)
		if err != nil {
			return nil, err
		}
		assets[arch] = dir
	}

	// The fragment's file, made before anything is added to scope.
	file, err := os.CreateTemp("", "nanopipe-*.template.json")
	if err != nil {
		return nil, fmt.Errorf("cdk: a temporary file for the pipeline's template: %w", err)
	}
	p := &Pipeline{
		plan:        pl,
		bucketL2:    map[*pipeline.Bucket]awss3.IBucket{},
		bucketARNs:  map[*pipeline.Bucket]string{},
		bucketNames: map[*pipeline.Bucket]string{},
		bucketIDs:   map[*pipeline.Bucket]string{},
		tables:      map[*pipeline.Table]awsdynamodb.CfnTable{},
		tableARNs:   map[*pipeline.Table]string{},
		tableNames:  map[*pipeline.Table]string{},
		streamARNs:  map[*pipeline.Table]string{},
		functions:   map[string]*deployedFunction{},
		queues:      map[string]string{},
		queueARNs:   map[*queuePlan]string{},
		props:       props,
		thresholds:  thresholds,
	}
	// Registered with jsii as the construct itself, so p can be passed
	// wherever CDK takes a construct.
	constructs.NewConstruct_Override(p, scope, jsii.String(id))
	constructs.NewConstruct(stack, marker)
	p.stack = stack
	p.fr = newFragment(pathBelow(stack, p))
	tags := awscdk.Tags_Of(p)
	tags.Add(jsii.String("nanopipe:app"), jsii.String(app.Name()), nil)
	tags.Add(jsii.String("nanopipe:environment"), jsii.String(env), nil)

	p.addAlarmTopic()
	p.addBuckets()
	p.addTables()
	code := p.addAssets(assets)
	for _, f := range pl.functions {
		p.addFunction(f, code[f.cfg.Arch], retention, props)
	}
	p.tmpl = p.fr.write(p, "Template", file)
	// S3 notifications go through the bucket's L2 construct, which needs
	// the functions as constructs.
	p.addObjectTriggers()
	// One aspect sets the removal policy of every table, failure queue and
	// log group, instead of a call per resource. (Buckets take it as a
	// property.)
	awscdk.RemovalPolicies_Of(p).Apply(p.removalPolicy(), &awscdk.RemovalPolicyProps{
		ApplyToResourceTypes: jsii.Strings("AWS::DynamoDB::Table", "AWS::Logs::LogGroup", "AWS::SQS::Queue"),
	})
	return p, nil
}

// Environment returns the deployment environment the construct was made
// for ("dev", "prod", ...).
func (p *Pipeline) Environment() string { return p.plan.env }

// Function returns the function serving the named stage (or group).
func (p *Pipeline) Function(name string) awslambda.CfnFunction {
	if f := p.function(name); f != nil {
		return p.resource(f.fn).(awslambda.CfnFunction)
	}
	return nil
}

// Role returns the execution role of the function serving the named stage
// (or group).
func (p *Pipeline) Role(name string) awsiam.CfnRole {
	if f := p.function(name); f != nil {
		return p.resource(f.role).(awsiam.CfnRole)
	}
	return nil
}

// FunctionName returns the name of the function serving the named stage
// (or group), or "": a CloudFormation token (the generated name) unless
// Props.FixedNames.
func (p *Pipeline) FunctionName(name string) string {
	f := p.function(name)
	if f == nil {
		return ""
	}
	if p.props.FixedNames {
		return f.plan.physical
	}
	return *p.Function(name).Ref()
}

// resource is the construct of a resource of the fragment.
func (p *Pipeline) resource(logicalID string) awscdk.CfnResource {
	return p.tmpl.GetResource(jsii.String(logicalID))
}

func (p *Pipeline) function(name string) *deployedFunction {
	if f, ok := p.functions[name]; ok {
		return f
	}
	if s := p.plan.app.StageNamed(name); s != nil {
		return p.functions[s.FunctionName()]
	}
	return nil
}

// Bucket returns the bucket the construct created or imported for b, or
// nil for an existing bucket no stage is triggered by (it is only named in
// policies).
func (p *Pipeline) Bucket(b *pipeline.Bucket) awss3.IBucket { return p.bucketL2[b] }

// Table returns the table the construct created for t, or nil for an
// existing table.
func (p *Pipeline) Table(t *pipeline.Table) awsdynamodb.CfnTable { return p.tables[t] }

// FailureQueue returns the default on-failure queue of a stream stage, or
// of the function serving S3 stages, by stage or group name; nil when
// its trigger names another destination.
func (p *Pipeline) FailureQueue(name string) awssqs.CfnQueue {
	if lid, ok := p.queues[name]; ok {
		return p.resource(lid).(awssqs.CfnQueue)
	}
	return nil
}

func (p *Pipeline) removalPolicy() awscdk.RemovalPolicy {
	if p.plan.retain {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// pseudo fetches the partition, region and account tokens once.
func (p *Pipeline) pseudo() {
	if p.partition == "" {
		p.partition, p.region, p.account = *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID()
	}
}

func (p *Pipeline) addBuckets() {
	triggered := map[*pipeline.Bucket]bool{}
	for _, s := range p.plan.app.Stages() {
		if b := s.Bucket(); b != nil {
			triggered[b] = true
		}
	}
	var blockAll awss3.BlockPublicAccess
	for _, b := range p.plan.app.Buckets() {
		id := p.plan.ids.get(b.Name()) + "Bucket"
		if b.Existing() {
			p.pseudo()
			p.bucketARNs[b] = "arn:" + p.partition + ":s3:::" + b.Name()
			p.bucketNames[b] = b.Name()
			if triggered[b] {
				p.bucketL2[b] = awss3.Bucket_FromBucketName(p, jsii.String(id), jsii.String(b.Name()))
				p.bucketIDs[b] = id
			}
			continue
		}
		if blockAll == nil {
			blockAll = awss3.BlockPublicAccess_BLOCK_ALL()
		}
		l2 := awss3.NewBucket(p, jsii.String(id), &awss3.BucketProps{
			BlockPublicAccess: blockAll,
			Encryption:        awss3.BucketEncryption_S3_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			Versioned:         jsii.Bool(b.IsVersioned()),
			RemovalPolicy:     p.removalPolicy(),
			AutoDeleteObjects: jsii.Bool(!p.plan.retain),
		})
		p.bucketL2[b] = l2
		p.bucketIDs[b] = id
		p.bucketARNs[b] = *l2.BucketArn()
		p.bucketNames[b] = *l2.BucketName()
		p.output(id+"Name", p.bucketNames[b], fmt.Sprintf("Bucket %s: upload here (aws s3 cp FILE s3://NAME/KEY)", b.Name()))
		if cfn, ok := l2.Node().DefaultChild().(awscdk.CfnResource); ok {
			cfn.AddMetadata(jsii.String("cdk_nag"), nagSuppressions(nagSuppression{
				id:     "AwsSolutions-S1",
				reason: "Server access logs need a log bucket of their own; nanopipe leaves access auditing to the account (CloudTrail data events or a central log bucket) instead of creating one per app.",
			}))
		}
	}
}

func (p *Pipeline) addTables() {
	for _, t := range p.plan.app.Tables() {
		if t.Existing() {
			p.pseudo()
			p.tableARNs[t] = "arn:" + p.partition + ":dynamodb:" + p.region + ":" + p.account + ":table/" + t.Name()
			p.tableNames[t] = t.Name()
			p.streamARNs[t] = t.StreamARN()
			continue
		}
		keys := []interface{}{&awsdynamodb.CfnTable_KeySchemaProperty{AttributeName: jsii.String(t.PartitionKey().Name), KeyType: jsii.String("HASH")}}
		attrs := []interface{}{&awsdynamodb.CfnTable_AttributeDefinitionProperty{AttributeName: jsii.String(t.PartitionKey().Name), AttributeType: jsii.String(string(t.PartitionKey().Type))}}
		if sk := t.SortKey(); sk != nil {
			keys = append(keys, &awsdynamodb.CfnTable_KeySchemaProperty{AttributeName: jsii.String(sk.Name), KeyType: jsii.String("RANGE")})
			attrs = append(attrs, &awsdynamodb.CfnTable_AttributeDefinitionProperty{AttributeName: jsii.String(sk.Name), AttributeType: jsii.String(string(sk.Type))})
		}
		props := &awsdynamodb.CfnTableProps{
			TableName:                        p.fixedName(maxTableName, t.Name()),
			KeySchema:                        keys,
			AttributeDefinitions:             attrs,
			BillingMode:                      jsii.String("PAY_PER_REQUEST"),
			PointInTimeRecoverySpecification: &awsdynamodb.CfnTable_PointInTimeRecoverySpecificationProperty{PointInTimeRecoveryEnabled: jsii.Bool(true)},
			DeletionProtectionEnabled:        jsii.Bool(p.plan.retain),
		}
		view := t.StreamView()
		if view != "" {
			props.StreamSpecification = &awsdynamodb.CfnTable_StreamSpecificationProperty{StreamViewType: jsii.String(string(view))}
		}
		if a := t.TTLAttribute(); a != "" {
			props.TimeToLiveSpecification = &awsdynamodb.CfnTable_TimeToLiveSpecificationProperty{Enabled: jsii.Bool(true), AttributeName: jsii.String(a)}
		}
		addIndexes(props, t, attrs)
		id := p.plan.ids.get(t.Name()) + "Table"
		cfn := awsdynamodb.NewCfnTable(p, jsii.String(id), props)
		p.tables[t] = cfn
		p.tableNames[t] = *cfn.Ref()
		p.tableARNs[t] = *cfn.AttrArn()
		p.output(id+"Name", p.tableNames[t], fmt.Sprintf("Table %s", t.Name()))
		if view != "" {
			p.streamARNs[t] = *cfn.AttrStreamArn()
			p.output(id+"StreamArn", p.streamARNs[t], fmt.Sprintf("Stream of table %s", t.Name()))
		}
	}
}

// addAssets stages one bootstrap per architecture; every function of that
// architecture points at the same S3 object.
func (p *Pipeline) addAssets(dirs map[pipeline.Arch]string) map[pipeline.Arch]map[string]any {
	code := map[pipeline.Arch]map[string]any{}
	for _, arch := range slices.Sorted(maps.Keys(dirs)) {
		asset := awss3assets.NewAsset(p, jsii.String("Bootstrap"+pascal(goarch(arch))), &awss3assets.AssetProps{Path: jsii.String(dirs[arch])})
		code[arch] = map[string]any{"S3Bucket": *asset.S3BucketName(), "S3Key": *asset.S3ObjectKey()}
	}
	return code
}

// The arns interface, with CloudFormation tokens.

func (p *Pipeline) bucketARN(b *pipeline.Bucket) string { return p.bucketARNs[b] }
func (p *Pipeline) tableARN(t *pipeline.Table) string   { return p.tableARNs[t] }
func (p *Pipeline) streamARN(t *pipeline.Table) string  { return p.streamARNs[t] }
func (p *Pipeline) queueARN(q *queuePlan) string        { return p.queueARNs[q] }
func (p *Pipeline) logGroupARN(f *fnPlan) string        { return attMarker(p.functions[f.name].logs, "Arn") }

var lambdaTrust = map[string]any{
	"Version": "2012-10-17",
	"Statement": []any{map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"Service": "lambda.amazonaws.com"},
		"Action":    "sts:AssumeRole",
	}},
}

// addFunction adds one function with everything that belongs to it to
// the fragment: no jsii round trip per resource (they dominate synth
// time).
func (p *Pipeline) addFunction(f *fnPlan, code map[string]any, retention int, props *Props) {
	fr := p.fr
	d := &deployedFunction{plan: f}
	p.functions[f.name] = d
	lgProps := map[string]any{"RetentionInDays": retention}
	var logGroup any
	if props.FixedNames {
		name := "/aws/lambda/" + f.physical
		lgProps["LogGroupName"] = name
		logGroup = name
	}
	d.logs = fr.add(f.id+"Logs", "AWS::Logs::LogGroup", lgProps, nil)
	if logGroup == nil {
		logGroup = ref(d.logs)
	}

	if f.async != nil && f.async.queue != nil {
		p.addQueue(f.async.queue, props)
	}
	for _, s := range f.streams {
		if s.queue != nil {
			p.addQueue(s.queue, props)
		}
	}

	stmts, wildcards := f.policyStatements(p)
	obs := f.observability(props.LogLevel)
	if obs.Tracing {
		stmts = append(stmts, xrayStatement)
	}
	// One cdk_nag entry per resource: a second would replace the first.
	var suppress []nagSuppression
	if len(wildcards) > 0 {
		applies := make([]any, len(wildcards))
		for i, w := range wildcards {
			applies[i] = map[string]any{"regex": "/^Resource::.*" + regexp.QuoteMeta(literalTail(w)) + "$/"}
		}
		suppress = append(suppress, nagSuppression{
			id:        "AwsSolutions-IAM5",
			reason:    "Object access is scoped to the keys the stages declare (bucket/prefix*suffix), and dynamodb:ListStreams to the streams of the triggering table, whose label exists only after deploy; every action is named, none is a wildcard.",
			appliesTo: applies,
		})
	}
	if obs.Tracing {
		suppress = append(suppress, nagSuppression{
			id:        "AwsSolutions-IAM5",
			reason:    "X-Ray's xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions; Resource * is the only form IAM accepts for them.",
			appliesTo: []any{"Resource::*"},
		})
	}
	var roleMeta map[string]any
	if len(suppress) > 0 {
		roleMeta = map[string]any{"cdk_nag": nagSuppressions(suppress...)}
	}
	d.role = fr.add(f.id+"Role", "AWS::IAM::Role", map[string]any{
		"Description":              fmt.Sprintf("nanopipe %s: function %s (stages %s)", p.plan.prefix, f.name, strings.Join(f.stageNames(), ", ")),
		"AssumeRolePolicyDocument": lambdaTrust,
		"Policies": []any{map[string]any{
			"PolicyName":     "declared-access",
			"PolicyDocument": policyDocument(stmts),
		}},
	}, roleMeta)

	env := plumbing.FunctionEnvironment(f.stages,
		func(b *pipeline.Bucket) string { return p.bucketNames[b] },
		func(t *pipeline.Table) string { return p.tableNames[t] },
		func(t *pipeline.Table) string { return p.streamARNs[t] })
	maps.Copy(env, f.env)
	if obs.LogLevel != pipeline.LogInfo {
		// The runtime's default is info.
		env[contract.LogLevel] = obs.LogLevel
	}
	if obs.Tracing {
		// The runtime records the stages' AWS calls as subsegments.
		env[contract.Tracing] = "active"
	}
	vars := make(map[string]any, len(env))
	for k, v := range env {
		vars[k] = v
	}
	fnProps := map[string]any{
		"Description":   fmt.Sprintf("nanopipe %s: stages %s", p.plan.prefix, strings.Join(f.stageNames(), ", ")),
		"Code":          code,
		"Role":          getAtt(d.role, "Arn"),
		"Runtime":       "provided.al2023",
		"Handler":       "bootstrap",
		"Architectures": []any{string(f.cfg.Arch)},
		"MemorySize":    f.cfg.MemoryMB,
		"Timeout":       f.cfg.Timeout.Seconds(),
		"Environment":   map[string]any{"Variables": vars},
		"LoggingConfig": map[string]any{
			"LogGroup":            logGroup,
			"LogFormat":           "JSON",
			"ApplicationLogLevel": strings.ToUpper(obs.LogLevel),
		},
	}
	if props.FixedNames {
		fnProps["FunctionName"] = f.physical
	}
	if obs.Tracing {
		fnProps["TracingConfig"] = map[string]any{"Mode": "Active"}
	}
	if rc := f.cfg.ReservedConcurrency; rc != nil {
		fnProps["ReservedConcurrentExecutions"] = *rc
	}
	d.fn = fr.add(f.id+"Function", "AWS::Lambda::Function", fnProps, nil)
	// The role's policy names the log group, so the role (and with it the
	// function) is created after it; the dependency is in the template.
	if props.FixedNames {
		d.name = f.physical
	} else {
		d.name = ref(d.fn)
	}
	p.output(f.id+"FunctionName", d.name, fmt.Sprintf("Function %s (stages %s)", f.name, strings.Join(f.stageNames(), ", ")))
	p.functionAlarms(f, d)

	if f.async != nil {
		p.addAsyncConfig(f, d)
	}
	for _, s := range f.streams {
		p.addStreamTrigger(s, d)
	}
}

// destinationARN is where a trigger's failures go, or nil for none.
func (p *Pipeline) destinationARN(d triggers.Destination, q *queuePlan) any {
	switch d.Kind {
	case triggers.DefaultQueue:
		return p.queueARNs[q]
	case triggers.QueueARN, triggers.TopicARN:
		return d.ARN
	}
	return nil
}

// addAsyncConfig configures the asynchronous invocations S3 makes.
func (p *Pipeline) addAsyncConfig(f *fnPlan, d *deployedFunction) {
	cfg := map[string]any{
		"FunctionName":             ref(d.fn),
		"Qualifier":                "$LATEST",
		"MaximumRetryAttempts":     f.async.retries,
		"MaximumEventAgeInSeconds": f.async.maxAge.Seconds(),
	}
	if arn := p.destinationARN(f.async.dest, f.async.queue); arn != nil {
		cfg["DestinationConfig"] = map[string]any{"OnFailure": map[string]any{"Destination": arn}}
	}
	p.fr.add(f.id+"AsyncInvoke", "AWS::Lambda::EventInvokeConfig", cfg, nil)
}

// addObjectTriggers adds the bucket notifications of the functions
// serving S3 stages, in one call to the support package
// (Support.addObjectTriggers) which makes, per function, the calls the L2
// constructs take: Function.fromFunctionAttributes (id <function>Target,
// under the construct), a LambdaDestination, and the bucket's
// addEventNotification per event type. CDK's notification resource
// creates each AWS::Lambda::Permission (s3.amazonaws.com, SourceArn and
// SourceAccount set) and depends on it, so S3 can validate the
// destination when the notification is put.
func (p *Pipeline) addObjectTriggers() {
	var plan []any
	for _, f := range p.plan.functions {
		if f.async == nil {
			continue
		}
		var notes []any
		for _, s := range f.stages {
			t := s.ObjectTrigger()
			if t == nil {
				continue
			}
			events := make([]string, len(t.Events))
			for i, ev := range t.Events {
				events[i] = string(s3EventTypes[ev])
			}
			n := map[string]any{"bucket": p.bucketIDs[s.Bucket()], "events": events}
			if t.Prefix != "" {
				n["prefix"] = t.Prefix
			}
			if t.Suffix != "" {
				n["suffix"] = t.Suffix
			}
			notes = append(notes, n)
		}
		plan = append(plan, map[string]any{"id": f.id + "Target", "function": p.functions[f.name].fn, "notifications": notes})
	}
	if len(plan) == 0 {
		return
	}
	b, err := json.Marshal(plan)
	if err != nil {
		panic(err)
	}
	loadSupport()
	jsiiruntime.StaticInvokeVoid(supportFQN, "addObjectTriggers", []any{p, p.tmpl, string(b)})
}

// s3EventTypes maps the declaration's event types to CDK's names for them.
var s3EventTypes = map[triggers.S3Event]awss3.EventType{
	triggers.ObjectCreated:                        awss3.EventType_OBJECT_CREATED,
	triggers.ObjectCreatedPut:                     awss3.EventType_OBJECT_CREATED_PUT,
	triggers.ObjectCreatedPost:                    awss3.EventType_OBJECT_CREATED_POST,
	triggers.ObjectCreatedCopy:                    awss3.EventType_OBJECT_CREATED_COPY,
	triggers.ObjectCreatedCompleteMultipartUpload: awss3.EventType_OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD,
	triggers.ObjectRemoved:                        awss3.EventType_OBJECT_REMOVED,
	triggers.ObjectRemovedDelete:                  awss3.EventType_OBJECT_REMOVED_DELETE,
	triggers.ObjectRemovedDeleteMarkerCreated:     awss3.EventType_OBJECT_REMOVED_DELETE_MARKER_CREATED,
}

// addStreamTrigger adds the event source mapping of a stream stage, with
// every option the trigger declares and partial batch responses on: the
// runtime reports the failed record and those after it.
func (p *Pipeline) addStreamTrigger(s *streamPlan, d *deployedFunction) {
	t := s.trigger
	maxAge := -1.0 // no limit
	if t.MaxRecordAge > 0 {
		maxAge = t.MaxRecordAge.Seconds()
	}
	props := map[string]any{
		"FunctionName":                   getAtt(d.fn, "Arn"),
		"EventSourceArn":                 p.streamARNs[s.table],
		"StartingPosition":               string(t.StartingPosition),
		"BatchSize":                      t.BatchSize,
		"MaximumBatchingWindowInSeconds": t.BatchingWindow.Seconds(),
		"MaximumRetryAttempts":           t.Retries,
		"BisectBatchOnFunctionError":     t.Bisect,
		"MaximumRecordAgeInSeconds":      maxAge,
		"ParallelizationFactor":          t.Parallelization,
		"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
	}
	if t.TumblingWindow > 0 {
		props["TumblingWindowInSeconds"] = t.TumblingWindow.Seconds()
	}
	if len(s.patterns) > 0 {
		filters := make([]any, len(s.patterns))
		for i, pat := range s.patterns {
			filters[i] = map[string]any{"Pattern": pat}
		}
		props["FilterCriteria"] = map[string]any{"Filters": filters}
	}
	if arn := p.destinationARN(t.OnFailure, s.queue); arn != nil {
		props["DestinationConfig"] = map[string]any{"OnFailure": map[string]any{"Destination": arn}}
	}
	dropped := t.OnFailure.Kind == triggers.NoDestination && p.thresholds.FailedEvents > 0
	if dropped {
		// Lambda counts the records it drops only with the mapping's
		// event-count metrics on.
		props["MetricsConfig"] = map[string]any{"Metrics": []any{"EventCount"}}
	}
	id := p.plan.ids.get(s.stage.Name())
	esm := p.fr.add(id+"Trigger", "AWS::Lambda::EventSourceMapping", props, nil)
	if dropped {
		p.alarm(id+"DroppedAlarm", p.fixedAlarmName(s.stage.Name(), "dropped"),
			fmt.Sprintf("Stage %s dropped stream records that failed every retry (its trigger discards failures).", s.stage.Name()),
			"AWS/Lambda", "DroppedEventCount", "EventSourceMappingUUID", ref(esm), "Sum", float64(p.thresholds.FailedEvents))
	}
}

// addQueue adds a default on-failure queue: encrypted with SQS-managed
// keys, refusing requests without TLS, keeping messages 14 days (the
// most SQS allows), with an alarm as soon as a message is in it.
func (p *Pipeline) addQueue(q *queuePlan, props *Props) {
	qProps := map[string]any{
		"SqsManagedSseEnabled":   true,
		"MessageRetentionPeriod": 1209600,
	}
	if name := p.fixedName(maxQueueName, q.owner, "failures"); name != nil {
		qProps["QueueName"] = *name
	}
	queue := p.fr.add(q.id+"Failures", "AWS::SQS::Queue", qProps, map[string]any{"cdk_nag": nagSuppressions(nagSuppression{
		id:     "AwsSolutions-SQS3",
		reason: "This queue is itself the on-failure (dead-letter) destination of a Lambda trigger; a dead-letter queue of its own would only move the failures once more.",
	})})
	arn := getAtt(queue, "Arn")
	p.queues[q.owner] = queue
	p.queueARNs[q] = attMarker(queue, "Arn")
	p.fr.add(q.id+"FailuresPolicy", "AWS::SQS::QueuePolicy", map[string]any{
		"Queues": []any{ref(queue)},
		"PolicyDocument": map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Sid":       "DenyWithoutTLS",
				"Effect":    "Deny",
				"Principal": map[string]any{"AWS": "*"},
				"Action":    "sqs:*",
				"Resource":  arn,
				"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			}},
		},
	}, nil)
	p.output(q.id+"FailureQueueUrl", ref(queue), fmt.Sprintf("Failure queue of %s: events or records that failed every retry", q.owner))
	p.output(q.id+"FailureQueueArn", arn, fmt.Sprintf("Failure queue of %s (ARN)", q.owner))
	if p.thresholds.FailedEvents > 0 {
		p.alarm(q.id+"DeadLettersAlarm", p.fixedAlarmName(q.owner, "failures"),
			fmt.Sprintf("The failure queue of %s holds events or records that failed every retry; inspect and redrive them.", q.owner),
			"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", getAtt(queue, "QueueName"), "Maximum", float64(p.thresholds.FailedEvents))
	}
}

// pathBelow is the ids of c's scopes below stack, c's own last.
func pathBelow(stack awscdk.Stack, c constructs.Construct) []string {
	full, base := *c.Node().Path(), *stack.Node().Path()
	if base != "" {
		full = strings.TrimPrefix(full, base+"/")
	}
	return strings.Split(full, "/")
}

// nagSuppression is one cdk-nag rule suppressed on a resource, with the
// reason the design needs it. The construct writes them as the resource's
// cdk_nag metadata, the form cdk-nag reads, so the reasons travel with
// the template whether or not the user runs cdk-nag.
type nagSuppression struct {
	id        string
	reason    string
	appliesTo []any
}

func nagSuppressions(ss ...nagSuppression) map[string]any {
	rules := make([]any, len(ss))
	for i, s := range ss {
		r := map[string]any{"id": s.id, "reason": s.reason}
		if len(s.appliesTo) > 0 {
			r["applies_to"] = s.appliesTo
		}
		rules[i] = r
	}
	return map[string]any{"rules_to_suppress": rules}
}

// literalTail is the part of a string after its last CDK token: what
// cdk-nag shows literally after the token's rendering (<Logical.Arn>).
func literalTail(s string) string {
	i := strings.LastIndex(s, "${Token[")
	if i < 0 {
		return s
	}
	j := strings.Index(s[i:], "]}")
	if j < 0 {
		return s
	}
	return s[i+j+2:]
}
