package proc

import (
	"bytes"
	"sync"
)

// tailSize is how much of a child's output Tail keeps.
const tailSize = 16 << 10

// Tail is an io.Writer keeping the last 16 KB written to it: a child
// process's output, for the error that says why it did not start.
type Tail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if n := t.buf.Len(); n > tailSize {
		b := append([]byte(nil), t.buf.Bytes()[n-tailSize:]...)
		t.buf.Reset()
		t.buf.Write(b)
	}
	return len(p), nil
}

// String returns what is kept.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
