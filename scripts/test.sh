#!/usr/bin/env bash
# Runs every check CI runs: formatting, vet, and the whole test suite
# (unit, example, golden, local-environment and CDK template tests).
# Installs what the tests need first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# Tests that need an installed tool (the CDK CLI, cfn-lint) fail instead of
# skipping when CI is set.
export CI="${CI:-true}"

echo "test: gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "test: go vet"
go vet ./...

echo "test: go test"
go test -count=1 -timeout 30m ./...

# The runtime and the local environment once more under the race
# detector: their servers, engine and journals are concurrent, and a race
# there can end the process. Left out: the cdk package (it drives one jsii
# process from one goroutine) and the tests of the runtime interface
# emulator (their stages run in processes of their own, so the detector
# sees nothing there and only slows the cold starts they time).
echo "test: go test -race (runtime and local environment)"
race_pkgs=$(go list ./pipeline/... ./triggers/... ./stages/... ./pipelinetest/... ./local/... ./internal/... | grep -v '/local/internal/rie$')
go test -race -count=1 -timeout 30m -skip '^TestRIE' $race_pkgs

# The bounded soak test and the differential test against DynamoDB Local
# ran above; run them once more verbosely so their counts are in the log.
echo "test: soak and differential counts"
go test -count=1 -run '^TestSoak$' -v ./local/ | grep -aE 'soak:|^(--- |ok|FAIL)'
go test -count=1 -run '^TestDifferential$' -v ./local/internal/difftest/ | grep -aE 'seed [0-9]+,|^(--- |ok|FAIL)'
