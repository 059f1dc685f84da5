#!/usr/bin/env bash
# `make up`: local Postgres under .run/pg, then `switchboard up` (broker + five services) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run
trap 'scripts/postgres.sh stop .run/pg' EXIT
eval "export $(scripts/postgres.sh start .run/pg "${SWITCHBOARD_PG_PORT:-55432}")"
# The development broker keeps no history across restarts, so each `make up` starts from an
# empty database too: read models always match the log they were projected from.
psql "$DATABASE_URL" -q -c "DROP DATABASE IF EXISTS switchboard WITH (FORCE)" -c "CREATE DATABASE switchboard"
export DATABASE_URL=${DATABASE_URL%/*}/switchboard
bin=$(swift build --show-bin-path --explicit-target-dependency-import-check error)
"$bin/switchboard" up --run-dir .run --base-port "${SWITCHBOARD_GATEWAY_PORT:-8080}"
