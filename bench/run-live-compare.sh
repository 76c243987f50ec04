#!/usr/bin/env bash
# Runs doc-view (--mode delta, then --mode frappe) or live-list (--mode live, then --mode frappe),
# each against a fresh livedoc (run-livedoc.sh) with --check, back to back, and prints both side
# by side with the ratio frappe / livedoc's own mode:
#
#   bench/run-live-compare.sh [--pin] [--pg] doc-view|live-list [livedoc-bench flags for both...]
#   flock /tmp/bench.lock bench/run-live-compare.sh live-list --duration 10s     # on a shared machine
#
# Defaults are the issue's sizes (1,000 viewers or queries, 100 saves or changes a second, 4
# writers, 10 s). --pg runs each on one node on PostgreSQL (run-cluster.sh --single: a fresh
# schema of LIVEDOC_BENCH_PG) instead of SQLite. OUT=dir keeps each run's JSON and log (default: a temporary directory, removed).
# LIVEDOC_BIN as for run-livedoc.sh. Exits non-zero if either run fails its check.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
run=("$here/run-livedoc.sh")
while [[ $# -gt 0 ]]; do
	case $1 in
	--pin) run+=(--pin) ;;
	--pg)
		run[0]=$here/run-cluster.sh
		run+=(--single)
		;;
	*) break ;;
	esac
	shift
done
scenario=${1:-}
case $scenario in
doc-view) modes=(delta frappe) ;;
live-list) modes=(live frappe) ;;
*)
	echo "usage: $0 [--pin] [--pg] doc-view|live-list [livedoc-bench flags...]" >&2
	exit 2
	;;
esac
shift
out=${OUT:-}
if [[ -z $out ]]; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
status=0
for mode in "${modes[@]}"; do
	echo "== $scenario --mode $mode" >&2
	if ! "${run[@]}" "$scenario" --mode "$mode" --json --check "$@" \
		>"$out/$scenario-$mode.json" 2>"$out/$scenario-$mode.log"; then
		echo "$scenario --mode $mode failed:" >&2
		tail -5 "$out/$scenario-$mode.log" >&2
		status=1
	fi
done
python3 - "$scenario" "$out/$scenario-${modes[0]}.json" "$out/$scenario-${modes[1]}.json" <<'PY'
import json, sys
scenario, a_path, b_path = sys.argv[1:4]
def load(p):
    try:
        with open(p) as f:
            return json.load(f)
    except Exception:
        return {"params": {}, "results": {}}
a, b = load(a_path), load(b_path)
keys = {
    "doc-view": ["saves_per_s_per_s", "save_p99_ms", "reads", "reads_per_s_per_s", "reads_per_save", "latency_p50_ms",
                 "latency_p90_ms", "latency_p99_ms", "latency_max_ms", "server_cpu_s", "server_cpu_pct_pct",
                 "server_cpu_per_save_ms", "generator_cpu_pct_pct", "other_cpu_s", "not_shown", "lost"],
    "live-list": ["changes_per_s_per_s", "change_p99_ms", "screen_changes", "reads", "reads_per_s_per_s",
                  "reads_per_change", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms",
                  "server_cpu_s", "server_cpu_pct_pct", "server_cpu_per_change_ms", "generator_cpu_pct_pct",
                  "other_cpu_s", "apply_errors", "lost"],
}[scenario]
ma, mb = a["params"].get("mode", "?"), b["params"].get("mode", "?")
print(f"{scenario}: {' '.join(f'{k}={v}' for k, v in a['params'].items() if k not in ('url', 'mode', 'server_pid'))}")
def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)
print(f"  {'':26} {ma:>12} {mb:>12} {mb + '/' + ma:>14}")
for k in keys:
    x, y = a["results"].get(k), b["results"].get(k)
    ratio = "-"
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and x:
        ratio = f"{y / x:,.2f}x"
    label = k.replace("_per_s_per_s", "_per_s").replace("_pct_pct", "_pct")
    print(f"  {label:26} {fmt(x):>12} {fmt(y):>12} {ratio:>14}")
ra, rb = a["results"].get("reads_per_s_per_s"), b["results"].get("reads_per_s_per_s")
if isinstance(ra, (int, float)) and isinstance(rb, (int, float)):
    print(f"  reads avoided by {ma}: {rb - ra:,.0f}/s")
PY
exit $status
