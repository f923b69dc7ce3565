// Package journal is the append-only log the embedded servers persist their
// state in: one JSON value per line, replayed at open and compacted into a
// fresh log of the current state.
//
// # Why a log
//
// The local environment writes thousands of small changes a second (items,
// stream records, object versions). Appending a line is cheaper than
// rewriting files, and replaying a log at start-up rebuilds memory exactly.
// A torn last line (the process was killed mid-write) is ignored at replay:
// what was acknowledged before it is kept.
package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Journal is an open log. A nil *Journal is valid and keeps nothing, for
// in-memory environments. Its methods are safe for concurrent use.
type Journal struct {
	mu   sync.Mutex
	path string
	f    *os.File
	w    *bufio.Writer
	buf  bytes.Buffer
	enc  *json.Encoder
}

// Open replays the log at path, calling replay with each line, then opens it
// for appending. A missing file is an empty log. A line that does not end in
// a newline (a torn write) ends the replay.
func Open(path string, replay func(line []byte) error) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if f, err := os.Open(path); err == nil {
		r := bufio.NewReaderSize(f, 1<<20)
		for n := 1; ; n++ {
			line, err := r.ReadBytes('\n')
			if errors.Is(err, io.EOF) {
				break // a torn last line is dropped
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("journal: read %s: %w", path, err)
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if err := replay(line); err != nil {
				f.Close()
				return nil, fmt.Errorf("journal: %s line %d: %w", path, n, err)
			}
		}
		f.Close()
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{path: path}
	if err := j.open(); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *Journal) open() error {
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.f, j.w = f, bufio.NewWriterSize(f, 64<<10)
	j.enc = json.NewEncoder(&j.buf)
	j.enc.SetEscapeHTML(false)
	return nil
}

// Append writes v as one line and hands it to the operating system before
// returning, so a crash of the process (not of the machine) keeps it.
func (j *Journal) Append(v any) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal: closed")
	}
	j.buf.Reset()
	if err := j.enc.Encode(v); err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	if err := lossless(j.buf.Bytes()); err != nil {
		return err
	}
	if _, err := j.w.Write(j.buf.Bytes()); err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	return nil
}

// Rewrite replaces the log with what write emits (the current state), so
// the log does not grow without end. The new log is written beside the old
// one and renamed over it.
func (j *Journal) Rewrite(write func(emit func(v any) error) error) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	tmp := j.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("journal: compact: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var line bytes.Buffer
	lenc := json.NewEncoder(&line)
	lenc.SetEscapeHTML(false)
	emit := func(v any) error {
		line.Reset()
		if err := lenc.Encode(v); err != nil {
			return err
		}
		if err := lossless(line.Bytes()); err != nil {
			return err
		}
		_, err := w.Write(line.Bytes())
		return err
	}
	if err := write(emit); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("journal: compact: %w", err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("journal: compact: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal: compact: %w", err)
	}
	f.Close()
	if j.f != nil {
		j.w.Flush()
		j.f.Close()
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return fmt.Errorf("journal: compact: %w", err)
	}
	return j.open()
}

// ErrNotUTF8 is returned for a value holding a string that is not valid
// UTF-8: JSON would replace its bytes, so it would come back changed from
// a replay. The journal refuses it rather than keep it lossily.
var ErrNotUTF8 = errors.New("journal: a string is not valid UTF-8 and would not survive a restart unchanged")

// lossless checks an encoded line for what encoding/json writes in place of
// bytes that are not UTF-8: the escape \ufffd. A U+FFFD that was in the
// value is written as itself, and a backslash as \\, so an escape is a
// "\ufffd" preceded by an even number of backslashes.
func lossless(line []byte) error {
	const esc = `\ufffd`
	for off := 0; ; {
		i := bytes.Index(line[off:], []byte(esc))
		if i < 0 {
			return nil
		}
		i += off
		n := 0
		for k := i - 1; k >= 0 && line[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return ErrNotUTF8
		}
		off = i + len(esc)
	}
}

// Close flushes and closes the log.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.w.Flush()
	if e := j.f.Sync(); err == nil {
		err = e
	}
	if e := j.f.Close(); err == nil {
		err = e
	}
	j.f = nil
	return err
}
