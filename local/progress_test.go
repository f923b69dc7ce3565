package local

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestBuildProgress checks dev --rie says what it is doing during the
// build of the Lambda binary, and how long it took.
func TestBuildProgress(t *testing.T) {
	var b bytes.Buffer
	done := buildProgress(&b, "example.com/orders")
	done(nil)
	out := b.String()
	if !strings.Contains(out, "building the Lambda binary (example.com/orders, linux/") || !strings.Contains(out, "built the Lambda binary in") {
		t.Errorf("progress:\n%s", out)
	}
	b.Reset()
	buildProgress(&b, "")(errors.New("failed"))
	if out := b.String(); !strings.Contains(out, "this command's main package") || strings.Contains(out, "built") {
		t.Errorf("progress of a failed build:\n%s", out)
	}
	buildProgress(nil, "x")(nil) // no writer: nothing, no panic
}
