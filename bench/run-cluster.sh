#!/usr/bin/env bash
# Builds livedoc and livedoc-bench, starts a two-node livedoc cluster (PostgreSQL + Redis) on free
# loopback ports, runs one livedoc-bench scenario with the subscribers on node B and the setup,
# publishes and saves on node A (--write-url), stops both nodes and drops the schema.
#
#   bench/run-cluster.sh [--pin] [--single] <scenario> [livedoc-bench flags...]
#
# Both nodes share a fresh PostgreSQL schema (bench_<time>_<pid>, created here and dropped at the
# end), the Redis server and a site name of their own (so the Redis channel is private to the
# run); node A starts first and creates the tables, then node B. An event committed on A reaches
# B's sockets through Redis. server_cpu is node B's, write_server_cpu node A's.
#
# Both nodes load the bench's DocType (Livedoc Bench Note, as livedoc-bench would create it) from
# an app folder (--apps) at start: a DocType created through the REST API on node A stays unknown
# to node B ("DocType ... not found": each node keeps the DocTypes it loaded or created itself), so
# the bench's own setup could not serve subscribers on B. livedoc-bench's POST then finds it there.
#
# --single runs one node on PostgreSQL (no Redis) instead, subscribers and writes on it: the
# baseline for the cluster's figures, with the same database and the same pinning.
# --pin runs the livedoc node(s) on CPU 0 — both nodes share it, so the cluster gets the same one
# core as the single node — and the generator on CPU 1 (taskset). PostgreSQL and Redis are the
# machine's services and are not pinned.
#
# Environment: LIVEDOC_BENCH_PG (default postgres://postgres@127.0.0.1:5432/test; trust auth),
# LIVEDOC_BENCH_REDIS (default redis://127.0.0.1:6379), LIVEDOC_BIN=path (a prebuilt livedoc),
# KEEP_DATA=1 (keep the nodes' data directories and logs).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
pin=0
single=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--pin) pin=1 ;;
	--single) single=1 ;;
	*) break ;;
	esac
	shift
