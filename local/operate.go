package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// operations are the commands that operate a pipeline: backfill and
// redrive. Command.Run looks them up by name.
func (c *Command) operations() map[string]func(context.Context, []string) int {
	return map[string]func(context.Context, []string) int{
		"backfill": c.backfill,
		"redrive":  c.redrive,
	}
}

// operationsUsage is the operations' part of the command's usage.
const operationsUsage = `  backfill      run a stage over what exists: every object under a prefix, or
                every item of its table; locally, or with --function deployed
  redrive       list a deployed stage's failure queue and deliver its events again
`

func (c *Command) backfill(ctx context.Context, args []string) int {
	fs := c.flags("backfill")
	stage := fs.String("stage", "", "the stage to run (required)")
	prefix := fs.String("prefix", "", "S3 stages: only keys under this prefix (default: the trigger's)")
	rate := fs.Float64("rate", 0, "events (S3) or batches (streams) per second; 0 for no limit")
	conc := fs.Int("concurrency", 4, "events or batches in flight")
	retries := fs.Int("retries", -1, "retries of a failed event or batch before it is dead-lettered (-1: the trigger's)")
	retryDelay := fs.Duration("retry-delay", time.Second, "wait before the first retry, doubled for each next one")
	cpFile := fs.String("checkpoint", "", "checkpoint file to resume from (default: under --dir)")
	dry := fs.Bool("dry-run", false, "list what would be sent and send nothing")
	jsonOut := fs.Bool("json", false, "print progress and the summary as JSON lines")
	dir := fs.String("dir", c.defaultDir(), "local state directory")
	function := fs.String("function", "", "deployed: the name or ARN of the stage's function; backfills the deployed stage through Lambda's Invoke API")
	region := fs.String("region", "", "deployed: the AWS region (default: the configured one)")
	endpoint := fs.String("endpoint-url", "", "deployed: send every AWS call to this endpoint instead")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	st := c.App.StageNamed(*stage)
	if st == nil {
		fmt.Fprintf(c.Stderr, "%s backfill: name the stage with --stage (one of %s)\n", c.Name, strings.Join(stageNamesOf(c), ", "))
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &printer{w: c.Stdout, json: *jsonOut}
	opts := BackfillOptions{Stage: st, Prefix: *prefix, Rate: *rate, Concurrency: *conc, Retries: *retries, RetryDelay: *retryDelay, Checkpoint: *cpFile, DryRun: *dry, List: c.Stdout}
	bar := &progressBar{w: c.Stderr, json: *jsonOut, p: p}
	opts.Progress = bar.show
	var prog BackfillProgress
	var err error
	if *function != "" {
		if opts.Checkpoint == "" {
			opts.Checkpoint = filepath.Join(*dir, "backfill", "deployed-"+sanitize(*function)+"-"+st.Name()+".json")
		}
		d, lerr := LoadDeployed(ctx, *function, *region, *endpoint)
		if lerr != nil {
			fmt.Fprintf(c.Stderr, "%s backfill: %v\n", c.Name, lerr)
			return 1
		}
		prog, err = d.Backfill(ctx, opts)
	} else {
		ownCheckpoint := opts.Checkpoint != ""
		if !ownCheckpoint {
			opts.Checkpoint = remoteCheckpoint(*dir, st.Name())
		}
		env, serr := Start(ctx, c.App, Options{Dir: *dir, Addr: "127.0.0.1:0"})
		if errors.Is(serr, ErrLocked) {
			// A dev server runs on the directory: the backfill goes
			// through it, into its engine and dead letters.
			ep, rerr := os.ReadFile(filepath.Join(*dir, "endpoint"))
			if rerr != nil {
				fmt.Fprintf(c.Stderr, "%s backfill: another nanopipe process uses %s and names no endpoint; stop it first\n", c.Name, *dir)
				return 1
			}
			if ownCheckpoint {
				fmt.Fprintf(c.Stderr, "%s backfill: the dev server running on %s keeps the checkpoint in %s; run without --checkpoint, or stop it first\n", c.Name, *dir, remoteCheckpoint(*dir, st.Name()))
				return 2
			}
			req := backfillRequest{Stage: st.Name(), Prefix: *prefix, Rate: *rate, Concurrency: *conc, Retries: *retries, RetryDelay: retryDelay.String(), DryRun: *dry}
			var list io.Writer
			if *dry {
				list = c.Stdout
			}
			fmt.Fprintf(c.Stderr, "%s backfill: through the dev server at %s\n", c.Name, strings.TrimSpace(string(ep)))
			prog, err = backfillRemoteCtx(ctx, strings.TrimSpace(string(ep)), req, bar.show, list)
			if errors.Is(err, errNoServer) {
				fmt.Fprintf(c.Stderr, "%s backfill: another nanopipe process uses %s, and no dev server answers at %s; stop it first\n", c.Name, *dir, strings.TrimSpace(string(ep)))
				return 1
			}
		} else {
			if serr != nil {
				fmt.Fprintf(c.Stderr, "%s backfill: %v\n", c.Name, serr)
				return 1
			}
			prog, err = env.Backfill(ctx, opts)
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			env.Close(cctx)
			cancel()
		}
	}
	bar.end()
	c.backfillSummary(p, st.Name(), prog, opts, err)
	switch {
	case err != nil && ctx.Err() != nil:
		return 130
	case err != nil:
		return 1
	case prog.DeadLettered > 0:
		return 1
	}
	return 0
}

func (c *Command) backfillSummary(p *printer, stage string, prog BackfillProgress, opts BackfillOptions, err error) {
	if p.json {
		m := map[string]any{"type": "summary", "stage": stage, "listed": prog.Listed, "sent": prog.Sent, "processed": prog.Processed, "failed": prog.Failed,
			"dead_lettered": prog.DeadLettered, "done": prog.Done, "resumed": prog.Resumed, "skipped": prog.Skipped, "elapsed_s": prog.Elapsed.Seconds(), "checkpoint": opts.Checkpoint, "dry_run": opts.DryRun}
		if err != nil {
			m["error"] = err.Error()
		}
		if prog.DeadLettered > 0 {
			m["dead_letters"] = prog.Letters
		}
		p.emit(m)
		return
	}
	var b strings.Builder
	what := "backfill"
	if opts.DryRun {
		what = "backfill (dry run: nothing sent)"
	}
	fmt.Fprintf(&b, "%s of stage %s: %d listed, %d invocations, %d processed, %d failed, %d dead-lettered in %s\n",
		what, stage, prog.Listed, prog.Sent, prog.Processed, prog.Failed, prog.DeadLettered, prog.Elapsed.Round(time.Millisecond))
	if prog.Resumed {
		fmt.Fprintf(&b, "  resumed from %s: %d done before\n", opts.Checkpoint, prog.Skipped)
	}
	if prog.DeadLettered > 0 {
		fmt.Fprintf(&b, "  dead letters: %s\n", prog.Letters)
	}
	if err != nil {
		fmt.Fprintf(&b, "  %v\n", err)
	} else if !opts.DryRun {
		fmt.Fprintf(&b, "  complete; checkpoint %s (remove it to run the backfill again)\n", opts.Checkpoint)
	}
	p.raw(b.String())
}

func stageNamesOf(c *Command) []string {
	var out []string
	for _, s := range c.App.Stages() {
		out = append(out, s.Name())
	}
	return out
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ':' || r == '\\' {
			return '_'
		}
		return r
	}, s)
}

