#!/usr/bin/env bash
# A Docker engine for `make compose-test`, on a Debian machine without systemd (CI): installs Debian's
# docker.io, docker-compose and debootstrap when missing, then starts dockerd in the background unless
# one already answers, and waits for it. Needs root. Prints the PID of a dockerd it started (nothing
# when one was running), so that the caller can stop it.
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "start-docker: needs root" >&2; exit 1; }
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
    echo "start-docker: installing ${need[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
docker info >/dev/null 2>&1 && exit 0

log=${DOCKERD_LOG:-/var/log/dockerd.log}
setsid dockerd >"$log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && { echo "$pid"; exit 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
done
echo "start-docker: dockerd did not start; the end of $log:" >&2
tail -n 20 "$log" >&2
exit 1