done
if [[ $# -lt 1 ]]; then
	echo "usage: $0 [--pin] [--single] <scenario> [livedoc-bench flags...]" >&2
	exit 2
fi
pg=${LIVEDOC_BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}
redis=${LIVEDOC_BENCH_REDIS:-redis://127.0.0.1:6379}
pg_isready -q -d "$pg" || { echo "PostgreSQL is not answering at $pg (LIVEDOC_BENCH_PG)" >&2; exit 1; }
if [[ $single == 0 ]]; then
	hp=${redis#redis://}
	hp=${hp%%/*}
	redis-cli -h "${hp%:*}" -p "${hp##*:}" ping >/dev/null || { echo "Redis is not answering at $redis (LIVEDOC_BENCH_REDIS)" >&2; exit 1; }
fi

schema=bench_$(date +%s)_$$
site=bench$$x$RANDOM
sep='?'
[[ $pg == *\?* ]] && sep='&'
db="$pg${sep}sslmode=disable&search_path=$schema"
pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
pids=()
dirs=()
schema_made=0

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [[ $schema_made == 1 ]]; then
		psql -q -d "$pg" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 ||
			echo "could not drop schema $schema" >&2
	fi
	local d
	for d in "${dirs[@]}"; do
		if [[ ${KEEP_DATA:-0} == 1 ]]; then
			echo "data and server log kept in $d" >&2
		else
			rm -rf "$d"
		fi
	done
	[[ -n ${bin:-} ]] && rm -rf "$bin"
	return 0
}
trap cleanup EXIT

livedoc_build
# The bench's DocType, the same as internal/target/livedoc.go's setupBench creates.
mkdir -p "$bin/app/doctype"
cat >"$bin/app/doctype/livedoc_bench_note.json" <<'EOF'
{
  "doctype": "DocType",
  "name": "Livedoc Bench Note",
  "autoname": "hash",
  "fields": [
    {"fieldname": "title", "fieldtype": "Data"},
    {"fieldname": "counter", "fieldtype": "Int"}
  ],
  "permissions": [
    {"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
    {"role": "Livedoc Bench", "read": 1, "write": 1, "create": 1, "delete": 1}
  ]
}
EOF
psql -q -d "$pg" -c "CREATE SCHEMA $schema" >/dev/null
schema_made=1

# Many connections need many file descriptors, in the servers and in the generator.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
server_pin=()
bench_cmd=("$bin/livedoc-bench")
if [[ $pin == 1 ]]; then
	server_pin=(taskset -c 0)
	bench_cmd=(taskset -c 1 "${bench_cmd[@]}")
fi

# start_node NAME: starts one node on a free port and waits (at most 60 s) until it answers; sets
# node_url and node_pid.
start_node() {
	local name=$1 data port
	data=$(mktemp -d)
	dirs+=("$data")
	port=$(free_port)
	node_url="http://127.0.0.1:$port"
	local args=(serve --addr "127.0.0.1:$port" --data "$data" --db "$db" --site "$site" --apps "$bin/app")
	if [[ $single == 0 ]]; then
		args+=(--redis "$redis")
	fi
	# shellcheck disable=SC2206 # split on purpose: more serve flags, e.g. --pprof-addr
	args+=(${LIVEDOC_SERVE_ARGS:-})
	# No limits per client address or user: see livedoc_start in lib.sh.
	LIVEDOC_ADMIN_PASSWORD=$pw LIVEDOC_MAX_CONNECTIONS_PER_ADDR=-1 LIVEDOC_MAX_SOCKETS_PER_USER=-1 \
		LIVEDOC_HANDSHAKE_RATE=-1 "${server_pin[@]}" "$bin/livedoc" "${args[@]}" >"$data/server.log" 2>&1 &
	node_pid=$!
	pids+=("$node_pid")
	for _ in $(seq 600); do
		if curl -fsS -o /dev/null "$node_url/api/method/ping" 2>/dev/null; then
			break
		fi
		if ! kill -0 "$node_pid" 2>/dev/null; then
			echo "livedoc node $name exited:" >&2
			cat "$data/server.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	curl -fsS -o /dev/null "$node_url/api/method/ping" || { echo "livedoc node $name did not answer on $node_url" >&2; exit 1; }
	echo "livedoc node $name: pid $node_pid on $node_url (schema $schema, site $site, pinned: $pin, log $data/server.log)" >&2
}

start_node A
url_a=$node_url pid_a=$node_pid log_a=${dirs[-1]}/server.log
if [[ $single == 1 ]]; then
	target=(--url "$url_a" --server-pid "$pid_a")
	logs=("$log_a")
else
	start_node B
	url_b=$node_url pid_b=$node_pid log_b=${dirs[-1]}/server.log
	target=(--url "$url_b" --server-pid "$pid_b" --write-url "$url_a" --write-server-pid "$pid_a")
	logs=("$log_a" "$log_b")
fi

status=0
"${bench_cmd[@]}" "$1" --target livedoc "${target[@]}" --namespace "/$site" --admin-password "$pw" "${@:2}" || status=$?

# What the nodes said: a dead node or logged errors are worth a look.
for i in "${!pids[@]}"; do
	name=$([[ $i == 0 ]] && echo A || echo B)
	if ! kill -0 "${pids[$i]}" 2>/dev/null; then
		echo "livedoc node $name died during the run:" >&2
		tail -50 "${logs[$i]}" >&2
		status=1
	fi
	errs=$(grep -c 'level=ERROR' "${logs[$i]}" || true)
	warns=$(grep -c 'level=WARN' "${logs[$i]}" || true)
	if [[ $errs != 0 || $warns != 0 ]]; then
		echo "livedoc node $name logged $errs errors and $warns warnings; the first ones:" >&2
		grep -m 5 -E 'level=(ERROR|WARN)' "${logs[$i]}" >&2 || true
	fi
done
exit $status
