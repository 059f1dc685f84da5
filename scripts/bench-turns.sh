#!/usr/bin/env bash
# `make bench-turns`: Switchboard and the LangGraph baseline (bench/langgraph) doing the same
# order-status turn on this machine in one run, against one throwaway Postgres cluster: a
# release build, `switchboard up`, `switchboard bench turns` at 1 and 16 in flight, the stack
# stopped (so its idle consumers do not take CPU from the baseline), then the baseline at 1 and
# 16, then a side-by-side table. Everything it starts is stopped on exit. Timing is printed,
# never asserted.
#
#   COUNT_1=500 COUNT_16=2000   turns measured at 1 and 16 in flight (COUNT sets both)
#   WARMUP_1=50 WARMUP_16=100   warm-up turns, not measured (WARMUP sets both)
#   HISTORY=0                   switchboard: fill the log to this many events before measuring
#   IDLE_SECONDS=5              switchboard: the stack's idle CPU, measured before the turns
#   PARTITIONS=64 FETCH_WAIT_MS=5  switchboard up: conversation-log partitions, consumers' fetch wait
set -euo pipefail
cd "$(dirname "$0")/.."
count_1=${COUNT:-${COUNT_1:-500}}
count_16=${COUNT:-${COUNT_16:-2000}}
warmup_1=${WARMUP:-${WARMUP_1:-50}}
warmup_16=${WARMUP:-${WARMUP_16:-100}}
history=${HISTORY:-0}
idle=${IDLE_SECONDS:-5}
pg_port=${SWITCHBOARD_BENCH_PG_PORT:-55434}
gateway_port=${SWITCHBOARD_BENCH_GATEWAY_PORT:-18080}

flags=(-c release --explicit-target-dependency-import-check error)
swift build "${flags[@]}"
bin=$(swift build "${flags[@]}" --show-bin-path)
python=$(scripts/bench-venv.sh "$(pwd)/.run/bench-venv")

run=$(pwd)/.run/bench
# A cluster left running by an interrupted run is stopped before its folder is reused.
[ -d "$run/pg" ] && scripts/postgres.sh stop "$run/pg"
rm -rf "$run" && mkdir -p "$run"
up_pid=
stop_stack() {
  [ -n "$up_pid" ] || return 0
  # `switchboard up` stops the services and the broker on SIGTERM; were it killed, they would
  # still exit, as each one shuts down when its stdin (a pipe from `up`) closes.
  kill -TERM "$up_pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$up_pid" 2>/dev/null || true
  wait "$up_pid" 2>/dev/null || true
  up_pid=
}
trap 'stop_stack; scripts/postgres.sh stop "$run/pg"' EXIT

