# A stand-in for python:3.11-slim-bookworm, built from Debian's own packages (bookworm's python3 is 3.11)
# on a base made by debootstrap: for machines that reach Debian's mirror and PyPI but not Docker Hub.
# Built by scripts/docker-local-base.sh; nothing in the project's own Dockerfiles depends on it.
ARG DEBIAN_IMAGE=mmer-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
ENV LANG=C.UTF-8
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python-is-python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
