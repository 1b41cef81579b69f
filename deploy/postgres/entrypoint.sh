#!/bin/sh
# Run PostgreSQL; on the first start (empty data folder) make the cluster, the role
# POSTGRES_USER with the password from POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD, and the
# database POSTGRES_DB it owns. Connections over the network need that password (scram-sha-256).
set -eu

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
    fi
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres: set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) for the first start" >&2
        exit 1
    fi
    echo "postgres: making a new cluster in $PGDATA"
    initdb --pgdata="$PGDATA" --username=postgres --auth-local=peer --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    quoted_password=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
    # Single-user mode: the password goes through stdin, never through a log or a process list.
    postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE ROLE "$POSTGRES_USER" LOGIN PASSWORD '$quoted_password';
CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER";
SQL
fi
unset POSTGRES_PASSWORD
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
