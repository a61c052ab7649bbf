#!/usr/bin/env bash
# `make run`: the API on :8000 (the seed's paths) and the built page on :8080 with /api forwarded to
# the API (same origin, as behind nginx in production). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
API_PORT=${MMER_API_PORT:-8000}
PAGE_PORT=${MMER_PAGE_PORT:-8080}
HOST=${MMER_HOST:-0.0.0.0}

pids=()
# wait_for URL PID WHAT: until URL answers, or fail if the process PID has died.
wait_for() {
    for _ in $(seq 1 120); do
        curl -fsS "$1" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || { echo "$3 did not start (see above)" >&2; exit 1; }
        sleep 0.5
    done
    echo "$3 did not answer $1 within a minute" >&2
    exit 1
}
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$VENV/bin/mmer" serve --host "$HOST" --port "$API_PORT" &
pids+=($!)
wait_for "http://127.0.0.1:$API_PORT/health" "${pids[0]}" "the API"

(cd front-end && MMER_API_URL="http://127.0.0.1:$API_PORT" exec node node_modules/vite/bin/vite.js preview \
    --host "$HOST" --port "$PAGE_PORT" --strictPort) &
pids+=($!)
wait_for "http://127.0.0.1:$PAGE_PORT/api/health" "${pids[1]}" "the page server"

cat <<MSG

  mmer is running (Ctrl-C stops it)
    page:  http://localhost:$PAGE_PORT/        (API behind it at /api)
    API:   http://localhost:$API_PORT/         (docs: http://localhost:$API_PORT/docs)

MSG
wait -n "${pids[@]}"
