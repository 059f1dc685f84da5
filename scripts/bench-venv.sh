#!/usr/bin/env bash
# The LangGraph baseline's Python environment (bench/langgraph/requirements.txt, from PyPI),
# installed once into a venv (default .run/bench-venv) and again when the requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.run/bench-venv}
requirements=bench/langgraph/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
