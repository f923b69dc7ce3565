package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/examples/ingest/app"
	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/stages"
)

// awsCLI runs the AWS CLI against the local endpoint, with local
// credentials and no configuration of the user's.
func awsCLI(t *testing.T, endpoint string, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", endpoint, "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_PAGER=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func count(t *testing.T, env *local.Environment, table string) int {
	t.Helper()
	n := 0
	p := dynamodb.NewScanPaginator(env.DynamoDBClient(), &dynamodb.ScanInput{TableName: &table, Select: types.SelectCount})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += int(page.Count)
	}
	return n
}

// TestEndToEnd runs the ingest pipeline on the local environment and
// feeds it through the real AWS CLI: a 100,000-row CSV, the bundled
// sample with invalid rows and a JSON-lines file. Every valid row must
// land in the customers table, every invalid one in the upload's report,
// every new pro customer must be welcomed once, and a removed customer
// archived. The load's time is logged (go test -v -run EndToEnd).
func TestEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatalf("the AWS CLI is not installed (%v); scripts/setup.sh installs it", err)
	}
	ctx := context.Background()
	var loadTook atomic.Int64
	observe := func(d local.Delivery) {
		if d.Stage == "load-csv" && strings.Contains(d.Event, "customers-100k.csv") {
			loadTook.Store(int64(d.Duration))
		}
	}
	env, err := local.Start(ctx, app.App, local.Options{Addr: "127.0.0.1:0", Dir: t.TempDir(), Observer: observe})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	ep := env.Endpoint()

	const rows = 100_000
	var big bytes.Buffer
	big.WriteString("id,name,email,country,plan\n")
	pro := 0
	for i := range rows {
		plan := app.Plans[i%3]
		if i%10 == 0 {
			plan = "pro"
		}
		if plan == "pro" {
			pro++
		}
		fmt.Fprintf(&big, "c%06d,\"Customer %d, Jr.\",c%d@example.com,%s,%s\n", i, i, i, []string{"DE", "FR", "US", "JP"}[i%4], plan)
	}
	file := filepath.Join(t.TempDir(), "customers-100k.csv")
	if err := os.WriteFile(file, big.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonl := filepath.Join(t.TempDir(), "more.jsonl")
	os.WriteFile(jsonl, []byte(`{"id":"j-1","name":"Joan Clarke","email":"joan@example.com","country":"GB","plan":"pro"}
{"id":"j-2","name":"Mary Keller","email":"mary@example.com","country":"US","plan":"team"}
{"id":"j-3","name":"broken"
`), 0o644)

	start := time.Now()
	awsCLI(t, ep, "s3", "cp", file, "s3://ingest-uploads/incoming/customers-100k.csv")
	uploaded := time.Since(start)
	wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if err := env.WaitIdle(wctx, 100*time.Millisecond); err != nil {
		t.Fatalf("the load did not finish: %v", err)
	}
	took := time.Since(start)
	got := count(t, env, "customers")
	load := time.Duration(loadTook.Load())
	t.Logf("100,000-row CSV (%.1f MB): uploaded with the AWS CLI in %v; the load-csv invocation took %v (%.0f rows/s); loaded and streamed (welcome, archive) in %v from the upload's start; customers %d, welcomes %d",
		float64(big.Len())/1e6, uploaded.Round(time.Millisecond), load.Round(time.Millisecond), float64(rows)/load.Seconds(), took.Round(time.Millisecond), got, count(t, env, "welcomes"))
	if got != rows {
		t.Fatalf("customers has %d items after loading %d rows", got, rows)
	}
	if n := count(t, env, "welcomes"); n != pro {
		t.Errorf("welcomes has %d items, want one per new pro customer: %d", n, pro)
	}
	if out := awsCLI(t, ep, "s3", "ls", "s3://ingest-uploads/incoming/"); strings.Contains(string(out), stages.ReportSuffix) {
		t.Errorf("a clean load left a report:\n%s", out)
	}

	awsCLI(t, ep, "s3", "cp", "testdata/customers.csv", "s3://ingest-uploads/incoming/sample.csv")
	awsCLI(t, ep, "s3", "cp", jsonl, "s3://ingest-uploads/incoming/more.jsonl")
	awsCLI(t, ep, "dynamodb", "delete-item", "--table-name", "customers", "--key", `{"id":{"S":"c000007"}}`)
	if err := env.WaitIdle(wctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, want := count(t, env, "customers"), rows-1+4+2; got != want {
		t.Errorf("customers has %d items, want %d", got, want)
	}
	var rep stages.Report
	if err := json.Unmarshal(awsCLI(t, ep, "s3", "cp", "s3://ingest-uploads/incoming/sample.csv"+stages.ReportSuffix, "-"), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Loaded != 4 || rep.Invalid != 2 || len(rep.Errors) != 2 || rep.Errors[0].Line != 5 || !strings.Contains(rep.Errors[1].Error, `plan "enterprise"`) {
		t.Errorf("sample report: %+v", rep)
	}
	if err := json.Unmarshal(awsCLI(t, ep, "s3", "cp", "s3://ingest-uploads/incoming/more.jsonl"+stages.ReportSuffix, "-"), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Loaded != 2 || rep.Invalid != 1 || rep.Errors[0].Line != 3 {
		t.Errorf("JSON-lines report: %+v", rep)
	}
	if out := string(awsCLI(t, ep, "s3", "ls", "--recursive", "s3://ingest-uploads/archive/customers/")); !strings.Contains(out, "/c000007@") {
		t.Errorf("the removed customer was not archived:\n%s", out)
	}
	for _, s := range env.Stats() {
		t.Logf("stage %-10s invocations %4d ok %4d failed %d processed %6d filtered %6d", s.Stage, s.Invocations, s.Succeeded, s.Failed, s.Processed, s.Filtered)
		if s.Failed > 0 || s.DeadLettered > 0 {
			t.Errorf("stage %s: %d failed invocations, %d dead letters", s.Stage, s.Failed, s.DeadLettered)
		}
	}
}
