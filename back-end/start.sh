#!/bin/sh
# Start the mmer API (the installed mmer_api package: `pip install ".[serve]"`).
#   ./start.sh            production: gunicorn with uvicorn workers (MMER_WORKERS, default 1; each loads the model)
#   ./start.sh --reload   development: one uvicorn process that restarts when mmer_api or the mmer library changes
# PORT (default 8000) is where it listens; every MMER_* variable is read by app/settings.py.
set -eu
cd "$(dirname "$0")"
PORT="${PORT:-8000}"

if [ "${1:-}" = "--reload" ]; then
    # Both packages are watched where Python imports them from (a mounted source tree in development).
    library=$(python -c 'import mmer, os; print(os.path.dirname(mmer.__file__))')
    service=$(python -c 'import mmer_api, os; print(os.path.dirname(mmer_api.__file__))')
    exec uvicorn mmer_api.main:app --host 0.0.0.0 --port "$PORT" --reload --reload-dir "$service" --reload-dir "$library" \
        --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}"
fi
if [ $# -gt 0 ]; then
    echo "usage: $0 [--reload]" >&2
    exit 2
fi

# A long video takes a while: the worker timeout is above the longest clip's processing time.
exec gunicorn mmer_api.main:app \
    --worker-class uvicorn_worker.UvicornWorker \
    --workers "${MMER_WORKERS:-1}" \
    --bind "0.0.0.0:$PORT" \
    --timeout "${MMER_WORKER_TIMEOUT_S:-900}" \
    --graceful-timeout 30 \
    --access-logfile - \
    --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}"
