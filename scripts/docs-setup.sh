#!/usr/bin/env bash
# Installs what the documentation's generated pictures need: Graphviz's
# dot, which renders examples/*/pipeline.dot to pipeline.svg
# (go run ./internal/diagram/cmd). The Mermaid and DOT text is generated
# and checked without it. Safe to run again: it does nothing when dot is
# installed. Installs with apt-get (Debian, Ubuntu) as root or with sudo.
set -euo pipefail

if command -v dot >/dev/null; then
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	echo "docs-setup: Graphviz's dot is missing and apt-get is not available; install Graphviz with your package manager" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "docs-setup: installing Graphviz needs root; run: apt-get install graphviz" >&2
		exit 1
	fi
	sudo="sudo"
fi
echo "docs-setup: installing graphviz" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends graphviz >&2
