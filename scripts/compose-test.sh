#!/usr/bin/env bash
# `make compose-test`: the production compose stack, built from the working tree and run for real.
#   1. builds both images (scripts/docker-build.sh), on the local base images (--local-base) where they
#      exist or can be made (root with debootstrap), else on the public ones (MMER_COMPOSE_BASE chooses);
#   2. starts docker-compose.yml with docker-compose.test.yml on top (project mmer-compose-test): the
#      back-end and the page on a network with no way out, the proxy on 127.0.0.1:${MMER_HTTP_PORT:-80};
#   3. waits for all three to be healthy, then checks: the page at /, /api/health through nginx, the
#      back-end's user (not root) and health, that it cannot reach the internet, that the default model's
#      weights are in the image, POST /api/infer/predict on a face clip, and the browser tests' main case,
#      the voice case and the proxy's own tests against the stack;
#   4. `docker compose down`, then checks that nothing of the project is left (containers, networks).
# Needs a running Docker engine (`.ci/run` starts one), docker compose (v2) or docker-compose (v1), and
# the Python venv and front-end packages (`make setup`) for the clips and the browser.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/docker-lib.sh

VENV=${VENV:-.venv}
python=$(cd "$VENV/bin" && pwd)/python
PROJECT=mmer-compose-test
PORT=${MMER_HTTP_PORT:-80}
UPLOAD_MB=2
base=http://127.0.0.1:$PORT

docker info >/dev/null 2>&1 || { echo "compose-test: no Docker engine answers (start dockerd)" >&2; exit 1; }
compose_command
compose=("${COMPOSE[@]}" -p "$PROJECT" -f docker-compose.yml -f docker-compose.test.yml)

step() { printf '\n== %s\n' "$*"; }
fail() { echo "compose-test: FAILED: $*" >&2; exit 1; }

# MMER_COMPOSE_BASE: local (the Debian-made stand-ins), public (Docker Hub's images), or auto: local
# where they exist or can be made here (root with debootstrap), public otherwise.
base_kind=${MMER_COMPOSE_BASE:-auto}
if [ "$base_kind" = auto ]; then
    base_kind=public
    if docker image inspect mmer-local/nginx:bookworm >/dev/null 2>&1 \
        || { [ "$(id -u)" -eq 0 ] && command -v debootstrap >/dev/null 2>&1; }; then
        base_kind=local
    fi
fi
case "$base_kind" in
    public) ./scripts/docker-build.sh ;;
    local)
        ./scripts/docker-build.sh --local-base
        export MMER_NGINX_IMAGE=mmer-local/nginx:bookworm
        ;;
    *) fail "MMER_COMPOSE_BASE must be auto, local or public, not $base_kind" ;;
esac
export MMER_TAG=${MMER_TAG:-latest} MMER_HTTP_BIND=127.0.0.1 MMER_HTTP_PORT=$PORT MMER_MAX_UPLOAD_MB=$UPLOAD_MB
export MMER_MODEL="" MMER_API_KEY=""

work=$(mktemp -d)
stack_up=0
finish() {
    local status=$?
    if [ "$stack_up" = 1 ]; then
        if [ "$status" -ne 0 ]; then
            "${compose[@]}" ps || true
            "${compose[@]}" logs --tail=60 || true
        fi
        "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap finish EXIT

step "docker compose up (no build: the images above)"
"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
stack_up=1
start=$SECONDS
"${compose[@]}" up -d --no-build
container() { "${compose[@]}" ps -q "$1"; }
health() { docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$(container "$1")"; }
for _ in $(seq 1 120); do
    [ "$(health backend)" = healthy ] && [ "$(health frontend)" = healthy ] && [ "$(health proxy)" = healthy ] && break
    for service in backend frontend proxy; do
        [ "$(docker inspect --format '{{.State.Running}}' "$(container "$service")")" = true ] || fail "$service stopped"
    done
    sleep 2
done
for service in backend frontend proxy; do
    echo "$service: $(health "$service")"
    [ "$(health "$service")" = healthy ] || fail "$service is not healthy after 4 minutes"
done
echo "all healthy $((SECONDS - start)) s after up"

step "the page at / and the API at /api/ through nginx"
curl -fsS "$base/" | grep -q '<div id="root"></div>' || fail "GET / is not the page"
echo "GET / : the page"
curl -fsS "$base/api/health" | tee "$work/health.json"; echo
grep -q '"status": *"ok"' "$work/health.json" || fail "/api/health is not ok"

step "the back-end: its user, and no way out"
user=$(docker exec "$(container backend)" id -u)
echo "back-end runs as uid $user ($(docker exec "$(container backend)" id -un))"
[ "$user" != 0 ] || fail "the back-end runs as root"
if docker exec "$(container backend)" python -c \
    "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/', timeout=5)" 2>/dev/null; then
    fail "the back-end reached the internet: the test network is not closed"
fi
echo "the back-end cannot reach https://pypi.org (as intended: nothing can be downloaded at start)"
docker exec "$(container backend)" sh -c 'ls -l "$MMER_CACHE_DIR"/*/*.safetensors'

step "POST /api/infer/predict with a face clip (the default model, baked in)"
"$python" front-end/e2e/fixtures.py "$work/clips" >/dev/null
curl -fsS -F "file=@$work/clips/face.mp4" "$base/api/infer/predict" >"$work/predict.json" || fail "predict failed"
"$python" - "$work/predict.json" <<'PY'
import json
import sys

answer = json.load(open(sys.argv[1]))
scores = answer["scores"]
assert len(scores) == 6, scores
print(f"model {answer['model']['name']} ({answer['model']['kind']}): {answer['label']} {answer['confidence']:.2f}, "
      f"used {answer['modalities']['used']}, {len(answer['timeline'])} timeline segments, scores "
      + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
assert answer["model"]["kind"] == "default", answer["model"]
assert answer["label"] == "Happy", answer["label"]
PY

step "the browser tests against the stack: the main case, the voice, and the proxy's own"
(cd front-end && MMER_E2E_BASE_URL=$base MMER_E2E_MAX_UPLOAD_MB=$UPLOAD_MB MMER_PYTHON="$python" \
    npx --no-install vitest run --config vitest.e2e.config.ts \
    -t "reads a smiling face as happy|reads the voice|nginx in front of the page")

step "docker compose down"
"${compose[@]}" down -v --remove-orphans
stack_up=0
left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
networks=$(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT")
[ -z "$left$networks" ] || fail "left behind: containers [$left] networks [$networks]"
echo "nothing of $PROJECT is left: no container, no network"
echo
echo "compose-test: ok"
