#!/usr/bin/env bash
# Build the two images from the working tree, with this machine's pip and npm settings passed in as
# BuildKit secrets (scripts/docker-build-config.py), then print their build times and sizes.
#   scripts/docker-build.sh               on the public base images (python:3.11-slim-bookworm, node, nginx)
#   scripts/docker-build.sh --local-base  on local ones made from Debian's packages (scripts/docker-local-base.sh),
#                                         for a machine that cannot reach Docker Hub
# MMER_TAG (default: latest) tags mmer-backend and mmer-frontend. Torch: the CPU build from PyTorch's
# index when it answers; otherwise a CPU wheel (torch-*+cpu-cp311-*.whl) in one of pip's find-links
# folders; otherwise PyPI's default build (CUDA, several GB). MMER_TORCH_INDEX_URL and
# MMER_TORCH_VERSION choose it yourself (an empty index URL means pip's own configuration).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/docker-lib.sh

TAG=${MMER_TAG:-latest}
PYTHON_IMAGE=${MMER_PYTHON_IMAGE:-python:3.11-slim-bookworm}
NODE_IMAGE=${MMER_NODE_IMAGE:-node:20-bookworm-slim}
NGINX_IMAGE=${MMER_NGINX_IMAGE:-nginx:1.27-alpine}
case "${1:-}" in
    --local-base)
        ./scripts/docker-local-base.sh
        PYTHON_IMAGE=mmer-local/python:3.11-slim-bookworm
        NODE_IMAGE=mmer-local/node:22-bookworm-slim
        NGINX_IMAGE=mmer-local/nginx:bookworm
        ;;
    "") ;;
    *) echo "usage: $0 [--local-base]" >&2; exit 2 ;;
esac

work=$(mktemp -d)
cleanup() { build_config_stop; rm -rf "$work"; }
trap cleanup EXIT
docker_builder
build_config_start "$work/config"

# Torch: where it comes from, unless chosen.
torch_args=()
if [ -n "${MMER_TORCH_INDEX_URL+set}" ] || [ -n "${MMER_TORCH_VERSION:-}" ]; then
    torch_args=(--build-arg "TORCH_INDEX_URL=${MMER_TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}")
    [ -n "${MMER_TORCH_VERSION:-}" ] && torch_args+=(--build-arg "TORCH_VERSION=$MMER_TORCH_VERSION")
elif curl -fsS -o /dev/null --max-time 15 https://download.pytorch.org/whl/cpu/torch/ 2>/dev/null; then
    echo "torch: the CPU build from https://download.pytorch.org/whl/cpu"
else
    wheel=""
    while IFS= read -r folder; do
        wheel=$(find "$folder" -maxdepth 1 -name 'torch-*+cpu-cp311-cp311-manylinux*_x86_64.whl' | sort -V | tail -n1)
        [ -n "$wheel" ] && break
    done <"$work/config/serve.txt"
    if [ -n "$wheel" ]; then
        version=$(basename "$wheel" | cut -d- -f2)
        echo "torch: PyTorch's CPU index does not answer; the CPU wheel $wheel (torch $version) from pip's find-links"
        torch_args=(--build-arg "TORCH_INDEX_URL=" --build-arg "TORCH_VERSION=$version")
    else
        echo "torch: PyTorch's CPU index does not answer and no CPU wheel is at hand: PyPI's build (CUDA, several GB)" >&2
        torch_args=(--build-arg "TORCH_INDEX_URL=")
    fi
fi

declare -A seconds
start=$SECONDS
"${BUILD[@]}" "${SECRETS[@]}" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" "${torch_args[@]}" \
    -f back-end/Dockerfile -t "mmer-backend:$TAG" .
seconds[backend]=$((SECONDS - start))
start=$SECONDS
"${BUILD[@]}" "${SECRETS[@]}" --build-arg "NODE_IMAGE=$NODE_IMAGE" --build-arg "NGINX_IMAGE=$NGINX_IMAGE" \
    -t "mmer-frontend:$TAG" front-end
seconds[frontend]=$((SECONDS - start))

echo
printf '%-22s %-62s %9s %10s\n' image base size "build (s)"
printf '%-22s %-62s %9s %10s\n' "mmer-backend:$TAG" "$PYTHON_IMAGE" "$(image_size "mmer-backend:$TAG")" "${seconds[backend]}"
printf '%-22s %-62s %9s %10s\n' "mmer-frontend:$TAG" "$NODE_IMAGE + $NGINX_IMAGE" "$(image_size "mmer-frontend:$TAG")" "${seconds[frontend]}"
