#!/usr/bin/env bash
# Prepare this host for `docker-compose up`: add to .env every stack setting it lacks (fresh
# secrets included; a value set in the environment wins, e.g.
#   DESKBROKER_PUBLIC_URL=https://desktops.school.example deploy/init.sh
# ) and make the desktops' private network and the session recordings' folder. Never changes a
# line already in .env; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "init: $*" >&2; }
random() { LC_ALL=C tr -dc 'A-Za-z0-9' < <(head -c 1024 /dev/urandom) | cut -c "1-$1"; }
setting() { grep -E "^$1=" .env | tail -n 1 | cut -d= -f2-; }

# Offline when the Debian base made by `broker images build` is here and the registry's is not.
debian_repository() {
    if ! docker image inspect debian:bookworm >/dev/null 2>&1 &&
        docker image inspect deskbroker/debian:bookworm >/dev/null 2>&1; then
        echo deskbroker/debian
    else
        echo debian
    fi
}

# With a registry the stack runs upstream guacd; without one, Debian's 1.3 built as deskbroker/guacd.
UPSTREAM_GUACD=guacamole/guacd:1.5.5
guacd_image() {
    if [ "$(setting DEBIAN_REPOSITORY)" = deskbroker/debian ]; then
        echo deskbroker/guacd:latest
    else
        echo "$UPSTREAM_GUACD"
    fi
}

touch .env
chmod 600 .env  # it holds the secrets
if [ -n "$(tail -c 1 .env)" ]; then echo >> .env; fi  # a last line without its newline
add() {  # add NAME VALUE: unless .env has NAME; the environment's value wins over VALUE
    grep -qE "^$1=" .env && return
    echo "$1=${!1:-$2}" >> .env
    added+=("$1")
}
added=()
add COMPOSE_PROJECT_NAME deskbroker
add COMPOSE_PROFILES proxy
add DEBIAN_REPOSITORY "$(debian_repository)"
add GUACD_IMAGE "$(guacd_image)"
add DOCKER_GID "$(stat -c %g /var/run/docker.sock)"
add DOCKER_VOLUMES "$(docker info --format '{{.DockerRootDir}}')/volumes"
add POSTGRES_PASSWORD "$(random 32)"
add DESKBROKER_PUBLIC_URL "https://$(hostname -f 2>/dev/null || hostname)"
add DESKBROKER_SECRET_KEY "$(random 64)"
add DESKBROKER_WEBSOCKIFY_KEY "$(random 48)"
add DESKBROKER_METRICS_TOKEN "$(random 48)"  # what the monitoring profile's Prometheus sends to /metrics
add DESKBROKER_INSTANCE deskbroker
add GUACD_REPLICAS "$(( $(nproc) > 2 ? $(nproc) : 2 ))"  # a guacd per core, at least two (docs/operations.md)
add RECORDING_DIR /var/lib/deskbroker/recordings
for optional in HTTPS_PORT HTTP_PORT PROXY_ADDRESS TLS_DIR DESKBROKER_DESKTOP_PROVIDER; do
    if [ -n "${!optional:-}" ]; then add "$optional" ""; fi
done
if [ ${#added[@]} -gt 0 ]; then
    say "added to .env: ${added[*]} (Debian images from '$(setting DEBIAN_REPOSITORY)', guacd $(setting GUACD_IMAGE), public URL $(setting DESKBROKER_PUBLIC_URL))"
fi

# Networks that re-sign TLS with their own CA (many schools' do) break the image builds' downloads
# (npm: SELF_SIGNED_CERT_IN_CHAIN) unless the builds trust it: Debian keeps a host's extra CAs in
# /usr/local/share/ca-certificates. TRUST_HOST_CAS=yes copies them for the builds, =no leaves them;
# unset, a person at a terminal is asked, a script is told how.
host_cas="${HOST_CA_DIR:-/usr/local/share/ca-certificates}"
build_cas=deploy/ca-certificates
untrusted=()
while IFS= read -r -d '' ca; do
    copy="$build_cas/$(basename "$ca")"
    if ! cmp -s "$ca" "$copy"; then untrusted+=("$ca"); fi
done < <(find "$host_cas" -name '*.crt' -type f -print0 2>/dev/null | sort -z)
if [ ${#untrusted[@]} -gt 0 ]; then
    names="$(printf '%s ' "${untrusted[@]##*/}")"
    answer="${TRUST_HOST_CAS:-}"
    if [ -z "$answer" ] && [ -t 0 ] && [ -t 2 ]; then
        read -r -p "init: this host trusts extra CAs (${names% }), e.g. of a TLS-inspecting proxy. Trust them for the image builds too? [Y/n] " answer
        answer="${answer:-yes}"
    fi
    case "$answer" in
        [Yy]*)
            cp "${untrusted[@]}" "$build_cas/"
            say "the image builds trust this host's extra CAs: ${names% } (in $build_cas/; the images that run do not contain them)"
            ;;
        [Nn]*) ;;
        *) say "this host trusts extra CAs (${names% }); if a proxy re-signs TLS, builds need them: run again with TRUST_HOST_CAS=yes, or copy them to $build_cas/" ;;
    esac
fi

# Session recordings: guacd and the broker both run as uid 1000 and nobody else may read them.
recordings="$(setting RECORDING_DIR)"
if [ ! -d "$recordings" ]; then
    if install -d -m 0700 -o 1000 -g 1000 "$recordings"; then
        say "made the session recordings' folder $recordings (uid 1000 only)"
    else
        say "could not make $recordings: run  sudo install -d -m 0700 -o 1000 -g 1000 $recordings"
    fi
fi

network="$(setting DESKBROKER_INSTANCE)-desktops"
if ! docker network inspect "$network" >/dev/null 2>&1; then
    options=(--internal --label "io.deskbroker.broker=$(setting DESKBROKER_INSTANCE)")
    if [ "$(setting DESKBROKER_DESKTOP_PROVIDER)" = swarm ]; then
        options+=(--driver overlay --attachable)
    fi
    docker network create "${options[@]}" "$network" >/dev/null
    say "made the desktops' network $network (internal)"
fi
