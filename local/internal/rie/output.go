package rie

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/nanopipe/nanopipe/internal/failreason"
)

// lineWriter takes what an emulator and its runtime print and passes it
// on a line at a time: the runtime's JSON log lines to Options.Logger
// (with their time, level and attributes), other lines to Options.Output,
// and the emulator's per-invocation chatter nowhere (the engine reports
// every invocation and its error itself).
type lineWriter struct {
	r   *Runner
	fn  string
	buf []byte
	// note, when set, is told of the lines the invocation in flight waits
	// for: a record's failure reason, and the emulator's END line.
	note func(seq, reason string, end bool)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a runaway line: pass it on in pieces
		w.line(w.buf)
		w.buf = nil
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	if w != nil && len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = nil
	}
}

var (
	// START/END/REPORT RequestId: ... lines of the emulator.
	reportLine = regexp.MustCompile(`^(START|END|REPORT) RequestId: `)
	// The emulator's own log lines, but for its own crashes: the engine
	// reports timeouts and runtime exits, with the emulator's message.
	emulatorInfo = regexp.MustCompile(`^\d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2},\d{3} \[(INFO|DEBUG|TRACE|WARNING|WARN|ERROR)\] \(rapid\)`)
	// aws-lambda-go echoing the error response it sends.
	errorEcho = regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \{"errorMessage"`)
	// The AWS SDK's debug notes, such as a response without a checksum
	// (the local S3 sends none).
	sdkDebug = regexp.MustCompile(`^SDK \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} DEBUG `)
)

// emfPrefix starts every metric line the runtime writes.
var emfPrefix = []byte(`{"_aws":`)

func (w *lineWriter) line(b []byte) {
	b = bytes.TrimRight(b, "\r")
	if w.note != nil && bytes.HasPrefix(b, []byte("END RequestId: ")) {
		w.note("", "", true)
	}
	if len(bytes.TrimSpace(b)) == 0 || reportLine.Match(b) || emulatorInfo.Match(b) || errorEcho.Match(b) || sdkDebug.Match(b) {
		return
	}
	if m := w.r.opts.Metrics; m != nil && bytes.HasPrefix(b, emfPrefix) {
		m.Write(append(append(make([]byte, 0, len(b)+1), b...), '\n'))
		return
	}
	if b[0] == '{' && w.logJSON(b) {
		return
	}
	if out := w.r.opts.Output; out != nil {
		w.r.outMu.Lock()
		fmt.Fprintf(out, "function %s: %s\n", w.fn, b)
		w.r.outMu.Unlock()
	}
}

// logJSON re-logs one slog JSON line of the runtime, keeping the order of
// its attributes.
func (w *lineWriter) logJSON(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	var (
		at    = time.Now()
		level = slog.LevelInfo
		msg   string
		attrs []slog.Attr
	)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return false
		}
		k, _ := kt.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return false
		}
		switch k {
		case slog.TimeKey:
			if s, ok := v.(string); ok {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					at = t
				}
			}
		case slog.LevelKey:
			if s, ok := v.(string); ok {
				level.UnmarshalText([]byte(s))
			}
		case slog.MessageKey:
			msg, _ = v.(string)
		default:
			attrs = append(attrs, slog.Any(k, v))
		}
	}
	if msg == failreason.LogMessage && w.note != nil {
		var seq, reason string
		for _, a := range attrs {
			switch a.Key {
			case failreason.SeqKey:
				seq, _ = a.Value.Any().(string)
			case failreason.ErrorKey:
				reason, _ = a.Value.Any().(string)
			}
		}
		w.note(seq, reason, false)
	}
	l := w.r.opts.Logger
	if l == nil {
		return true
	}
	ctx := context.Background()
	if !l.Handler().Enabled(ctx, level) {
		return true
	}
	rec := slog.NewRecord(at, level, msg, 0)
	rec.AddAttrs(attrs...)
	l.Handler().Handle(ctx, rec)
	return true
}
