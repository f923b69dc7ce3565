package cdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nanopipe/nanopipe/internal/lambdabuild"
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
	if err := lambdabuild.Build(context.Background(), "", pkg, goarch(arch), filepath.Join(dir, "bootstrap")); err != nil {
		return "", fmt.Errorf("cdk: %w", err)
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
