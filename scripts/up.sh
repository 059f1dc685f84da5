#!/usr/bin/env bash
# `make up`: local Postgres under .run/pg, then `switchboard up` (broker + five services) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run
trap 'scripts/postgres.sh stop .run/pg' EXIT
eval "export $(scripts/postgres.sh start .run/pg "${SWITCHBOARD_PG_PORT:-55432}")"
# The database outlives `make up`: the development broker restores its topics from the
# gateway's archive in it at start (deploy/README.md "Keeping history"), so conversations
# carry on across restarts. FRESH=1 starts from nothing.
if [ "${FRESH:-0}" = 1 ]; then
  psql "$DATABASE_URL" -q -c "DROP DATABASE IF EXISTS switchboard WITH (FORCE)"
fi
psql "$DATABASE_URL" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'switchboard'" | grep -q 1 \
  || psql "$DATABASE_URL" -q -c "CREATE DATABASE switchboard"
export DATABASE_URL=${DATABASE_URL%/*}/switchboard
bin=$(swift build --show-bin-path --explicit-target-dependency-import-check error)
"$bin/switchboard" up --run-dir .run --base-port "${SWITCHBOARD_GATEWAY_PORT:-8080}"
