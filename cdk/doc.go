// Package cdk deploys a nanopipe app with the AWS CDK: New reads the
// declaration (the *pipeline.App your pipeline package declares) and adds
// to your stack everything the app needs to run on AWS Lambda. It is the
// only nanopipe package that imports the CDK and jsii; keep it in a main
// of its own, never in the app's Lambda binary.
//
//	func main() {
//		defer jsii.Close()
//		app := awscdk.NewApp(nil)
//		stack := awscdk.NewStack(app, jsii.String("photos-dev"), nil)
//		cdk.New(stack, "Pipeline", photos.App, &cdk.Props{
//			Package: "github.com/you/photos/cmd/lambda", // the app's Lambda main
//		})
//		app.Synth(nil)
//	}
//
// examples/photos/cdk is a complete CDK app with its cdk.json:
// `npx cdk synth` in that directory synthesizes it.
//
// # What New creates
//
// For the declared resources:
//
//   - a bucket per declared bucket: S3-managed encryption, public access
//     blocked, TLS enforced by its policy, versioned when declared;
//     existing buckets are imported by name;
//   - a table per declared table: on-demand, point-in-time recovery, the
//     declared keys and time-to-live, and a stream with the declared view
//     (NEW_AND_OLD_IMAGES when a stage is triggered by it and none is
//     declared); existing tables are referenced by name and stream ARN.
//
// For every function (one per stage, or one per group of stages declared
// with Stage.Group, serving the union of their triggers and grants):
//
//   - an AWS::Lambda::Function running the app's binary on
//     provided.al2023, with the stages' memory, timeout, architecture,
//     reserved concurrency and variables (a group takes the largest memory
//     and timeout; its stages must agree on the rest), and the environment
//     contract of the runtime (NANOPIPE_* variables): the stages it
//     serves and the physical names of what they touch;
//   - its log group, with the retention of Props.LogRetentionDays,
//     receiving JSON logs at the declared level (pipeline.LogLevel,
//     Stage.LogLevel; Props.LogLevel overrides), and X-Ray active tracing
//     when the app or one of its stages declares pipeline.Tracing;
//   - its execution role, granting exactly what the stages declare (see
//     Permissions);
//   - its alarms (see Failures and alarms) and a stack output with its
//     name.
//
// For every S3 stage: the bucket notification (prefix and suffix filters,
// the declared event types) with its AWS::Lambda::Permission for
// s3.amazonaws.com, SourceArn and SourceAccount set, which the
// notification depends on, so S3 can validate the destination when the
// notification is put; and the function's asynchronous invocation
// configuration (retries, maximum event age, on-failure destination).
// Lambda keeps one such configuration per function: the S3 stages of a
// group must declare the same one.
//
// For every stream stage: an event source mapping with every option the
// trigger declares (batch size and window, starting position, retries,
// bisection, maximum record age, parallelization, tumbling window, the
// filter patterns of triggers.StreamTrigger.Patterns), partial batch
// responses (ReportBatchItemFailures) on, and its on-failure destination.
//
// # Failures and alarms
//
// A trigger's failures go where its OnFailure says. By default that is a
// queue the construct creates: one per stream stage, one per function for
// asynchronous (S3) invocations. The queue is encrypted with SQS-managed
// keys, refuses requests without TLS, keeps messages 14 days (the most
// SQS allows), and is retained with the stack's data outside dev.
// triggers.Queue and triggers.Topic send failures to an existing queue or
// topic instead, triggers.Discard nowhere.
//
// The alarms fire on what needs someone's attention, with the thresholds
// of Props.Alarms (see Alarms for the defaults):
//
//   - events or records in a failure queue (ApproximateNumberOfMessagesVisible);
//   - S3 events dropped after their last retry by a function whose
//     failures go elsewhere (AsyncEventsDropped), and stream records
//     dropped by a trigger that discards them (the mapping's
//     DroppedEventCount);
//   - a stream-triggered function lagging behind (IteratorAge);
//   - throttled invocations (Throttles).
//
// There is no alarm on Errors: a failed invocation that a retry repairs
// is no incident, and one that no retry repairs ends in a failure queue.
// Every alarm notifies an SNS topic the construct creates for the app
// (Props.AlarmEmails subscribes addresses to it), or Props.AlarmActions,
// both when it fires and when it is OK again.
//
// # Names and stack outputs
//
// CloudFormation names the tables, queues, functions, log groups, alarms
// and the topic (and the buckets), so a change that needs a replacement,
// such as a table's new key, deploys; the functions find the generated
// names in their environment. Props.FixedNames names them
// <app>-<environment>-<name> instead. The local environment uses the
// declared names.
//
// The stack outputs, logical IDs prefixed by Props.OutputPrefix, are
// <Bucket>BucketName, <Table>TableName, <Table>TableStreamArn,
// <Owner>FailureQueueUrl and <Owner>FailureQueueArn (the owner is the
// stream stage, or the function of S3 stages), <Function>FunctionName and
// AlarmTopicArn, where <Bucket> is the declared name in PascalCase
// ("photos-in" gives PhotosIn).
//
// # Permissions
//
// Each function's role has one inline policy, derived from the
// declaration, with no managed policy and no wildcard action:
//
//   - writing its own log group;
//   - sending to its on-failure queues or topics;
//   - reading the streams that trigger it (dynamodb:DescribeStream,
//     GetRecords and GetShardIterator on the stream ARN, ListStreams on
//     the table's streams);
//   - for each declared bucket read, s3:GetObject (and GetObjectVersion on
//     versioned buckets) on arn:aws:s3:::bucket/prefix*suffix (Prefix and
//     Keys; the whole bucket is bucket/*), and s3:ListBucket on the bucket
//     with an s3:prefix condition on the same prefixes;
//   - for each declared bucket write, s3:PutObject, DeleteObject and
//     AbortMultipartUpload on the same kind of key scope; for each
//     delete-only access (Deletes), s3:DeleteObject alone;
//   - for each declared table read, write or delete, the item actions of
//     that kind on the table's ARN (tables declare no indexes, so no index
//     ARNs).
//
// A stage that does not declare an access gets no permission for it:
// Reads, Writes and Deletes are the whole of the policy. Accesses another
// one covers (a prefix under a declared prefix, a delete under a write)
// add nothing.
//
// # Environments
//
// One construct serves every deployment of the app, told apart by an
// environment name: Props.Environment, or else the CDK context value
// "stage" (cdk deploy -c stage=prod), or else "dev". The name goes into
// the tags nanopipe:app and nanopipe:environment on every resource, the
// stack's name when cdk.Main makes it (<app>-<environment>), and the names
// of Props.FixedNames.
//
//   - dev: buckets (emptied first, by CDK's auto-delete-objects helper),
//     tables, failure queues and log groups are destroyed with the stack;
//   - any other environment (prod): buckets, tables, failure queues and
//     log groups are retained when the stack is deleted or the resource
//     replaced, and tables have deletion protection on.
//
// Functions, roles, mappings, alarms and the alarm topic are always
// deleted with the stack.
//
// # The Lambda binary
//
// All functions run one binary, built once per architecture the app uses
// (arm64 unless a stage says X86_64) from Props.Package with
// GOOS=linux CGO_ENABLED=0 go build -tags lambda.norpc -trimpath
// -buildvcs=false -ldflags='-s -w' into a directory holding only an
// executable bootstrap. Those flags make the binary depend on the sources
// alone, so an unchanged app gives an unchanged asset hash and no
// redeploy. Props.Prebuilt takes directories built elsewhere instead.
//
// # Synth time
//
// Every call from Go into the CDK is a round trip to the jsii node
// process, and they are what synth time grows with. The construct works
// out every function's resources in plain Go (log group, role, function,
// failure queues and their policies, invoke configuration, event source
// mappings, alarms) and every stack output, writes them as one
// CloudFormation template fragment, with the logical IDs CDK would give
// them, and brings it in with one CfnInclude. The included resources are
// constructs of their L1 classes: Function, Role and FailureQueue return
// them (CfnInclude.GetResource), so overrides, dependencies, tags,
// aspects and cdk-nag apply to them as to any other resource; their
// construct paths (aws:cdk:path metadata) are <pipeline>/Template/<logical
// ID>. Buckets, tables, the asset and the alarm topic are created as
// constructs, once per app.
//
// The construct also loads a small JavaScript package of its own into the
// jsii kernel (@nanopipe/cdk-support, written out by the construct, no
// npm install). It makes CfnInclude read the fragment with JSON.parse
// rather than its YAML parser (0.45 s of a 200-stage synth), and adds the
// S3 notifications of every S3 stage through the buckets' L2 constructs
// in one call. A stage then costs no round trip at all, whatever its
// trigger.
//
// Turn the CDK's built-in template validator off while iterating
// (CDK_VALIDATION=false or cdk synth --no-validation): it costs most of a
// synth.
//
// # cdk-nag
//
// The construct writes the cdk-nag suppressions its design needs into the
// template, each with its reason: AwsSolutions-IAM5 for the key-scoped
// object ARNs and the table's streams (the findings it applies to are
// listed) and for X-Ray's actions, which take no resource, SQS3 for the
// on-failure queues (they are dead-letter queues), S1 for buckets without
// access logs, SNS2 for the alarm topic (CloudWatch cannot publish to a
// topic encrypted with the AWS managed key). Package nagcheck runs the
// AwsSolutions rules and suppresses the findings on CDK's own S3
// notifications helper.
package cdk
