// Package tracked wraps an http.ResponseWriter to note whether the
// response was started, so that a handler that panics is answered with an
// error only when nothing was sent yet.
package tracked

import "net/http"

// Writer is an http.ResponseWriter that records in Wrote whether the
// header or any of the body was written (or flushed).
type Writer struct {
	http.ResponseWriter
	Wrote bool
}

func (t *Writer) WriteHeader(code int) {
	t.Wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *Writer) Write(b []byte) (int, error) {
	t.Wrote = true
	return t.ResponseWriter.Write(b)
}

// Flush flushes the underlying writer when it can.
func (t *Writer) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		t.Wrote = true
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *Writer) Unwrap() http.ResponseWriter { return t.ResponseWriter }
