#!/bin/sh
# Start nginx; without a certificate in /etc/nginx/tls (tls.crt + tls.key), first make a
# self-signed one for the host name in PUBLIC_URL. It lands in the `tls` volume, so it
# stays the same across restarts (browsers keep the exception people accepted).
set -eu
tls=/etc/nginx/tls

if [ ! -s "$tls/tls.crt" ] || [ ! -s "$tls/tls.key" ]; then
    host=$(printf '%s' "${PUBLIC_URL:-https://localhost}" | sed -E 's#^[a-zA-Z]+://(\[[^]]*\]|[^/:]*).*#\1#; s#[][]##g')
    case "$host" in
        *:*) san="IP:$host" ;;                           # IPv6
        "" | *[!0-9.]*) san="DNS:${host:-localhost}" ;;
        *) san="IP:$host" ;;                             # IPv4
    esac
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=${host:-localhost}" \
        -addext "subjectAltName=$san" -keyout "$tls/tls.key" -out "$tls/tls.crt" 2>/dev/null
    echo "nginx: no certificate in $tls; made a self-signed one for $san (mount your own: see README)"
fi
exec nginx -g 'daemon off;'
