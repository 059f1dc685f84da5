#!/usr/bin/env bash
# `make eval`: the scenario suites of both packs through the real services, with a throwaway
# Postgres cluster (docs/EVALUATION.md). Exits 1 when a suite misses its thresholds.
#   BRAIN=rules|local|env|<catalog.yaml>|<http URL>   who decides (default rules); `local` starts
#                       the offline SmolLM2-135M server (scripts/local-llm, LLM_THREADS=2) and uses it
#   FAULTS=tools,llm,broker|all   inject faults (only the safety thresholds apply then)
#   SUITES="deploy/packs/retail.eval.yaml deploy/packs/telecom.eval.yaml"
#   EVAL_ARGS="--only happy_path"  more flags for `switchboard eval`
# The report and the JSON summary land in .run/eval/.
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(--explicit-target-dependency-import-check error)
swift build "${flags[@]}"
bin=$(swift build --show-bin-path "${flags[@]}")
run=$(pwd)/.run/eval
[ -d "$run/pg" ] && scripts/postgres.sh stop "$run/pg"
mkdir -p "$run"
llm_pid=
cleanup() {
  [ -n "$llm_pid" ] && kill "$llm_pid" 2>/dev/null || true
  scripts/postgres.sh stop "$run/pg"
}
trap cleanup EXIT
eval "export $(scripts/postgres.sh start "$run/pg" "${SWITCHBOARD_EVAL_PG_PORT:-55436}")"

brain=${BRAIN:-rules}
model_args=()
if [ "$brain" = local ]; then
  scripts/local-llm/setup.sh "$(pwd)/.run/llm-venv" >/dev/null
  # The server exits when this script does (its stdin is a pipe from here).
  # Two threads: about 1.6 times faster per token than one when the machine is otherwise quiet.
  exec 3> >(.run/llm-venv/bin/python scripts/local-llm/llm-server.py --port 0 --ctx 4096 --threads "${LLM_THREADS:-2}" >"$run/llm.out" 2>"$run/llm.err")
  llm_pid=$!
  for _ in $(seq 600); do grep -qs '^READY' "$run/llm.out" && break; sleep 0.2; done
  url=$(sed -n 's/^READY \(http[^ ]*\).*/\1/p' "$run/llm.out")
  [ -n "$url" ] || { cat "$run/llm.err" >&2; echo "the local model server did not start" >&2; exit 1; }
  brain="$url/v1"
  model_args=(--model smollm2 --turn-timeout 180 --concurrency 1)
fi
suite_args=()
for suite in ${SUITES:-deploy/packs/retail.eval.yaml deploy/packs/telecom.eval.yaml}; do suite_args+=(--suite "$suite"); done
fault_args=()
[ -n "${FAULTS:-}" ] && fault_args=(--faults "$FAULTS")
# shellcheck disable=SC2086
"$bin/switchboard" eval "${suite_args[@]}" --brain "$brain" "${model_args[@]}" "${fault_args[@]}" \
  --report "$run/report.html" --summary "$run/summary.json" --run-dir "$run/platforms" ${EVAL_ARGS:-}
