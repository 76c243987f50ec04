#!/usr/bin/env bash
# Installs the Socket.IO peer's packages from the npm registry (pinned by package-lock.json) into
# a directory outside the repository and prints that directory. Nothing is committed.
#   bench/peers/socketio/install.sh [DIR]     (default: a new temporary directory)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$here/server.js" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund >&2)
echo "$dir"
