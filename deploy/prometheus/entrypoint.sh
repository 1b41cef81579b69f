#!/bin/bash
# Prometheus for deskbroker: the scrape configuration with this stack's target and interval, the
# token in a file only Prometheus reads; arguments go on to prometheus (e.g. --web.listen-address).
set -euo pipefail
: "${METRICS_TOKEN:?set DESKBROKER_METRICS_TOKEN in .env (deploy/init.sh makes one)}"
umask 077
printf '%s' "$METRICS_TOKEN" > /tmp/metrics-token
unset METRICS_TOKEN
# A name is looked up in DNS, so that each broker replica it resolves to is scraped on its own (their
# figures are each process's); an address is the one target.
target=${BROKER_TARGET:-broker:8080}
host=${target%:*} port=${target##*:}
case "$host" in
    *[!0-9.]*) targets="    dns_sd_configs:\n      - names: [$host]\n        type: A\n        port: $port" ;;
    *) targets="    static_configs:\n      - targets: ['$target']" ;;
esac
sed -e "s|BROKER_TARGETS|$targets|" -e "s|SCRAPE_INTERVAL|${SCRAPE_INTERVAL:-15s}|g" \
    /etc/prometheus/deskbroker.yml > /tmp/prometheus.yml
exec prometheus --config.file=/tmp/prometheus.yml --storage.tsdb.path=/var/lib/prometheus/metrics2 \
    --storage.tsdb.retention.time="${RETENTION:-30d}" "$@"
