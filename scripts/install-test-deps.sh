#!/usr/bin/env bash
# What `make test` needs beyond the build: a headless browser for the widget and inbox tests
# (Debian's chromium and chromium-driver, Selenium from PyPI). Installs only what is missing.
set -euo pipefail
packages=(chromium chromium-driver python3-pip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! python3 -c 'import selenium' 2>/dev/null; then
  echo "installing: selenium (PyPI)"
  # Debian marks its Python as externally managed; Selenium is a test tool, not a system package.
  $SUDO python3 -m pip install -q --break-system-packages 'selenium>=4.10,<5'
fi
