#!/usr/bin/env bash
# Set up and run deskbroker on its embedded default (SQLite in ./var), with a local admin,
# the desktop images and a pool of guacd on this machine's Docker engine (installed and started when
# missing). Open the address it prints and sign in as `admin` with the password it prints.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/ensure-docker.sh

if [ ! -f .env ]; then
  echo "==> writing .env with a new secret key"
  umask 077
  printf 'DESKBROKER_SECRET_KEY=%s\n' "$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" > .env
fi

.venv/bin/broker db upgrade
if ! .venv/bin/broker users list | awk '{print $1}' | grep -qx admin; then
  .venv/bin/broker users create admin --admin --name "Administrator"
  echo "==> sign in as 'admin' with the password above (change it: broker users reset-password admin)"
fi
echo "==> desktop images and guacd (the first build takes a few minutes; later ones seconds)"
.venv/bin/broker images build base xfce guacd netguard
DESKBROKER_GUACD_HOSTS=$(.venv/bin/broker tier start)  # a pool: one guacd per core, at least two
export DESKBROKER_GUACD_HOSTS
exec .venv/bin/broker serve
