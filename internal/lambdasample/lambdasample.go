// Package lambdasample reads the sample events aws-lambda-go ships in its
// events/testdata, from the module cache, for tests that check decoding
// against the real AWS samples. It is for tests only.
package lambdasample

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Path returns the path of the sample named name. The test fails, rather
// than skips, when the module cannot be found: the samples are the
// reference.
func Path(t testing.TB, name string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Fatalf("locate github.com/aws/aws-lambda-go: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("github.com/aws/aws-lambda-go is not in the module cache (go mod download)")
	}
	return filepath.Join(dir, "events", "testdata", name)
}

// Read returns the sample named name.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, name))
	if err != nil {
		t.Fatalf("read aws-lambda-go sample %s: %v", name, err)
	}
	return b
}
