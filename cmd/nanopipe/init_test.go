package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/internal/testutil"
)

// tool finds a command the test needs: a skip outside CI, a failure in CI
// (scripts/test.sh sets CI).
func tool(t *testing.T, path, install string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (%v); %s", path, err, install)
		}
		t.Skipf("%s is not installed; %s", path, install)
	}
	return p
}

func TestInitErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{}, "Usage: nanopipe init"},
		{[]string{"init"}, "name the app"},
		{[]string{"init", "Orders"}, "lowercase"},
		{[]string{"init", "-dir", t.TempDir(), "orders"}, "cannot tell which nanopipe version"},
		{[]string{"init", "-replace", t.TempDir(), "orders"}, "no go.mod"},
	} {
		var out bytes.Buffer
		if code := run(tt.args, &out, &out); code == 0 || !strings.Contains(out.String(), tt.want) {
			t.Errorf("init %q: exit %d, output %q, want it to say %q", tt.args, code, out.String(), tt.want)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep"), nil, 0o644)
	var out bytes.Buffer
	if code := run([]string{"init", "-dir", dir, "-version", "v0.1.0", "-tidy=false", "orders"}, &out, &out); code == 0 || !strings.Contains(out.String(), "not empty") {
		t.Errorf("init into a non-empty directory: exit %d, %q", code, out.String())
	}
}

// TestInit generates a project against this checkout, as a user would get
// it from go run ...@VERSION init, and checks it works: its tests pass,
// go run . dev serves it and runs its stage on an upload made with the
// AWS CLI, and the CDK CLI synthesizes its stack.
func TestInit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a generated project; skipped with -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	awsBin := os.Getenv("NANOPIPE_AWS_CLI")
	if awsBin == "" {
		awsBin = tool(t, "aws", "run scripts/local-setup.sh (apt-get install awscli)")
	}
	cdkBin := filepath.Join(root, ".tools", "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cdkBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the CDK CLI is not installed (%v); scripts/setup.sh runs scripts/cdk-setup.sh", err)
		}
		t.Skipf("the CDK CLI is not installed; run scripts/cdk-setup.sh (%v)", err)
	}

	dir := filepath.Join(t.TempDir(), "orders")
	var out bytes.Buffer
	if code := run([]string{"init", "-dir", dir, "-module", "example.com/orders", "-replace", root, "orders"}, &out, &out); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, out.String())
	}
	for _, f := range []string{"go.mod", "go.sum", "main.go", "app/app.go", "app/app_test.go", "cdk/main.go", "cdk/cdk.json", "cdk/package.json", ".gitignore", "README.md", "testdata/order.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("not generated: %s", f)
		}
	}
	var pkg struct{ DevDependencies map[string]string }
	b, _ := os.ReadFile(filepath.Join(dir, "cdk", "package.json"))
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.DevDependencies["aws-cdk"] != cdkCLIVersion {
		t.Errorf("cdk/package.json pins %v (%v), want aws-cdk %s", pkg.DevDependencies, err, cdkCLIVersion)
	}
	if gi, _ := os.ReadFile(filepath.Join(dir, ".gitignore")); !strings.Contains(string(gi), ".nanopipe/") || !strings.Contains(string(gi), "cdk.out/") || !strings.Contains(string(gi), "node_modules/") {
		t.Errorf(".gitignore:\n%s", gi)
	}

	goCmd := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// go test ./...
	if b, err := goCmd(ctx, "test", "-count=1", "./...").CombinedOutput(); err != nil {
		t.Fatalf("go test ./... in the generated project: %v\n%s", err, b)
	}

	// go run . dev, one upload through the AWS CLI, the stage's item read
	// back through it.
	t.Run("dev", func(t *testing.T) {
		logs := &testutil.SyncBuffer{}
		dev := goCmd(ctx, "run", ".", "dev", "--port", "0", "--dir", t.TempDir())
		dev.Stdout, dev.Stderr = logs, logs
		// go run starts the program as a child: signal the whole group.
		dev.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := dev.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- dev.Wait() }()
		defer func() {
			syscall.Kill(-dev.Process.Pid, syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				syscall.Kill(-dev.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}()
		re := regexp.MustCompile(`endpoint\s+(http://127\.0\.0\.1:\d+)`)
		var endpoint string
		for deadline := time.Now().Add(5 * time.Minute); endpoint == "" && time.Now().Before(deadline); {
			if m := re.FindStringSubmatch(logs.String()); m != nil {
				endpoint = m[1]
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("go run . dev exited: %v\n%s", err, logs)
			case <-time.After(50 * time.Millisecond):
			}
		}
		if endpoint == "" {
			t.Fatalf("go run . dev printed no endpoint:\n%s", logs)
		}
		home := t.TempDir()
		aws := func(args ...string) string {
			t.Helper()
			cmd := exec.CommandContext(ctx, awsBin, append([]string{"--endpoint-url", endpoint}, args...)...)
			cmd.Dir = dir
			cmd.Env = []string{
				"PATH=" + os.Getenv("PATH"), "HOME=" + home,
				"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_DEFAULT_REGION=us-east-1",
				"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
				"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
			}
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, b)
			}
			return string(b)
		}
		aws("s3", "cp", "testdata/order.json", "s3://orders-inbox/incoming/order.json")
		for deadline := time.Now().Add(30 * time.Second); ; {
			item := aws("dynamodb", "get-item", "--table-name", "orders-orders", "--key", `{"id":{"S":"o-1001"}}`, "--output", "json")
			if strings.Contains(item, "incoming/order.json") && strings.Contains(item, "ada@example.com") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the register stage did not write the order; get-item: %s\ndev:\n%s", item, logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	// cdk synth with the CLI under .tools (the generated package.json pins
	// the same version), validation off.
	t.Run("synth", func(t *testing.T) {
		outDir := t.TempDir()
		cmd := exec.CommandContext(ctx, cdkBin, "synth", "--no-validation", "--quiet", "--output", outDir)
		cmd.Dir = filepath.Join(dir, "cdk")
		cmd.Env = append(os.Environ(),
			"GOFLAGS=-mod=mod",
			"CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=1",
			"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20", "CDK_HOME="+t.TempDir())
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cdk synth: %v\n%s", err, b)
		}
		var tmpl struct {
			Resources map[string]struct{ Type string }
			Outputs   map[string]any
		}
		b, err := os.ReadFile(filepath.Join(outDir, "orders-dev.template.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &tmpl); err != nil {
			t.Fatal(err)
		}
		for _, o := range []string{"OrdersInboxBucketName", "OrdersOrdersTableName", "RegisterFunctionName", "RegisterFailureQueueUrl", "AlarmTopicArn"} {
			if _, ok := tmpl.Outputs[o]; !ok {
				t.Errorf("no stack output %s", o)
			}
		}
		functions := 0
		for _, r := range tmpl.Resources {
			if r.Type == "AWS::Lambda::Function" {
				functions++
			}
		}
		if functions == 0 {
			t.Error("the template has no function")
		}
	})
}
