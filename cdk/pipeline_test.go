package cdk_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/cdk"
	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// logical returns the one resource of the type whose logical ID starts
// with prefix (CDK appends a hash), with its logical ID.
func logical(t *testing.T, tmpl assertions.Template, typ, prefix string) (string, map[string]any) {
	t.Helper()
	var id string
	var res map[string]any
	for k, v := range resources(t, tmpl, typ, nil) {
		if strings.HasPrefix(k, prefix) && len(k) == len(prefix)+8 {
			if id != "" {
				t.Fatalf("two %s resources start with %s: %s and %s", typ, prefix, id, k)
			}
			id, res = k, v
		}
	}
	if id == "" {
		t.Fatalf("no %s resource %s*", typ, prefix)
	}
	return id, res
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

func getAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }

// statements returns the statements of a function's role by Sid.
func statements(t *testing.T, tmpl assertions.Template, fn string) map[string]map[string]any {
	t.Helper()
	_, role := logical(t, tmpl, "AWS::IAM::Role", "Pipeline"+fn+"Role")
	policies := props(role)["Policies"].([]any)
	if len(policies) != 1 {
		t.Fatalf("role of %s has %d inline policies, want 1", fn, len(policies))
	}
	out := map[string]map[string]any{}
	for _, s := range policies[0].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
		st := s.(map[string]any)
		out[st["Sid"].(string)] = st
	}
	return out
}

func sids(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func equalJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	var gv, wv any
	json.Unmarshal(g, &gv)
	json.Unmarshal(w, &wv)
	if !reflect.DeepEqual(gv, wv) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestBucketsAndTables(t *testing.T) {
	_, tmpl := synth(t, shop(), nil)

	// Created: the inbox. Imported: legacy-archive (no bucket resource).
	count(t, tmpl, "AWS::S3::Bucket", 1)
	has(t, tmpl, "AWS::S3::Bucket", map[string]any{
		"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
			map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
		}},
		"VersioningConfiguration": map[string]any{"Status": "Enabled"},
		"PublicAccessBlockConfiguration": map[string]any{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		},
	})
	has(t, tmpl, "AWS::S3::BucketPolicy", map[string]any{
		"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Effect":    "Deny",
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		})})},
	})

	// Created: orders and totals. customers exists and is only referenced.
	count(t, tmpl, "AWS::DynamoDB::Table", 2)
	has(t, tmpl, "AWS::DynamoDB::Table", map[string]any{
		// CloudFormation names it.
		"TableName": assertions.Match_Absent(),
		"KeySchema": []any{
			map[string]any{"AttributeName": "id", "KeyType": "HASH"},
			map[string]any{"AttributeName": "at", "KeyType": "RANGE"},
		},
		"AttributeDefinitions": []any{
			map[string]any{"AttributeName": "id", "AttributeType": "S"},
			map[string]any{"AttributeName": "at", "AttributeType": "N"},
		},
		"BillingMode": "PAY_PER_REQUEST",
		// A stage is triggered by the stream and none was declared.
		"StreamSpecification":              map[string]any{"StreamViewType": "NEW_AND_OLD_IMAGES"},
		"TimeToLiveSpecification":          map[string]any{"AttributeName": "expires", "Enabled": true},
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
	})
	// No stage reads the stream of totals: no stream.
	has(t, tmpl, "AWS::DynamoDB::Table", map[string]any{
		"KeySchema":           []any{map[string]any{"AttributeName": "day", "KeyType": "HASH"}},
		"StreamSpecification": assertions.Match_Absent(),
	})
}

func TestDeclaredStreamView(t *testing.T) {
	app := pipeline.New("views")
	items := app.Table("items", pipeline.PartitionKey("id", pipeline.String), pipeline.Stream(pipeline.ViewNewImage))
	pipeline.OnChange(app, "watch", items.Changes(), onCustomer)
	_, tmpl := synth(t, app, nil)
	has(t, tmpl, "AWS::DynamoDB::Table", map[string]any{
		"StreamSpecification": map[string]any{"StreamViewType": "NEW_IMAGE"},
	})
}

func TestEnvironments(t *testing.T) {
	tests := []struct {
		name     string
		props    cdk.Props
		ctx      []string
		env      string
		deletion string
		autoDel  int
	}{
		{name: "default is dev", env: "dev", deletion: "Delete", autoDel: 1},
		{name: "context", ctx: []string{"stage", "prod"}, env: "prod", deletion: "Retain", autoDel: 0},
		{name: "props win over context", props: cdk.Props{Environment: "dev"}, ctx: []string{"stage", "prod"}, env: "dev", deletion: "Delete", autoDel: 1},
		{name: "other names retain", props: cdk.Props{Environment: "staging"}, env: "staging", deletion: "Retain", autoDel: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props := tt.props
			p, tmpl := synth(t, shop(), &props, tt.ctx...)
			if p.Environment() != tt.env {
				t.Errorf("Environment() = %q, want %q", p.Environment(), tt.env)
			}
			check(t, "bucket removal", func() {
				tmpl.HasResource(jsii.String("AWS::S3::Bucket"), map[string]any{"DeletionPolicy": tt.deletion, "UpdateReplacePolicy": tt.deletion})
			})
			check(t, "table removal", func() {
				tmpl.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
					"DeletionPolicy": tt.deletion,
					"Properties":     map[string]any{"TimeToLiveSpecification": assertions.Match_AnyValue(), "DeletionProtectionEnabled": tt.deletion == "Retain"},
				})
			})
			check(t, "log group removal", func() {
				tmpl.HasResource(jsii.String("AWS::Logs::LogGroup"), map[string]any{"DeletionPolicy": tt.deletion, "UpdateReplacePolicy": tt.deletion})
			})
			// Failure queues hold failed events: kept like the data.
			queues := resources(t, tmpl, "AWS::SQS::Queue", nil)
			for id, q := range queues {
				if q["DeletionPolicy"] != tt.deletion || q["UpdateReplacePolicy"] != tt.deletion {
					t.Errorf("queue %s: DeletionPolicy %v, UpdateReplacePolicy %v, want %s", id, q["DeletionPolicy"], q["UpdateReplacePolicy"], tt.deletion)
				}
				if r := q["Properties"].(map[string]any)["MessageRetentionPeriod"]; r != 1209600.0 {
					t.Errorf("queue %s keeps messages %v s, want 14 days", id, r)
				}
			}
			if len(queues) != 3 {
				t.Errorf("%d queues, want 3", len(queues))
			}
			count(t, tmpl, "Custom::S3AutoDeleteObjects", tt.autoDel)
			has(t, tmpl, "AWS::Lambda::Function", map[string]any{"Description": "nanopipe shop-" + tt.env + ": stages load"})
		})
	}
}

