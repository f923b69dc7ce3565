package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/pipeline"
)

// Command runs the local commands of an app's binary:
//
//	dev          run the app locally (embedded S3 + DynamoDB on one endpoint)
//	deadletters  list the dead letters
//	replay       deliver dead letters again through their stages
//
// Name is how the user runs the binary ("go run ./examples/photos"), for
// the hints printed.
type Command struct {
	// App is the app the commands run; it must not be nil.
	App *pipeline.App
	// Name is how the user runs the binary, for the hints printed; Main
	// takes the binary's own name for "".
	Name string
	// SampleFile, when set and present, is the file the printed upload
	// command uses.
	SampleFile string
	// Items gives, per table, a sample item (DynamoDB JSON) for the printed
	// put-item command; tables without one get an item of just its key.
	Items map[string]string
	// Demo, when set, runs once the environment is up (unless dev is given
	// --no-demo): it shows the pipeline at work, for example by uploading a
	// sample and reporting what the stages produced. say prints a line.
	Demo func(ctx context.Context, env *Environment, say func(string)) error
	// Package is the Go package of the app's Lambda main, which dev --rie
	// and --watch build; "" is this binary's own main package, which
	// serves Lambda itself (as in examples/photos).
	Package string
	// Stdout and Stderr receive the commands' output; nil is os.Stdout
	// and os.Stderr.
	Stdout io.Writer
	Stderr io.Writer
}

// Main is the whole main of an app's binary outside its Lambda build: in
// Lambda (AWS_LAMBDA_RUNTIME_API set) it serves the app's stages with
// App.Main; otherwise it runs the command named by os.Args and exits with
// its status.
func (c Command) Main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		c.App.Main()
		return
	}
	if c.Name == "" {
		c.Name = filepath.Base(os.Args[0])
	}
	os.Exit(c.Run(context.Background(), os.Args[1:]))
}

func (c *Command) defaultDir() string { return filepath.Join(".nanopipe", c.App.Name()) }

func (c *Command) usage() {
	fmt.Fprintf(c.Stderr, `Usage: %[1]s COMMAND [flags]

Commands:
  dev           run app %[2]s locally: embedded S3 and DynamoDB (with streams) on
                one endpoint, events delivered to the stages with Lambda's semantics
  deadletters   list the events and records that failed for good
  replay        deliver dead letters again through their stages
%[3]s
Run '%[1]s COMMAND -h' for a command's flags.
`, c.Name, c.App.Name(), operationsUsage)
}

// Run runs one command with its arguments and returns the exit status.
func (c *Command) Run(ctx context.Context, args []string) int {
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if len(args) == 0 {
		c.usage()
		return 2
	}
	switch args[0] {
	case "dev":
		return c.dev(ctx, args[1:])
	case "deadletters", "dead-letters", "dlq":
		return c.deadLetters(args[1:])
	case "replay":
		return c.replay(ctx, args[1:])
	case "help", "-h", "--help":
		c.usage()
		return 0
	}
	if op, ok := c.operations()[args[0]]; ok {
		return op(ctx, args[1:])
	}
	fmt.Fprintf(c.Stderr, "%s: unknown command %q\n\n", c.Name, args[0])
	c.usage()
	return 2
}

func (c *Command) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name+" "+name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	return fs
}

