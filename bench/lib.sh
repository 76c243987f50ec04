# Shared by run-livedoc.sh and run-all.sh (sourced, not run): builds livedoc and livedoc-bench
# into a temporary directory and starts `livedoc serve` on a free loopback port with a fresh data
# directory and a random admin password.
#
# After livedoc_start: $bin (livedoc, livedoc-bench), $url, $pw, $server (pid), $data; server_cmd
# and bench_cmd are pinned with taskset when pin=1. livedoc_stop (an EXIT trap) stops it all.

livedoc_build() {
	bin=$(mktemp -d)
	if [[ -n ${LIVEDOC_BIN:-} ]]; then
		cp "$LIVEDOC_BIN" "$bin/livedoc"
	else
		(cd "$root" && go build -o "$bin/livedoc" ./cmd/livedoc)
	fi
	(cd "$here" && go build -o "$bin/livedoc-bench" ./cmd/livedoc-bench)
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

livedoc_start() {
	data=$(mktemp -d)
	port=$(free_port)
	pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	url="http://127.0.0.1:$port"

	# Many connections need many file descriptors, in the server and in the generator.
	ulimit -Hn 1048576 2>/dev/null || true
	ulimit -n "$(ulimit -Hn)"

	server_cmd=("$bin/livedoc" serve --addr "127.0.0.1:$port" --data "$data")
	bench_cmd=("$bin/livedoc-bench")
	if [[ ${pin:-0} == 1 ]]; then
		server_cmd=(taskset -c 0 "${server_cmd[@]}")
		bench_cmd=(taskset -c 1 "${bench_cmd[@]}")
	fi
	# The generator is one client address and mostly one user, opening up to 19,000 sockets at
	# once: the server's limits per address and per user (README, "Command line") are lifted. Set
	# in the environment rather than as flags, so that an older LIVEDOC_BIN without them starts.
	LIVEDOC_ADMIN_PASSWORD=$pw LIVEDOC_MAX_CONNECTIONS_PER_ADDR=-1 LIVEDOC_MAX_SOCKETS_PER_USER=-1 \
		LIVEDOC_HANDSHAKE_RATE=-1 "${server_cmd[@]}" >"$data/server.log" 2>&1 &
	server=$!
	trap livedoc_stop EXIT

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
	echo "livedoc pid $server on $url (pinned: ${pin:-0})" >&2
}

perf=
livedoc_stop() {
	if [[ -n $perf ]]; then
		kill -INT "$perf" 2>/dev/null || true
		wait "$perf" 2>/dev/null || true
	fi
	if [[ -n ${server:-} ]]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	if [[ -n ${data:-} ]]; then
		if [[ ${KEEP_DATA:-0} == 1 ]]; then
			echo "data and server log kept in $data" >&2
		else
			rm -rf "$data"
		fi
	fi
	[[ -n ${bin:-} ]] && rm -rf "$bin"
	return 0
}
