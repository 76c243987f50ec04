#!/usr/bin/env bash
# Writes on PostgreSQL against PostgreSQL's own yardstick, in one command: for each round, pgbench's
# simple-update transaction (pgbench -N) with as many clients as livedoc-bench has writers, then
# save-to-screen on one livedoc node (run-cluster.sh --single) and on two nodes + Redis
# (run-cluster.sh), all on the same server, back to back; then one table with the ratios.
#
#   bench/run-pg-compare.sh [--rounds N] [--no-pin] [save-to-screen flags...]
#
# Defaults: --clients 100 --writers 8 --docs 8 --rate 0 --duration 10s (flags given are added
# after them, so they win). --docs 8 gives each writer a document of its own, as pgbench's
# clients update random rows; --docs 1 measures eight writers on one document, whose row lock
# lets one save commit at a time. --clients 1 measures the write path, with two deliveries per
# save instead of 200 (whose decoding takes the generator most of a core on a 2-core machine).
# --pin is on unless --no-pin: the livedoc node(s) on CPU 0, the generator on CPU 1; pgbench and
# PostgreSQL are not pinned.
#
# pgbench comes with PostgreSQL's client programs (Debian: postgresql-client, or postgresql-contrib
# on older releases); run as root, the script installs it with apt-get when it is missing. Its
# tables live in a schema of their own (scale 1), dropped at the end. Environment as for
# run-cluster.sh (LIVEDOC_BENCH_PG, LIVEDOC_BENCH_REDIS, LIVEDOC_BIN); OUT=dir keeps every run's
# JSON and pgbench's output there.
#
# Columns: rate is saves/s (livedoc) or transactions/s (pgbench, whose p50 column is its average
# latency); vs pgbench is that rate over the same round's pgbench; CPU/save is the CPU of every
# livedoc node over the saves (server_cpu, plus write_server_cpu for two nodes), so one node and
# two nodes sharing the same core compare fairly. PostgreSQL's own CPU is in other CPU.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rounds=2
pin=(--pin)
while [[ $# -gt 0 ]]; do
	case $1 in
	--rounds) rounds=$2; shift ;;
	--no-pin) pin=() ;;
	*) break ;;
	esac
	shift
done
flags=(--clients 100 --writers 8 --docs 8 --rate 0 --duration 10s --drain 20s --timeout 150s "$@")
# The last --writers and --duration given are pgbench's clients and run time.
writers=8 duration=10s
for ((i = 0; i < ${#flags[@]} - 1; i++)); do
	case ${flags[$i]} in
	--writers) writers=${flags[$((i + 1))]} ;;
	--duration) duration=${flags[$((i + 1))]} ;;
	esac
done
secs=${duration%s}
[[ $secs =~ ^[0-9]+$ ]] || { echo "--duration must be whole seconds here (e.g. 10s), got $duration" >&2; exit 2; }

if ! command -v pgbench >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "pgbench is missing: installing Debian's postgresql-client" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-client >&2 ||
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-contrib >&2
	fi
	command -v pgbench >/dev/null || {
		echo "pgbench not found: install PostgreSQL's client programs (Debian: apt-get install postgresql-client)" >&2
		exit 1
	}
fi

pg=${LIVEDOC_BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
pgschema=pgbench_$(date +%s)_$$
cleanup() {
	psql -q -d "$pg" -c "DROP SCHEMA IF EXISTS $pgschema CASCADE" >/dev/null 2>&1 || true
	[[ -z ${OUT:-} ]] && rm -rf "$out"
	return 0
}
trap cleanup EXIT
psql -q -d "$pg" -c "CREATE SCHEMA $pgschema" >/dev/null
PGOPTIONS="-c search_path=$pgschema" pgbench -q -i -s 1 "$pg" >"$out/pgbench-init.txt" 2>&1

# A prebuilt livedoc serves every run (the same binary for all rounds).
if [[ -z ${LIVEDOC_BIN:-} ]]; then
	export LIVEDOC_BIN=$out/livedoc
	(cd "$here/.." && go build -o "$LIVEDOC_BIN" ./cmd/livedoc)
fi

for r in $(seq "$rounds"); do
	echo "round $r: pgbench -N -c $writers -j 2 -T $secs" >&2
	PGOPTIONS="-c search_path=$pgschema" pgbench -N -c "$writers" -j 2 -T "$secs" "$pg" >"$out/pgbench-$r.txt" 2>&1
	echo "round $r: one node" >&2
	"$here/run-cluster.sh" "${pin[@]}" --single save-to-screen "${flags[@]}" --json >"$out/single-$r.json" 2>"$out/single-$r.log" ||
		{ echo "one node failed, see $out/single-$r.log" >&2; tail -5 "$out/single-$r.log" >&2; }
	echo "round $r: two nodes + Redis" >&2
	"$here/run-cluster.sh" "${pin[@]}" save-to-screen "${flags[@]}" --json >"$out/cluster-$r.json" 2>"$out/cluster-$r.log" ||
		{ echo "two nodes failed, see $out/cluster-$r.log" >&2; tail -5 "$out/cluster-$r.log" >&2; }
done

python3 - "$out" "$rounds" <<'EOF'
import json, re, sys
out, rounds = sys.argv[1], int(sys.argv[2])
print(f"{'round':>5}  {'setup':<18} {'rate/s':>8} {'vs pgbench':>10} {'p50 ms':>7} {'p99 ms':>7} {'CPU/save':>9} {'lost':>5} {'other CPU':>9}")
for r in range(1, rounds + 1):
    txt = open(f"{out}/pgbench-{r}.txt").read()
    m = re.search(r"tps = ([0-9.]+)", txt)
    tps = float(m.group(1)) if m else float("nan")
    lat = re.search(r"latency average = ([0-9.]+) ms", txt)
    print(f"{r:>5}  {'pgbench -N':<18} {tps:>8.0f} {1:>10.2f} {float(lat.group(1)) if lat else float('nan'):>7.2f} {'':>7} {'':>9} {'':>5} {'':>9}")
    for name, label in (("single", "livedoc, 1 node"), ("cluster", "livedoc, 2 nodes")):
        try:
            res = json.load(open(f"{out}/{name}-{r}.json"))["results"]
        except Exception as e:
            print(f"{r:>5}  {label:<18} failed: {e}")
            continue
        rate = res.get("saves_per_s_per_s", 0)
        cpu = res.get("server_cpu_s", 0) + res.get("write_server_cpu_s", 0)
        per = 1e6 * cpu / res["saves"] if res.get("saves") else float("nan")
        print(f"{r:>5}  {label:<18} {rate:>8.0f} {rate / tps:>10.2f} {res.get('save_p50_ms', 0):>7.1f} {res.get('save_p99_ms', 0):>7.1f} {per:>7.0f}µs {res.get('lost', -1):>5} {res.get('other_cpu_s', 0):>8.1f}s")
EOF
