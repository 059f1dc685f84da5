#!/usr/bin/env bash
# Installs the Debian packages Switchboard builds and runs with, only if some are missing.
set -euo pipefail
packages=(librdkafka-dev libpq-dev libcurl4-openssl-dev postgresql python3 pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v swift >/dev/null || { echo "swift toolchain not found on PATH" >&2; exit 1; }
