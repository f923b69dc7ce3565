// Command l2synth is the benchmark's app written by hand in Go with
// aws-cdk-go's L2 constructs, the way a Go CDK user who does not use the
// nanopipe construct would write it: the peer the construct must beat.
// It produces the same resources as the construct and as js/app.js, of
// which it is a line-by-line translation (TestSameResources keeps the
// three in step).
//
//	l2synth -stages 50 -out DIR -asset DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3notifications"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/cdk/bench"
)

// queueDestination is a failure destination given by ARN, for
// asynchronous invocations, so the role keeps its one inline policy
// (SqsDestination would add a second policy resource).
type queueDestination struct{ arn *string }

func (q *queueDestination) Bind(constructs.Construct, awslambda.IFunction, *awslambda.DestinationOptions) *awslambda.DestinationConfig {
	return &awslambda.DestinationConfig{Destination: q.arn}
}

// queueDlq is the same for an event source mapping.
type queueDlq struct{ arn *string }

func (q *queueDlq) Bind(awslambda.IEventSourceMapping, awslambda.IFunction) *awslambda.DlqDestinationConfig {
	return &awslambda.DlqDestinationConfig{Destination: q.arn}
}

func main() {
	stages := flag.Int("stages", 10, "number of stages of the generated app")
	out := flag.String("out", "", "cloud assembly directory")
	asset := flag.String("asset", "", "directory holding a bootstrap, used as the app's binary")
	flag.Parse()
	if *out == "" || *asset == "" {
		fmt.Fprintln(os.Stderr, "usage: l2synth -stages N -out DIR -asset DIR")
		os.Exit(2)
	}
	defer jsii.Close()
	// The 200-stage app has more resources than one CloudFormation stack
	// takes (500): the limit is lifted to measure how synth time grows.
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: out, BuiltinCloudFormationValidation: jsii.Bool(false),
		Context: &map[string]any{"@aws-cdk/core:stackResourceLimit": 0}})
	stack := awscdk.NewStack(app, jsii.String("Bench"), nil)
	start := time.Now()
	build(stack, *stages, *asset)
	app.Synth(nil)
	fmt.Printf("%s %.3f\n", bench.PhaseLine, time.Since(start).Seconds())
}

