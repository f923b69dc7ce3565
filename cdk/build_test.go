package cdk

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanopipe/nanopipe/pipeline"
)

// TestBuildBootstrap builds a real binary for each architecture: linux,
// the right machine, static, executable, alone in its directory, and
// byte-identical when built again (so the asset hash, and with it the
// deployed code, stays the same for an unchanged app).
func TestBuildBootstrap(t *testing.T) {
	isolateAssetCache(t)
	for _, tt := range []struct {
		arch    pipeline.Arch
		machine elf.Machine
	}{
		{pipeline.Arm64, elf.EM_AARCH64},
		{pipeline.X86_64, elf.EM_X86_64},
	} {
		t.Run(string(tt.arch), func(t *testing.T) {
			dir, err := buildBootstrap("./testdata/hello", tt.arch)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name() != "bootstrap" {
				t.Fatalf("asset directory holds %v, want bootstrap alone", entries)
			}
			path := filepath.Join(dir, "bootstrap")
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("bootstrap mode %v, want 0755", fi.Mode().Perm())
			}
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tt.machine || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
				t.Errorf("bootstrap is %v/%v, want linux %v", f.OSABI, f.Machine, tt.machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("bootstrap is dynamically linked; CGO must be off")
				}
			}
			first, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			again, err := buildBootstrap("./testdata/hello", tt.arch)
			if err != nil {
				t.Fatal(err)
			}
			second, err := os.ReadFile(filepath.Join(again, "bootstrap"))
			if err != nil {
				t.Fatal(err)
			}
			if again != dir || !bytes.Equal(first, second) {
				t.Error("a rebuild of unchanged sources differs: the asset hash would change")
			}
		})
	}
}

func TestBuildFailure(t *testing.T) {
	isolateAssetCache(t)
	_, err := buildBootstrap("./testdata/does-not-exist", pipeline.Arm64)
	if err == nil {
		t.Fatal("building a missing package succeeded")
	}
}

// isolateAssetCache points the asset directories at a temporary user
// cache, keeping Go's own build cache where it is (it also lives in the
// user cache by default, and a cold one would compile the standard
// library again).
func isolateAssetCache(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(out)))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
}