// ourFunctions returns the app's functions (Runtime provided.al2023, not
// CDK's helpers) by logical ID.
func ourFunctions(t *testing.T, tmpl assertions.Template) map[string]map[string]any {
	return resources(t, tmpl, "AWS::Lambda::Function", map[string]any{"Runtime": "provided.al2023"})
}

func TestFunctions(t *testing.T) {
	app := shop()
	p, tmpl := synth(t, app, &cdk.Props{FixedNames: true})
	fns := ourFunctions(t, tmpl)
	if len(fns) != 4 {
		t.Fatalf("%d functions, want 4 (load, forget, total, group mail)", len(fns))
	}
	bucketID, _ := logical(t, tmpl, "AWS::S3::Bucket", "PipelineShopInboxBucket")
	ordersID, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineOrdersTable")
	totalsID, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineTotalsTable")
	loadRole, _ := logical(t, tmpl, "AWS::IAM::Role", "PipelineLoadRole")

	has(t, tmpl, "AWS::Lambda::Function", map[string]any{
		"FunctionName":                 "shop-dev-load",
		"Handler":                      "bootstrap",
		"Runtime":                      "provided.al2023",
		"Architectures":                []any{"arm64"},
		"MemorySize":                   1024,
		"Timeout":                      120,
		"ReservedConcurrentExecutions": 5,
		"Role":                         getAtt(loadRole, "Arn"),
		"LoggingConfig":                map[string]any{"LogGroup": "/aws/lambda/shop-dev-load", "LogFormat": "JSON", "ApplicationLogLevel": "INFO"},
		// The environment contract, names as CloudFormation references,
		// plus the stage's own variable.
		"Environment": map[string]any{"Variables": map[string]any{
			"NANOPIPE_APP":               "shop",
			"NANOPIPE_STAGES":            "load",
			"NANOPIPE_BUCKET_SHOP_INBOX": ref(bucketID),
			"NANOPIPE_TABLE_ORDERS":      ref(ordersID),
			"MODE":                       "strict",
		}},
	})
	has(t, tmpl, "AWS::Lambda::Function", map[string]any{
		"FunctionName":                 "shop-dev-total",
		"Architectures":                []any{"x86_64"},
		"MemorySize":                   256,
		"Timeout":                      30,
		"ReservedConcurrentExecutions": assertions.Match_Absent(),
		"Environment": map[string]any{"Variables": map[string]any{
			"NANOPIPE_APP":           "shop",
			"NANOPIPE_STAGES":        "total",
			"NANOPIPE_TABLE_ORDERS":  ref(ordersID),
			"NANOPIPE_TABLE_TOTALS":  ref(totalsID),
			"NANOPIPE_STREAM_ORDERS": getAtt(ordersID, "StreamArn"),
		}},
	})

	// Every function carries exactly the variables the runtime's contract
	// names for its stages, and the stages' own.
	for id, fn := range fns {
		name := props(fn)["FunctionName"].(string)
		group := strings.TrimPrefix(name, "shop-dev-")
		stages := plumbing.Groups(app)[group]
		want := plumbing.FunctionEnvironment(stages,
			func(*pipeline.Bucket) string { return "" }, func(*pipeline.Table) string { return "" }, func(*pipeline.Table) string { return "" })
		for _, s := range stages {
			for k := range s.Function().Environment {
				want[k] = ""
			}
		}
		vars := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)
		var got, wantKeys []string
		for k := range vars {
			got = append(got, k)
		}
		for k := range want {
			wantKeys = append(wantKeys, k)
		}
		slices.Sort(got)
		slices.Sort(wantKeys)
		if !slices.Equal(got, wantKeys) {
			t.Errorf("%s (%s): variables %v, want %v", id, name, got, wantKeys)
		}
	}

	// One build per architecture: every arm64 function runs the same asset.
	keys := map[string][]string{}
	for _, fn := range fns {
		arch := props(fn)["Architectures"].([]any)[0].(string)
		key := props(fn)["Code"].(map[string]any)["S3Key"].(string)
		keys[arch] = append(keys[arch], key)
	}
	for arch, ks := range keys {
		if slices.Compact(slices.Sorted(slices.Values(ks)))[0] != ks[0] || len(slices.Compact(slices.Sorted(slices.Values(ks)))) != 1 {
			t.Errorf("%s functions use %d assets, want 1: %v", arch, len(slices.Compact(ks)), ks)
		}
	}
	if len(keys) != 2 {
		t.Errorf("architectures %v, want arm64 and x86_64", keys)
	}
	if p.Function("load") == nil || p.Function("welcome") == nil || p.Role("bounce") == nil || p.Function("nope") != nil {
		t.Error("Function/Role accessors do not resolve stage and group names")
	}
}

func TestGroups(t *testing.T) {
	p, tmpl := synth(t, shop(), &cdk.Props{FixedNames: true})
	mailID, _ := logical(t, tmpl, "AWS::Lambda::Function", "PipelineMailFunction")
	has(t, tmpl, "AWS::Lambda::Function", map[string]any{
		"FunctionName": "shop-dev-mail",
		// The largest memory a stage of the group asks for.
		"MemorySize": 512,
		"Environment": map[string]any{"Variables": map[string]any{
			"NANOPIPE_STAGES":                "bounce,welcome",
			"NANOPIPE_BUCKET_LEGACY_ARCHIVE": "legacy-archive",
			"NANOPIPE_TABLE_CUSTOMERS":       "customers",
			"NANOPIPE_STREAM_CUSTOMERS":      customersStream,
		}},
	})
	// The union of the group's triggers: a mapping for welcome, an S3
	// notification for bounce, both invoking the one function.
	has(t, tmpl, "AWS::Lambda::EventSourceMapping", map[string]any{
		"FunctionName":   getAtt(mailID, "Arn"),
		"EventSourceArn": customersStream,
	})
	has(t, tmpl, "Custom::S3BucketNotifications", map[string]any{
		"BucketName": "legacy-archive",
		"Managed":    false, // imported: existing notifications are kept
		"NotificationConfiguration": map[string]any{"LambdaFunctionConfigurations": []any{map[string]any{
			"Events":            []any{"s3:ObjectCreated:*"},
			"Filter":            map[string]any{"Key": map[string]any{"FilterRules": []any{map[string]any{"Name": "prefix", "Value": "bounces/"}}}},
			"LambdaFunctionArn": getAtt(mailID, "Arn"),
		}}},
	})
	if p.FailureQueue("welcome") == nil || p.FailureQueue("mail") == nil || p.FailureQueue("bounce") != nil {
		t.Error("the group should have its async queue (mail) and welcome its mapping's queue")
	}
}