func (c *Command) dev(ctx context.Context, args []string) int {
	fs := c.flags("dev")
	dir := fs.String("dir", c.defaultDir(), "directory keeping the state between runs")
	port := fs.Int("port", 4566, "port of the endpoint on 127.0.0.1 (0 picks a free one)")
	jsonOut := fs.Bool("json", false, "print one JSON object per line instead of text")
	verbose := fs.Bool("verbose", false, "also print the stages' info logs")
	shards := fs.Int("shards", 4, "shards per table stream")
	noDemo := fs.Bool("no-demo", false, "do not run the app's demo (a sample upload) at start")
	s3Backend, ddbBackend := backendFlags(fs)
	rt := c.runtimeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p := &printer{w: c.Stdout, json: *jsonOut}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	var stageLog *slog.Logger
	if *jsonOut {
		stageLog = slog.New(slog.NewJSONHandler(c.Stderr, &slog.HandlerOptions{Level: level}))
	} else {
		stageLog = slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level}))
	}
	opts := Options{Dir: *dir, Addr: fmt.Sprintf("127.0.0.1:%d", *port), Shards: *shards, Observer: p.delivery, StageLogger: stageLog, S3: *s3Backend, DynamoDB: *ddbBackend}
	if err := rt.apply(c, &opts); err != nil {
		fmt.Fprintf(c.Stderr, "%s dev: %v\n", c.Name, err)
		return 2
	}
	env, err := Start(ctx, c.App, opts)
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s dev: %v\n", c.Name, err)
		return 1
	}
	c.banner(p, env, *dir)
	stopWatch := rt.start(ctx, p, env)
	if c.Demo != nil && !*noDemo {
		go func() {
			if err := c.Demo(ctx, env, p.note); err != nil {
				p.note("demo: " + err.Error())
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case <-sig:
	case <-ctx.Done():
	}
	stopWatch()
	p.note("stopping: letting running invocations finish (5s at most)")
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = env.Close(cctx)
	c.summary(p, env)
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s dev: %v\n", c.Name, err)
		return 1
	}
	return 0
}

// describeTrigger says in a few words what fires a stage.
func describeTrigger(s *pipeline.Stage) string {
	if t := s.ObjectTrigger(); t != nil {
		var evs []string
		for _, e := range t.Events {
			evs = append(evs, strings.TrimPrefix(string(e), "s3:"))
		}
		d := fmt.Sprintf("S3 %s on s3://%s/%s*%s", strings.Join(evs, ","), t.Bucket, t.Prefix, t.Suffix)
		return d
	}
	t := s.StreamTrigger()
	kinds := "all changes"
	if len(t.Kinds) > 0 {
		var ks []string
		for _, k := range t.Kinds {
			ks = append(ks, string(k))
		}
		kinds = strings.Join(ks, ",")
	}
	extra := ""
	var filters []string
	for _, f := range t.Filters {
		var conds []string
		for _, c := range f.Conditions() {
			conds = append(conds, c.Attr().String()+" "+c.String())
		}
		filters = append(filters, strings.Join(conds, " and "))
	}
	if len(filters) > 0 {
		extra += ", where " + strings.Join(filters, " or ")
	}
	if t.Bisect {
		extra += ", bisect"
	}
	return fmt.Sprintf("stream of table %s (%s, batch %d%s)", t.Table, kinds, t.BatchSize, extra)
}

