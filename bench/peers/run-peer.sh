#!/usr/bin/env bash
# Starts one peer realtime server on free loopback ports, runs one livedoc-bench scenario
# against it and stops it. The peers are installed from the package registries only, into
# temporary directories (PEER_CACHE=dir keeps the installs between runs): nothing of theirs is
# committed.
#
#   bench/peers/run-peer.sh socketio|centrifugo|pocketbase|floor [--pin] <scenario> [livedoc-bench flags...]
#
# floor is no product: bench/cmd/floor-server, built from this tree, the cheapest fan-out server
# (WebSocket, one write(2) per subscriber per round), to measure the floor of the machine.
#
# --pin: the server (and Redis, for socketio) on CPU 0, the generator on CPU 1, as run-livedoc.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
benchdir=$(cd "$here/.." && pwd)
peer=${1:?usage: $0 socketio|centrifugo|pocketbase|floor [--pin] <scenario> [flags...]}
shift
pin=0
if [[ ${1:-} == --pin ]]; then
	pin=1
	shift
fi
[[ $# -ge 1 ]] || { echo "usage: $0 $peer [--pin] <scenario> [flags...]" >&2; exit 2; }

cache=${PEER_CACHE:-}
tmp=$(mktemp -d)
if [[ -z $cache ]]; then
	cache=$tmp/cache
fi
mkdir -p "$cache"
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [[ ${KEEP_DATA:-0} == 1 ]]; then echo "logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
srv=()
gen=()
if [[ $pin == 1 ]]; then
	srv=(taskset -c 0)
	gen=(taskset -c 1)
fi
wait_http() { # url pid what
	for _ in $(seq 600); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
		if ! kill -0 "$2" 2>/dev/null; then echo "$3 exited:" >&2; cat "$tmp"/*.log >&2; exit 1; fi
		sleep 0.1
	done
	echo "$3 did not answer on $1" >&2
	exit 1
}

ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"

(cd "$benchdir" && go build -o "$tmp/livedoc-bench" ./cmd/livedoc-bench)
port=$(free_port)
url="http://127.0.0.1:$port"
extra=()
case $peer in
socketio)
	command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server)" >&2; exit 1; }
	[[ -f $cache/socketio/node_modules/.package-lock.json ]] || "$here/socketio/install.sh" "$cache/socketio" >/dev/null
	cp "$here/socketio/server.js" "$cache/socketio/server.js"
	rport=$(free_port)
	"${srv[@]}" redis-server --bind 127.0.0.1 --port "$rport" --save "" --appendonly no >"$tmp/redis.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
	token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	NODE_ENV=production PORT=$port REDIS_URL="redis://127.0.0.1:$rport" BENCH_TOKEN=$token \
		"${srv[@]}" node "$cache/socketio/server.js" >"$tmp/server.log" 2>&1 &
	server=$!
	pids+=("$server")
	wait_http "$url/health" "$server" "socket.io server"
	extra=(--token "$token" --redis "127.0.0.1:$rport")
	;;
centrifugo)
	"$here/centrifugo/install.sh" "$cache/centrifugo" >/dev/null
	key=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	"$here/centrifugo/config.sh" "$port" "$key" >"$tmp/config.json"
	"${srv[@]}" "$cache/centrifugo/centrifugo" --config "$tmp/config.json" >"$tmp/server.log" 2>&1 &
	server=$!
	pids+=("$server")
	wait_http "$url/health" "$server" "centrifugo"
	extra=(--token "$key")
	;;
pocketbase)
	"$here/pocketbase/install.sh" "$cache/pocketbase" >/dev/null
	pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	"$cache/pocketbase/base" superuser upsert bench@example.com "$pw" --dir "$tmp/pb_data" >"$tmp/superuser.log" 2>&1
	"${srv[@]}" "$cache/pocketbase/base" serve --http "127.0.0.1:$port" --dir "$tmp/pb_data" >"$tmp/server.log" 2>&1 &
	server=$!
	pids+=("$server")
	wait_http "$url/api/health" "$server" "pocketbase"
	extra=(--admin-password "$pw")
	;;
floor)
	(cd "$benchdir" && go build -o "$tmp/floor-server" ./cmd/floor-server)
	"${srv[@]}" "$tmp/floor-server" --http "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
	server=$!
	pids+=("$server")
	wait_http "$url/health" "$server" "floor-server"
	;;
*)
	echo "unknown peer $peer (socketio, centrifugo, pocketbase, floor)" >&2
	exit 2
	;;
esac
echo "$peer pid $server on $url (pinned: $pin)" >&2
status=0
"${gen[@]}" "$tmp/livedoc-bench" "$1" --target "$peer" --url "$url" --server-pid "$server" "${extra[@]}" "${@:2}" || status=$?
exit $status
