package pipeline

import "github.com/nanopipe/nanopipe/internal/plumbing/hook"

// init lends package internal/plumbing what nanopipe's cdk, local and
// pipelinetest packages need of an app and users do not.
func init() {
	hook.Registered = &hook.Pipeline[App, Stage, Bucket, Table, Env, Function]{
		Groups:         (*App).groups,
		FunctionNames:  (*App).functionNames,
		FunctionConfig: (*App).functionConfig,
		Resources:      resources,
		StreamTables:   streamTables,
		EnvFromEnviron: envFromEnviron,
		Handler:        (*App).handler,
	}
}