eval "export $(scripts/postgres.sh start "$run/pg" "$pg_port")"
admin_url=$DATABASE_URL
psql "$admin_url" -q -c "CREATE DATABASE switchboard" -c "CREATE DATABASE langgraph"
switchboard_url=${admin_url%/*}/switchboard
langgraph_url=${admin_url%/*}/langgraph

echo "== switchboard up ($bin, logs in $run/logs)"
DATABASE_URL=$switchboard_url "$bin/switchboard" up --run-dir "$run" --base-port "$gateway_port" \
  --partitions "${PARTITIONS:-64}" --fetch-wait-ms "${FETCH_WAIT_MS:-5}" >"$run/up.log" 2>&1 &
up_pid=$!
# `up` prints its banner once every service answers /ready.
for _ in $(seq 1800); do
  grep -qs "Switchboard is up" "$run/up.log" && break
  kill -0 "$up_pid" 2>/dev/null || { cat "$run/up.log" >&2; echo "switchboard up exited" >&2; exit 1; }
  sleep 0.1
done
grep -qs "Switchboard is up" "$run/up.log" || { tail -20 "$run/up.log" >&2; echo "switchboard up not ready in 180 s" >&2; exit 1; }

# A run with turns that got no reply (the bench exits 1 after printing) does not stop the
# comparison; it is named at the end and the script exits 1.
failed=
set -a; . "$run/env"; set +a
for c in 1 16; do
  n=count_$c; w=warmup_$c
  echo "== switchboard bench turns --concurrency $c --count ${!n} --warmup ${!w} --history $history --idle-seconds $idle"
  "$bin/switchboard" bench turns --concurrency "$c" --count "${!n}" --warmup "${!w}" --history "$history" --idle-seconds "$idle" \
    2> >(tee "$run/switchboard-$c.err" >&2) | tee "$run/switchboard-$c.txt" || failed+=" switchboard-$c"
done
# The log of a turn that got no reply, kept while the dev broker (which keeps nothing) is up.
for conversation in $(sed -n 's/^no reply within .*conversation //p' "$run"/switchboard-*.err); do
  "$bin/switchboard" events export --conversation "$conversation" --output "$run/stuck-$conversation.jsonl" || true
  echo "events of $conversation (no reply): $run/stuck-$conversation.jsonl" >&2
done
stop_stack

for c in 1 16; do
  n=count_$c; w=warmup_$c
  echo "== langgraph (bench/langgraph/turns.py) --concurrency $c --count ${!n} --warmup ${!w}"
  "$python" bench/langgraph/turns.py --dsn "$langgraph_url" --concurrency "$c" --count "${!n}" --warmup "${!w}" \
    | tee "$run/langgraph-$c.txt" || failed+=" langgraph-$c"
done

# field FILE LINE-PREFIX KEY: the value of KEY= on the line starting with LINE-PREFIX.
field() { [ -f "$1" ] || return 0; awk -v p="$2" -v k="$3" 'index($0, p) == 1 { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$1"; }
echo
echo "== summary ($(date -u +%Y-%m-%d), release build, commit $(git rev-parse --short HEAD))"
row() { printf '%-12s %9s %9s %8s %8s %22s %16s %7s\n' "$@"; }
row system in_flight turns/s p50_ms p99_ms cpu_ms/turn_app+pg cpu_ms/turn_all failed
for c in 1 16; do
  f=$run/switchboard-$c.txt
  row switchboard "$c" "$(field "$f" turns= turns_per_s)" "$(field "$f" latency_ms p50)" "$(field "$f" latency_ms p99)" \
    "$(field "$f" cpu_ms_per_turn services_postgres)" "$(field "$f" cpu_ms_per_turn total)" "$(x=$(field "$f" turns= failed); echo "${x:-0}")"
  f=$run/langgraph-$c.txt
  row langgraph "$c" "$(field "$f" turns= turns_per_s)" "$(field "$f" latency_ms p50)" "$(field "$f" latency_ms p99)" \
    "$(field "$f" cpu_ms_per_turn python_postgres)" "$(field "$f" cpu_ms_per_turn python_postgres)" ""
done
echo "(app+pg: switchboard's five services + Postgres, langgraph's Python process + Postgres; all: switchboard adds its dev broker)"
s=$run/switchboard-16.txt l=$run/langgraph-16.txt
awk -v st="$(field "$s" turns= turns_per_s)" -v lt="$(field "$l" turns= turns_per_s)" \
    -v sp="$(field "$s" latency_ms p50)" -v lp="$(field "$l" latency_ms p50)" \
    -v sc="$(field "$s" cpu_ms_per_turn services_postgres)" -v sa="$(field "$s" cpu_ms_per_turn total)" -v lc="$(field "$l" cpu_ms_per_turn python_postgres)" \
    'BEGIN { if (st > 0 && lt > 0 && lp > 0 && lc > 0) printf "ratio_switchboard_over_langgraph concurrency=16 turns_per_s=%.2f p50=%.2f cpu_app_pg=%.2f cpu_all=%.2f\n", st / lt, sp / lp, sc / lc, sa / lc; else print "ratio_switchboard_over_langgraph concurrency=16 (a run is missing)" }'
if [ -n "$failed" ]; then echo "runs with failed turns or errors:$failed (see above and $run/logs/)" >&2; exit 1; fi
