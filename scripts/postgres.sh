#!/usr/bin/env bash
# A throwaway Postgres cluster under .run/ with the Debian binaries: `start` prints the
# DATABASE_URL line, `stop` stops it. Postgres refuses to run as root, so as root the cluster
# belongs to the `postgres` system user (created by the Debian package).
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop [dir] [port]}
dir=$(realpath -m "${2:-.run/pg}")
port=${3:-${SWITCHBOARD_PG_PORT:-55432}}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" --auth=trust --username=postgres --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # A cluster left running by an interrupted run is stopped first.
  as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && as_owner "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null
  mkdir -p "$dir/sock" && { [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$dir/sock"; }
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c max_connections=300 ${SWITCHBOARD_PG_OPTIONS:-}" start >/dev/null \
    || { tail -20 "$dir/server.log" >&2; exit 1; }
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  [ -f "$dir/data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
  ;;
*) echo "usage: postgres.sh start|stop [dir] [port]" >&2; exit 2 ;;
esac
