#!/usr/bin/env bash
# Installs AWS's Lambda Runtime Interface Emulator (aws-lambda-rie), which
# the local environment's --rie mode, `dev --watch` and the tests of the
# real Lambda entry path run each function's bootstrap under. It is built
# from the Go module proxy into the project-local .tools/bin (nothing
# global, nothing binary committed). Idempotent: an installed binary of the
# pinned version is kept.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin"
module="github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
version="v0.0.0-20261030222936-bef5c4ba774d"
stamp="$bin/.aws-lambda-rie.version"

if [ -x "$bin/aws-lambda-rie" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
	echo "rie-setup: aws-lambda-rie $version present in .tools/bin"
	exit 0
fi
mkdir -p "$bin"
echo "rie-setup: go install $module@$version"
# CGO off: a static binary, like the bootstraps it runs. The emulator never
# runs with its default addresses: the local environment passes both
# --runtime-interface-emulator-address and --runtime-api-address on 127.0.0.1.
GOBIN="$bin" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "$module@$version"
echo "$version" >"$stamp"
echo "rie-setup: installed $bin/aws-lambda-rie"
