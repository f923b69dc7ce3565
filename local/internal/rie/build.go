package rie

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/nanopipe/nanopipe/internal/lambdabuild"
)

// BuildOptions configure Build.
type BuildOptions struct {
	// Package is the app's Lambda main: an import path, or a directory
	// relative to Dir such as "./examples/photos".
	Package string
	// Dir is where go build runs (the module holding Package); "" is the
	// working directory.
	Dir string
	// Out is the path of the binary to write; "" writes "bootstrap" into a
	// new temporary directory.
	Out string
}

// Build builds the app's Lambda main for linux and the architecture of
// this machine, with the cdk package's flags and CGO_ENABLED=0, and
// returns the path of the executable. A failed build returns the
// compiler's output in the error.
func Build(ctx context.Context, opts BuildOptions) (string, error) {
	if opts.Package == "" {
		return "", fmt.Errorf("rie: build: no package named: give the Go package of the app's Lambda main")
	}
	out := opts.Out
	if out == "" {
		dir, err := os.MkdirTemp("", "nanopipe-bootstrap-")
		if err != nil {
			return "", fmt.Errorf("rie: build %s: %w", opts.Package, err)
		}
		out = filepath.Join(dir, "bootstrap")
	}
	out, err := filepath.Abs(out)
	if err != nil {
		return "", fmt.Errorf("rie: build %s: %w", opts.Package, err)
	}
	// The cdk package builds the deployed asset the same way.
	if err := lambdabuild.Build(ctx, opts.Dir, opts.Package, runtime.GOARCH, out); err != nil {
		return "", fmt.Errorf("rie: %w", err)
	}
	return out, nil
}

// EmulatorModule is the emulator scripts/rie-setup.sh installs.
const EmulatorModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// FindEmulator returns the path of aws-lambda-rie: $NANOPIPE_RIE, else
// .tools/bin/aws-lambda-rie in the working directory or one of its
// parents (where scripts/rie-setup.sh installs it), else the PATH.
func FindEmulator() (string, error) {
	if p := os.Getenv("NANOPIPE_RIE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("rie: NANOPIPE_RIE=%s: %w", p, err)
		}
		return p, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, ".tools", "bin", "aws-lambda-rie")
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("rie: aws-lambda-rie (AWS's Lambda Runtime Interface Emulator) not found: install it with `CGO_ENABLED=0 go install %s` and put $(go env GOPATH)/bin on your PATH, or set NANOPIPE_RIE to its path (in a nanopipe checkout, scripts/rie-setup.sh installs it into .tools/bin)", EmulatorModule)
}
