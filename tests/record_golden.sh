#!/usr/bin/env bash
# Re-records tests/fixtures/golden_runs.json (the per-step losses and checkpoint hashes that
# test_golden_runs compares byte for byte). Run it only when a change is meant to alter the numbers, and
# say so in the commit: a refactor must leave the fixture untouched.
#   tests/record_golden.sh [BUILD_DIR]
# TAILOR_RECORD_ONLY=name1,name2 tests/record_golden.sh records only these runs (a new recipe) into the
# existing fixture, on the CPU it was recorded on.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
cmake --build "$build" --target tailor test_golden_runs
OMP_NUM_THREADS=1 TAILOR_RECORD_GOLDEN=1 "$build/test_golden_runs"
