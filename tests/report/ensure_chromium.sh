#!/usr/bin/env bash
# Test setup for report.html_in_chromium: chromium is in ci/bootstrap.sh's package list, so a build
# tree made before it was listed only needs bootstrap run again (it installs only what is missing).
set -euo pipefail
command -v chromium >/dev/null 2>&1 || "$(dirname "$0")/../../ci/bootstrap.sh"
echo "chromium: $(chromium --version 2>/dev/null)"