func TestObjectTriggers(t *testing.T) {
	_, tmpl := synth(t, shop(), nil)
	loadID, _ := logical(t, tmpl, "AWS::Lambda::Function", "PipelineLoadFunction")
	forgetID, _ := logical(t, tmpl, "AWS::Lambda::Function", "PipelineForgetFunction")
	bucketID, _ := logical(t, tmpl, "AWS::S3::Bucket", "PipelineShopInboxBucket")
	loadQueue, _ := logical(t, tmpl, "AWS::SQS::Queue", "PipelineLoadFailures")

	notified := func(cfg map[string]any) {
		t.Helper()
		has(t, tmpl, "Custom::S3BucketNotifications", map[string]any{
			"BucketName": ref(bucketID),
			"NotificationConfiguration": map[string]any{"LambdaFunctionConfigurations": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&cfg),
			})},
		})
	}
	notified(map[string]any{
		"Events": []any{"s3:ObjectCreated:*"},
		"Filter": map[string]any{"Key": map[string]any{"FilterRules": []any{
			map[string]any{"Name": "suffix", "Value": ".csv"},
			map[string]any{"Name": "prefix", "Value": "csv/"},
		}}},
		"LambdaFunctionArn": getAtt(loadID, "Arn"),
	})
	notified(map[string]any{
		"Events":            []any{"s3:ObjectRemoved:*"},
		"Filter":            map[string]any{"Key": map[string]any{"FilterRules": []any{map[string]any{"Name": "prefix", "Value": "csv/"}}}},
		"LambdaFunctionArn": getAtt(forgetID, "Arn"),
	})

	// Every notification resource is created after the permission of each
	// function it notifies: S3 validates the destination when the
	// notification is put.
	perms := resources(t, tmpl, "AWS::Lambda::Permission", nil)
	notifications := resources(t, tmpl, "Custom::S3BucketNotifications", nil)
	if len(notifications) != 2 {
		t.Fatalf("%d notification resources, want 2 (one per bucket)", len(notifications))
	}
	for nid, n := range notifications {
		deps, _ := n["DependsOn"].([]any)
		cfgs := props(n)["NotificationConfiguration"].(map[string]any)["LambdaFunctionConfigurations"].([]any)
		for _, c := range cfgs {
			arn := c.(map[string]any)["LambdaFunctionArn"]
			found := false
			for pid, perm := range perms {
				pp := props(perm)
				if !reflect.DeepEqual(pp["FunctionName"], arn) || !slices.Contains(deps, any(pid)) {
					continue
				}
				found = true
				if pp["Principal"] != "s3.amazonaws.com" || pp["Action"] != "lambda:InvokeFunction" {
					t.Errorf("permission %s: principal %v action %v", pid, pp["Principal"], pp["Action"])
				}
				equalJSON(t, pid+" SourceAccount", pp["SourceAccount"], ref("AWS::AccountId"))
				if pp["SourceArn"] == nil {
					t.Errorf("permission %s has no SourceArn", pid)
				}
			}
			if !found {
				t.Errorf("notification %s for %v does not depend on a permission for that function", nid, arn)
			}
		}
	}

	// Asynchronous invocation: the trigger's retries, event age and
	// on-failure destination.
	has(t, tmpl, "AWS::Lambda::EventInvokeConfig", map[string]any{
		"FunctionName":             ref(loadID),
		"Qualifier":                "$LATEST",
		"MaximumRetryAttempts":     1,
		"MaximumEventAgeInSeconds": 3600,
		"DestinationConfig":        map[string]any{"OnFailure": map[string]any{"Destination": getAtt(loadQueue, "Arn")}},
	})
	has(t, tmpl, "AWS::Lambda::EventInvokeConfig", map[string]any{
		"FunctionName":             ref(forgetID),
		"MaximumRetryAttempts":     2,
		"MaximumEventAgeInSeconds": 21600,
		"DestinationConfig":        map[string]any{"OnFailure": map[string]any{"Destination": auditQueue}},
	})
}

func TestDiscardedFailures(t *testing.T) {
	app := pipeline.New("lossy")
	in := app.Bucket("lossy-in")
	items := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnObject(app, "drop", in.Created(triggers.OnFailure(triggers.Discard())), onObject)
	pipeline.OnChange(app, "skip", items.Changes(triggers.OnFailure(triggers.Discard())), onCustomer)
	_, tmpl := synth(t, app, nil)
	count(t, tmpl, "AWS::SQS::Queue", 0)
	has(t, tmpl, "AWS::Lambda::EventInvokeConfig", map[string]any{"DestinationConfig": assertions.Match_Absent()})
	has(t, tmpl, "AWS::Lambda::EventSourceMapping", map[string]any{"DestinationConfig": assertions.Match_Absent()})
	// What is dropped raises an alarm: AsyncEventsDropped for drop,
	// the mapping's DroppedEventCount (its event-count metrics on) for
	// skip; and each function has its throttles alarm, skip its iterator
	// age alarm.
	dropID, _ := logical(t, tmpl, "AWS::Lambda::Function", "PipelineDropFunction")
	mapping, _ := logical(t, tmpl, "AWS::Lambda::EventSourceMapping", "PipelineSkipTrigger")
	has(t, tmpl, "AWS::Lambda::EventSourceMapping", map[string]any{"MetricsConfig": map[string]any{"Metrics": []any{"EventCount"}}})
	has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{
		"Namespace": "AWS/Lambda", "MetricName": "AsyncEventsDropped", "Statistic": "Sum", "Threshold": 1,
		"Dimensions": []any{map[string]any{"Name": "FunctionName", "Value": ref(dropID)}},
	})
	has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{
		"Namespace": "AWS/Lambda", "MetricName": "DroppedEventCount", "Statistic": "Sum", "Threshold": 1,
		"Dimensions": []any{map[string]any{"Name": "EventSourceMappingUUID", "Value": ref(mapping)}},
	})
	count(t, tmpl, "AWS::CloudWatch::Alarm", 5)
}

