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
pin=0
if [[ ${1:-} == --pin ]]; then
	pin=1
	shift
fi
if [[ $# -lt 1 ]]; then
	echo "usage: $0 [--pin] <scenario> [livedoc-bench flags...]" >&2
	exit 2
fi

bin=$(mktemp -d)
data=$(mktemp -d)
if [[ -n ${LIVEDOC_BIN:-} ]]; then
	cp "$LIVEDOC_BIN" "$bin/livedoc"
else
	(cd "$root" && go build -o "$bin/livedoc" ./cmd/livedoc)
fi
(cd "$here" && go build -o "$bin/livedoc-bench" ./cmd/livedoc-bench)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
url="http://127.0.0.1:$port"

# Many connections need many file descriptors, in the server and in the generator.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"

server_cmd=("$bin/livedoc" serve --addr "127.0.0.1:$port" --data "$data")
bench_cmd=("$bin/livedoc-bench")
if [[ $pin == 1 ]]; then
	server_cmd=(taskset -c 0 "${server_cmd[@]}")
	bench_cmd=(taskset -c 1 "${bench_cmd[@]}")
fi
LIVEDOC_ADMIN_PASSWORD=$pw "${server_cmd[@]}" >"$data/server.log" 2>&1 &
server=$!
perf=
cleanup() {
	if [[ -n $perf ]]; then
		kill -INT "$perf" 2>/dev/null || true
		wait "$perf" 2>/dev/null || true
	fi
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	if [[ ${KEEP_DATA:-0} == 1 ]]; then
		echo "data and server log kept in $data" >&2
	else
		rm -rf "$data"
	fi
	rm -rf "$bin"
}
trap cleanup EXIT

# Wait (bounded: 30 s) until the server answers.
for _ in $(seq 300); do
	if curl -fsS -o /dev/null "$url/api/method/ping" 2>/dev/null; then
		break
	fi
	if ! kill -0 "$server" 2>/dev/null; then
		echo "livedoc exited:" >&2
		cat "$data/server.log" >&2
		exit 1
	fi
	sleep 0.1
done
curl -fsS -o /dev/null "$url/api/method/ping" || { echo "livedoc did not answer on $url" >&2; exit 1; }

echo "livedoc pid $server on $url (pinned: $pin)" >&2
if [[ -n ${PERF_OUT:-} ]]; then
	perf record -F 499 -g -p "$server" -o "$PERF_OUT" >/dev/null 2>&1 &
	perf=$!
fi
status=0
"${bench_cmd[@]}" "$1" --target livedoc --url "$url" --admin-password "$pw" --server-pid "$server" "${@:2}" || status=$?
exit $status
