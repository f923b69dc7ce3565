package local

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/rie"
	"github.com/nanopipe/nanopipe/local/internal/watch"
)

// runtimeFlags are the dev command's flags saying how the stages run:
// in-process or under the runtime interface emulator, rebuilt on changes,
// held to their declared accesses.
type runtimeFlags struct {
	rie, watch, enforce *bool
	pkg                 *string
	slots               *int
}

func (c *Command) runtimeFlags(fs *flag.FlagSet) *runtimeFlags {
	return &runtimeFlags{
		rie:     fs.Bool("rie", false, "run the app's Lambda binary (built as the cdk package builds it) under the runtime interface emulator, aws-lambda-rie, instead of calling the stages in-process"),
		watch:   fs.Bool("watch", false, "rebuild the Lambda binary when its Go files change and restart only the stage processes; endpoints, state and queued events stay (implies --rie)"),
		enforce: fs.Bool("enforce", true, "refuse a stage's calls its Reads, Writes and Deletes do not cover, with an AccessDenied naming the declaration to add (--enforce=false allows them)"),
		pkg:     fs.String("package", c.Package, "the Go package of the app's Lambda main, for --rie and --watch (default: this binary's main package)"),
		slots:   fs.Int("slots", rie.DefaultSlots, "with --rie: emulators per function, the concurrent invocations of each"),
	}
}

// apply sets the options the flags select.
func (f *runtimeFlags) apply(c *Command, opts *Options) error {
	opts.AllowUndeclared = !*f.enforce
	if !*f.rie && !*f.watch {
		return nil
	}
	pkg := *f.pkg
	if pkg == "" {
		pkg = mainPackage()
	}
	if pkg == "" {
		return fmt.Errorf("--rie and --watch build the app's Lambda main: name its package with --package (or Command.Package)")
	}
	opts.RIE = &RIEOptions{Package: pkg, Slots: *f.slots, Output: c.Stderr}
	return nil
}

// mainPackage is the import path of the running binary's main package:
// the app's one binary, which also serves Lambda.
func mainPackage() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Path == "" || bi.Path == "command-line-arguments" || strings.HasSuffix(bi.Path, ".test") {
		return ""
	}
	return bi.Path
}

// start reports how the stages run and, with --watch, starts the watcher;
// the returned function stops it.
func (f *runtimeFlags) start(ctx context.Context, p *printer, env *Environment) (stop func()) {
	stop = func() {}
	r := env.runner()
	if r == nil {
		if !*f.enforce {
			p.note("declared accesses are not enforced (--enforce=false)")
		}
		return stop
	}
	ro := env.opts.RIE
	p.note(fmt.Sprintf("stages run out of process: %s built from %s, under aws-lambda-rie (up to %d per function)", filepath.Base(r.Bootstrap()), ro.Package, max(*f.slots, 1)))
	if !*f.watch {
		return stop
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := watch.Run(wctx, r, watch.Options{Package: ro.Package, Dir: ro.BuildDir, Out: r.Bootstrap(), Declaration: env.app.Describe()}, func(ev watch.Event) { rebuilt(p, ev) })
		if err != nil && wctx.Err() == nil {
			p.note(err.Error())
		}
	}()
	p.note("watching the Go files of " + ro.Package + ": a change rebuilds and restarts the stage processes")
	return func() { cancel(); <-done }
}

// rebuilt prints one rebuild of --watch.
func rebuilt(p *printer, ev watch.Event) {
	files := make([]string, len(ev.Changed))
	for i, c := range ev.Changed {
		files[i] = filepath.Base(c)
	}
	if p.json {
		m := map[string]any{"type": "rebuild", "time": time.Now().UTC().Format(time.RFC3339Nano), "changed": ev.Changed, "build_ms": float64(ev.Built.Microseconds()) / 1000}
		if ev.Err != nil {
			m["error"] = ev.Err.Error()
		}
		if ev.DeclarationChanged {
			m["declaration_changed"] = true
		}
		p.emit(m)
		return
	}
	if ev.Err != nil {
		p.note(fmt.Sprintf("rebuild after a change of %s failed; the stages keep running the last good build:\n%s", strings.Join(files, ", "), ev.Err))
		return
	}
	p.note(fmt.Sprintf("rebuilt in %s after a change of %s; stage processes restart on their next event", fmtDuration(ev.Built), strings.Join(files, ", ")))
	if ev.DeclarationChanged {
		p.note("the declaration changed (resources, triggers, accesses or settings): the stages run the new code, but the environment keeps the declaration it started with; restart dev to apply it")
	}
}

// errorLine is a delivery's error on one line: its start or, for a call
// the stage's declaration does not allow, the refusal and the declaration
// to add, which the wrapping of the error would push past the cut.
func errorLine(s string) string {
	if i := strings.LastIndex(s, "AccessDenied: stage "); i >= 0 {
		return oneLine(s[i:], 320)
	}
	return oneLine(s, 200)
}
