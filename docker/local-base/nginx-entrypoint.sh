#!/bin/sh
# Each NAME.template in $NGINX_ENVSUBST_TEMPLATE_DIR (/etc/nginx/templates) becomes NAME in
# $NGINX_ENVSUBST_OUTPUT_DIR (/etc/nginx/conf.d) with ${VAR} replaced by the environment's VAR, for the
# variables that are set only: nginx's own $variables are left as they are (the official image's
# behaviour, and its two settings' names). Then runs the command (nginx).
set -eu
templates=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
output=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
if [ -d "$templates" ]; then
    # '${A} ${B} …' for every variable in the environment: envsubst replaces only those.
    names=$(awk 'BEGIN { for (name in ENVIRON) if (name ~ /^[A-Za-z_][A-Za-z0-9_]*$/) printf "${%s} ", name }')
    for template in "$templates"/*.template; do
        [ -e "$template" ] || continue
        out="$output/$(basename "$template" .template)"
        envsubst "$names" <"$template" >"$out"
        echo "$0: rendered $template into $out" >&2
    done
fi
exec "$@"
