#!/usr/bin/env bash
# Throughput comparison: tailor vs PyTorch (same model, batch, device, threads).
#
# Usage: benchmarks/compare.sh [model] [batch] [steps] [threads]
#        (defaults: resnet32 128 20 2)
# Env:   PAIRS=N       number of (tailor, pytorch) run pairs, >= 3 (default 3)
#        TAILOR=path   tailor binary (default ./build/tailor)
#        PYTHON=path   python with torch for the PyTorch side (default /usr/bin/python3)
#        EXTRA="..."   extra flags passed to both programs (e.g. "--warmup 5 --image-size 224")
#        DEVICE=cpu|cuda  (default cpu). On cuda both engines use fp32 with TF32 allowed for
#                      convolutions only (PyTorch's defaults) and cuDNN autotuning; peak GPU memory
#                      (allocated tensors, both engines' allocator statistics) is reported.
#        COMPILE=1     also run PyTorch with torch.compile (one more engine, "pt-compile"); if a compiled
#                      run fails, the table is still printed without it and the script exits 3
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
DEVICE=${DEVICE:-cpu}
COMPILE=${COMPILE:-0}
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
FLAGS=(--model "$MODEL" --batch "$BATCH" --steps "$STEPS" --device "$DEVICE" --threads "$THREADS")
# shellcheck disable=SC2206
EXTRA_ARR=($EXTRA)

RESULTS=$(mktemp)
ERRLOG=$(mktemp)
trap 'rm -f "$RESULTS" "$ERRLOG"' EXIT

# run ENGINE CMD...: run one benchmark, keep its last JSON line tagged with ENGINE. A failure ends the
# script, except for pt-compile (torch.compile is the most fragile of the three): it is reported, no more
# compiled runs are made, and the other engines' table is still printed.
COMPILE_FAILED=0
run() {
    local engine=$1; shift
    local out line
    if ! out=$("$@" 2>"$ERRLOG") || ! line=$(printf '%s\n' "$out" | grep '^{' | tail -n 1) || [ -z "$line" ]; then
        echo "  $engine run failed or printed no JSON line: $*" >&2
        tail -n 20 "$ERRLOG" >&2
        if [ "$engine" = pt-compile ]; then COMPILE_FAILED=1; return 0; fi
        exit 1
    fi
    printf '%s\t%s\n' "$engine" "$line" >> "$RESULTS"
    echo "  $engine: $line" >&2
}

echo "model=$MODEL batch=$BATCH steps=$STEPS device=$DEVICE threads=$THREADS pairs=$PAIRS" >&2
for ((p = 1; p <= PAIRS; p++)); do
    echo "pair $p/$PAIRS" >&2
    run tailor  "$TAILOR" bench "${FLAGS[@]}" "${EXTRA_ARR[@]}"
    run pytorch "$PYTHON" "$HERE/pytorch/bench_resnet.py" "${FLAGS[@]}" "${EXTRA_ARR[@]}"
    if [ "$COMPILE" = 1 ] && [ "$COMPILE_FAILED" = 0 ]; then
        run pt-compile "$PYTHON" "$HERE/pytorch/bench_resnet.py" "${FLAGS[@]}" "${EXTRA_ARR[@]}" --compile
    fi
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys

runs = []
with open(sys.argv[1]) as f:
    for ln in f:
        engine, js = ln.rstrip("\n").split("\t", 1)
        runs.append((engine, json.loads(js)))

gpu = any("peak_gpu_mb" in r for _, r in runs)
mem = "peak_gpu_mb" if gpu else "peak_rss_mb"
mem_title = "peak GPU MB" if gpu else "peak RSS MB"
print("%-4s %-10s %14s %14s %12s" % ("run", "engine", "train img/s", "eval img/s", mem_title))
for i, (engine, r) in enumerate(runs, 1):
    print("%-4d %-10s %14.1f %14.1f %12.1f" % (i, engine, r["train_img_per_s"],
                                              r["eval_img_per_s"], r.get(mem, float("nan"))))
if gpu and runs[0][1].get("gpu"):
    print("device:", runs[0][1]["gpu"])

engines = [e for e in ("tailor", "pytorch", "pt-compile") if any(x == e for x, _ in runs)]
med = {}
for engine in engines:
    rs = [r for e, r in runs if e == engine]
    med[engine] = {k: statistics.median(r.get(k, float("nan")) for r in rs)
                   for k in ("train_img_per_s", "eval_img_per_s", mem)}
print()
print("%-12s %14s %14s %12s" % ("median", "train img/s", "eval img/s", mem_title))
for engine in engines:
    m = med[engine]
    print("%-12s %14.1f %14.1f %12.1f" % (engine, m["train_img_per_s"], m["eval_img_per_s"], m[mem]))

for base in engines[1:]:
    def ratio(k):
        b = med[base][k]
        return med["tailor"][k] / b if b else float("nan")
    print("%-12s %13.2fx %13.2fx %11.2fx" % ("tailor/" + ("pt" if base == "pytorch" else "ptc"),
                                             ratio("train_img_per_s"), ratio("eval_img_per_s"), ratio(mem)))
PY
if [ "$COMPILE_FAILED" = 1 ]; then
    echo "pt-compile: a torch.compile run failed (its error is above); the table has no pt-compile column" >&2
    exit 3
fi
