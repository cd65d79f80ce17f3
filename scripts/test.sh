#!/usr/bin/env bash
# The test command (README.md): formatting, vet, staticcheck, and the race-enabled
# tests of every module in the repository, including the interop suite against
# real OAuth2 servers from npm and one-iteration runs of every benchmark.
#
# It never skips silently. What this machine cannot run is detected first and
# printed in the plan, then named again at the end with how to run it:
#
#   interop        the interop/ module's tests: needs Node.js >= 20 and npm
#                  (and the npm registry, for `npm ci` in interop/servers).
#                  Once those are there, its tests run with
#                  TENANTAUTH_REQUIRE_ALL=1: a server that does not start
#                  fails the run.
#   race detector  go test -race: needs cgo and a C compiler; without them
#                  the tests run without -race
#   staticcheck    installed with `go install` when missing: needs the Go
#                  module proxy
#   redis          the shared/redis and examples/replicas modules' tests
#                  against a real redis-server (Debian: apt-get install
#                  redis-server; .ci/run installs it); without it they skip
#
# Variables:
#
#   TENANTAUTH_REQUIRE_ALL=1  anything that cannot run is a failure (exit 1),
#                             not a skip. CI sets it (.ci/run). The interop
#                             tests read it too: they fail instead of
#                             skipping when their servers cannot start.
#   TENANTAUTH_TEST_DRYRUN=1  only detect what can run, print the plan and the
#                             skip/fail decision, and exit as the real run
#                             would after detection; runs no go command that
#                             builds or tests, installs nothing.
#   STATICCHECK_VERSION       default v0.8.2.
#
# The last lines are "all checks passed", "packages: N passed, M failed"
# and "skipped suites: …" ("none" when everything ran).
set -euo pipefail
cd "$(dirname "$0")/.."

modules=(. interop benchmarks xoauth2 shared/redis shared/redis/internal/clientcompare examples/replicas otel examples/observability)
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}

on() { [ -n "${1:-}" ] && [ "$1" != 0 ]; }
require_all=false
on "${TENANTAUTH_REQUIRE_ALL:-}" && require_all=true
dryrun=false
on "${TENANTAUTH_TEST_DRYRUN:-}" && dryrun=true

step() { printf '\n== %s\n' "$*"; }

if ! command -v go >/dev/null 2>&1; then
	echo "scripts/test.sh: FAIL: go not found in PATH (go.mod asks for go $(sed -n 's/^go //p' go.mod))" >&2
	exit 1
fi

# ---- detection -------------------------------------------------------------

# skipped and skip_how hold, per suite name, why it cannot run and how to run it.
declare -A skipped=() skip_how=()
skip_order=()
skip() { # name reason how
	skipped[$1]=$2
	skip_how[$1]=$3
	skip_order+=("$1")
}

