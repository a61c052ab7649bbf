#!/bin/sh
# Each /etc/nginx/templates/NAME.template becomes /etc/nginx/conf.d/NAME with ${VAR} replaced by the
# environment's VAR, for the variables that are set only: nginx's own $variables are left as they are.
set -eu
templates=/etc/nginx/templates
if [ -d "$templates" ]; then
    # '${A} ${B} …' for every variable in the environment: envsubst replaces only those.
    names=$(awk 'BEGIN { for (name in ENVIRON) if (name ~ /^[A-Za-z_][A-Za-z0-9_]*$/) printf "${%s} ", name }')
    for template in "$templates"/*.template; do
        [ -e "$template" ] || continue
        out="/etc/nginx/conf.d/$(basename "$template" .template)"
        envsubst "$names" <"$template" >"$out"
        echo "$0: rendered $template into $out" >&2
    done
fi
exec "$@"
