#!/usr/bin/env bash
# Static checks of the deployment files, which need no Docker engine: the Dockerfiles (the local base
# images' too) linted by hadolint, every compose file (and the documented combinations) validated by
# `docker compose config` (or Debian's docker-compose), and the shell scripts parsed. The images and the
# stack are built and run for real by `make compose-test`, the nginx configs also by the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/docker-lib.sh

hadolint=${HADOLINT:-${VENV:-.venv}/bin/hadolint}
dockerfiles=(back-end/Dockerfile front-end/Dockerfile docker/local-base/*.Dockerfile)
"$hadolint" "${dockerfiles[@]}"
echo "hadolint: ${dockerfiles[*]} ok"

compose_command
compose=("${COMPOSE[@]}")
for files in "docker-compose.yml" \
             "docker-compose.yml docker-compose.gpu.yml" \
             "docker-compose.yml docker-compose.override.yml.example" \
             "docker-compose.yml docker-compose.test.yml" \
             "docker-compose.dev.yml"; do
    args=()
    for f in $files; do args+=(-f "$f"); done
    # Validation only: no engine is contacted, and no variable from this shell changes the answer.
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" "${compose[@]}" "${args[@]}" config -q
    echo "${compose[*]} config: $files ok"
done

sh -n back-end/start.sh docker/local-base/nginx-entrypoint.sh
echo "sh -n: back-end/start.sh docker/local-base/nginx-entrypoint.sh ok"
for script in scripts/*.sh; do bash -n "$script"; done
echo "bash -n: scripts/*.sh ok"
