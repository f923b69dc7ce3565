package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/internal/testutil"
	"github.com/nanopipe/nanopipe/local"
)

// TestDevDemo runs "photos dev" as the README's first command does: it
// uploads the bundled sample itself and reports each stage firing and what
// the stages produced.
func TestDevDemo(t *testing.T) {
	out := &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := &local.Command{App: app.App, Name: "photos", SampleFile: "testdata/sample.jpg", Demo: demo("testdata/sample.jpg"), Stdout: out, Stderr: out}
	done := make(chan int, 1)
	go func() { done <- cmd.Run(ctx, []string{"dev", "--dir", t.TempDir(), "--port", "0"}) }()
	want := []string{
		"thumbnail      ObjectCreated:Put s3://photos-uploads/incoming/samples/sample.jpg  attempt 1",
		"count-albums   1 record",
		"demo: thumbnail  s3://photos-uploads/thumbs/samples/sample.png",
		`demo: photo      table photos: {album: "samples", height: 240, id: "samples/sample.jpg"`,
		`demo: album      table albums: {album: "samples", photos: 1}`,
		"demo: done",
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := out.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("dev exited with %d:\n%s", code, s)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q:\n%s", missing, s)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("dev exited with %d:\n%s", code, out)
	}
	// The summary counts one successful invocation of each stage that fired.
	if !regexp.MustCompile(`thumbnail\s+1\s+1\s+0\s+1\s`).MatchString(out.String()) {
		t.Errorf("summary does not show one ok thumbnail invocation:\n%s", out)
	}
}