func TestStreamTriggers(t *testing.T) {
	app := shop()
	_, tmpl := synth(t, app, nil)
	totalID, _ := logical(t, tmpl, "AWS::Lambda::Function", "PipelineTotalFunction")
	ordersID, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineOrdersTable")
	welcomeQueue, _ := logical(t, tmpl, "AWS::SQS::Queue", "PipelineWelcomeFailures")

	patterns, err := app.StageNamed("total").StreamTrigger().Patterns()
	if err != nil || len(patterns) != 1 {
		t.Fatalf("Patterns() = %v, %v", patterns, err)
	}
	has(t, tmpl, "AWS::Lambda::EventSourceMapping", map[string]any{
		"FunctionName":                   getAtt(totalID, "Arn"),
		"EventSourceArn":                 getAtt(ordersID, "StreamArn"),
		"StartingPosition":               "LATEST",
		"BatchSize":                      50,
		"MaximumBatchingWindowInSeconds": 5,
		"MaximumRetryAttempts":           7,
		"BisectBatchOnFunctionError":     true,
		"MaximumRecordAgeInSeconds":      3600,
		"ParallelizationFactor":          2,
		"TumblingWindowInSeconds":        60,
		"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
		"FilterCriteria":                 map[string]any{"Filters": []any{map[string]any{"Pattern": patterns[0]}}},
		"DestinationConfig":              map[string]any{"OnFailure": map[string]any{"Destination": alertsTopic}},
	})
	// Defaults: no record age limit is -1 in CloudFormation.
	has(t, tmpl, "AWS::Lambda::EventSourceMapping", map[string]any{
		"EventSourceArn":                 customersStream,
		"StartingPosition":               "TRIM_HORIZON",
		"BatchSize":                      100,
		"MaximumBatchingWindowInSeconds": 0,
		"MaximumRetryAttempts":           3,
		"BisectBatchOnFunctionError":     false,
		"MaximumRecordAgeInSeconds":      -1,
		"ParallelizationFactor":          1,
		"TumblingWindowInSeconds":        assertions.Match_Absent(),
		"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
		"FilterCriteria":                 map[string]any{"Filters": []any{map[string]any{"Pattern": `{"eventName":["INSERT"]}`}}},
		"DestinationConfig":              map[string]any{"OnFailure": map[string]any{"Destination": getAtt(welcomeQueue, "Arn")}},
	})
}

func TestRetryForever(t *testing.T) {
	app := pipeline.New("patient")
	items := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnChange(app, "wait", items.Changes(triggers.Retries(triggers.RetryForever)), onCustomer)
	_, tmpl := synth(t, app, nil)
	has(t, tmpl, "AWS::Lambda::EventSourceMapping", map[string]any{
		"MaximumRetryAttempts": -1,
		"FilterCriteria":       assertions.Match_Absent(),
	})
}

func TestQueuesAndAlarms(t *testing.T) {
	_, tmpl := synth(t, shop(), &cdk.Props{AlarmActions: []string{alertsTopic}})
	// Default destinations: load (async), the mail group (async), welcome
	// (mapping). forget names an existing queue, total a topic.
	queues := resources(t, tmpl, "AWS::SQS::Queue", nil)
	if len(queues) != 3 {
		t.Fatalf("%d queues, want 3", len(queues))
	}
	policies := resources(t, tmpl, "AWS::SQS::QueuePolicy", nil)
	for id, q := range queues {
		qp := props(q)
		if qp["SqsManagedSseEnabled"] != true {
			t.Errorf("queue %s is not encrypted", id)
		}
		if qp["QueueName"] != nil {
			t.Errorf("queue %s has the fixed name %v", id, qp["QueueName"])
		}
		enforced := false
		for _, p := range policies {
			pp := props(p)
			if !reflect.DeepEqual(pp["Queues"], []any{ref(id)}) {
				continue
			}
			for _, s := range pp["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := s.(map[string]any)
				if st["Effect"] == "Deny" && reflect.DeepEqual(st["Condition"], map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}) &&
					reflect.DeepEqual(st["Resource"], getAtt(id, "Arn")) {
					enforced = true
				}
			}
		}
		if !enforced {
			t.Errorf("queue %s: no policy denies requests without TLS", id)
		}
		// Events reaching a failure queue raise the alarm.
		has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{
			"Namespace":          "AWS/SQS",
			"MetricName":         "ApproximateNumberOfMessagesVisible",
			"Dimensions":         []any{map[string]any{"Name": "QueueName", "Value": getAtt(id, "QueueName")}},
			"Statistic":          "Maximum",
			"Threshold":          cdk.DefaultFailedEvents,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold",
		})
	}
	fn := func(name string) map[string]any {
		id, _ := logical(t, tmpl, "AWS::Lambda::Function", "Pipeline"+name+"Function")
		return map[string]any{"Name": "FunctionName", "Value": ref(id)}
	}
	for _, name := range []string{"Load", "Forget", "Total", "Mail"} {
		has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{
			"Namespace": "AWS/Lambda", "MetricName": "Throttles", "Statistic": "Sum", "Threshold": cdk.DefaultThrottles,
			"Dimensions": []any{fn(name)},
		})
	}
	// The functions reading streams: total and the mail group.
	for _, name := range []string{"Total", "Mail"} {
		has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{
			"Namespace": "AWS/Lambda", "MetricName": "IteratorAge", "Statistic": "Maximum",
			"Threshold":  cdk.DefaultIteratorAge.Milliseconds(),
			"Dimensions": []any{fn(name)},
		})
	}
	// forget sends its failures to an existing queue: its dropped events
	// raise the alarm the app's failure queues would.
	has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{
		"Namespace": "AWS/Lambda", "MetricName": "AsyncEventsDropped", "Statistic": "Sum", "Threshold": 1,
		"Dimensions": []any{fn("Forget")},
	})
	// No alarm on Errors: an S3 event whose retry succeeds is no incident.
	alarms := resources(t, tmpl, "AWS::CloudWatch::Alarm", nil)
	if len(alarms) != 3+4+2+1 {
		t.Errorf("%d alarms, want 10", len(alarms))
	}
	for id, a := range alarms {
		ap := props(a)
		if ap["MetricName"] == "Errors" {
			t.Errorf("alarm %s is on Errors", id)
		}
		if !reflect.DeepEqual(ap["AlarmActions"], []any{alertsTopic}) || !reflect.DeepEqual(ap["OKActions"], []any{alertsTopic}) {
			t.Errorf("alarm %s: AlarmActions %v, OKActions %v, want [%s] both", id, ap["AlarmActions"], ap["OKActions"], alertsTopic)
		}
		if ap["AlarmName"] != nil {
			t.Errorf("alarm %s has the fixed name %v", id, ap["AlarmName"])
		}
		if ap["Period"] != 300.0 || ap["TreatMissingData"] != "notBreaching" {
			t.Errorf("alarm %s: Period %v, TreatMissingData %v", id, ap["Period"], ap["TreatMissingData"])
		}
	}
	// Given actions, the construct makes no topic of its own.
	count(t, tmpl, "AWS::SNS::Topic", 0)
}

