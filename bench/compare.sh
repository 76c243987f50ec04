#!/usr/bin/env bash
# Runs one scenario against livedoc and then each given peer, back to back (the same run window),
# pinned (server CPU 0, generator CPU 1), and writes each result as JSON to OUT (default ./bench-out):
#
#   bench/compare.sh "socketio centrifugo" fanout --clients 1000 --rate 100 --duration 10s
#
# LIVEDOC_BIN and PEER_CACHE are passed on (see run-livedoc.sh, peers/run-peer.sh). TAG names the
# output files (<TAG or scenario>-<target>.json).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peers=$1
scenario=$2
shift 2
out=${OUT:-bench-out}
mkdir -p "$out"
tag=${TAG:-$scenario}
"$here/run-livedoc.sh" --pin "$scenario" --json "$@" >"$out/$tag-livedoc.json" 2>"$out/$tag-livedoc.log"
echo "$tag livedoc: exit $?" >&2
for p in $peers; do
	"$here/peers/run-peer.sh" "$p" --pin "$scenario" --json "$@" >"$out/$tag-$p.json" 2>"$out/$tag-$p.log"
	echo "$tag $p: exit $?" >&2
done
