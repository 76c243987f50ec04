#!/usr/bin/env bash
# Builds Centrifugo v6 from the Go module proxy into DIR (default: a new temporary directory) and
# prints DIR; an existing DIR/centrifugo of the pinned version is kept. Nothing is committed.
#   bench/peers/centrifugo/install.sh [DIR]
set -euo pipefail
version=${CENTRIFUGO_VERSION:-v6.9.1}
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
if [[ ! -x $dir/centrifugo || $(cat "$dir/version" 2>/dev/null) != "$version" ]]; then
	GOBIN=$dir GOFLAGS=-buildvcs=false go install "github.com/centrifugal/centrifugo/v6@$version" >&2
	echo "$version" >"$dir/version"
fi
echo "$dir"
