#!/usr/bin/env bash
# Runs every livedoc-bench scenario against one livedoc server (built from the working tree, or
# LIVEDOC_BIN), each with --check: the script fails if a scenario does not complete or reports
# lost > 0 (doc-view, live-list: a copy or a list unequal to a fresh read). No timing is asserted.
#
#   bench/run-all.sh [--smoke] [--pin] [extra livedoc-bench flags for every scenario...]
#
# Without --smoke: a short version of every scenario (`make bench`, about 2½ minutes).
# With --smoke: the smallest sizes, a few clients and messages (`make bench-smoke`, CI).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
smoke=0
pin=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--smoke) smoke=1 ;;
	--pin) pin=1 ;;
	*) break ;;
	esac
	shift
done

if [[ $smoke == 1 ]]; then
	runs=(
		"idle --clients 10 --idle 1s"
		"fanout --clients 5 --rate 20 --messages 20 --drain 10s"
		"churn --clients 5 --rate 20 --messages 20 --churn 10 --churn-hold 200ms --drain 10s"
		"recovery --clients 5 --rate 20 --messages 40 --cuts 4 --drain 15s"
		"save-to-screen --clients 5 --writers 2 --docs 2 --rate 20 --messages 20 --drain 10s"
		"save-to-screen --clients 5 --writers 2 --rate 0 --messages 20 --drain 10s"
		"doc-view --mode delta --clients 5 --writers 2 --rate 20 --messages 20 --drain 10s"
		"doc-view --mode frappe --clients 5 --writers 2 --rate 20 --messages 20 --drain 10s"
		"live-list --mode live --clients 20 --rows 50 --writers 2 --rate 20 --messages 40 --drain 10s"
		"live-list --mode frappe --clients 20 --rows 50 --writers 2 --rate 20 --messages 40 --drain 10s"
	)
	timeout=60s
else
	runs=(
		"idle --clients 2000 --idle 10s"
		"fanout --clients 1000 --rate 20 --duration 10s --drain 20s"
		"churn --clients 500 --rate 20 --duration 10s --churn 50 --churn-hold 1s --drain 20s"
		"recovery --clients 500 --rate 20 --duration 10s --cuts 20 --drain 20s"
		"save-to-screen --clients 100 --writers 4 --rate 100 --duration 10s --drain 20s"
		"save-to-screen --clients 100 --writers 8 --rate 0 --duration 10s --drain 20s"
		"doc-view --mode delta --clients 200 --rate 50 --duration 5s --drain 20s"
		"doc-view --mode frappe --clients 200 --rate 50 --duration 5s --drain 20s"
		"live-list --mode live --clients 100 --rows 500 --rate 50 --duration 5s --drain 20s"
		"live-list --mode frappe --clients 100 --rows 500 --rate 50 --duration 5s --drain 20s"
	)
	timeout=90s
fi

livedoc_build
livedoc_start
failed=()
for run in "${runs[@]}"; do
	echo "== livedoc-bench $run" >&2
	# shellcheck disable=SC2086
	if ! "${bench_cmd[@]}" $run --target livedoc --url "$url" --admin-password "$pw" --server-pid "$server" \
		--timeout "$timeout" --check "$@"; then
		failed+=("$run")
	fi
done
if ! kill -0 "$server" 2>/dev/null; then
	echo "livedoc died during the run:" >&2
	tail -50 "$data/server.log" >&2
	failed+=("server")
fi
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "bench: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "bench: every scenario completed with lost = 0" >&2
