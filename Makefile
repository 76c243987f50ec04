# livedoc: `make run` serves the sample app; `make test` runs every test suite.
GO ?= go
STATICCHECK_VERSION ?= v0.8.2

.PHONY: run test build deps lint gotest gotest-pg suites jstest chromium bench bench-smoke bench-go fuzz clean

run:
	$(GO) run ./cmd/livedoc serve

build:
	$(GO) build -o bin/livedoc ./cmd/livedoc

# Node peers for the tests (socket.io-client, frappe-js-sdk), pinned by package-lock.json.
deps: tests/js/node_modules/.package-lock.json
tests/js/node_modules/.package-lock.json: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Every package but cluster/, which cluster-test runs with its real nodes (so nothing is skipped).
UNIT_PKGS = $$($(GO) list ./... | grep -v /cluster$$)

# The official protocol suites (realtime/socketio/suites_test.go) run once, on their own, in
# `suites`: they time a 200 ms ping timeout, which other packages' tests running beside them on a
# 2-core machine can stretch; they do not depend on the store.
SUITES = 'ProtocolSuite$$'

gotest: deps
	$(GO) test -count=1 -skip $(SUITES) $(UNIT_PKGS)

suites: deps
	$(GO) test -count=1 -run $(SUITES) ./realtime/socketio/

# The same Go suite against PostgreSQL (each test in its own schema); LIVEDOC_TEST_PG overrides
# the default postgres://postgres@127.0.0.1:5432/test.
gotest-pg: deps
	@pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not answering on 127.0.0.1:5432 (set LIVEDOC_TEST_PG)"; exit 1; }
	LIVEDOC_TEST_STORE=postgres $(GO) test -count=1 -skip $(SUITES) $(UNIT_PKGS)

# The desk's browser tests drive Debian's Chromium (playwright-core); install it when missing.
chromium:
	command -v chromium || (apt-get update && apt-get install -y chromium)

# Every tests/js/*.test.mjs: among them frappe-realtime (the binary against a stand-in Frappe site
# and a redis-server of its own) and cors (a cross-origin socket in Chromium).
jstest: deps build chromium
	cd tests/js && node --test *.test.mjs
	cd client/js && node --test test/

# Three real nodes on PostgreSQL and a redis-server of the test's own: load, SIGKILL, Redis outage.
cluster-test:
	LIVEDOC_TEST_CLUSTER=1 $(GO) test -count=1 ./cluster/

test: lint suites gotest gotest-pg cluster-test jstest bench-smoke

# A short run of every livedoc-bench scenario against a fresh livedoc (about 2½ minutes); each
# fails the target if it does not complete or loses anything (bench/run-all.sh, bench/README.md).
bench: build
	LIVEDOC_BIN=bin/livedoc bench/run-all.sh

# The same with the smallest sizes (seconds), run by `make test`: the tool must not rot. Asserts
# completion and lost = 0, never timings.
bench-smoke: build
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...
	LIVEDOC_BIN=bin/livedoc bench/run-all.sh --smoke

# The Go micro-benchmarks: document writes, and the socket fan-out.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./doc/
	$(GO) test -run '^$$' -bench Fanout -benchtime 2000x ./realtime/socketio/

# A short run of each fuzz target (go test runs their seed corpora as plain tests anyway).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseFilters -fuzztime 30s ./doc/
	$(GO) test -run '^$$' -fuzz FuzzParseDocType -fuzztime 30s ./doc/
	$(GO) test -run '^$$' -fuzz FuzzDecodeEngineIO -fuzztime 30s ./realtime/socketio/
	$(GO) test -run '^$$' -fuzz FuzzDecodeSocketIO -fuzztime 30s ./realtime/socketio/
	$(GO) test -run '^$$' -fuzz FuzzReadMessage -fuzztime 30s ./realtime/socketio/

clean:
	rm -rf bin livedoc-data
