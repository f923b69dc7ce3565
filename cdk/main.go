package cdk

import (
	"os"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/nanopipe/nanopipe/cdk/nagcheck"
	"github.com/nanopipe/nanopipe/pipeline"
)

// Main is a whole CDK app for one pipeline, for a cdk.json whose "app" is
// `go run .`:
//
//	func main() { cdk.Main(photos.App, "github.com/you/photos") }
//
// pkg is the app's Lambda main. The stack is named APP-STAGE, STAGE being
// the context value "stage" (`cdk synth -c stage=prod`, default "dev");
// it is pinned to the account and region of the CLI's credentials when it
// has some, and environment-agnostic otherwise (all synth needs). With
// `-c alarmEmail=ops@example.com` (several separated by commas) the
// addresses are subscribed to the app's alarm topic. With `-c nag=true`
// cdk-nag's AwsSolutions rules run and fail the synth on an unsuppressed
// error. The stack outputs are listed in docs/deploying.md.
func Main(app *pipeline.App, pkg string) {
	defer jsii.Close()
	cdkApp := awscdk.NewApp(nil)
	env := contextString(cdkApp, "stage", "dev")
	stack := awscdk.NewStack(cdkApp, jsii.String(app.Name()+"-"+env), &awscdk.StackProps{
		Description: jsii.String("nanopipe pipeline " + app.Name() + " (" + env + ")"),
		Env:         cliEnvironment(),
	})
	var emails []string
	for e := range strings.SplitSeq(contextString(cdkApp, "alarmEmail", ""), ",") {
		if e = strings.TrimSpace(e); e != "" {
			emails = append(emails, e)
		}
	}
	New(stack, "Pipeline", app, &Props{Environment: env, Package: pkg, AlarmEmails: emails})
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

// cliEnvironment is the account and region the CLI resolved from its
// credentials, or nil without credentials.
func cliEnvironment() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" || region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}
