// The JavaScript side of the synth benchmark: the app bench.App declares,
// written by hand with aws-cdk-lib the way a JavaScript CDK user would
// (L2 constructs where they fit), producing the same resources as the Go
// construct. TestSameResources keeps the two in step.
//
//   node app.js STAGES OUTDIR ASSETDIR
//
// Run with CDK_VALIDATION=false and NODE_PATH pointing at the
// node_modules scripts/cdk-setup.sh installs.
'use strict';

const cdk = require('aws-cdk-lib');
const s3 = require('aws-cdk-lib/aws-s3');
const s3n = require('aws-cdk-lib/aws-s3-notifications');
const dynamodb = require('aws-cdk-lib/aws-dynamodb');
const lambda = require('aws-cdk-lib/aws-lambda');
const logs = require('aws-cdk-lib/aws-logs');
const sqs = require('aws-cdk-lib/aws-sqs');
const iam = require('aws-cdk-lib/aws-iam');
const cloudwatch = require('aws-cdk-lib/aws-cloudwatch');
const cwActions = require('aws-cdk-lib/aws-cloudwatch-actions');
const sns = require('aws-cdk-lib/aws-sns');

const [stages, outdir, assetDir] = [parseInt(process.argv[2], 10), process.argv[3], process.argv[4]];
if (!(stages > 0) || !outdir || !assetDir) {
  console.error('usage: node app.js STAGES OUTDIR ASSETDIR');
  process.exit(2);
}

const retain = cdk.RemovalPolicy.RETAIN;
// The 200-stage app has more resources than one CloudFormation stack takes
// (500): the limit is lifted to measure how synth time grows.
const app = new cdk.App({ outdir, context: { '@aws-cdk/core:stackResourceLimit': 0 } });
const stack = new cdk.Stack(app, 'Bench');
// From an empty stack to a written cloud assembly, as gosynth measures it.
const start = process.hrtime.bigint();
cdk.Tags.of(stack).add('nanopipe:app', 'bench');
cdk.Tags.of(stack).add('nanopipe:environment', 'prod');

const data = new s3.Bucket(stack, 'Data', {
  blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
  encryption: s3.BucketEncryption.S3_MANAGED,
  enforceSSL: true,
  removalPolicy: retain,
});
const hasStreamStages = stages > 1;
const table = (id, stream) => new dynamodb.Table(stack, id, {
  partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
  billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
  pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
  deletionProtection: true,
  stream,
  removalPolicy: retain,
});
const items = table('Items', hasStreamStages ? dynamodb.StreamViewType.NEW_AND_OLD_IMAGES : undefined);
const totals = table('Totals');
const code = lambda.Code.fromAsset(assetDir);
const output = (id, value, description) => new cdk.CfnOutput(stack, id, { value, description });
output('BenchDataBucketName', data.bucketName, 'Bucket bench-data');
output('ItemsTableName', items.tableName, 'Table items');
if (hasStreamStages) {
  output('ItemsTableStreamArn', items.tableStreamArn, 'Stream of table items');
}
output('TotalsTableName', totals.tableName, 'Table totals');

// The alarm topic: CloudWatch of this account may publish, over TLS.
const topic = new sns.Topic(stack, 'AlarmTopic', { displayName: 'nanopipe bench-prod alarms', enforceSSL: true });
topic.addToResourcePolicy(new iam.PolicyStatement({
  principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
  actions: ['sns:Publish'],
  resources: [topic.topicArn],
  conditions: { StringEquals: { 'aws:SourceAccount': cdk.Aws.ACCOUNT_ID } },
}));
output('AlarmTopicArn', topic.topicArn, 'SNS topic of the alarms');
const action = new cwActions.SnsAction(topic);

// A failure destination given by ARN, so the role keeps its one inline
// policy (SqsDestination would add a second policy resource).
const toQueue = (queue) => ({ bind: () => ({ destination: queue.queueArn }) });