func TestAlarmTopic(t *testing.T) {
	p, tmpl := synth(t, shop(), &cdk.Props{AlarmEmails: []string{"ops@example.com", "oncall@example.com"}})
	topicID, _ := logical(t, tmpl, "AWS::SNS::Topic", "PipelineAlarmTopic")
	if p.AlarmTopic() == nil {
		t.Error("AlarmTopic() = nil")
	}
	has(t, tmpl, "AWS::SNS::Topic", map[string]any{"TopicName": assertions.Match_Absent()})
	for _, e := range []string{"ops@example.com", "oncall@example.com"} {
		has(t, tmpl, "AWS::SNS::Subscription", map[string]any{"TopicArn": ref(topicID), "Protocol": "email", "Endpoint": e})
	}
	count(t, tmpl, "AWS::SNS::Subscription", 2)
	// CloudWatch of this account may publish, and nothing without TLS.
	has(t, tmpl, "AWS::SNS::TopicPolicy", map[string]any{
		"Topics": []any{ref(topicID)},
		"PolicyDocument": map[string]any{"Statement": []any{
			assertions.Match_ObjectLike(&map[string]any{"Effect": "Allow", "Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish"}),
			assertions.Match_ObjectLike(&map[string]any{"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}}),
		}},
	})
	alarms := resources(t, tmpl, "AWS::CloudWatch::Alarm", nil)
	if len(alarms) == 0 {
		t.Fatal("no alarms")
	}
	for id, a := range alarms {
		ap := props(a)
		if !reflect.DeepEqual(ap["AlarmActions"], []any{ref(topicID)}) || !reflect.DeepEqual(ap["OKActions"], []any{ref(topicID)}) {
			t.Errorf("alarm %s: AlarmActions %v, OKActions %v, want the app's topic", id, ap["AlarmActions"], ap["OKActions"])
		}
	}
}

func TestAlarmThresholds(t *testing.T) {
	_, tmpl := synth(t, shop(), &cdk.Props{Alarms: &cdk.Alarms{FailedEvents: 5, IteratorAge: time.Minute, Throttles: -1, Period: 10 * time.Minute}})
	has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 5, "Period": 600})
	has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "AsyncEventsDropped", "Threshold": 5, "Period": 600})
	has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "IteratorAge", "Threshold": 60000, "Period": 600})
	// Negative turns the kind off.
	if n := len(resources(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "Throttles"})); n != 0 {
		t.Errorf("%d throttles alarms, want none", n)
	}
	count(t, tmpl, "AWS::CloudWatch::Alarm", 3+2+1)
}

// TestOutputs checks every bucket, table, stream, failure queue and
// function, and the alarm topic, is a stack output under its documented
// name.
func TestOutputs(t *testing.T) {
	_, tmpl := synth(t, shop(), nil)
	b, _ := json.Marshal(tmpl.ToJSON())
	var doc struct{ Outputs map[string]map[string]any }
	json.Unmarshal(b, &doc)
	outputs := doc.Outputs
	bucket, _ := logical(t, tmpl, "AWS::S3::Bucket", "PipelineShopInboxBucket")
	orders, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineOrdersTable")
	totals, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineTotalsTable")
	topic, _ := logical(t, tmpl, "AWS::SNS::Topic", "PipelineAlarmTopic")
	want := map[string]any{
		"ShopInboxBucketName":  ref(bucket),
		"OrdersTableName":      ref(orders),
		"OrdersTableStreamArn": getAtt(orders, "StreamArn"),
		"TotalsTableName":      ref(totals),
		"AlarmTopicArn":        ref(topic),
	}
	for _, name := range []string{"Load", "Forget", "Total", "Mail"} {
		id, _ := logical(t, tmpl, "AWS::Lambda::Function", "Pipeline"+name+"Function")
		want[name+"FunctionName"] = ref(id)
	}
	for _, name := range []string{"Load", "Mail", "Welcome"} {
		id, _ := logical(t, tmpl, "AWS::SQS::Queue", "Pipeline"+name+"Failures")
		want[name+"FailureQueueUrl"] = ref(id)
		want[name+"FailureQueueArn"] = getAtt(id, "Arn")
	}
	got := map[string]any{}
	for k, o := range outputs {
		got[k] = o["Value"]
		if d, _ := o["Description"].(string); d == "" {
			t.Errorf("output %s has no description", k)
		}
	}
	equalJSON(t, "outputs", got, want)

	// A prefix keeps two pipelines in one stack apart.
	_, tmpl = synth(t, shop(), &cdk.Props{OutputPrefix: "Shop"})
	b, _ = json.Marshal(tmpl.ToJSON())
	doc.Outputs = nil
	json.Unmarshal(b, &doc)
	if _, ok := doc.Outputs["ShopOrdersTableName"]; !ok || len(doc.Outputs) != len(want) {
		t.Errorf("outputs with prefix Shop: %v", slices.Sorted(maps.Keys(doc.Outputs)))
	}

	// Two pipelines in one stack: the second needs its own prefix.
	st := stack()
	cdk.New(st, "Shop", shop(), &cdk.Props{Prebuilt: prebuilt})
	if _, err := cdk.NewSafely(st, "Again", shop(), &cdk.Props{Prebuilt: prebuilt}); err == nil || !strings.Contains(err.Error(), "OutputPrefix") {
		t.Errorf("a second pipeline with the same prefix: %v", err)
	}
	if st.Node().TryFindChild(jsii.String("Again")) != nil {
		t.Error("the refused pipeline left a construct behind")
	}
	cdk.New(st, "Other", shop(), &cdk.Props{Prebuilt: prebuilt, OutputPrefix: "Other"})
	b, _ = json.Marshal(assertions.Template_FromStack(st, nil).ToJSON())
	doc.Outputs = nil
	json.Unmarshal(b, &doc)
	if len(doc.Outputs) != 2*len(want) {
		t.Errorf("two pipelines: %d outputs, want %d", len(doc.Outputs), 2*len(want))
	}
}

// TestNames checks CloudFormation names what the construct creates
// unless Props.FixedNames, and the functions learn the generated names
// through their environment.
func TestNames(t *testing.T) {
	_, tmpl := synth(t, shop(), nil)
	for typ, prop := range map[string]string{
		"AWS::DynamoDB::Table": "TableName", "AWS::SQS::Queue": "QueueName", "AWS::Lambda::Function": "FunctionName",
		"AWS::Logs::LogGroup": "LogGroupName", "AWS::CloudWatch::Alarm": "AlarmName", "AWS::SNS::Topic": "TopicName",
	} {
		for id, r := range resources(t, tmpl, typ, nil) {
			if v, ok := props(r)[prop]; ok && id != "AWS679f53fac002430cb0da5b7982bd2287" && !strings.HasPrefix(id, "BucketNotificationsHandler") {
				t.Errorf("%s %s: %s %v, want none", typ, id, prop, v)
			}
		}
	}
	loadLogs, _ := logical(t, tmpl, "AWS::Logs::LogGroup", "PipelineLoadLogs")
	orders, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineOrdersTable")
	has(t, tmpl, "AWS::Lambda::Function", map[string]any{
		"LoggingConfig": map[string]any{"LogGroup": ref(loadLogs), "LogFormat": "JSON", "ApplicationLogLevel": "INFO"},
		"Environment":   map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{"NANOPIPE_TABLE_ORDERS": ref(orders)})},
	})

	_, tmpl = synth(t, shop(), &cdk.Props{FixedNames: true, Environment: "prod"})
	has(t, tmpl, "AWS::DynamoDB::Table", map[string]any{"TableName": "shop-prod-orders"})
	has(t, tmpl, "AWS::SQS::Queue", map[string]any{"QueueName": "shop-prod-welcome-failures"})
	has(t, tmpl, "AWS::Lambda::Function", map[string]any{"FunctionName": "shop-prod-mail"})
	has(t, tmpl, "AWS::Logs::LogGroup", map[string]any{"LogGroupName": "/aws/lambda/shop-prod-mail"})
	has(t, tmpl, "AWS::CloudWatch::Alarm", map[string]any{"AlarmName": "shop-prod-welcome-failures"})
	has(t, tmpl, "AWS::SNS::Topic", map[string]any{"TopicName": "shop-prod-alarms"})
}

