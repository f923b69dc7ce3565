package cdk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/nanopipe/nanopipe/pipeline"
)

// goarch is the GOARCH of a Lambda architecture.
func goarch(a pipeline.Arch) string {
	if a == pipeline.X86_64 {
		return "amd64"
	}
	return "arm64"
}

// buildBootstrap builds the app's Lambda main for arch into a directory
// holding nothing but an executable `bootstrap`, and returns the
// directory: the asset every function of that architecture shares.
//
// The flags make the binary depend on the sources only (-trimpath, no VCS
// stamp, no symbol tables), so an unchanged app gives a byte-identical
// bootstrap, an unchanged asset hash, and no redeploy of its functions.
// The directory lives in the user cache, keyed by working directory,
// package and architecture, so repeated synths reuse it; Go's build cache
// makes a rebuild of unchanged sources a relink.
func buildBootstrap(pkg string, arch pipeline.Arch) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("cdk: building the Lambda binary of %s needs the go command on PATH: %w", pkg, err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("cdk: building %s: %w", pkg, err)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	key := sha256.Sum256([]byte(wd + "\x00" + pkg + "\x00" + string(arch)))
	root := filepath.Join(base, "nanopipe", "bootstrap")
	dir := filepath.Join(root, hex.EncodeToString(key[:8])+"-"+goarch(arch))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cdk: building %s: %w", pkg, err)
	}
	// Build next to the asset directory and rename into it, so a
	// concurrent synth never hashes a half-written binary and the asset
	// directory never holds anything but bootstrap.
	tmp, err := os.MkdirTemp(root, "build-")
	if err != nil {
		return "", fmt.Errorf("cdk: building %s: %w", pkg, err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bootstrap")
	cmd := exec.Command(goBin, "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch(arch), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cdk: go build %s for linux/%s failed: %w\n%s", pkg, goarch(arch), err, strings.TrimSpace(stderr.String()))
	}
	// The asset hash ignores file modes: Lambda needs bootstrap executable.
	if err := os.Chmod(out, 0o755); err != nil {
		return "", fmt.Errorf("cdk: building %s: %w", pkg, err)
	}
	if err := os.Rename(out, filepath.Join(dir, "bootstrap")); err != nil {
		return "", fmt.Errorf("cdk: building %s: %w", pkg, err)
	}
	return dir, nil
}

// checkAssetDir checks a prebuilt asset directory.
func checkAssetDir(dir string, arch pipeline.Arch) error {
	fi, err := os.Stat(filepath.Join(dir, "bootstrap"))
	if err != nil {
		return fmt.Errorf("cdk: Props.Prebuilt[%s] = %q: %w; the directory must hold the linux/%s Lambda binary named bootstrap", arch, dir, err, goarch(arch))
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("cdk: Props.Prebuilt[%s]: %s is not executable; chmod 0755 it (the asset hash ignores file modes, Lambda does not)", arch, filepath.Join(dir, "bootstrap"))
	}
	return nil
}
