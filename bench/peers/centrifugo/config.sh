#!/usr/bin/env bash
# Writes Centrifugo v6's configuration for livedoc-bench: port $1, HTTP API key and connection
# JWT HMAC secret $2. Production settings as documented: JWT-authenticated connections, API key,
# no admin UI, no insecure modes, log level error (info logs each connection); channels of the
# top-level namespace subscribable by authenticated clients (the bench's rooms map to channels).
# Everything else is left at its defaults (memory engine, no history: as a fan-out without
# recovery).
set -euo pipefail
port=${1:?port}
key=${2:?key}
cat <<JSON
{
  "http_server": {"address": "127.0.0.1", "port": $port},
  "log": {"level": "error"},
  "health": {"enabled": true},
  "client": {
    "token": {"hmac_secret_key": "$key"},
    "allowed_origins": ["http://127.0.0.1:$port"]
  },
  "http_api": {"key": "$key"},
  "channel": {
    "without_namespace": {"allow_subscribe_for_client": true}
  }
}
JSON
