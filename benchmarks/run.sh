#!/usr/bin/env bash
# Reproduces everything under results/ (or $OUT): the Go micro-benchmarks
# summarised with benchstat, the load tool's report (the fill family up to
# 1 000 000 tenants and the cold starts on one shared provider included),
# and the charts.
#
#   ./run.sh                   # ~25 min on 2 cores
#   COUNT=3 SCALE=1 ./run.sh   # quicker, noisier
#
# Run it on an otherwise idle machine. Every figure README.md quotes is a
# ratio between contenders measured in the same run, and the samples of the
# contenders are interleaved in time (one test process per count), but
# noise from other processes still widens the intervals benchstat reports.
set -euo pipefail
cd "$(dirname "$0")"

out=${OUT:-results}
count=${COUNT:-10}
scale=${SCALE:-2}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

benchstat="$(go env GOPATH)/bin/benchstat"
if [ ! -x "$benchstat" ]; then
	go install golang.org/x/perf/cmd/benchstat@latest
fi

{
	echo "nproc: $(nproc)"
	grep -m1 'model name' /proc/cpuinfo || true
	go version
	echo "tree: $(git -C .. log -1 --format='%h %s' 2>/dev/null || echo unknown)"
	echo "uncommitted core changes: $(git -C .. status --short -- . ':!benchmarks' 2>/dev/null | wc -l) files"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt"

go test -c -o "$tmp/bench.test" .
bench() { "$tmp/bench.test" -test.run='^$' "$@"; }

# Lookup (up to 10 000 tenants), RoundTrip and Fiber: one process per
# sample, so every contender's samples spread over the whole run.
for i in $(seq "$count"); do
	bench -test.bench='Lookup/tenants=(1|1000|10000)$' -test.cpu 1,2
	bench -test.bench='RoundTrip|Fiber' -test.cpu 1,2
	echo "sample $i/$count done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done | tee "$out/bench.txt"
# 100 000 and 1 000 000 tenants: the fixtures take seconds to build, so
# one process each. At a million the heap is gigabytes and every GC cycle
# slows the calibration runs down: five samples of a fixed 2 000 000 calls.
bench -test.bench='Lookup/tenants=100000$' -test.cpu 1,2 -test.count "$count" | tee -a "$out/bench.txt"
bench -test.bench='Lookup/tenants=1000000$' -test.cpu 1,2 -test.count 5 -test.benchtime 2000000x | tee -a "$out/bench.txt"
# Memory does not depend on -cpu; each iteration fills a whole contender
# (1 000 000 tenants: ~6 s per contender and iteration).
bench -test.bench='MemoryPerTenant' -test.benchtime 1x -test.cpu 1 -test.count 5 | tee "$out/memory.txt"

# "vs base" is each contender against x/oauth2; none is the bare base of
# RoundTrip and Fiber, floor the least a token-adding RoundTripper does,
# syncmap the bare sync.Map.Load floor of Lookup.
"$benchstat" -col '/impl@(oauth2 tenantauth naive none floor syncmap)' "$out/bench.txt" > "$out/benchstat.txt"
"$benchstat" -col '/impl@(oauth2 tenantauth naive)' "$out/memory.txt" > "$out/benchstat-memory.txt"
# tenantauth's cached lookup against the sync.Map.Load floor (target: ≤ 2×).
"$benchstat" -filter '.name:Lookup' -col '/impl@(syncmap tenantauth)' "$out/bench.txt" > "$out/benchstat-syncmap.txt"

# -all: the default scenarios, the cold starts on one shared provider
# (coldstart-503, coldstart-429: ~30 s) included, and fill-1m (~1.5 min for
# the three contenders). To rerun only the cold starts into an existing
# report: go run ./cmd/tokenload -scenarios coldstart-503,coldstart-429
# -merge -out results/, then the plot line below.
go run ./cmd/tokenload -all -scale "$scale" -out "$out" | tee "$out/tokenload.txt"
# All the charts, coldstart.svg included.
go run ./cmd/plot -in "$out/results.json" -out "$out"

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt"
