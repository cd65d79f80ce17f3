#!/usr/bin/env bash
# Installs the interop suite's OAuth2 servers (interop/servers) from the npm
# registry with `npm ci`, exactly as pinned in package-lock.json. It does
# nothing when node_modules already matches the lock file, so it is cheap to
# call before every test run.
#
#   bash interop/setup.sh && (cd interop && go test -race ./...)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
servers="$here/servers"

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "interop/setup.sh: $tool not found in PATH: the interop suite needs Node.js >= 20 and npm (see interop/README.md)" >&2
		exit 1
	fi
done
version="$(node --version 2>/dev/null || true)"
major="${version#v}"
major="${major%%.*}"
if ! [[ "$major" =~ ^[0-9]+$ ]] || [ "$major" -lt 20 ]; then
	echo "interop/setup.sh: Node.js >= 20 required, found \"$version\" ($(command -v node))" >&2
	exit 1
fi

stamp="$servers/node_modules/.interop-lock.sha256"
want="$(sha256sum "$servers/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi

echo "interop/setup.sh: installing servers (npm ci) in $servers" >&2
(cd "$servers" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" >"$stamp"
