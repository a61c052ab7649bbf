#!/usr/bin/env bash
# System programs `make test` needs: Debian's Chromium (driven by playwright-core; no browser
# download), nginx (the reverse proxy the browser tests run the page and API behind) and
# docker-compose (validates the compose files; no Docker engine is needed for that).
# Installs what is missing with apt-get when run as root (CI) or with password-less sudo; otherwise
# says what to install and fails. Safe to re-run: does nothing when everything is present.
set -euo pipefail

need=()
command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null 2>&1 || [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "make test needs: ${need[*]} (Debian/Ubuntu: sudo apt-get install ${need[*]})" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "make test needs: ${need[*]}; install them with your system's package manager" >&2
    exit 1
fi
echo "installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts nginx on :80 when it is installed; the tests run their own on a free port.
if [ -x /usr/sbin/nginx ] && command -v service >/dev/null 2>&1; then
    "${sudo[@]}" service nginx stop >/dev/null 2>&1 || true
fi
