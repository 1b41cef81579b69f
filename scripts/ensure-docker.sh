#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's docker.io when
# dockerd is missing, start dockerd when `docker info` fails (no systemd here), then wait
# until it answers. Safe to run any number of times; instant when all is there.
set -euo pipefail

readonly LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
readonly TIMEOUT_SECONDS=${DOCKER_START_TIMEOUT:-60}

say() { echo "ensure-docker: $*" >&2; }

docker info >/dev/null 2>&1 && exit 0

if [[ $(id -u) != 0 ]]; then
    say "no Docker engine answers, and installing or starting one needs root"
    exit 1
fi

if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    say "installing docker.io and iptables from Debian (about a minute)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io iptables >/dev/null
fi

if ! pgrep -x dockerd >/dev/null; then
    say "starting dockerd (log: $LOG)"
    setsid dockerd >"$LOG" 2>&1 </dev/null &
fi

for (( waited = 0; waited < TIMEOUT_SECONDS * 4; waited++ )); do
    docker info >/dev/null 2>&1 && { say "Docker engine is up"; exit 0; }
    sleep 0.25
done
say "dockerd did not answer within ${TIMEOUT_SECONDS} s; last lines of $LOG:"
tail -n 20 "$LOG" >&2 || true
exit 1
