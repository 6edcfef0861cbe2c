#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (ctest, two tests at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
TAILOR_BUILD_TARGET=all bash scripts/setup.sh
ctest --test-dir "${TAILOR_BUILD_DIR:-build}" -j "$(nproc)" --output-on-failure --timeout 900
