package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// A backfill while dev runs on the same state directory goes through the
// running server (POST /_nanopipe/backfill): the backfill command cannot
// open the directory itself, and the server's engine, emulator slots and
// dead letters are the ones the backfill must use. The answer is a stream
// of JSON lines, one per progress report or dry-run line, then the result.

// backfillRequest is the body of POST /_nanopipe/backfill: BackfillOptions
// without what only the caller's process has.
type backfillRequest struct {
	Stage       string  `json:"stage"`
	Prefix      string  `json:"prefix,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Retries     int     `json:"retries"`
	RetryDelay  string  `json:"retry_delay,omitempty"` // a time.Duration
	DryRun      bool    `json:"dry_run,omitempty"`
}

// backfillLine is one line of the answer.
type backfillLine struct {
	Progress *BackfillProgress `json:"progress,omitempty"`
	List     string            `json:"list,omitempty"`
	Result   *BackfillProgress `json:"result,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// remoteCheckpoint is the checkpoint of a backfill run by a dev server:
// the one a backfill of the stage run on the directory itself keeps, so
// either resumes the other.
func remoteCheckpoint(dir, stage string) string {
	return filepath.Join(dir, "backfill", sanitize(stage)+".json")
}

// adminBackfill runs a backfill in this environment for a caller, until it
// ends or the caller goes away (the checkpoint keeps where it was).
func (e *Environment) adminBackfill(w http.ResponseWriter, r *http.Request, reply func(int, any)) {
	var in backfillRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		reply(400, map[string]string{"error": err.Error()})
		return
	}
	st := e.app.StageNamed(in.Stage)
	if st == nil {
		reply(400, map[string]string{"error": fmt.Sprintf("app %s has no stage %q", e.app.Name(), in.Stage)})
		return
	}
	delay := time.Second
	if in.RetryDelay != "" {
		d, err := time.ParseDuration(in.RetryDelay)
		if err != nil || d < 0 {
			reply(400, map[string]string{"error": fmt.Sprintf("retry_delay %q: a duration such as 1s", in.RetryDelay)})
			return
		}
		delay = d
	}
	opts := BackfillOptions{Stage: st, Prefix: in.Prefix, Rate: in.Rate, Concurrency: in.Concurrency, Retries: in.Retries, RetryDelay: delay, DryRun: in.DryRun}
	if e.opts.Dir != "" {
		opts.Checkpoint = remoteCheckpoint(e.opts.Dir, st.Name())
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(l backfillLine) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(l)
		if flusher != nil {
			flusher.Flush()
		}
	}
	opts.Progress = func(p BackfillProgress) { send(backfillLine{Progress: &p}) }
	opts.List = lineWriterFunc(func(line string) { send(backfillLine{List: line}) })
	prog, err := e.Backfill(r.Context(), opts)
	res := backfillLine{Result: &prog}
	if err != nil {
		res.Error = err.Error()
	}
	send(res)
}

// lineWriterFunc calls its function with every whole line written to it.
type lineWriterFunc func(line string)

func (f lineWriterFunc) Write(p []byte) (int, error) {
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l = strings.TrimSuffix(l, "\n"); l != "" {
			f(l)
		}
	}
	return len(p), nil
}

// backfillRemoteCtx runs a backfill through the dev server at endpoint:
// progress reports go to show, dry-run lines to list. An unreachable
// server is errNoServer. Cancelling ctx ends the request, and with it the
// backfill, which the checkpoint resumes.
func backfillRemoteCtx(ctx context.Context, endpoint string, req backfillRequest, show func(BackfillProgress), list io.Writer) (BackfillProgress, error) {
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/_nanopipe/backfill", bytes.NewReader(body))
	if err != nil {
		return BackfillProgress{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return BackfillProgress{}, ctx.Err()
		}
		return BackfillProgress{}, errNoServer
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return BackfillProgress{}, adminError(endpoint, resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var last BackfillProgress
	for sc.Scan() {
		var l backfillLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return BackfillProgress{}, fmt.Errorf("dev server at %s: %q: %w", endpoint, sc.Text(), err)
		}
		switch {
		case l.Result != nil:
			if l.Error != "" {
				return *l.Result, errors.New(l.Error)
			}
			return *l.Result, nil
		case l.Progress != nil:
			last = *l.Progress
			if show != nil {
				show(*l.Progress)
			}
		case l.List != "" && list != nil:
			fmt.Fprintln(list, l.List)
		}
	}
	if ctx.Err() != nil {
		return last, ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return last, fmt.Errorf("dev server at %s: %w", endpoint, err)
	}
	return last, fmt.Errorf("dev server at %s stopped before the backfill ended; run it again to resume from its checkpoint", endpoint)
}

// adminError is the error of a refused admin API request: the server's
// {"error": ...} message, or its body as it came.
func adminError(endpoint string, resp *http.Response) error {
	var e struct{ Error string }
	b, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	return fmt.Errorf("dev server at %s: %s", endpoint, e.Error)
}
