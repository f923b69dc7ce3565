#!/usr/bin/env bash
# Installs what the local environment's tests need: the AWS CLI, which the
# tests of examples/photos drive against the local endpoint. Idempotent:
# it installs nothing that is there already.
set -euo pipefail

if command -v aws >/dev/null 2>&1; then
	echo "local-setup: aws CLI present: $(aws --version 2>&1 | head -n1)"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "local-setup: the AWS CLI is missing and apt-get is not available; install awscli (v1 or v2) by other means" >&2
	exit 1
fi
echo "local-setup: installing awscli from Debian"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq awscli >/dev/null
aws --version