func TestLogs(t *testing.T) {
	_, tmpl := synth(t, shop(), nil)
	count(t, tmpl, "AWS::Logs::LogGroup", 4)
	has(t, tmpl, "AWS::Logs::LogGroup", map[string]any{"RetentionInDays": cdk.DefaultLogRetentionDays})

	// The declaration sets the level: the app's, a stage's over it, the
	// most verbose of a group's stages; Props.LogLevel over all.
	app := shop()
	app.StageNamed("total").LogLevel(pipeline.LogError)
	app.StageNamed("welcome").LogLevel(pipeline.LogDebug)
	_, tmpl = synth(t, app, &cdk.Props{LogRetentionDays: 365})
	has(t, tmpl, "AWS::Logs::LogGroup", map[string]any{"RetentionInDays": 365})
	level := func(fn, want string) {
		t.Helper()
		_, f := logical(t, tmpl, "AWS::Lambda::Function", "Pipeline"+fn+"Function")
		fp := props(f)
		if got := fp["LoggingConfig"].(map[string]any)["ApplicationLogLevel"]; got != strings.ToUpper(want) {
			t.Errorf("%s: ApplicationLogLevel %v, want %s", fn, got, strings.ToUpper(want))
		}
		if got := fp["Environment"].(map[string]any)["Variables"].(map[string]any)["NANOPIPE_LOG_LEVEL"]; got != want && (want != "info" || got != nil) {
			t.Errorf("%s: NANOPIPE_LOG_LEVEL %v, want %s", fn, got, want)
		}
	}
	level("Total", "error")
	level("Mail", "debug")
	level("Load", "info")

	_, tmpl = synth(t, app, &cdk.Props{LogLevel: "warn"})
	level("Total", "warn")
	level("Mail", "warn")
}

