package pipeline

import "github.com/nanopipe/nanopipe/internal/plumbing/hook"

// access is one declared read, write or delete (see hook.Access).
type access = hook.Access[*Bucket, *Table]

// init lends package internal/plumbing what nanopipe's cdk, local and
// pipelinetest packages need of an app and users do not.
func init() {
	hook.Registered = &hook.Pipeline[App, Stage, Bucket, Table, Env, Function, access]{
		Groups:         (*App).groups,
		FunctionNames:  (*App).functionNames,
		FunctionConfig: (*App).functionConfig,
		Resources:      resources,
		StreamTables:   streamTables,
		EnvFromEnviron: envFromEnviron,
		Handler:        (*App).handler,
		Reads:          func(s *Stage) []access { return append([]access(nil), s.reads...) },
		Writes:         func(s *Stage) []access { return append([]access(nil), s.writes...) },
		Deletes:        func(s *Stage) []access { return append([]access(nil), s.deletes...) },
		Invoke:         (*Stage).invoke,
	}
}
