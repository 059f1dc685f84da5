#!/usr/bin/env bash
# What `make test` needs beyond the build: a headless browser for the widget and inbox tests
# (Debian's chromium and chromium-driver, Selenium from PyPI). Installs only what is missing.
# `install-test-deps.sh deploy` installs only what scripts/check-deploy.py needs (`make check-deploy`),
# `install-test-deps.sh observability` only what scripts/check-observability.py needs
# (`make check-observability`: PyYAML and promtool).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
packages=(chromium chromium-driver python3-pip python3-venv)
[ "$mode" = deploy ] || [ "$mode" = observability ] && packages=(python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The deploy checks render the manifests with kubectl's built-in kustomize: Debian's
# kubernetes-client (kubectl 1.20), unless a kubectl is already on PATH.
command -v kubectl >/dev/null || [ "$mode" = observability ] || missing+=(kubernetes-client)
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Kubernetes schemas for the deploy checks: kubernetes-validate from PyPI, pinned, in a
# virtual environment of the run folder (scripts/check-deploy.py runs itself there).
kv_version=1.34.1
if ! .run/kv-venv/bin/python -c 'import kubernetes_validate, yaml' 2>/dev/null || [ "$(cat .run/kv-venv/.version 2>/dev/null)" != "$kv_version" ]; then
  echo "installing: kubernetes-validate $kv_version (PyPI, into .run/kv-venv)"
  mkdir -p .run
  python3 -m venv .run/kv-venv
  .run/kv-venv/bin/pip install -q --disable-pip-version-check "kubernetes-validate==$kv_version"
  echo "$kv_version" >.run/kv-venv/.version
fi
[ "$mode" = deploy ] && exit 0
# promtool for the monitoring checks: Debian's prometheus package, unpacked into .run/prometheus
# rather than installed, so that no Prometheus service is set up or started (only promtool is used).
if ! command -v promtool >/dev/null && [ ! -x .run/prometheus/usr/bin/promtool ]; then
  echo "installing: promtool (Debian package prometheus, unpacked into .run/prometheus)"
  deb=$(mktemp -d)
  if (cd "$deb" && apt-get download -qq prometheus 2>/dev/null) \
    || { $SUDO apt-get update -qq && (cd "$deb" && apt-get download -qq prometheus 2>/dev/null); }; then
    mkdir -p .run/prometheus
    dpkg-deb -x "$deb"/prometheus_*.deb .run/prometheus
  else
    echo "notice: Debian's prometheus package could not be downloaded; scripts/check-observability.py runs without promtool"
  fi
  rm -rf "$deb"
fi
[ "$mode" = observability ] && exit 0
if ! python3 -c 'import selenium' 2>/dev/null; then
  echo "installing: selenium (PyPI)"
  # Debian marks its Python as externally managed; Selenium is a test tool, not a system package.
  $SUDO python3 -m pip install -q --break-system-packages 'selenium>=4.10,<5'
fi
# API fuzzing (the OpenAPI documents of the gateway and HILQueue): schemathesis from PyPI, in a
# virtual environment of the run folder, so no system Python package changes.
if [ ! -x .run/st-venv/bin/schemathesis ]; then
  echo "installing: schemathesis (PyPI, into .run/st-venv)"
  mkdir -p .run
  python3 -m venv .run/st-venv
  .run/st-venv/bin/pip install -q 'schemathesis==4.32.5'
fi
