#!/usr/bin/env bash
# Builds livedoc and livedoc-bench, starts livedoc on a free loopback port with a fresh data
# directory, runs one livedoc-bench scenario against it and stops the server.
#
#   bench/run-livedoc.sh [--pin] <scenario> [livedoc-bench flags...]
#
# --pin runs the server on CPU 0 and the generator on CPU 1 (taskset), as the issue's peer
# figures were measured. The server's pid is passed as --server-pid; the admin password is
# generated. Set KEEP_DATA=1 to keep the data directory and the server log, PERF_OUT=file to
# record the server with `perf record -g` while the scenario runs (read it with `perf report -i`),
# LIVEDOC_BIN=path to run a livedoc binary built elsewhere (e.g. from a clean `git archive HEAD`
# while the working tree is being edited) instead of building ./cmd/livedoc.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
pin=0
if [[ ${1:-} == --pin ]]; then
	pin=1
	shift
fi
if [[ $# -lt 1 ]]; then
	echo "usage: $0 [--pin] <scenario> [livedoc-bench flags...]" >&2
	exit 2
fi

livedoc_build
livedoc_start
if [[ -n ${PERF_OUT:-} ]]; then
	perf record -F 499 -g -p "$server" -o "$PERF_OUT" >/dev/null 2>&1 &
	perf=$!
fi
status=0
"${bench_cmd[@]}" "$1" --target livedoc --url "$url" --admin-password "$pw" --server-pid "$server" "${@:2}" || status=$?
exit $status
