package lambdabuild_test

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanopipe/nanopipe/internal/lambdabuild"
)

// TestBuildIsReproducible builds the same package twice from two copies in
// different directories: the binaries must be identical (so an unchanged
// app keeps its asset hash), static linux executables for the asked
// architecture.
func TestBuildIsReproducible(t *testing.T) {
	src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"
	var bins [][]byte
	for i := range 2 {
		dir := filepath.Join(t.TempDir(), "copy", strings.Repeat("x", i+1))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/hello\n\ngo 1.26\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644)
		out := filepath.Join(dir, "asset", "bootstrap")
		if err := lambdabuild.Build(context.Background(), dir, ".", "arm64", out); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(out)
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("bootstrap %v, mode %v", err, fi.Mode())
		}
		f, err := elf.Open(out)
		if err != nil {
			t.Fatalf("not an ELF executable: %v", err)
		}
		if f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_EXEC {
			t.Errorf("machine %v type %v, want a static arm64 executable", f.Machine, f.Type)
		}
		f.Close()
		b, _ := os.ReadFile(out)
		bins = append(bins, b)
		entries, _ := os.ReadDir(filepath.Dir(out))
		if len(entries) != 1 {
			t.Errorf("the asset directory holds %d files, want only bootstrap", len(entries))
		}
	}
	if !bytes.Equal(bins[0], bins[1]) {
		t.Error("two builds of the same sources in different directories differ: the asset hash would change")
	}
}

func TestBuildErrorCarriesCompilerOutput(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/bad\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644)
	err := lambdabuild.Build(context.Background(), dir, ".", "amd64", filepath.Join(dir, "out", "bootstrap"))
	if err == nil || !strings.Contains(err.Error(), "undefined: undefinedThing") {
		t.Fatalf("err = %v", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "out", "bootstrap")); serr == nil {
		t.Error("a failed build left a bootstrap")
	}
}
