# A stand-in for nginx:1.27-alpine: Debian's nginx, with an entrypoint that renders
# /etc/nginx/templates/*.template into /etc/nginx/conf.d/ from the environment, as the official image
# does (so the project's nginx.conf templates work unchanged), logs to the container's output, and wget
# for the health checks. Built by scripts/docker-local-base.sh.
ARG DEBIAN_IMAGE=mmer-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light gettext-base wget \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && mkdir -p /etc/nginx/templates /usr/share/nginx/html \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /docker-entrypoint.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
