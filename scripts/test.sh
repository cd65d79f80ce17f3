#!/usr/bin/env bash
# The test command (README.md): formatting, vet, staticcheck, and the race-enabled
# tests of every module in the repository, including the interop suite against
# real OAuth2 servers from npm and one-iteration runs of every benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

modules=(. interop benchmarks)
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
	printf 'gofmt would change:\n%s\n' "$unformatted"
	exit 1
fi

step "go vet"
for m in "${modules[@]}"; do
	[ -f "$m/go.mod" ] || continue
	(cd "$m" && go vet ./...)
done

step "staticcheck $STATICCHECK_VERSION"
if ! "$(go env GOPATH)/bin/staticcheck" -version 2>/dev/null | grep -qF "(${STATICCHECK_VERSION#v})"; then
	GOBIN="$(go env GOPATH)/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
for m in "${modules[@]}"; do
	[ -f "$m/go.mod" ] || continue
	(cd "$m" && "$(go env GOPATH)/bin/staticcheck" ./...)
done

step "interop servers (npm ci)"
bash interop/setup.sh

step "go test -race"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for m in "${modules[@]}"; do
	[ -f "$m/go.mod" ] || continue
	(cd "$m" && go test -race -count=1 ./... 2>&1) | tee -a "$results"
	[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "go test failed in $m"; exit 1; }
done

step "benchmarks, one iteration each"
for m in . benchmarks; do
	[ -f "$m/go.mod" ] || continue
	(cd "$m" && go test -run='^$' -bench=. -benchtime=1x ./... >/dev/null)
done
if [ -d benchmarks/cmd/tokenload ]; then
	(cd benchmarks && go run ./cmd/tokenload -smoke -q >/dev/null)
fi

passed=$(grep -c '^ok ' "$results" || true)
failed=$(grep -c '^FAIL' "$results" || true)
echo
echo "all checks passed"
echo "packages: $passed passed, $failed failed"
