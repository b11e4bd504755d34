#!/bin/bash
# The subset of the official postgres image's entry point the stacks use, written for this image:
# on an empty $PGDATA, initdb as POSTGRES_USER with POSTGRES_PASSWORD (SCRAM), create POSTGRES_DB and
# run /docker-entrypoint-initdb.d/*.sh (sourced unless executable) and *.sql on a server listening only
# on its Unix socket, with the same server options as the final command; then exec the command.
set -Eeuo pipefail
shopt -s nullglob

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?is required to initialise a new database (the stacks set it from a Secret)}"
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
  # As the official image: every address, SCRAM from anywhere (the stacks' config_file and hba_file override).
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  server_opts=""
  if [ $# -gt 1 ]; then server_opts="$(printf '%q ' "${@:2}")"; fi
  pg_ctl -D "$PGDATA" -w -o "$server_opts -c listen_addresses='' -p 5432" start >/dev/null
  export PGHOST=/var/run/postgresql PGPORT=5432
  if [ "$POSTGRES_DB" != postgres ]; then
    echo 'CREATE DATABASE :"db"' | psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      --set db="$POSTGRES_DB" >/dev/null
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
      *) echo "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  unset PGHOST PGPORT
  echo "database initialised in $PGDATA"
fi

exec "$@"