func (c *Command) banner(p *printer, env *Environment, dir string) {
	app := c.App
	if p.json {
		var stages []map[string]string
		for _, s := range app.Stages() {
			stages = append(stages, map[string]string{"stage": s.Name(), "trigger": describeTrigger(s)})
		}
		p.emit(map[string]any{"type": "ready", "app": app.Name(), "endpoint": env.Endpoint(), "dir": dir, "stages": stages})
		return
	}
	ep := env.Endpoint()
	var b strings.Builder
	fmt.Fprintf(&b, "nanopipe local: app %s is running\n\n", app.Name())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  endpoint\t%s  (S3, DynamoDB, DynamoDB Streams)\n", ep)
	if s3b, ddbb := env.Backends(); s3b != Embedded || ddbb != Embedded {
		fmt.Fprintf(tw, "  backends\tS3 %s, DynamoDB %s\n", s3b, ddbb)
	}
	fmt.Fprintf(tw, "  state\t%s\n", dir)
	for _, bk := range app.Buckets() {
		fmt.Fprintf(tw, "  bucket\t%s\n", bk.Name())
	}
	for _, t := range app.Tables() {
		var notes []string
		if v := t.StreamView(); v != "" {
			notes = append(notes, "stream "+string(v))
		}
		for _, ix := range t.Indexes() {
			notes = append(notes, "index "+ix.Name())
		}
		extra := ""
		if len(notes) > 0 {
			extra = "  (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintf(tw, "  table\t%s%s\n", t.Name(), extra)
	}
	for _, s := range app.Stages() {
		fmt.Fprintf(tw, "  stage\t%s  <- %s\n", s.Name(), describeTrigger(s))
	}
	tw.Flush()
	aws := "aws --endpoint-url " + ep
	creds := "any credentials work"
	if s3b, _ := env.Backends(); s3b != Embedded {
		creds = "versitygw takes only these credentials"
	}
	fmt.Fprintf(&b, "\nTry it from another terminal (%s):\n\n", creds)
	fmt.Fprintf(&b, "  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1\n")
	// Uploads first, removals after: what fires the stages in a sensible order.
	var creates, removes []string
	for _, s := range app.Stages() {
		t := s.ObjectTrigger()
		if t == nil {
			continue
		}
		file := c.SampleFile
		if _, err := os.Stat(file); file == "" || err != nil {
			file = "FILE"
		}
		key := t.Prefix + "example" + t.Suffix
		if t.Suffix == "" {
			key = t.Prefix + filepath.Base(file)
		}
		created := false
		for _, e := range t.Events {
			created = created || e.Matches("ObjectCreated:Put")
		}
		if created {
			creates = append(creates, fmt.Sprintf("  %s s3 cp %s s3://%s/%s\n", aws, file, t.Bucket, key))
		} else {
			removes = append(removes, fmt.Sprintf("  %s s3 rm s3://%s/%s\n", aws, t.Bucket, key))
		}
	}
	for _, l := range creates {
		b.WriteString(l)
	}
	for _, bk := range app.Buckets() {
		fmt.Fprintf(&b, "  %s s3 ls s3://%s --recursive\n", aws, bk.Name())
	}
	for _, s := range app.Stages() {
		t := s.Table()
		if t == nil {
			continue
		}
		item := map[string]map[string]string{t.PartitionKey().Name: {string(t.PartitionKey().Type): sampleKey(t.PartitionKey())}}
		if sk := t.SortKey(); sk != nil {
			item[sk.Name] = map[string]string{string(sk.Type): sampleKey(*sk)}
		}
		ij, _ := json.Marshal(item)
		if sample, ok := c.Items[t.Name()]; ok {
			ij = []byte(sample)
		}
		fmt.Fprintf(&b, "  %s dynamodb put-item --table-name %s --item '%s'\n", aws, t.Name(), ij)
	}
	for _, t := range app.Tables() {
		fmt.Fprintf(&b, "  %s dynamodb scan --table-name %s\n", aws, t.Name())
	}
	for _, t := range app.Tables() {
		if t.StreamView() != "" {
			fmt.Fprintf(&b, "  %s dynamodbstreams list-streams --table-name %s\n", aws, t.Name())
			break
		}
	}
	for _, l := range removes {
		b.WriteString(l)
	}
	fmt.Fprintf(&b, "\nDead letters: %s deadletters --dir %s; replay them: %s replay --dir %s --all\n", c.Name, dir, c.Name, dir)
	fmt.Fprintf(&b, "Stop with Ctrl-C. Deliveries:\n")
	p.raw(b.String())
}

func sampleKey(k pipeline.KeyAttr) string {
	switch k.Type {
	case pipeline.Number:
		return "1"
	case pipeline.Binary:
		return "ZXhhbXBsZQ=="
	}
	return "example"
}

func (c *Command) summary(p *printer, env *Environment) {
	stats := env.eng.Stats()
	letters, _ := env.letters.List("")
	waiting := map[string]int{}
	for _, l := range letters {
		waiting[l.Stage]++
	}
	if p.json {
		p.emit(map[string]any{"type": "summary", "app": c.App.Name(), "ran_s": time.Since(env.started).Seconds(), "stages": stats, "metrics": env.Metrics(), "dead_letters_waiting": len(letters)})
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nSummary of app %s (ran %s):\n", c.App.Name(), time.Since(env.started).Round(time.Second))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  stage\tinvocations\tok\tfailed\tprocessed\tfiltered\tdead-lettered\tdiscarded\t\n")
	for _, s := range stats {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", s.Stage, s.Invocations, s.Succeeded, s.Failed, s.Processed, s.Filtered, s.DeadLettered, s.Discarded)
	}
	tw.Flush()
	writeMetrics(&b, env.Metrics())
	if len(letters) > 0 {
		fmt.Fprintf(&b, "  %d dead letters waiting; list: %s deadletters; replay: %s replay --all\n", len(letters), c.Name, c.Name)
	}
	p.raw(b.String())
}

// ---- deadletters

func openLetters(dir string) (*deadletter.Store, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("no local state in %s (run dev first, or pass --dir)", dir)
	}
	return deadletter.Open(filepath.Join(dir, "deadletters"))
}

