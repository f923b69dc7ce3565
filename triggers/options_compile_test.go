package triggers_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestOptionKindsAreCompileErrors builds small programs that give an
// option of one kind of trigger to the other: each must fail to compile,
// naming the option type the trigger takes, while a program using every
// kind correctly builds.
func TestOptionKindsAreCompileErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs with the go command")
	}
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := func(dir string) (string, error) {
		cmd := exec.Command(goCmd, "build", "-o", filepath.Join(t.TempDir(), "prog"), "./testdata/misuse/"+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	tests := []struct {
		dir  string
		want string
	}{
		{"batchsize_on_object", "triggers.StreamOption does not implement triggers.ObjectOption"},
		{"prefix_on_stream", "triggers.ObjectOption does not implement triggers.StreamOption"},
		{"kind_on_object", "triggers.Kind does not implement triggers.ObjectOption"},
		{"where_on_object", "triggers.StreamOption does not implement triggers.ObjectOption"},
		{"handles", "in argument to bucket.Created"},
		{"handles", "triggers.Kind does not implement triggers.ObjectOption"},
		{"handles", "in argument to table.Changes"},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.want, func(t *testing.T) {
			out, err := build(tt.dir)
			if err == nil {
				t.Fatalf("testdata/misuse/%s compiled; want a compile error", tt.dir)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("compile error of testdata/misuse/%s:\n%s\nwant it to contain %q", tt.dir, out, tt.want)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		if out, err := build("valid"); err != nil {
			t.Fatalf("testdata/misuse/valid does not compile: %v\n%s", err, out)
		}
	})
}