func TestTracing(t *testing.T) {
	// Off by default: no tracing config, no X-Ray grant.
	_, tmpl := synth(t, shop(), nil)
	if n := len(resources(t, tmpl, "AWS::Lambda::Function", map[string]any{"TracingConfig": assertions.Match_AnyValue()})); n != 0 {
		t.Errorf("%d traced functions, want 0", n)
	}
	if _, ok := statements(t, tmpl, "Load")["WriteTraces"]; ok {
		t.Error("untraced load may write traces")
	}

	// One stage: its function only (here the mail group, through welcome).
	app := shop()
	app.StageNamed("welcome").Tracing()
	_, tmpl = synth(t, app, nil)
	traced := resources(t, tmpl, "AWS::Lambda::Function", map[string]any{"TracingConfig": map[string]any{"Mode": "Active"}})
	mail, _ := logical(t, tmpl, "AWS::Lambda::Function", "PipelineMailFunction")
	if len(traced) != 1 || traced[mail] == nil {
		t.Errorf("traced %v, want the mail group's function only", slices.Sorted(maps.Keys(traced)))
	}
	has(t, tmpl, "AWS::Lambda::Function", map[string]any{
		"TracingConfig": map[string]any{"Mode": "Active"},
		"Environment":   map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{"NANOPIPE_TRACING": "active"})},
	})
	if n := len(resources(t, tmpl, "AWS::Lambda::Function", map[string]any{"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{"NANOPIPE_TRACING": assertions.Match_AnyValue()})}})); n != 1 {
		t.Errorf("%d functions with NANOPIPE_TRACING, want 1", n)
	}
	equalJSON(t, "mail's X-Ray statement", statements(t, tmpl, "Mail")["WriteTraces"], map[string]any{
		"Sid": "WriteTraces", "Effect": "Allow", "Action": []any{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "Resource": "*",
	})

	// The app: every function.
	tracedApp := pipeline.New("traced", pipeline.Tracing(), pipeline.LogLevel(pipeline.LogWarn))
	in := tracedApp.Bucket("traced-in")
	pipeline.OnObject(tracedApp, "a", in.Created(), onObject)
	pipeline.OnObject(tracedApp, "b", in.Removed(), onObject)
	_, tmpl = synth(t, tracedApp, nil)
	if n := len(resources(t, tmpl, "AWS::Lambda::Function", map[string]any{"TracingConfig": map[string]any{"Mode": "Active"}, "LoggingConfig": map[string]any{"ApplicationLogLevel": "WARN"}})); n != 2 {
		t.Errorf("%d traced functions logging at WARN, want 2", n)
	}
}

// TestLeastPrivilege checks each role holds exactly the statements its
// stages' declarations imply, and nothing on Resource "*".
func TestLeastPrivilege(t *testing.T) {
	_, tmpl := synth(t, shop(), nil)
	bucketID, _ := logical(t, tmpl, "AWS::S3::Bucket", "PipelineShopInboxBucket")
	ordersID, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineOrdersTable")
	totalsID, _ := logical(t, tmpl, "AWS::DynamoDB::Table", "PipelineTotalsTable")
	bucketArn := getAtt(bucketID, "Arn")
	join := func(parts ...any) map[string]any { return map[string]any{"Fn::Join": []any{"", parts}} }

	load := statements(t, tmpl, "Load")
	if got := sids(load); !slices.Equal(got, []string{"ListObjects0", "ReadVersionedObjects", "SendFailuresToQueue", "WriteObjects", "WriteOwnLogs", "WriteTables"}) {
		t.Errorf("load statements %v", got)
	}
	equalJSON(t, "load reads", load["ReadVersionedObjects"]["Resource"], join(bucketArn, "/csv/*"))
	equalJSON(t, "load reads", load["ReadVersionedObjects"]["Action"], []any{"s3:GetObject", "s3:GetObjectVersion"})
	equalJSON(t, "load lists", load["ListObjects0"], map[string]any{
		"Sid": "ListObjects0", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucketArn,
		"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": "csv/*"}},
	})
	equalJSON(t, "load writes", load["WriteObjects"]["Resource"], join(bucketArn, "/done/*"))
	equalJSON(t, "load writes", load["WriteObjects"]["Action"], []any{"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"})
	equalJSON(t, "load writes table", load["WriteTables"]["Resource"], getAtt(ordersID, "Arn"))
	equalJSON(t, "load writes table", load["WriteTables"]["Action"], []any{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"})

	total := statements(t, tmpl, "Total")
	if got := sids(total); !slices.Equal(got, []string{"ListTriggerStreams", "ReadTables", "ReadTriggerStreams", "SendFailuresToTopic", "WriteOwnLogs", "WriteTables"}) {
		t.Errorf("total statements %v", got)
	}
	equalJSON(t, "total stream", total["ReadTriggerStreams"]["Resource"], getAtt(ordersID, "StreamArn"))
	equalJSON(t, "total stream", total["ReadTriggerStreams"]["Action"], []any{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"})
	equalJSON(t, "total list streams", total["ListTriggerStreams"]["Resource"], join(getAtt(ordersID, "Arn"), "/stream/*"))
	equalJSON(t, "total reads", total["ReadTables"]["Resource"], getAtt(ordersID, "Arn"))
	equalJSON(t, "total writes", total["WriteTables"]["Resource"], getAtt(totalsID, "Arn"))
	equalJSON(t, "total failures", total["SendFailuresToTopic"], map[string]any{"Sid": "SendFailuresToTopic", "Effect": "Allow", "Action": "sns:Publish", "Resource": alertsTopic})

	// The group's role is the union of its stages' grants; the existing
	// table is named by its ARN.
	mail := statements(t, tmpl, "Mail")
	if got := sids(mail); !slices.Equal(got, []string{"ListObjects0", "ListTriggerStreams", "ReadObjects", "ReadTables", "ReadTriggerStreams", "SendFailuresToQueue", "WriteOwnLogs"}) {
		t.Errorf("mail statements %v", got)
	}
	equalJSON(t, "mail lists", mail["ListObjects0"]["Condition"], map[string]any{"StringLike": map[string]any{"s3:prefix": []any{"templates/*", "bounces/*"}}})

	// Nothing anywhere in the pipeline's roles is granted on "*", and no
	// action is a wildcard; no role uses a managed policy.
	for id, role := range resources(t, tmpl, "AWS::IAM::Role", nil) {
		if !strings.HasPrefix(id, "Pipeline") {
			continue
		}
		if _, ok := props(role)["ManagedPolicyArns"]; ok {
			t.Errorf("%s uses managed policies", id)
		}
		b, _ := json.Marshal(props(role)["Policies"])
		for _, bad := range []string{`"Resource":"*"`, `"*"]`, `["*"`, `:*"`, `"Action":"*"`} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s policy contains %s: %s", id, bad, b)
			}
		}
	}
}

// TestGrantsFollowDeclaration is the acceptance check of least privilege:
// a grant the stage does not declare is missing from its role, and one it
// adds appears, scoped to the declared prefix.
func TestGrantsFollowDeclaration(t *testing.T) {
	declare := func(extra func(s *pipeline.Stage, in *pipeline.Bucket, items *pipeline.Table)) *pipeline.App {
		app := pipeline.New("grants")
		in := app.Bucket("grants-in")
		items := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
		s := pipeline.OnObject(app, "work", in.Created(triggers.Prefix("todo/")), onObject).Reads(in.Keys("todo/", ""))
		extra(s, in, items)
		return app
	}
	_, base := synth(t, declare(func(*pipeline.Stage, *pipeline.Bucket, *pipeline.Table) {}), nil)
	_, more := synth(t, declare(func(s *pipeline.Stage, in *pipeline.Bucket, items *pipeline.Table) {
		s.Writes(in.Keys("done/", ""), items).Deletes(in.Keys("todo/", ".lock"))
	}), nil)

	without := statements(t, base, "Work")
	for _, sid := range []string{"WriteObjects", "WriteTables", "DeleteObjects"} {
		if _, ok := without[sid]; ok {
			t.Errorf("undeclared grant present: %s = %v", sid, without[sid])
		}
	}
	b, _ := json.Marshal(without)
	if strings.Contains(string(b), "done/") || strings.Contains(string(b), "dynamodb:") {
		t.Errorf("role grants what the stage does not declare: %s", b)
	}

	with := statements(t, more, "Work")
	bucketID, _ := logical(t, more, "AWS::S3::Bucket", "PipelineGrantsInBucket")
	tableID, _ := logical(t, more, "AWS::DynamoDB::Table", "PipelineItemsTable")
	equalJSON(t, "added object grant", with["WriteObjects"]["Resource"], map[string]any{"Fn::Join": []any{"", []any{getAtt(bucketID, "Arn"), "/done/*"}}})
	equalJSON(t, "added table grant", with["WriteTables"]["Resource"], getAtt(tableID, "Arn"))
	equalJSON(t, "added delete grant", with["DeleteObjects"], map[string]any{
		"Sid": "DeleteObjects", "Effect": "Allow", "Action": "s3:DeleteObject",
		"Resource": map[string]any{"Fn::Join": []any{"", []any{getAtt(bucketID, "Arn"), "/todo/*.lock"}}},
	})
	// The read stays what it was.
	equalJSON(t, "read", with["ReadObjects"], without["ReadObjects"])
}

func TestNewSafelyErrors(t *testing.T) {
	valid := func() *pipeline.App {
		app := pipeline.New("ok")
		in := app.Bucket("ok-in")
		pipeline.OnObject(app, "a", in.Created(), onObject)
		return app
	}
	conflicting := func(f func(app *pipeline.App, in *pipeline.Bucket, items *pipeline.Table)) func() *pipeline.App {
		return func() *pipeline.App {
			app := pipeline.New("g")
			in := app.Bucket("g-in")
			items := app.Table("items", pipeline.PartitionKey("id", pipeline.String))
			f(app, in, items)
			return app
		}
	}
	tests := []struct {
		name  string
		app   func() *pipeline.App
		props cdk.Props
		want  string
	}{
		{name: "nil app", app: func() *pipeline.App { return nil }, props: cdk.Props{Prebuilt: prebuilt}, want: "app is nil"},
		{name: "misdeclared", app: func() *pipeline.App {
			app := pipeline.New("bad", pipeline.CollectErrors())
			in := app.Bucket("bad-in")
			pipeline.OnObject(app, "a", in.Created(triggers.Prefix("x/")), onObject)
			pipeline.OnObject(app, "b", in.Created(triggers.Prefix("x/y/")), onObject)
			return app
		}, props: cdk.Props{Prebuilt: prebuilt}, want: "overlap"},
		{name: "no stages", app: func() *pipeline.App { return pipeline.New("empty") }, props: cdk.Props{Prebuilt: prebuilt}, want: "no stages"},
		{name: "environment", app: valid, props: cdk.Props{Prebuilt: prebuilt, Environment: "Prod!"}, want: "environment"},
		{name: "no package", app: valid, want: "Props.Package is empty"},
		{name: "prebuilt missing", app: valid, props: cdk.Props{Prebuilt: map[pipeline.Arch]string{pipeline.Arm64: t.TempDir()}}, want: "bootstrap"},
		{name: "retention", app: valid, props: cdk.Props{Prebuilt: prebuilt, LogRetentionDays: 10}, want: "LogRetentionDays"},
		{name: "log level", app: valid, props: cdk.Props{Prebuilt: prebuilt, LogLevel: "loud"}, want: "LogLevel"},
		{name: "alarm action", app: valid, props: cdk.Props{Prebuilt: prebuilt, AlarmActions: []string{"alerts"}}, want: "not an ARN"},
		{name: "alarm email", app: valid, props: cdk.Props{Prebuilt: prebuilt, AlarmEmails: []string{"ops"}}, want: "not an email address"},
		{name: "email without topic", app: valid, props: cdk.Props{Prebuilt: prebuilt, AlarmEmails: []string{"ops@example.com"}, AlarmActions: []string{alertsTopic}}, want: "your own topic"},
		{name: "alarm period", app: valid, props: cdk.Props{Prebuilt: prebuilt, Alarms: &cdk.Alarms{Period: 90 * time.Second}}, want: "whole number of minutes"},
		{name: "output prefix", app: valid, props: cdk.Props{Prebuilt: prebuilt, OutputPrefix: "my-app"}, want: "OutputPrefix"},
		{name: "declared log level", app: func() *pipeline.App {
			app := pipeline.New("lv", pipeline.CollectErrors(), pipeline.LogLevel("loud"))
			pipeline.OnObject(app, "a", app.Bucket("lv-in").Created(), onObject)
			return app
		}, props: cdk.Props{Prebuilt: prebuilt}, want: "LogLevel(\"loud\")"},
		{name: "group architectures", app: conflicting(func(app *pipeline.App, in *pipeline.Bucket, items *pipeline.Table) {
			pipeline.OnObject(app, "a", in.Created(), onObject).Group("g1")
			pipeline.OnChange(app, "b", items.Changes(), onCustomer).Group("g1").Architecture(pipeline.X86_64)
		}), props: cdk.Props{Prebuilt: prebuilt}, want: "one architecture"},
		{name: "group async config", app: conflicting(func(app *pipeline.App, in *pipeline.Bucket, items *pipeline.Table) {
			pipeline.OnObject(app, "a", in.Created(), onObject).Group("g1")
			pipeline.OnObject(app, "b", in.Removed(triggers.Retries(0)), onObject).Group("g1")
		}), props: cdk.Props{Prebuilt: prebuilt}, want: "asynchronous invocation configuration"},
		{name: "group variables", app: conflicting(func(app *pipeline.App, in *pipeline.Bucket, items *pipeline.Table) {
			pipeline.OnObject(app, "a", in.Created(), onObject).Group("g1").Setenv("MODE", "x")
			pipeline.OnChange(app, "b", items.Changes(), onCustomer).Group("g1").Setenv("MODE", "y")
		}), props: cdk.Props{Prebuilt: prebuilt}, want: "variable MODE"},
		{name: "group concurrency", app: conflicting(func(app *pipeline.App, in *pipeline.Bucket, items *pipeline.Table) {
			pipeline.OnObject(app, "a", in.Created(), onObject).Group("g1").ReservedConcurrency(1)
			pipeline.OnChange(app, "b", items.Changes(), onCustomer).Group("g1").ReservedConcurrency(2)
		}), props: cdk.Props{Prebuilt: prebuilt}, want: "reserve different concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stack()
			props := tt.props
			p, err := cdk.NewSafely(st, "Pipeline", tt.app(), &props)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSafely error = %v, want one containing %q", err, tt.want)
			}
			if p != nil {
				t.Error("NewSafely returned a construct with its error")
			}
			// Nothing was added to the stack.
			if n := len(*st.Node().Children()); n != 0 {
				t.Errorf("the stack has %d children after a failed NewSafely", n)
			}
		})
	}
}

func TestNewPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("New did not panic on a nil app")
		}
	}()
	cdk.New(stack(), "Pipeline", nil, &cdk.Props{Prebuilt: prebuilt})
}

func TestPrebuiltMustBeExecutable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	app := pipeline.New("exec")
	pipeline.OnObject(app, "a", app.Bucket("exec-in").Created(), onObject)
	_, err := cdk.NewSafely(stack(), "Pipeline", app, &cdk.Props{Prebuilt: map[pipeline.Arch]string{pipeline.Arm64: dir}})
	if err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Fatalf("err = %v", err)
	}
}

// TestEscapeHatches: the accessors return the resources of the template
// as constructs of their L1 class, so a property override, a dependency
// and the function's name reach the template.
func TestEscapeHatches(t *testing.T) {
	st := stack()
	p := cdk.New(st, "Pipeline", app.App, &cdk.Props{Prebuilt: prebuilt})
	fn := p.Function("thumbnail")
	fn.AddPropertyOverride(jsii.String("EphemeralStorage.Size"), 2048)
	p.Role("thumbnail").AddPropertyOverride(jsii.String("MaxSessionDuration"), 7200)
	q := p.FailureQueue("thumbnail")
	q.AddPropertyOverride(jsii.String("DelaySeconds"), 5)
	fn.AddDependency(q)
	name := p.FunctionName("thumbnail")
	awscdk.NewCfnOutput(st, jsii.String("ThumbnailName"), &awscdk.CfnOutputProps{Value: jsii.String(name)})
	tmpl := assertions.Template_FromStack(st, nil)

	fnID, fnRes := logical(t, tmpl, "AWS::Lambda::Function", "PipelineThumbnailFunction")
	if got := props(fnRes)["EphemeralStorage"]; !reflect.DeepEqual(got, map[string]any{"Size": float64(2048)}) {
		t.Errorf("function's EphemeralStorage %v, want the override", got)
	}
	qID, qRes := logical(t, tmpl, "AWS::SQS::Queue", "PipelineThumbnailFailures")
	if got := props(qRes)["DelaySeconds"]; got != float64(5) {
		t.Errorf("queue's DelaySeconds %v, want the override", got)
	}
	if deps, _ := fnRes["DependsOn"].([]any); !slices.Contains(deps, any(qID)) {
		t.Errorf("function's DependsOn %v, want %s", fnRes["DependsOn"], qID)
	}
	_, role := logical(t, tmpl, "AWS::IAM::Role", "PipelineThumbnailRole")
	if got := props(role)["MaxSessionDuration"]; got != float64(7200) {
		t.Errorf("role's MaxSessionDuration %v, want the override", got)
	}
	check(t, "output of FunctionName", func() {
		tmpl.HasOutput(jsii.String("ThumbnailName"), map[string]any{"Value": ref(fnID)})
	})
}