func (c *Command) deadLetters(args []string) int {
	fs := c.flags("deadletters")
	dir := fs.String("dir", c.defaultDir(), "state directory of the local environment")
	stage := fs.String("stage", "", "only this stage's letters")
	jsonOut := fs.Bool("json", false, "print the letters as JSON lines, payloads included")
	show := fs.String("show", "", "print one letter in full, payload included")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	st, err := openLetters(*dir)
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s deadletters: %v\n", c.Name, err)
		return 1
	}
	if *show != "" {
		l, err := st.Get(*show)
		if err != nil {
			fmt.Fprintf(c.Stderr, "%s deadletters: %s: %v\n", c.Name, *show, err)
			return 1
		}
		b, _ := json.MarshalIndent(l, "", "  ")
		fmt.Fprintln(c.Stdout, string(b))
		return 0
	}
	ls, err := st.List(*stage)
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s deadletters: %v\n", c.Name, err)
		return 1
	}
	if *jsonOut {
		enc := json.NewEncoder(c.Stdout)
		for _, l := range ls {
			enc.Encode(l)
		}
		return 0
	}
	if len(ls) == 0 {
		fmt.Fprintln(c.Stdout, "no dead letters")
		return 0
	}
	tw := tabwriter.NewWriter(c.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tSTAGE\tCONDITION\tATTEMPTS\tWHAT\tERROR\n")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", l.ID, l.Stage, l.Condition, l.Attempts, l.Summary, oneLine(l.Error, 80))
	}
	tw.Flush()
	fmt.Fprintf(c.Stdout, "\n%d dead letters. Show one: %s deadletters --show ID; replay: %s replay ID... or --all\n", len(ls), c.Name, c.Name)
	return 0
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// ---- replay

func (c *Command) replay(ctx context.Context, args []string) int {
	fs := c.flags("replay")
	dir := fs.String("dir", c.defaultDir(), "state directory of the local environment")
	stage := fs.String("stage", "", "with --all: only this stage's letters")
	all := fs.Bool("all", false, "replay every dead letter")
	verbose := fs.Bool("verbose", false, "also print the stages' info logs (their warnings and errors are always printed)")
	s3Backend, ddbBackend := backendFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ids := fs.Args()
	st, err := openLetters(*dir)
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s replay: %v\n", c.Name, err)
		return 1
	}
	if *all {
		ls, err := st.List(*stage)
		if err != nil {
			fmt.Fprintf(c.Stderr, "%s replay: %v\n", c.Name, err)
			return 1
		}
		for _, l := range ls {
			ids = append(ids, l.ID)
		}
	}
	if len(ids) == 0 {
		fmt.Fprintf(c.Stderr, "%s replay: name letters to replay (IDs from '%s deadletters') or pass --all\n", c.Name, c.Name)
		return 2
	}
	p := &printer{w: c.Stdout}
	// A dev server running on the directory replays through its engine.
	if ep, err := os.ReadFile(filepath.Join(*dir, "endpoint")); err == nil {
		res, err := replayRemote(strings.TrimSpace(string(ep)), ids)
		if err == nil {
			return c.reportReplay(res, "the running dev server delivers them; its output shows the outcome")
		}
		if !errors.Is(err, errNoServer) {
			fmt.Fprintf(c.Stderr, "%s replay: %v\n", c.Name, err)
			return 1
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	stageLog := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level}))
	env, err := Start(ctx, c.App, Options{Dir: *dir, Addr: "127.0.0.1:0", Observer: p.delivery, StageLogger: stageLog, S3: *s3Backend, DynamoDB: *ddbBackend})
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s replay: %v\n", c.Name, err)
		return 1
	}
	res := env.ReplayAll(ctx, ids)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	env.eng.WaitIdle(wctx, 100*time.Millisecond)
	cancel()
	cctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	env.Close(cctx)
	return c.reportReplay(res, "")
}

