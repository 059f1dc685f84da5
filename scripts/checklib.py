"""Shared by scripts/check-deploy.py and scripts/check-observability.py."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".run" / "kv-venv" / "bin" / "python"


def ensure_modules(modules, missing_hint):
    """Returns when this Python imports every one of `modules`; else re-runs the calling script
    in .run/kv-venv (made by scripts/install-test-deps.sh), or exits with `missing_hint`."""
    try:
        for module in modules:
            __import__(module)
        return
    except ImportError:
        pass
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve():
        script = Path(sys.argv[0]).resolve()
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(script)] + sys.argv[1:])
    sys.exit(missing_hint)
