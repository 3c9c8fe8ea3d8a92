#!/usr/bin/env bash
# Test setup for report.html_in_chromium: installs Debian's chromium when it is missing (ci/bootstrap.sh
# lists it too; this covers a build tree made before it did). Needs root or sudo only when installing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(chromium --version 2>/dev/null || echo present)"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "chromium is missing and installing it needs root or sudo: apt-get install chromium" >&2; exit 1; }
  sudo="sudo"
fi
echo "chromium missing: installing Debian's chromium"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium: $(chromium --version 2>/dev/null)"