interop_how="install Node.js >= 20 and npm, then: bash interop/setup.sh && (cd interop && go test -race ./...) (see interop/README.md)"
detect_interop() {
	if ! command -v node >/dev/null 2>&1; then
		skip interop "node not found in PATH" "$interop_how"
		return
	fi
	local version major
	version=$(node --version 2>/dev/null || true)
	major=${version#v}
	major=${major%%.*}
	if ! [[ "$major" =~ ^[0-9]+$ ]]; then
		skip interop "cannot tell the version of $(command -v node) (node --version said \"$version\")" "$interop_how"
		return
	fi
	if [ "$major" -lt 20 ]; then
		skip interop "Node.js >= 20 required, found $version" "$interop_how"
		return
	fi
	if ! command -v npm >/dev/null 2>&1; then
		skip interop "npm not found in PATH (node $version is)" "$interop_how"
		return
	fi
	interop_node=$version
}

race_flag=-race
detect_race() {
	local cgo cc
	cgo=$(go env CGO_ENABLED)
	cc=$(go env CC)
	if [ "$cgo" != 1 ]; then
		skip "race detector" "CGO_ENABLED=$cgo; go test -race needs cgo" \
			"install a C compiler (e.g. apt-get install gcc) and set CGO_ENABLED=1"
		race_flag=
	elif ! command -v "${cc%% *}" >/dev/null 2>&1; then
		skip "race detector" "C compiler \"${cc%% *}\" not found; go test -race needs cgo" \
			"install a C compiler (e.g. apt-get install gcc)"
		race_flag=
	fi
}

staticcheck="$(go env GOPATH)/bin/staticcheck"
staticcheck_installed() {
	"$staticcheck" -version 2>/dev/null | grep -qF "(${STATICCHECK_VERSION#v})"
}

detect_redis() {
	if ! command -v redis-server >/dev/null 2>&1; then
		skip redis "redis-server not found in PATH: the shared/redis and examples/replicas tests skip" \
			"apt-get install redis-server (Debian), then rerun"
	fi
}

detect_interop
detect_race
detect_redis

# ---- plan ------------------------------------------------------------------

present() { [ -f "$1/go.mod" ]; }
status() { # suite
	if [ -n "${skipped[$1]+set}" ]; then
		echo "SKIP: ${skipped[$1]}"
	else
		echo "run"
	fi
}

step "plan$($dryrun && echo ' (TENANTAUTH_TEST_DRYRUN=1: nothing is run)')"
go version
printf '  %-48s %s\n' "gofmt" "run"
printf '  %-48s %s\n' "go vet (every module)" "run"
if staticcheck_installed; then
	printf '  %-48s %s\n' "staticcheck $STATICCHECK_VERSION" "run"
else
	printf '  %-48s %s\n' "staticcheck $STATICCHECK_VERSION" "run (installs it first with go install)"
fi
printf '  %-48s %s\n' "go test ${race_flag:-(no -race)}: root module" "run"
present benchmarks && printf '  %-48s %s\n' "go test ${race_flag:-(no -race)}: benchmarks module" "run"
present xoauth2 && printf '  %-48s %s\n' "go test ${race_flag:-(no -race)}: xoauth2 module" "run"
present otel && printf '  %-48s %s\n' "go test ${race_flag:-(no -race)}: otel, examples/observability" "run"
present shared/redis && printf '  %-48s %s\n' "go test ${race_flag:-(no -race)}: shared/redis, examples/replicas" "$(status redis)"
if present interop; then
	if [ -n "${skipped[interop]+set}" ]; then
		printf '  %-48s %s\n' "go test: interop module (real OAuth2 servers)" "$(status interop)"
	else
		printf '  %-48s %s\n' "go test: interop module (real OAuth2 servers)" "run (node $interop_node; npm ci first)"
	fi
fi
if [ -n "$race_flag" ]; then
	printf '  %-48s %s\n' "go test without -race: race-distorted checks" "run"
fi
printf '  %-48s %s\n' "race detector" "$(status 'race detector')"
printf '  %-48s %s\n' "benchmarks, one iteration each" "run"
echo "TENANTAUTH_REQUIRE_ALL: $($require_all && echo "on: a skip is a failure" || echo "off: a skip is reported, not a failure")"

# require_nothing_skipped fails the run under TENANTAUTH_REQUIRE_ALL when
# anything was skipped.
require_nothing_skipped() {
	$require_all || return 0
	[ "${#skip_order[@]}" -gt 0 ] || return 0
	echo
	echo "FAIL: TENANTAUTH_REQUIRE_ALL=1 and these cannot run on this machine:"
	local s
	for s in "${skip_order[@]}"; do
		echo "  $s: ${skipped[$s]}"
		echo "    to run it: ${skip_how[$s]}"
	done
	echo "(unset TENANTAUTH_REQUIRE_ALL to run the rest and report these as skipped)"
	exit 1
}
require_nothing_skipped

# report_skipped prints what was skipped and how to run it.
report_skipped() {
	[ "${#skip_order[@]}" -gt 0 ] || return 0
	step "skipped"
	local s
	for s in "${skip_order[@]}"; do
		echo "$s: ${skipped[$s]}"
		echo "  to run it: ${skip_how[$s]}"
	done
	echo "(TENANTAUTH_REQUIRE_ALL=1 makes a skip fail the run, as in CI)"
}
skipped_line() {
	if [ "${#skip_order[@]}" -eq 0 ]; then
		echo "skipped suites: none"
	else
		local s list=
		for s in "${skip_order[@]}"; do list+="${list:+, }$s"; done
		echo "skipped suites: $list"
	fi
}

if $dryrun; then
	report_skipped
	echo
	echo "dry run: plan only"
	skipped_line
	exit 0
fi

# ---- checks ----------------------------------------------------------------

step "gofmt"
# Tracked and new (untracked, not ignored) files alike.
files=$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null ||
	find . -name '*.go' -not -path '*/node_modules/*')