const alarm = (id, metric, threshold, description) => {
  const a = metric.createAlarm(stack, id, {
    alarmDescription: description,
    threshold,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  a.addAlarmAction(action);
  a.addOkAction(action);
};

for (let i = 0; i < stages; i++) {
  const s3Stage = i % 2 === 0;
  const stage = `${s3Stage ? 's' : 't'}${i}`;
  const id = stage.toUpperCase();

  const logGroup = new logs.LogGroup(stack, `${id}Logs`, {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: retain,
  });
  const queue = new sqs.Queue(stack, `${id}Failures`, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: cdk.Duration.days(14),
    removalPolicy: retain,
  });
  output(`${id}FailureQueueUrl`, queue.queueUrl, `Failure queue of ${stage}`);
  output(`${id}FailureQueueArn`, queue.queueArn, `Failure queue of ${stage} (ARN)`);

  const statements = [
    new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
  ];
  const env = { NANOPIPE_APP: 'bench', NANOPIPE_STAGES: stage };
  if (s3Stage) {
    statements.push(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [data.arnForObjects(`in/${i}/*`)] }),
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'], resources: [data.bucketArn],
        conditions: { StringLike: { 's3:prefix': `in/${i}/*` } },
      }),
      new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], resources: [data.arnForObjects(`out/${i}/*`)] }),
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
        resources: [items.tableArn],
      }),
    );
    env.NANOPIPE_BUCKET_BENCH_DATA = data.bucketName;
    env.NANOPIPE_TABLE_ITEMS = items.tableName;
  } else {
    statements.push(
      new iam.PolicyStatement({
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        resources: [items.tableStreamArn],
      }),
      new iam.PolicyStatement({ actions: ['dynamodb:ListStreams'], resources: [`${items.tableArn}/stream/*`] }),
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
        resources: [totals.tableArn],
      }),
    );
    env.NANOPIPE_TABLE_ITEMS = items.tableName;
    env.NANOPIPE_TABLE_TOTALS = totals.tableName;
    env.NANOPIPE_STREAM_ITEMS = items.tableStreamArn;
  }
  const role = new iam.Role(stack, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    inlinePolicies: { 'declared-access': new iam.PolicyDocument({ statements }) },
  });

  const fn = new lambda.Function(stack, `${id}Function`, {
    runtime: lambda.Runtime.PROVIDED_AL2023,
    handler: 'bootstrap',
    code,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    timeout: cdk.Duration.seconds(30),
    role,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
    environment: env,
  });
  output(`${id}FunctionName`, fn.functionName, `Function ${stage}`);
  const period = cdk.Duration.minutes(5);
  alarm(`${id}ThrottlesAlarm`, fn.metricThrottles({ period, statistic: 'Sum' }), 10, `Invocations of ${stage} are throttled.`);
  if (!s3Stage) {
    alarm(`${id}IteratorAgeAlarm`, fn.metric('IteratorAge', { period, statistic: 'Maximum' }), 300000, `${stage} lags behind its stream.`);
  }
  alarm(`${id}DeadLettersAlarm`, queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }), 1,
    `The failure queue of ${stage} holds failed events.`);

  if (s3Stage) {
    new lambda.EventInvokeConfig(stack, `${id}AsyncInvoke`, {
      function: fn,
      retryAttempts: 2,
      maxEventAge: cdk.Duration.hours(6),
      onFailure: toQueue(queue),
    });
    data.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.LambdaDestination(fn), { prefix: `in/${i}/` });
  } else {
    new lambda.EventSourceMapping(stack, `${id}Trigger`, {
      target: fn,
      eventSourceArn: items.tableStreamArn,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: 100,
      maxBatchingWindow: cdk.Duration.seconds(0),
      retryAttempts: 3,
      bisectBatchOnError: false,
      maxRecordAge: undefined,
      parallelizationFactor: 1,
      reportBatchItemFailures: true,
      onFailure: toQueue(queue),
      filters: [lambda.FilterCriteria.filter({ eventName: lambda.FilterRule.isEqual('INSERT') })],
    });
  }
}

app.synth();
console.log(`construct+synth seconds: ${(Number(process.hrtime.bigint() - start) / 1e9).toFixed(3)}`);
