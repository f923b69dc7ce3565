package cdk_test

import (
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	photos "github.com/nanopipe/nanopipe/examples/photos/app"
)

// TestCLISynth is the one end-to-end synth: the real CDK CLI (installed
// by scripts/cdk-setup.sh) runs the photos example's cdk.json app with
// the built-in CloudFormation validator on, for prod, with cdk-nag's
// AwsSolutions rules (whose errors would fail the synth). It checks the
// command a reader of the README runs, offline, and the asset it stages.
func TestCLISynth(t *testing.T) {
	if testing.Short() {
		t.Skip("the CLI synth builds two binaries and validates the template; skipped with -short")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(root, ".tools", "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cli); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the CDK CLI is not installed (%v); scripts/setup.sh runs scripts/cdk-setup.sh", err)
		}
		t.Skipf("the CDK CLI is not installed; run scripts/cdk-setup.sh (%v)", err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "synth", "--validation", "--quiet", "-c", "stage=prod", "-c", "nag=true", "-c", "alarmEmail=ops@example.com, oncall@example.com", "--output", out)
	cmd.Dir = filepath.Join(root, "examples", "photos", "cdk")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CDK_VALIDATION=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"CDK_DISABLE_CLI_TELEMETRY=true",
		"CDK_DISABLE_VERSION_CHECK=1",
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20",
		"CDK_HOME="+t.TempDir())
	start := time.Now()
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cdk synth: %v\n%s", err, b)
	}
	t.Logf("cdk synth (validation, cdk-nag) took %v", time.Since(start).Round(time.Millisecond))

	var tmpl struct {
		Resources map[string]struct {
			Type           string
			Properties     map[string]any
			DeletionPolicy string
		}
		Outputs map[string]any
	}
	raw, err := os.ReadFile(filepath.Join(out, "photos-prod.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	var key string
	emails := map[any]bool{}
	for id, r := range tmpl.Resources {
		counts[r.Type]++
		if r.Type == "AWS::SNS::Subscription" {
			emails[r.Properties["Endpoint"]] = true
		}
		if r.Type == "AWS::SQS::Queue" && r.DeletionPolicy != "Retain" {
			t.Errorf("prod failure queue %s: DeletionPolicy %q, want Retain", id, r.DeletionPolicy)
		}
		if r.Type == "AWS::Lambda::Function" && r.Properties["Runtime"] == "provided.al2023" {
			counts["functions"]++
			key = r.Properties["Code"].(map[string]any)["S3Key"].(string)
		}
	}
	// Counts follow the photos declaration: a function per stage, a
	// mapping per stream stage, an async config per S3 stage, a failure
	// queue per stage.
	var s3Stages, streamStages int
	for _, st := range photos.App.Stages() {
		if st.ObjectTrigger() != nil {
			s3Stages++
		} else {
			streamStages++
		}
	}
	for typ, n := range map[string]int{
		"functions": len(photos.App.Stages()), "AWS::Lambda::EventSourceMapping": streamStages, "AWS::Lambda::EventInvokeConfig": s3Stages,
		"AWS::SQS::Queue": len(photos.App.Stages()), "AWS::DynamoDB::Table": len(photos.App.Tables()), "AWS::S3::Bucket": len(photos.App.Buckets()), "Custom::S3AutoDeleteObjects": 0,
	} {
		if counts[typ] != n {
			t.Errorf("%d %s, want %d", counts[typ], typ, n)
		}
	}

	// -c alarmEmail subscribes each address to the alarm topic.
	if len(emails) != 2 || !emails["ops@example.com"] || !emails["oncall@example.com"] {
		t.Errorf("email subscriptions %v", emails)
	}
	for _, o := range []string{"PhotosUploadsBucketName", "AlarmTopicArn", "ThumbnailFunctionName", "ThumbnailFailureQueueUrl"} {
		if _, ok := tmpl.Outputs[o]; !ok {
			t.Errorf("no stack output %s", o)
		}
	}
	// cfn-lint finds no error in what the CLI wrote.
	for _, e := range lint(t, filepath.Join(out, "photos-prod.template.json")) {
		t.Error(e)
	}

	// The validator ran and found nothing.
	var report struct {
		PluginReports []struct {
			PluginName string
			Violations []struct{ RuleName, Description string }
		}
	}
	raw, err = os.ReadFile(filepath.Join(out, "validation-report.json"))
	if err != nil {
		t.Fatalf("no validation report, so the validator did not run: %v", err)
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatal(err)
	}
	for _, p := range report.PluginReports {
		for _, v := range p.Violations {
			t.Errorf("%s: %s: %s", p.PluginName, v.RuleName, v.Description)
		}
	}

	// The staged asset is the photos binary for Lambda: linux/arm64,
	// executable.
	asset := filepath.Join(out, "asset."+strings.TrimSuffix(key, ".zip"), "bootstrap")
	fi, err := os.Stat(asset)
	if err != nil {
		t.Fatalf("staged asset: %v", err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("staged bootstrap mode %v is not executable", fi.Mode())
	}
	f, err := elf.Open(asset)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("staged bootstrap is for %v, want arm64", f.Machine)
	}
}
