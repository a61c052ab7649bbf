#!/usr/bin/env bash
# Static checks of the deployment files, which need no Docker engine: the Dockerfiles linted by
# hadolint, every compose file (and the documented combinations) validated by `docker compose config`
# (or Debian's docker-compose), and start.sh parsed by sh. The nginx configs are run for real by the
# browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

hadolint=${HADOLINT:-${VENV:-.venv}/bin/hadolint}
"$hadolint" back-end/Dockerfile front-end/Dockerfile
echo "hadolint: back-end/Dockerfile front-end/Dockerfile ok"

if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
else
    echo "no docker compose to validate the compose files with (Debian: apt-get install docker-compose)" >&2
    exit 1
fi
for files in "docker-compose.yml" \
             "docker-compose.yml docker-compose.gpu.yml" \
             "docker-compose.yml docker-compose.override.yml.example" \
             "docker-compose.dev.yml"; do
    args=()
    for f in $files; do args+=(-f "$f"); done
    # Validation only: no engine is contacted, and no variable from this shell changes the answer.
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" "${compose[@]}" "${args[@]}" config -q
    echo "${compose[*]} config: $files ok"
done

sh -n back-end/start.sh
echo "sh -n: back-end/start.sh ok"