func build(stack awscdk.Stack, stages int, assetDir string) {
	retain := awscdk.RemovalPolicy_RETAIN
	awscdk.Tags_Of(stack).Add(jsii.String("nanopipe:app"), jsii.String("bench"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("nanopipe:environment"), jsii.String("prod"), nil)

	data := awss3.NewBucket(stack, jsii.String("Data"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RemovalPolicy:     retain,
	})
	hasStreamStages := stages > 1
	table := func(id string, stream awsdynamodb.StreamViewType) awsdynamodb.Table {
		return awsdynamodb.NewTable(stack, jsii.String(id), &awsdynamodb.TableProps{
			PartitionKey:                     &awsdynamodb.Attribute{Name: jsii.String("id"), Type: awsdynamodb.AttributeType_STRING},
			BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
			DeletionProtection:               jsii.Bool(true),
			Stream:                           stream,
			RemovalPolicy:                    retain,
		})
	}
	var view awsdynamodb.StreamViewType
	if hasStreamStages {
		view = awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES
	}
	items := table("Items", view)
	totals := table("Totals", "")
	code := awslambda.Code_FromAsset(jsii.String(assetDir), nil)
	output := func(id string, value *string, description string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	output("BenchDataBucketName", data.BucketName(), "Bucket bench-data")
	output("ItemsTableName", items.TableName(), "Table items")
	if hasStreamStages {
		output("ItemsTableStreamArn", items.TableStreamArn(), "Stream of table items")
	}
	output("TotalsTableName", totals.TableName(), "Table totals")

	// The alarm topic: CloudWatch of this account may publish, over TLS.
	topic := awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{DisplayName: jsii.String("nanopipe bench-prod alarms"), EnforceSSL: jsii.Bool(true)})
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()}},
	}))
	output("AlarmTopicArn", topic.TopicArn(), "SNS topic of the alarms")
	action := awscloudwatchactions.NewSnsAction(topic)
	alarm := func(id string, metric awscloudwatch.Metric, threshold float64, description string) {
		a := metric.CreateAlarm(stack, jsii.String(id), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String(description),
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	writeActions := jsii.Strings("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")

	for i := range stages {
		s3Stage := i%2 == 0
		stage := fmt.Sprintf("t%d", i)
		if s3Stage {
			stage = fmt.Sprintf("s%d", i)
		}
		id := fmt.Sprintf("T%d", i)
		if s3Stage {
			id = fmt.Sprintf("S%d", i)
		}

		logGroup := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
			Retention:     awslogs.RetentionDays_ONE_MONTH,
			RemovalPolicy: retain,
		})
		queue := awssqs.NewQueue(stack, jsii.String(id+"Failures"), &awssqs.QueueProps{
			Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:      jsii.Bool(true),
			RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
			RemovalPolicy:   retain,
		})
		output(id+"FailureQueueUrl", queue.QueueUrl(), "Failure queue of "+stage)
		output(id+"FailureQueueArn", queue.QueueArn(), "Failure queue of "+stage+" (ARN)")

		statements := []awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"), Resources: &[]*string{logGroup.LogGroupArn()}}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings("sqs:SendMessage"), Resources: &[]*string{queue.QueueArn()}}),
		}
		env := map[string]*string{"NANOPIPE_APP": jsii.String("bench"), "NANOPIPE_STAGES": jsii.String(stage)}
		if s3Stage {
			in := fmt.Sprintf("in/%d/*", i)
			statements = append(statements,
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings("s3:GetObject"), Resources: &[]*string{data.ArnForObjects(jsii.String(in))}}),
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions: jsii.Strings("s3:ListBucket"), Resources: &[]*string{data.BucketArn()},
					Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": in}},
				}),
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"), Resources: &[]*string{data.ArnForObjects(jsii.String(fmt.Sprintf("out/%d/*", i)))}}),
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: writeActions, Resources: &[]*string{items.TableArn()}}),
			)
			env["NANOPIPE_BUCKET_BENCH_DATA"] = data.BucketName()
			env["NANOPIPE_TABLE_ITEMS"] = items.TableName()
		} else {
			statements = append(statements,
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"), Resources: &[]*string{items.TableStreamArn()}}),
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings("dynamodb:ListStreams"), Resources: jsii.Strings(*items.TableArn() + "/stream/*")}),
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: writeActions, Resources: &[]*string{totals.TableArn()}}),
			)
			env["NANOPIPE_TABLE_ITEMS"] = items.TableName()
			env["NANOPIPE_TABLE_TOTALS"] = totals.TableName()
			env["NANOPIPE_STREAM_ITEMS"] = items.TableStreamArn()
		}
		role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
			AssumedBy:      awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			InlinePolicies: &map[string]awsiam.PolicyDocument{"declared-access": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements})},
		})

		fn := awslambda.NewFunction(stack, jsii.String(id+"Function"), &awslambda.FunctionProps{
			Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
			Handler:               jsii.String("bootstrap"),
			Code:                  code,
			Architecture:          awslambda.Architecture_ARM_64(),
			MemorySize:            jsii.Number(256),
			Timeout:               awscdk.Duration_Seconds(jsii.Number(30)),
			Role:                  role,
			LogGroup:              logGroup,
			LoggingFormat:         awslambda.LoggingFormat_JSON,
			ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
			Environment:           &env,
		})
		output(id+"FunctionName", fn.FunctionName(), "Function "+stage)
		period := awscdk.Duration_Minutes(jsii.Number(5))
		alarm(id+"ThrottlesAlarm", fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}), 10, "Invocations of "+stage+" are throttled.")
		if !s3Stage {
			alarm(id+"IteratorAgeAlarm", fn.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}), 300000, stage+" lags behind its stream.")
		}
		alarm(id+"DeadLettersAlarm", queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}), 1,
			"The failure queue of "+stage+" holds failed events.")

		if s3Stage {
			awslambda.NewEventInvokeConfig(stack, jsii.String(id+"AsyncInvoke"), &awslambda.EventInvokeConfigProps{
				Function:      fn,
				RetryAttempts: jsii.Number(2),
				MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
				OnFailure:     &queueDestination{queue.QueueArn()},
			})
			data.AddEventNotification(awss3.EventType_OBJECT_CREATED, awss3notifications.NewLambdaDestination(fn), &awss3.NotificationKeyFilter{Prefix: jsii.String(fmt.Sprintf("in/%d/", i))})
			continue
		}
		awslambda.NewEventSourceMapping(stack, jsii.String(id+"Trigger"), &awslambda.EventSourceMappingProps{
			Target:                  fn,
			EventSourceArn:          items.TableStreamArn(),
			StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
			BatchSize:               jsii.Number(100),
			MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(0)),
			RetryAttempts:           jsii.Number(3),
			BisectBatchOnError:      jsii.Bool(false),
			ParallelizationFactor:   jsii.Number(1),
			ReportBatchItemFailures: jsii.Bool(true),
			OnFailure:               &queueDlq{queue.QueueArn()},
			Filters: &[]*map[string]interface{}{
				awslambda.FilterCriteria_Filter(&map[string]interface{}{"eventName": awslambda.FilterRule_IsEqual("INSERT")}),
			},
		})
	}
}
