#!/usr/bin/env bash
# CPU throughput comparison, tailor vs PyTorch: benchmarks/compare.sh with DEVICE=cpu (see there).
DEVICE=cpu exec "$(dirname "$0")/compare.sh" "$@"
