package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPIFile fails when the public API differs from the committed API
// file, showing the difference and how to regenerate the file.
func TestAPIFile(t *testing.T) {
	root := filepath.Join("..", "..")
	got, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, File))
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(string(want), string(got)); d != "" {
		t.Errorf("the public API differs from %s (- in the file, + in the code):\n%s\nIf the change is intended, regenerate the file with `%s` and commit it.", File, d, Command)
	}
}

// TestGenerateListsSignatures checks the line format on identifiers every
// kind of declaration produces.
func TestGenerateListsSignatures(t *testing.T) {
	got, err := Generate(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pkg github.com/nanopipe/nanopipe/pipeline, func New(name string, opts ...Option) *App",
		"pkg github.com/nanopipe/nanopipe/pipeline, method (*Bucket) Created(opts ...triggers.ObjectOption) triggers.ObjectTrigger",
		"pkg github.com/nanopipe/nanopipe/triggers, type Change[T any] struct",
		"pkg github.com/nanopipe/nanopipe/triggers, type Change struct, Old *T",
		"pkg github.com/nanopipe/nanopipe/triggers, type ObjectOption interface { // unexported methods }",
		"pkg github.com/nanopipe/nanopipe/triggers, const Insert Kind",
		"pkg github.com/nanopipe/nanopipe/triggers, const MaxBatchSize = 10000",
	} {
		if !strings.Contains(string(got), want+"\n") {
			t.Errorf("API file lacks the line\n%s", want)
		}
	}
	for _, unwanted := range []string{"FunctionEnvironment", "SplitS3Event", "ObjectReadActions", "BatchResponse"} {
		if strings.Contains(string(got), unwanted) {
			t.Errorf("API file lists %s, which is not public API", unwanted)
		}
	}
}

func TestDiff(t *testing.T) {
	if d := Diff("a\nb\nd\n", "a\nc\nd\ne\n"); d != "-b\n+c\n+e\n" {
		t.Errorf("Diff = %q", d)
	}
	if d := Diff("a\n", "a\n"); d != "" {
		t.Errorf("Diff of equal files = %q", d)
	}
}
