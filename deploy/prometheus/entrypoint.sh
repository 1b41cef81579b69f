#!/bin/bash
# Prometheus for deskbroker: the scrape configuration with this stack's target and interval, the
# token in a file only Prometheus reads; arguments go on to prometheus (e.g. --web.listen-address).
set -euo pipefail
: "${METRICS_TOKEN:?set DESKBROKER_METRICS_TOKEN in .env (deploy/init.sh makes one)}"
umask 077
printf '%s' "$METRICS_TOKEN" > /tmp/metrics-token
unset METRICS_TOKEN
sed -e "s|BROKER_TARGET|${BROKER_TARGET:-broker:8080}|" -e "s|SCRAPE_INTERVAL|${SCRAPE_INTERVAL:-15s}|g" \
    /etc/prometheus/deskbroker.yml > /tmp/prometheus.yml
exec prometheus --config.file=/tmp/prometheus.yml --storage.tsdb.path=/var/lib/prometheus/metrics2 \
    --storage.tsdb.retention.time="${RETENTION:-30d}" "$@"
