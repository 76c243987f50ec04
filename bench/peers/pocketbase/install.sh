#!/usr/bin/env bash
# Builds PocketBase (its examples/base main, the prebuilt binary's equivalent) from the Go module
# proxy into DIR (default: a new temporary directory) and prints DIR; an existing build of the
# pinned version is kept. Nothing is committed.
#   bench/peers/pocketbase/install.sh [DIR]
# v0.36.8 is the version the PocketBase figures were measured with.
set -euo pipefail
version=${POCKETBASE_VERSION:-v0.36.8}
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
if [[ ! -x $dir/base || $(cat "$dir/version" 2>/dev/null) != "$version" ]]; then
	GOBIN=$dir GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install "github.com/pocketbase/pocketbase/examples/base@$version" >&2
	echo "$version" >"$dir/version"
fi
echo "$dir"
