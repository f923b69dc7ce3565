// Package testutil holds small helpers shared by nanopipe's own tests.
package testutil

import (
	"bytes"
	"sync"
)

// SyncBuffer collects output written concurrently (a command's stdout and
// stderr, logs from several goroutines) and can be read while it grows.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