var errNoServer = errors.New("no dev server")

func replayRemote(endpoint string, ids []string) ([]ReplayResult, error) {
	body, _ := json.Marshal(map[string]any{"IDs": ids})
	client := &http.Client{Timeout: 10 * time.Minute}
	resp, err := client.Post(endpoint+"/_nanopipe/replay", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, errNoServer
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, adminError(endpoint, resp)
	}
	var res []ReplayResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, err
	}
	return res, nil
}

func (c *Command) reportReplay(res []ReplayResult, note string) int {
	failed := 0
	for _, r := range res {
		if r.Error != "" {
			failed++
			fmt.Fprintf(c.Stdout, "replay %s (%s): %s\n", r.ID, r.Stage, r.Error)
		} else {
			fmt.Fprintf(c.Stdout, "replayed %s through stage %s\n", r.ID, r.Stage)
		}
	}
	if note != "" {
		fmt.Fprintln(c.Stdout, note)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// ---- output

// printer writes delivery lines, as text or JSON lines.
type printer struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

func (p *printer) raw(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, s)
}

func (p *printer) emit(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, _ := json.Marshal(v)
	p.w.Write(append(b, '\n'))
}

func (p *printer) note(s string) {
	if p.json {
		p.emit(map[string]any{"type": "note", "time": time.Now().UTC().Format(time.RFC3339Nano), "message": s})
		return
	}
	p.raw(time.Now().Format("15:04:05.000") + " " + s + "\n")
}

// DeliveryLine is the JSON form of one delivery line, as "dev --json"
// prints it, for tools that read the output: Type is "delivery", Time is
// RFC 3339 in UTC, DurationMS is in milliseconds, and the other fields are
// those of the Delivery it reports.
type DeliveryLine struct {
	Type       string  `json:"type"`
	Time       string  `json:"time"`
	Stage      string  `json:"stage"`
	Source     string  `json:"source"`
	Event      string  `json:"event"`
	Attempt    int     `json:"attempt"`
	Records    int     `json:"records"`
	DurationMS float64 `json:"duration_ms"`
	Outcome    string  `json:"outcome"`
	Failed     int     `json:"failed,omitempty"`
	Error      string  `json:"error,omitempty"`
	Letter     string  `json:"letter,omitempty"`
}

func (p *printer) delivery(d engine.Delivery) {
	if p.json {
		p.emit(DeliveryLine{Type: "delivery", Time: d.Time.UTC().Format(time.RFC3339Nano), Stage: d.Stage, Source: d.Source, Event: d.Event, Attempt: d.Attempt, Records: d.Records, DurationMS: float64(d.Duration.Microseconds()) / 1000, Outcome: d.Outcome, Failed: d.Failed, Error: d.Error, Letter: d.Letter})
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-14s %s", d.Time.Format("15:04:05.000"), d.Stage, d.Event)
	switch d.Outcome {
	case engine.OutcomeDeadLettered:
		fmt.Fprintf(&b, "  after %d attempts  dead-lettered %s: %s", d.Attempt, d.Letter, errorLine(d.Error))
	case engine.OutcomeDiscarded:
		fmt.Fprintf(&b, "  after %d attempts  discarded (on-failure Discard): %s", d.Attempt, errorLine(d.Error))
	default:
		fmt.Fprintf(&b, "  attempt %d  %s  %s", d.Attempt, fmtDuration(d.Duration), d.Outcome)
		if d.Error != "" {
			fmt.Fprintf(&b, ": %s", errorLine(d.Error))
		}
	}
	b.WriteByte('\n')
	p.raw(b.String())
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return d.Round(10 * time.Millisecond).String()
}
