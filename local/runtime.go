package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/internal/access"
	"github.com/nanopipe/nanopipe/local/internal/awsconf"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/local/internal/rie"
	"github.com/nanopipe/nanopipe/pipeline"
)

// RIEOptions run the app's functions out of process: its Lambda binary
// (`bootstrap`, built as the cdk package builds it) under AWS's Runtime
// Interface Emulator, one emulator per concurrent invocation of a
// function, with the environment the cdk package would deploy and its AWS
// clients sent to the local endpoint.
type RIEOptions struct {
	// Package is the app's Lambda main (an import path, or a directory
	// relative to BuildDir), built at Start with the cdk package's flags
	// for linux and this machine's architecture.
	Package string
	// BuildDir is where go build runs; "" is the working directory.
	BuildDir string
	// Bootstrap, when set, is a binary built already: Package is not built.
	Bootstrap string
	// Emulator is the path of aws-lambda-rie; "" finds it (NANOPIPE_RIE,
	// .tools/bin as scripts/rie-setup.sh installs it, the PATH).
	Emulator string
	// Slots caps the concurrent invocations of each function (0: 4).
	Slots int
	// Output receives what the functions print besides their logs (a
	// crash's stack trace), and the progress of the build; nil discards
	// it. Their logs go to Options.StageLogger.
	Output io.Writer
}

// runtimeState is how the environment runs stages: the policy enforcing
// their declared accesses and, out of process, the emulators' runner.
type runtimeState struct {
	policy    *access.Policy
	enforce   bool
	runner    *rie.Runner
	buildDir  string // a temporary directory of the bootstrap, removed at Close
	bootstrap string
}

// setupRuntime enforces the declared accesses on the stages' clients
// (unless Options.AllowUndeclared) and, with Options.RIE, builds the
// bootstrap and prepares its emulators.
func (e *Environment) setupRuntime(ctx context.Context) error {
	rt := &e.rt
	rt.policy = access.NewPolicy(e.app, e.env.Buckets, e.env.Tables)
	rt.enforce = !e.opts.AllowUndeclared
	if rt.enforce {
		s3o, ddbo, p := e.env.S3Options, e.env.DynamoDBOptions, rt.policy
		e.env.S3Options = func(s *pipeline.Stage) []func(*s3.Options) {
			var o []func(*s3.Options)
			if s3o != nil {
				o = s3o(s)
			}
			return append(o, p.S3Options(s)...)
		}
		e.env.DynamoDBOptions = func(s *pipeline.Stage) []func(*dynamodb.Options) {
			var o []func(*dynamodb.Options)
			if ddbo != nil {
				o = ddbo(s)
			}
			return append(o, p.DynamoDBOptions(s)...)
		}
	}
	ro := e.opts.RIE
	if ro == nil {
		return nil
	}
	emulator := ro.Emulator
	if emulator == "" {
		// Before a build that may take a while.
		var err error
		if emulator, err = rie.FindEmulator(); err != nil {
			return fmt.Errorf("local: %w", err)
		}
	}
	bin := ro.Bootstrap
	if bin == "" {
		out := ""
		if e.opts.Dir != "" {
			out = filepath.Join(e.opts.Dir, "bootstrap", "bootstrap")
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return fmt.Errorf("local: %w", err)
			}
		}
		var err error
		done := buildProgress(ro.Output, ro.Package)
		bin, err = rie.Build(ctx, rie.BuildOptions{Package: ro.Package, Dir: ro.BuildDir, Out: out})
		done(err)
		if err != nil {
			return fmt.Errorf("local: build the Lambda binary for --rie: %w", err)
		}
		if out == "" {
			rt.buildDir = filepath.Dir(bin)
		}
	}
	rt.bootstrap = bin
	r, err := rie.New(rie.Options{
		App: e.app, Buckets: e.env.Buckets, Tables: e.env.Tables, Streams: e.env.Streams,
		Bootstrap: bin, Emulator: emulator, Endpoint: e.stageURL, Region: awsconf.Region,
		Slots: ro.Slots, LogLevel: logLevel(e.opts.StageLogger), Logger: e.opts.StageLogger, Output: ro.Output,
		Metrics: e.metricsWriter(),
	})
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	rt.runner = r
	return nil
}

// logLevel is the NANOPIPE_LOG_LEVEL matching what a logger prints.
func logLevel(l *slog.Logger) string {
	if l == nil {
		return "error"
	}
	for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if l.Enabled(context.Background(), lv) {
			return lv.String()
		}
	}
	return "error"
}

// invoker is what the engine delivers through: nil (in-process) or the
// emulators' runner.
func (e *Environment) invoker() engine.Invoker {
	if e.rt.runner == nil {
		return nil
	}
	return e.rt.runner
}

// guard checks, at the endpoint, the requests the functions make under
// the emulator: in-process stages are checked by their clients.
func (e *Environment) guard(h http.Handler) http.Handler {
	if e.rt.runner == nil || !e.rt.enforce {
		return h
	}
	runner := e.rt.runner
	caller := func(r *http.Request) ([]*pipeline.Stage, bool) { return runner.Caller(access.AppID(r)) }
	return e.rt.policy.Guard(h, caller, func(err error) {
		if l := e.opts.StageLogger; l != nil {
			l.Warn("access denied", slog.String("error", err.Error()))
		}
	})
}

func (e *Environment) closeRuntime() {
	if e.rt.runner != nil {
		e.rt.runner.Close()
		e.rt.runner = nil
	}
	if e.rt.buildDir != "" {
		os.RemoveAll(e.rt.buildDir)
		e.rt.buildDir = ""
	}
}

// runner returns the runner of the emulators with Options.RIE, else nil.
func (e *Environment) runner() *rie.Runner { return e.rt.runner }

// policy returns the policy the stages' declared accesses are enforced
// with (unless Options.AllowUndeclared).
func (e *Environment) policy() *access.Policy { return e.rt.policy }

// buildProgress tells w what the build of the Lambda binary is doing:
// the first one compiles the standard library for linux and takes a
// minute or more, silent otherwise. The returned func ends the report.
func buildProgress(w io.Writer, pkg string) func(error) {
	if w == nil {
		return func(error) {}
	}
	if pkg == "" {
		pkg = "this command's main package"
	}
	start := time.Now()
	fmt.Fprintf(w, "local: building the Lambda binary (%s, linux/%s, -tags lambda.norpc); the first build compiles the standard library for linux and can take a minute or two\n", pkg, runtime.GOARCH)
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(w, "local: still building the Lambda binary (%s)\n", time.Since(start).Round(time.Second))
			}
		}
	}()
	return func(err error) {
		close(stop)
		<-finished
		if err == nil {
			fmt.Fprintf(w, "local: built the Lambda binary in %s\n", time.Since(start).Round(100*time.Millisecond))
		}
	}
}
