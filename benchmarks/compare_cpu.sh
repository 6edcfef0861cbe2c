#!/usr/bin/env bash
# CPU throughput comparison: tailor vs PyTorch (same model, batch, threads).
#
# Usage: benchmarks/compare_cpu.sh [model] [batch] [steps] [threads]
#        (defaults: resnet32 128 20 2)
# Env:   PAIRS=N       number of (tailor, pytorch) run pairs, >= 3 (default 3)
#        TAILOR=path   tailor binary (default ./build/tailor)
#        PYTHON=path   python with torch for the PyTorch side (default /usr/bin/python3)
#        EXTRA="..."   extra flags passed to both programs (e.g. "--warmup 5")
#
# The two engines run alternately (A B A B ...) so that machine noise hits both
# evenly. Each program prints one JSON line; this script collects the lines and
# prints every run, the median train/eval img/s per engine, the tailor/pytorch
# ratios and peak RSS. Run from the repository root.
set -euo pipefail

MODEL=${1:-resnet32}
BATCH=${2:-128}
STEPS=${3:-20}
THREADS=${4:-2}
PAIRS=${PAIRS:-3}
TAILOR=${TAILOR:-./build/tailor}
PYTHON=${PYTHON:-/usr/bin/python3}
EXTRA=${EXTRA:-}
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "$PAIRS" -lt 3 ]; then
    echo "PAIRS must be >= 3 (got $PAIRS)" >&2
    exit 2
fi
if [ ! -x "$TAILOR" ]; then
    echo "tailor binary not found at $TAILOR (build first, or set TAILOR=...)" >&2
    exit 2
fi

export OMP_NUM_THREADS=$THREADS
export MKL_NUM_THREADS=$THREADS
FLAGS=(--model "$MODEL" --batch "$BATCH" --steps "$STEPS" --device cpu --threads "$THREADS")
# shellcheck disable=SC2206
EXTRA_ARR=($EXTRA)

RESULTS=$(mktemp)
ERRLOG=$(mktemp)
trap 'rm -f "$RESULTS" "$ERRLOG"' EXIT

# run ENGINE CMD...: run one benchmark, keep its last JSON line tagged with ENGINE.
run() {
    local engine=$1; shift
    local out line
    if ! out=$("$@" 2>"$ERRLOG"); then
        echo "  $engine run failed: $*" >&2
        tail -n 20 "$ERRLOG" >&2
        exit 1
    fi
    line=$(printf '%s\n' "$out" | grep '^{' | tail -n 1)
    if [ -z "$line" ]; then
        echo "  $engine printed no JSON line: $*" >&2
        exit 1
    fi
    printf '%s\t%s\n' "$engine" "$line" >> "$RESULTS"
    echo "  $engine: $line" >&2
}

echo "model=$MODEL batch=$BATCH steps=$STEPS threads=$THREADS pairs=$PAIRS" >&2
for ((p = 1; p <= PAIRS; p++)); do
    echo "pair $p/$PAIRS" >&2
    run tailor  "$TAILOR" bench "${FLAGS[@]}" "${EXTRA_ARR[@]}"
    run pytorch "$PYTHON" "$HERE/pytorch/bench_resnet.py" "${FLAGS[@]}" "${EXTRA_ARR[@]}"
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys

runs = []
with open(sys.argv[1]) as f:
    for ln in f:
        engine, js = ln.rstrip("\n").split("\t", 1)
        runs.append((engine, json.loads(js)))

print("%-4s %-8s %14s %14s %12s" % ("run", "engine", "train img/s", "eval img/s", "peak RSS MB"))
for i, (engine, r) in enumerate(runs, 1):
    print("%-4d %-8s %14.1f %14.1f %12.1f" % (i, engine, r["train_img_per_s"],
                                             r["eval_img_per_s"], r.get("peak_rss_mb", float("nan"))))

med = {}
for engine in ("tailor", "pytorch"):
    rs = [r for e, r in runs if e == engine]
    med[engine] = {k: statistics.median(r[k] for r in rs)
                   for k in ("train_img_per_s", "eval_img_per_s", "peak_rss_mb")}
print()
print("%-12s %14s %14s %12s" % ("median", "train img/s", "eval img/s", "peak RSS MB"))
for engine in ("tailor", "pytorch"):
    m = med[engine]
    print("%-12s %14.1f %14.1f %12.1f" % (engine, m["train_img_per_s"], m["eval_img_per_s"], m["peak_rss_mb"]))

def ratio(k):
    b = med["pytorch"][k]
    return med["tailor"][k] / b if b else float("nan")

print("%-12s %13.2fx %13.2fx %11.2fx" % ("tailor/pt", ratio("train_img_per_s"),
                                         ratio("eval_img_per_s"), ratio("peak_rss_mb")))
PY
