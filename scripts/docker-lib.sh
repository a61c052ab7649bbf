# Shared by scripts/docker-local-base.sh, docker-build.sh, compose-test.sh and check-deploy.sh (sourced,
# not run).
#
# compose_command         sets COMPOSE=(…): `docker compose` (v2) where the plugin is installed, else
#                         Debian's `docker-compose` (v1); fails, saying what to install, with neither.
# docker_builder          sets BUILD=(…): a BuildKit build command. The Dockerfiles mount secrets
#                         (RUN --mount=type=secret), which the legacy builder cannot do: `docker buildx
#                         build --load` where buildx is installed, else a client that has BuildKit built
#                         in (Docker 20.10–22, such as Debian's /usr/bin/docker) with DOCKER_BUILDKIT=1.
# build_config_start DIR  writes this machine's pip/npm settings into DIR (scripts/docker-build-config.py),
#                         serves its local wheel folders on loopback, and sets SECRETS=(--secret …);
#                         the builds run with --network host so that they reach that server and the
#                         network exactly as this machine does. build_config_stop stops the server.

compose_command() {
    if docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    elif command -v docker-compose >/dev/null 2>&1; then
        COMPOSE=(docker-compose)
    else
        echo "needs docker compose or docker-compose (Debian: apt-get install docker-compose)" >&2
        return 1
    fi
}

docker_builder() {
    local client
    for client in "${DOCKER:-docker}" /usr/bin/docker; do
        command -v "$client" >/dev/null 2>&1 || continue
        if "$client" buildx version >/dev/null 2>&1; then
            BUILD=("$client" buildx build --load)
            return 0
        fi
        local major
        major=$("$client" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
        if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -ge 18 ] && [ "$major" -lt 23 ]; then
            BUILD=(env DOCKER_BUILDKIT=1 "$client" build)
            return 0
        fi
    done
    echo "no BuildKit builder: install docker-buildx (Docker 23 and newer) or use Docker 20.10–22" >&2
    return 1
}

BUILD_CONFIG_PID=""

build_config_start() {
    local dir=$1 port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 "$(dirname "${BASH_SOURCE[0]}")/docker-build-config.py" "$dir" "$port"
    mkdir -p "$dir/links"
    local n=0 folder
    while IFS= read -r folder; do
        ln -sfn "$folder" "$dir/links/$n"
        n=$((n + 1))
    done <"$dir/serve.txt"
    if [ "$n" -gt 0 ]; then
        python3 -m http.server --bind 127.0.0.1 --directory "$dir/links" "$port" >"$dir/http.log" 2>&1 &
        BUILD_CONFIG_PID=$!
        local _
        for _ in $(seq 1 50); do
            curl -fs -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
            sleep 0.1
        done
    fi
    SECRETS=(--secret "id=pip.conf,src=$dir/pip.conf" --secret "id=npmrc,src=$dir/npmrc"
             --secret "id=ca-bundle,src=$dir/ca-bundle" --network host)
}

build_config_stop() {
    if [ -n "$BUILD_CONFIG_PID" ]; then
        kill "$BUILD_CONFIG_PID" 2>/dev/null || true
        wait "$BUILD_CONFIG_PID" 2>/dev/null || true
        BUILD_CONFIG_PID=""
    fi
}

# image_size NAME: the image's size in MB (as `docker images` counts it).
image_size() {
    docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'
}
