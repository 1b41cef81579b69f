#!/bin/sh
# The broker container's entrypoint: `broker ARGS...` (default `serve`). Before serving, bring
# the database schema up to date; the database may still be starting (Swarm has no start
# order) and another replica may be migrating at the same moment, so try again for a minute.
set -eu

if [ "${1:-}" = serve ]; then
    tries=0
    until output=$(broker db upgrade 2>&1); do
        tries=$((tries + 1))
        if [ "$tries" -ge 30 ]; then
            printf '%s\n' "$output" >&2
            echo "deskbroker: the database schema could not be brought up to date (see above)" >&2
            exit 1
        fi
        sleep 2
    done
    printf '%s\n' "$output"
fi
exec broker "$@"
