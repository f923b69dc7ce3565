#!/usr/bin/env bash
# Installs the CDK tooling nanopipe's cdk package and examples use, locally
# under .tools/ at the repository root (nothing global):
#
#   aws-cdk      the CDK CLI (`cdk synth`, `cdk deploy`), .tools/node_modules/.bin/cdk
#   aws-cdk-lib  the JavaScript library, same version as the Go module
#                github.com/aws/aws-cdk-go/awscdk/v2; only the synth benchmark's
#                JavaScript comparison app uses it
#   constructs   aws-cdk-lib's peer dependency, same version as the Go module
#   cfn-lint     the CloudFormation linter the tests run on every synthesized
#                template (Python; installed with pip when missing)
#
# Each examples/*/cdk directory gets node_modules, a link to
# .tools/node_modules, so `npx cdk synth` there finds this CLI offline.
#
# Idempotent: when the pinned versions are installed already it only
# checks the links and needs no network, so it is safe to run at the start
# of every CI run.
# The versions of aws-cdk-lib and constructs follow go.mod, so a bump of the
# Go modules is picked up here without editing this file.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
cli_version="2.1148.1"

gomod_version() {
	# The version go.mod requires for a module, without the leading "v".
	awk -v m="$1" '$1 == m { sub(/^v/, "", $2); print $2; exit } $1 == "require" && $2 == m { sub(/^v/, "", $3); print $3; exit }' "$root/go.mod"
}
lib_version="$(gomod_version github.com/aws/aws-cdk-go/awscdk/v2)"
constructs_version="$(gomod_version github.com/aws/constructs-go/constructs/v10)"
if [[ -z "$lib_version" || -z "$constructs_version" ]]; then
	echo "cdk-setup: go.mod does not require awscdk/v2 and constructs/v10; run: go get github.com/aws/aws-cdk-go/awscdk/v2@VERSION" >&2
	exit 1
fi

installed() {
	# Prints the installed version of an npm package under .tools, or nothing.
	local pj="$tools/node_modules/$1/package.json"
	[[ -f "$pj" ]] && node -e 'process.stdout.write(require(process.argv[1]).version)' "$pj"
}

# npx resolves a command from the node_modules of the nearest directory
# holding one; each example's cdk directory gets a link to .tools/
# node_modules, so `npx cdk synth` there runs this CLI, offline.
link_examples() {
	local dir
	for dir in "$root"/examples/*/cdk; do
		[[ -f "$dir/cdk.json" ]] || continue
		if [[ ! -e "$dir/node_modules" ]]; then
			ln -sfn ../../../.tools/node_modules "$dir/node_modules"
		fi
	done
}

# The repository ignores what this script installs and links.
ignore() {
	local gi="$root/.gitignore" pattern="$1" probe="$2"
	if command -v git >/dev/null && git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$root" check-ignore -q "$probe" && return 0
	elif [[ -f "$gi" ]] && grep -qxF "$pattern" "$gi"; then
		return 0
	fi
	echo "$pattern" >>"$gi"
}

ignore_and_link() {
	ignore ".tools/" ".tools"
	# node_modules/ (with the slash) does not match the links, which are files.
	ignore "node_modules" "examples/photos/cdk/node_modules"
	link_examples
}

cfn_lint_version="1.51.0"
# cfn-lint: any 1.x on PATH will do; otherwise pip installs the pinned one
# for this user.
if ! command -v cfn-lint >/dev/null; then
	if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
		echo "cdk-setup: installing cfn-lint==$cfn_lint_version with pip (user site)" >&2
		python3 -m pip install --user --quiet "cfn-lint==$cfn_lint_version" >&2 ||
			python3 -m pip install --user --quiet --break-system-packages "cfn-lint==$cfn_lint_version" >&2
	fi
	if ! command -v cfn-lint >/dev/null; then
		echo "cdk-setup: cfn-lint not found; install it with pip (python3 -m pip install --user cfn-lint==$cfn_lint_version, then put ~/.local/bin on PATH), pipx (pipx install cfn-lint==$cfn_lint_version) or Homebrew (brew install cfn-lint)" >&2
		exit 1
	fi
fi

if [[ "$(installed aws-cdk)" == "$cli_version" &&
	"$(installed aws-cdk-lib)" == "$lib_version" &&
	"$(installed constructs)" == "$constructs_version" ]]; then
	ignore_and_link
	exit 0
fi

if ! command -v npm >/dev/null; then
	echo "cdk-setup: npm not found; install Node.js 20 or later (Debian: apt-get install nodejs npm)" >&2
	exit 1
fi

mkdir -p "$tools"
# A package.json of its own keeps npm from walking up into the repository.
if [[ ! -f "$tools/package.json" ]]; then
	printf '{\n  "name": "nanopipe-tools",\n  "private": true\n}\n' >"$tools/package.json"
fi
echo "cdk-setup: installing aws-cdk@$cli_version aws-cdk-lib@$lib_version constructs@$constructs_version into $tools" >&2
(cd "$tools" && npm install --no-audit --no-fund --no-update-notifier --save-exact \
	"aws-cdk@$cli_version" "aws-cdk-lib@$lib_version" "constructs@$constructs_version" >&2)

ignore_and_link