// progressBar draws a backfill's progress on one line of a terminal (or
// as JSON lines).
type progressBar struct {
	w     interface{ Write([]byte) (int, error) }
	json  bool
	p     *printer
	drawn bool
}

func (b *progressBar) show(pr BackfillProgress) {
	if b.json {
		b.p.emit(map[string]any{"type": "progress", "stage": pr.Stage, "listed": pr.Listed, "total": pr.Total, "processed": pr.Processed, "failed": pr.Failed, "dead_lettered": pr.DeadLettered, "sent": pr.Sent})
		return
	}
	done := pr.Processed + pr.DeadLettered + pr.Skipped
	total := pr.Total + pr.Skipped
	if pr.Total == 0 {
		total = pr.Listed + pr.Skipped
	}
	const width = 30
	fill := 0
	if total > 0 {
		fill = int(min(done, total) * width / total)
	}
	rate := 0.0
	if s := pr.Elapsed.Seconds(); s > 0 {
		rate = float64(pr.Processed) / s
	}
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d processed %d failed %d dead-lettered %d  %.0f/s ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, total, pr.Processed, pr.Failed, pr.DeadLettered, rate)
	b.drawn = true
}

func (b *progressBar) end() {
	if b.drawn && !b.json {
		fmt.Fprintln(b.w)
	}
}
