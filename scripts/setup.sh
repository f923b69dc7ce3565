#!/usr/bin/env bash
# Installs what nanopipe's tests and local runs need on a fresh machine:
# Go modules, and the tools the other setup scripts install (the AWS CLI
# for the local environment's tests, the CDK CLI for synthesis). Safe to
# run again: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "setup: go modules"
go mod download

for s in scripts/local-setup.sh scripts/cdk-setup.sh scripts/backends-setup.sh; do
	if [ -f "$s" ]; then
		echo "setup: $s"
		bash "$s"
	fi
done
bash scripts/rie-setup.sh # aws-lambda-rie into .tools/bin: dev --rie/--watch and the emulator tests
