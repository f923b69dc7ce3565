// Package lambdabuild builds an app's Lambda binary, the one way both the
// cdk package (for the deployed asset) and the local environment (for the
// runtime interface emulator) build it: what runs locally under the
// emulator is byte for byte what is deployed.
package lambdabuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Flags are the go build flags of a Lambda bootstrap: the lambda.norpc tag
// (aws-lambda-go's switch that drops its net/rpc entry point, which the
// provided.al2023 runtime never uses: a size option, not a different
// program) and flags that make the binary depend on the sources only
// (-trimpath, no VCS stamp, no symbol tables), so an unchanged app gives a
// byte-identical binary and an unchanged asset hash.
var Flags = []string{"-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w"}

// Env is the build environment for GOARCH goarch: linux, no cgo.
func Env(goarch string) []string {
	return append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
}

// Build builds package pkg (an import path, or a directory relative to
// dir; dir "" is the working directory) for linux/goarch into out. The
// binary is written next to out and renamed into place, so nothing ever
// executes or hashes a half-written file, and it is made executable (an
// asset hash ignores file modes; Lambda does not). A failed build returns
// the compiler's output in the error.
func Build(ctx context.Context, dir, pkg, goarch, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building the Lambda binary of %s needs the go command on PATH: %w", pkg, err)
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".bootstrap-*")
	if err != nil {
		return err
	}
	f.Close()
	tmp := f.Name()
	defer os.Remove(tmp)
	args := append(append([]string{"build"}, Flags...), "-o", tmp, pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = Env(goarch)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for linux/%s failed: %w\n%s", pkg, goarch, err, strings.TrimSpace(output.String()))
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
