// Command cdk is the photos pipeline's CDK app. cdk.json runs it, so from
// this directory:
//
//	npx cdk synth                 # dev: stack photos-dev
//	npx cdk synth -c stage=prod   # prod: stack photos-prod, data retained
//	npx cdk synth -c nag=true     # also run cdk-nag's AwsSolutions rules
//	npx cdk deploy -c stage=prod -c alarmEmail=ops@example.com  # needs AWS credentials
//
// It builds the photos Lambda binary (../main.go, with -tags lambda.norpc) once for
// linux/arm64 and adds the pipeline to a stack named after the environment.
package main

import (
	"github.com/nanopipe/nanopipe/cdk"
	"github.com/nanopipe/nanopipe/examples/photos/app"
)

func main() { cdk.Main(app.App, "github.com/nanopipe/nanopipe/examples/photos") }
