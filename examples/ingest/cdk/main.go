// Command cdk is the ingest pipeline's CDK app. cdk.json runs it, so from
// this directory:
//
//	npx cdk synth                 # dev: stack ingest-dev
//	npx cdk synth -c stage=prod   # prod: stack ingest-prod, data retained
//	npx cdk synth -c nag=true     # also run cdk-nag's AwsSolutions rules
//	npx cdk deploy -c stage=prod  # needs AWS credentials
//
// It builds the ingest Lambda binary (../main.go) once for linux/arm64 and
// adds the pipeline to a stack named after the environment.
package main

import (
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/cdk"
	"github.com/nanopipe/nanopipe/cdk/nagcheck"
	"github.com/nanopipe/nanopipe/examples/ingest/app"
)

func main() {
	defer jsii.Close()
	cdkApp := awscdk.NewApp(nil)
	env := contextString(cdkApp, "stage", "dev")

	stack := awscdk.NewStack(cdkApp, jsii.String("ingest-"+env), &awscdk.StackProps{
		Description: jsii.String("nanopipe example: the ingest pipeline (" + env + ")"),
		Env:         environment(),
	})
	cdk.New(stack, "Pipeline", app.App, &cdk.Props{
		Environment: env,
		Package:     "github.com/nanopipe/nanopipe/examples/ingest",
	})
	if contextString(cdkApp, "nag", "") == "true" {
		nagcheck.Apply(stack)
	}
	cdkApp.Synth(nil)
}

func contextString(app awscdk.App, key, def string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok && v != "" {
		return v
	}
	return def
}

// environment pins the stack to the account and region of the CLI's
// credentials when it has some; without, the template stays
// environment-agnostic, which is all synth needs.
func environment() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" || region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}
