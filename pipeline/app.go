package pipeline

import (
	"errors"
	"fmt"
	"sort"
)

// App is one pipeline: its resources and stages. Declare it once, in a
// package both the Lambda main and the deploy and local entry points import.
type App struct {
	name    string
	collect bool
	errs    []error
	buckets []*Bucket
	tables  []*Table
	stages  []*Stage
	names   map[string]string // declared name -> what it names, for duplicates
	obs     Observability     // tracing and log level of every function
}

// Option configures an App.
type Option func(*App)

// CollectErrors makes declaration errors accumulate, to be returned by
// Validate, instead of panicking where they are made. Programs that build
// pipelines dynamically, and tests of declarations, use it.
func CollectErrors() Option { return func(a *App) { a.collect = true } }

// New declares an app. The name prefixes the names of deployed resources.
func New(name string, opts ...Option) *App {
	a := &App{name: name, names: map[string]string{}}
	for _, o := range opts {
		o(a)
	}
	if !stageNameRE.MatchString(name) {
		a.fail(fmt.Errorf("pipeline: app name %q: use 1-64 letters, digits, '-' or '_', starting with a letter", name))
	}
	return a
}

// Name returns the app's name.
func (a *App) Name() string { return a.name }

// Buckets returns the declared buckets in declaration order.
func (a *App) Buckets() []*Bucket { return append([]*Bucket(nil), a.buckets...) }

// Tables returns the declared tables in declaration order.
func (a *App) Tables() []*Table { return append([]*Table(nil), a.tables...) }

// Stages returns the declared stages in declaration order.
func (a *App) Stages() []*Stage { return append([]*Stage(nil), a.stages...) }

// StageNamed returns the stage with the given name, or nil.
func (a *App) StageNamed(name string) *Stage {
	for _, s := range a.stages {
		if s.name == name {
			return s
		}
	}
	return nil
}

// BucketNamed returns the bucket with the given declared name, or nil.
func (a *App) BucketNamed(name string) *Bucket {
	for _, b := range a.buckets {
		if b.name == name {
			return b
		}
	}
	return nil
}

// TableNamed returns the table with the given declared name, or nil.
func (a *App) TableNamed(name string) *Table {
	for _, t := range a.tables {
		if t.name == name {
			return t
		}
	}
	return nil
}

// groups returns the functions the app deploys as: each declared group
// with its stages, and every ungrouped stage alone under its own name.
func (a *App) groups() map[string][]*Stage {
	g := map[string][]*Stage{}
	for _, s := range a.stages {
		g[s.FunctionName()] = append(g[s.FunctionName()], s)
	}
	return g
}

// functionNames returns the keys of groups, sorted.
func (a *App) functionNames() []string {
	g := a.groups()
	names := make([]string, 0, len(g))
	for n := range g {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Report records a declaration error found by code that declares stages
// for the app, such as the ready-made stages of package stages. Like the
// app's own declarations it panics, unless the app collects errors
// (CollectErrors), in which case Validate returns it.
func (a *App) Report(err error) {
	if err != nil {
		a.fail(err)
	}
}

// fail records a declaration error, or panics with it unless the app
// collects errors. Panicking where the mistake is made points the stack
// trace at the offending line of the declaration.
func (a *App) fail(err error) {
	if a.collect {
		a.errs = append(a.errs, err)
		return
	}
	panic(err)
}

// claim reserves a name. Stages have their own namespace; buckets and
// tables share one, as both become resources of one stack.
func (a *App) claim(name, what string) bool {
	key := name
	if what == "stage" {
		key = "stage:" + name
	}
	if prev, ok := a.names[key]; ok {
		a.fail(fmt.Errorf("pipeline: duplicate name %q: %s %q is already declared in app %q; give the %s another name", name, prev, name, a.name, what))
		return false
	}
	a.names[key] = what
	return true
}

// Bucket declares a bucket the stack creates. Locally it is created under
// this name; deployed, its physical name is chosen by the deployment.
func (a *App) Bucket(name string, opts ...BucketOption) *Bucket {
	b := &Bucket{app: a, name: name}
	for _, o := range opts {
		o(b)
	}
	a.addBucket(b)
	return b
}

// ExistingBucket declares a bucket that exists already, by its name.
func (a *App) ExistingBucket(name string) *Bucket {
	b := &Bucket{app: a, name: name, existing: true}
	a.addBucket(b)
	return b
}

func (a *App) addBucket(b *Bucket) {
	if !bucketNameRE.MatchString(b.name) {
		a.fail(fmt.Errorf("pipeline: bucket %q: S3 bucket names are 3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit", b.name))
	}
	if a.claim(b.name, "bucket") {
		a.buckets = append(a.buckets, b)
	}
}

// Table declares a table the stack creates, with its partition key and
// options such as SortKey and Stream.
func (a *App) Table(name string, pk KeyAttr, opts ...TableOption) *Table {
	t := &Table{app: a, name: name, partition: pk}
	for _, o := range opts {
		o(t)
	}
	a.addTable(t)
	return t
}

// ExistingTable declares a table that exists already, by name, with its
// keys. Give StreamARN to trigger stages by its stream.
func (a *App) ExistingTable(name string, pk KeyAttr, opts ...TableOption) *Table {
	t := &Table{app: a, name: name, partition: pk, existing: true}
	for _, o := range opts {
		o(t)
	}
	a.addTable(t)
	return t
}

func (a *App) addTable(t *Table) {
	if !tableNameRE.MatchString(t.name) {
		a.fail(fmt.Errorf("pipeline: table %q: DynamoDB table names are 3-255 letters, digits, '_', '-' or '.'", t.name))
	}
	for _, k := range []*KeyAttr{&t.partition, t.sort} {
		if k == nil {
			continue
		}
		if k.Name == "" {
			a.fail(fmt.Errorf("pipeline: table %q: a key attribute has no name", t.name))
		}
		switch k.Type {
		case String, Number, Binary:
		default:
			a.fail(fmt.Errorf("pipeline: table %q: key %q has type %q; use pipeline.String, pipeline.Number or pipeline.Binary", t.name, k.Name, k.Type))
		}
	}
	if t.sort != nil && t.sort.Name == t.partition.Name {
		a.fail(fmt.Errorf("pipeline: table %q: sort key %q is also the partition key; name a different attribute", t.name, t.sort.Name))
	}
	switch t.view {
	case "", ViewKeysOnly, ViewNewImage, ViewOldImage, ViewNewAndOldImages:
	default:
		a.fail(fmt.Errorf("pipeline: table %q: stream view %q; use pipeline.ViewKeysOnly, ViewNewImage, ViewOldImage or ViewNewAndOldImages", t.name, t.view))
	}
	if t.streamARN != "" && !t.existing {
		a.fail(fmt.Errorf("pipeline: table %q: StreamARN is for existing tables; a table the stack creates gets its stream from the deployment", t.name))
	}
	if a.claim(t.name, "table") {
		a.tables = append(a.tables, t)
	}
}

// Validate checks the whole declaration: what each declaration checked
// where it was made (when the app collects errors), and what only the
// whole app shows: overlapping S3 filters, loops, triggers and accesses
// naming resources of another app, groups that cannot be routed. It
// returns every problem found, joined.
func (a *App) Validate() error {
	errs := append([]error(nil), a.errs...)
	errs = append(errs, a.checkReferences()...)
	errs = append(errs, a.checkOverlaps()...)
	errs = append(errs, a.checkLoops()...)
	errs = append(errs, a.checkGroups()...)
	errs = append(errs, a.checkFunctions()...)
	errs = append(errs, a.checkEnvNames()...)
	return errors.Join(errs...)
}
