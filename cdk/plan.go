package cdk

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// A plan is what the construct will create, worked out in plain Go before
// any CloudFormation resource exists: every declaration error and every
// conflict inside a group is found here, so NewSafely can return it
// without leaving half a construct in the user's stack.
type plan struct {
	app       *pipeline.App
	env       string
	retain    bool   // prod-like environments keep data on stack deletion
	prefix    string // "<app>-<env>", the start of every name the construct chooses
	ids       *ids
	functions []*fnPlan
	queues    []*queuePlan
	archs     []pipeline.Arch
}

// fnPlan is one Lambda function: a stage, or a declared group of stages.
type fnPlan struct {
	name     string // the stage's or group's name
	id       string
	physical string
	stages   []*pipeline.Stage
	cfg      pipeline.Function
	env      map[string]string // the stages' own variables, merged
	async    *asyncPlan        // nil when no S3 stage is in the function
	streams  []*streamPlan
}

// asyncPlan is the asynchronous invocation configuration of a function
// serving S3 stages: Lambda keeps one per function, so the S3 stages of a
// group must agree on it.
type asyncPlan struct {
	retries int
	maxAge  time.Duration
	dest    triggers.Destination
	queue   *queuePlan // set for the default destination
}

// streamPlan is one event source mapping.
type streamPlan struct {
	stage    *pipeline.Stage
	table    *pipeline.Table
	trigger  *triggers.StreamTrigger
	patterns []string
	queue    *queuePlan // set for the default destination
}

// queuePlan is a default on-failure queue, owned by a stream stage (its
// mapping's destination) or by a function (its asynchronous invocations).
type queuePlan struct {
	owner    string
	id       string
	physical string
}

func newPlan(app *pipeline.App, env string) (*plan, error) {
	if app == nil {
		return nil, errors.New("cdk: app is nil; pass the *pipeline.App your pipeline package declares")
	}
	if err := checkEnvironment(env); err != nil {
		return nil, err
	}
	if err := app.Validate(); err != nil {
		return nil, fmt.Errorf("cdk: app %q does not validate: %w", app.Name(), err)
	}
	if len(app.Stages()) == 0 {
		return nil, fmt.Errorf("cdk: app %q declares no stages; there is nothing to deploy", app.Name())
	}
	p := &plan{
		app:    app,
		env:    env,
		retain: env != "dev",
		prefix: app.Name() + "-" + env,
		ids:    newIDs(),
	}
	// Give ids in declaration order so they do not depend on map order.
	for _, b := range app.Buckets() {
		p.ids.get(b.Name())
	}
	for _, t := range app.Tables() {
		p.ids.get(t.Name())
	}
	for _, s := range app.Stages() {
		p.ids.get(s.FunctionName())
		p.ids.get(s.Name())
	}
	var errs []error
	groups := plumbing.Groups(app)
	archs := map[pipeline.Arch]bool{}
	for _, name := range plumbing.FunctionNames(app) {
		f, err := p.function(name, groups[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		archs[f.cfg.Arch] = true
		p.functions = append(p.functions, f)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.archs = slices.Sorted(maps.Keys(archs))
	return p, nil
}

func (p *plan) queue(owner string) *queuePlan {
	q := &queuePlan{
		owner:    owner,
		id:       p.ids.get(owner),
		physical: physicalName(maxQueueName, p.prefix, owner, "failures"),
	}
	p.queues = append(p.queues, q)
	return q
}

func (p *plan) function(name string, stages []*pipeline.Stage) (*fnPlan, error) {
	f := &fnPlan{
		name:     name,
		id:       p.ids.get(name),
		physical: physicalName(maxFunctionName, p.prefix, name),
		stages:   stages,
	}
	var err error
	if f.cfg, f.env, err = mergeFunction(stages[0].App(), name); err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range stages {
		if t := s.ObjectTrigger(); t != nil {
			// The stages of a group agree on it (plumbing.FunctionConfig checks).
			if f.async == nil {
				f.async = &asyncPlan{retries: t.Retries, maxAge: t.MaxEventAge, dest: t.OnFailure}
			}
		}
		if t := s.StreamTrigger(); t != nil {
			pats, err := t.Patterns()
			if err != nil {
				errs = append(errs, fmt.Errorf("cdk: stage %q: filter patterns of its trigger on table %q: %w", s.Name(), t.Table, err))
				continue
			}
			sp := &streamPlan{stage: s, table: s.Table(), trigger: t, patterns: pats}
			if t.OnFailure.Kind == triggers.DefaultQueue {
				sp.queue = p.queue(s.Name())
			}
			f.streams = append(f.streams, sp)
		}
	}
	if f.async != nil && f.async.dest.Kind == triggers.DefaultQueue {
		f.async.queue = p.queue(name)
	}
	return f, errors.Join(errs...)
}

// mergeFunction works out the configuration of a function serving
// several stages; package pipeline owns the rules (and Validate applies
// them, so the local environment refuses the same conflicts).
func mergeFunction(app *pipeline.App, name string) (pipeline.Function, map[string]string, error) {
	cfg, err := plumbing.FunctionConfig(app, name)
	env := cfg.Environment
	if env == nil {
		env = map[string]string{}
	}
	return cfg, env, err
}

func (f *fnPlan) stageNames() []string {
	names := make([]string, len(f.stages))
	for i, s := range f.stages {
		names[i] = s.Name()
	}
	return names
}