unformatted=$(gofmt -l $files)
if [ -n "$unformatted" ]; then
	printf 'gofmt would change:\n%s\n' "$unformatted"
	exit 1
fi

step "go vet"
for m in "${modules[@]}"; do
	present "$m" || continue
	(cd "$m" && go vet ./...)
done

step "staticcheck $STATICCHECK_VERSION"
if ! staticcheck_installed; then
	if ! GOBIN="$(go env GOPATH)/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"; then
		skip staticcheck "go install honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION failed (module proxy unreachable?)" \
			"go install honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION, then rerun"
		require_nothing_skipped
	fi
fi
if [ -z "${skipped[staticcheck]+set}" ]; then
	for m in "${modules[@]}"; do
		present "$m" || continue
		(cd "$m" && "$staticcheck" ./...)
	done
fi

test_modules=(. benchmarks xoauth2 shared/redis shared/redis/internal/clientcompare examples/replicas otel examples/observability)
if present interop && [ -z "${skipped[interop]+set}" ]; then
	step "interop servers (npm ci)"
	if setup_out=$(bash interop/setup.sh 2>&1); then
		[ -z "$setup_out" ] || echo "$setup_out"
		test_modules+=(interop)
	else
		echo "$setup_out" | tail -n 20
		skip interop "bash interop/setup.sh failed (npm ci: is the npm registry reachable?)" \
			"make the npm registry reachable (npm config get registry), then: bash interop/setup.sh && (cd interop && go test -race ./...)"
		require_nothing_skipped
	fi
fi

step "go test ${race_flag:-(without -race: race detector skipped)}"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
failed_modules=()
for m in "${test_modules[@]}"; do
	present "$m" || continue
	# The interop suite was found runnable (node, npm, npm ci): from here a
	# server that does not start is a failure, never a quiet skip.
	require=${TENANTAUTH_REQUIRE_ALL:-}
	[ "$m" != interop ] || require=1
	set +e
	(cd "$m" && TENANTAUTH_REQUIRE_ALL=$require go test $race_flag -count=1 ./... 2>&1) | tee -a "$results"
	rc=${PIPESTATUS[0]}
	set -e
	[ "$rc" -eq 0 ] || failed_modules+=("$m")
done

# Packages with a race_test.go-style build tag turn some checks off under the
# race detector (memory per entry, slow rendering): run them once without it.
if [ -n "$race_flag" ]; then
	step "go test without -race: packages whose checks the race detector distorts"
	for m in "${test_modules[@]}"; do
		present "$m" || continue
		pkgs=$(cd "$m" && for d in $(go list -f '{{.Dir}}' ./...); do
			if grep -lq '^//go:build race' "$d"/*_test.go 2>/dev/null; then echo "$d"; fi
		done)
		[ -n "$pkgs" ] || continue
		set +e
		(cd "$m" && go test -count=1 $pkgs 2>&1)
		rc=$?
		set -e
		[ "$rc" -eq 0 ] || failed_modules+=("$m (without -race)")
	done
fi

passed=$(grep -c '^ok ' "$results" || true)
failed=$(grep -cE '^FAIL[[:space:]]' "$results" || true) # "FAIL<tab>package", not the bare FAIL lines
if [ "${#failed_modules[@]}" -gt 0 ]; then
	report_skipped
	echo
	echo "go test failed in: ${failed_modules[*]} (benchmarks not run)"
	echo "packages: $passed passed, $failed failed"
	skipped_line
	exit 1
fi

step "benchmarks, one iteration each"
for m in . benchmarks xoauth2 shared/redis shared/redis/internal/clientcompare otel; do
	present "$m" || continue
	(cd "$m" && go test -run='^$' -bench=. -benchtime=1x ./... >/dev/null)
done
if [ -d benchmarks/cmd/tokenload ]; then
	(cd benchmarks && go run ./cmd/tokenload -smoke -q >/dev/null)
fi

report_skipped
echo
echo "all checks passed"
echo "packages: $passed passed, $failed failed"
skipped_line
