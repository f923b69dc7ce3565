// Package watch is the inner loop of `dev --watch`: it watches the Go
// files an app's Lambda binary is built from, rebuilds the binary when
// one changes and swaps it into the running functions, while the local
// endpoint, its state and the events queued for the stages stay as they
// are.
//
// # The loop
//
// The files watched are the .go files (tests aside) of every package of
// the main module the binary depends on (go list -deps with the Lambda
// build's tags), and go.mod and go.sum. They are polled: a change is seen
// within Interval, without depending on the file system's notifications.
//
// On a change the target is held first: an event that arrives from now on
// waits for the new code instead of running the old one (invocations
// already running finish on the old binary). Once the files are quiet for
// Debounce, the binary is rebuilt with the cdk package's flags (rie.Build)
// and swapped in (rie.Runner.Swap): only the stages' processes restart.
// A file that changes during the build starts another build before the
// swap. A build that fails releases the hold: events run on the last good
// binary until the next change builds.
//
// Nothing queued is touched: the engine keeps its queued S3 events and
// stream checkpoints; held invocations just start later. A change of the
// declaration itself (resources, triggers, accesses) is compiled into the
// new binary but not into the running environment's engine and access
// checks: restart dev for those.
package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/rie"
)

// Target is what runs the binary: a *rie.Runner.
type Target interface {
	// Hold makes invocations that have not started wait.
	Hold()
	// Release lets them start on the current binary.
	Release()
	// Swap makes them start on a new binary, and releases.
	Swap(bootstrap string)
}

// Options configure Run.
type Options struct {
	// Package is the app's Lambda main (import path or directory relative
	// to Dir).
	Package string
	// Dir is where go commands run; "" is the working directory.
	Dir string
	// Out is the path the binary is rebuilt to: the one the target runs
	// (a running process keeps the file it started from).
	Out string
	// Interval is how often the files are polled (default 100ms).
	Interval time.Duration
	// Debounce is how long the files must stay unchanged before a build
	// starts (default 50ms), so that a save touching several files builds
	// once.
	Debounce time.Duration
	// Declaration, when set, is the running app's App.Describe: each new
	// binary is asked for its own (NANOPIPE_DESCRIBE) and a difference is
	// reported in Event.DeclarationChanged, since the running environment
	// keeps the declaration it started with.
	Declaration []byte
	// Ready, when set, is called once the watcher has taken its first look
	// at the files: a change made after it is seen.
	Ready func()
}

// Event reports one rebuild.
type Event struct {
	// Changed lists the files that changed (added, edited or removed).
	Changed []string
	// Detected is when the change was seen; Built how long the build took.
	Detected time.Time
	Built    time.Duration
	// Err is the build's failure; the previous binary keeps running.
	Err error
	// DeclarationChanged is set when the new binary declares a different
	// pipeline (resources, triggers, accesses, settings) than the running
	// environment: only a restart applies such a change.
	DeclarationChanged bool
}

func (o *Options) defaults() {
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.Debounce <= 0 {
		o.Debounce = 50 * time.Millisecond
	}
}

// Run watches until ctx is done, rebuilding into opts.Out and swapping it
// into t on every change. notify, when set, is told of every rebuild.
func Run(ctx context.Context, t Target, opts Options, notify func(Event)) error {
	opts.defaults()
	if opts.Package == "" || opts.Out == "" {
		return errors.New("watch: Options.Package and Options.Out are required")
	}
	dirs, err := Dirs(ctx, opts.Package, opts.Dir)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	snap := snapshot(dirs)
	if opts.Ready != nil {
		opts.Ready()
	}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := snapshot(dirs)
		changed := diff(snap, now)
		if len(changed) == 0 {
			continue
		}
		ev := Event{Detected: time.Now()}
		t.Hold()
		// Build until a build starts from files that stay as they were
		// until it ends.
		for len(changed) > 0 {
			ev.Changed = appendNew(ev.Changed, changed...)
			now = quiet(ctx, dirs, now, opts.Debounce)
			if ctx.Err() != nil {
				t.Release()
				return nil
			}
			start := time.Now()
			_, ev.Err = rie.Build(ctx, rie.BuildOptions{Package: opts.Package, Dir: opts.Dir, Out: opts.Out})
			ev.Built = time.Since(start)
			snap, now = now, snapshot(dirs)
			changed = diff(snap, now)
		}
		snap = now
		if ev.Err != nil {
			t.Release()
		} else {
			ev.DeclarationChanged = declarationChanged(ctx, opts.Out, opts.Declaration)
			t.Swap(opts.Out)
		}
		if notify != nil {
			notify(ev)
		}
		if ev.Err == nil {
			// The change may have added or dropped imports. Files seen
			// before keep the state the build was made from, so that an
			// edit made while go list runs is not taken for the baseline.
			if d, err := Dirs(ctx, opts.Package, opts.Dir); err == nil {
				dirs = d
				next := snapshot(dirs)
				for p := range next {
					if st, ok := snap[p]; ok {
						next[p] = st
					}
				}
				snap = next
			}
		}
	}
}

// quiet waits until the files stay unchanged for d, and returns their
// state then.
func quiet(ctx context.Context, dirs []string, last map[string]fileState, d time.Duration) map[string]fileState {
	for {
		select {
		case <-ctx.Done():
			return last
		case <-time.After(d):
		}
		now := snapshot(dirs)
		if len(diff(last, now)) == 0 {
			return now
		}
		last = now
	}
}

// Dirs returns the directories of the main module's packages the Lambda
// binary of pkg is built from, and the module's directory (for go.mod and
// go.sum).
func Dirs(ctx context.Context, pkg, dir string) ([]string, error) {
	args := []string{"list", "-deps", "-tags", "lambda.norpc", "-f", "{{if and .Module .Module.Main}}{{.Dir}}\t{{.Module.Dir}}{{end}}", pkg}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("watch: go list %s: %w\n%s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		for _, d := range strings.Split(line, "\t") {
			if d = strings.TrimSpace(d); d != "" && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("watch: %s has no package in the main module to watch", pkg)
	}
	sort.Strings(out)
	return out, nil
}

type fileState struct {
	size int64
	mod  time.Time
}

// snapshot returns the state of the watched files of dirs: their .go
// files but tests, and go.mod and go.sum.
func snapshot(dirs []string) map[string]fileState {
	m := map[string]fileState{}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			watched := (strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go")) || n == "go.mod" || n == "go.sum"
			if e.IsDir() || !watched || strings.HasPrefix(n, ".") {
				continue
			}
			if fi, err := e.Info(); err == nil {
				m[filepath.Join(d, n)] = fileState{fi.Size(), fi.ModTime()}
			}
		}
	}
	return m
}

func diff(a, b map[string]fileState) []string {
	var out []string
	for p, s := range b {
		if s != a[p] {
			out = append(out, p)
		}
	}
	for p := range a {
		if _, ok := b[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		found := false
		for _, l := range list {
			found = found || l == a
		}
		if !found {
			list = append(list, a)
		}
	}
	return list
}

// declarationChanged asks the binary at bin for its declaration and
// compares it with want. A binary that cannot be asked (not built for
// this system, say) counts as unchanged: the check is advice, not a gate.
func declarationChanged(ctx context.Context, bin string, want []byte) bool {
	if want == nil || runtime.GOOS != "linux" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "NANOPIPE_DESCRIBE=1")
	got, err := cmd.Output()
	if err != nil {
		return false
	}
	return !bytes.Equal(got, want)
}
