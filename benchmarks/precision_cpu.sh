#!/usr/bin/env bash
# bf16 against fp32 on the CPU: tailor (precision fp32 / bf16) and PyTorch (fp32 / torch.autocast bf16), the
# same model, batch and threads, run alternately (t32 t16 p32 p16, t32 t16 ...) so machine noise hits all.
#
# Usage: benchmarks/precision_cpu.sh [model] [batch] [steps] [threads] [rounds]
#        (defaults: resnet32 128 15 2 3). PyTorch's bf16 run uses steps/3 steps (at least 3): it is slow.
# Env:   TAILOR=path (default ./build/tailor), PYTHON=path (default /usr/bin/python3), NO_TORCH=1 to skip
#        PyTorch. Prints every run and the median train / eval img/s per engine and the ratios.
set -euo pipefail
MODEL=${1:-resnet32}
BATCH=${2:-128}
STEPS=${3:-15}
THREADS=${4:-2}
ROUNDS=${5:-3}
TAILOR=${TAILOR:-./build/tailor}
PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
FLAGS=(--model "$MODEL" --batch "$BATCH" --threads "$THREADS")
PT_BF16_STEPS=$(( STEPS / 3 > 3 ? STEPS / 3 : 3 ))
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT

run() {  # run NAME CMD...: keep the last JSON line
    local name=$1; shift
    local line
    line=$("$@" 2>/dev/null | grep '^{' | tail -n 1)
    [ -n "$line" ] || { echo "$name printed no JSON line: $*" >&2; exit 1; }
    printf '%s\t%s\n' "$name" "$line" >> "$RESULTS"
    echo "  $name: $line" >&2
}

for ((r = 1; r <= ROUNDS; r++)); do
    echo "round $r/$ROUNDS" >&2
    run tailor-fp32 "$TAILOR" bench "${FLAGS[@]}" --steps "$STEPS" --precision fp32
    run tailor-bf16 "$TAILOR" bench "${FLAGS[@]}" --steps "$STEPS" --precision bf16
    if [ "${NO_TORCH:-0}" != 1 ]; then
        run pytorch-fp32 "$PYTHON" "$HERE/pytorch/bench_resnet.py" "${FLAGS[@]}" --steps "$STEPS" --precision fp32
        run pytorch-bf16 "$PYTHON" "$HERE/pytorch/bench_resnet.py" "${FLAGS[@]}" --steps "$PT_BF16_STEPS" --precision bf16
    fi
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
runs = {}
for ln in open(sys.argv[1]):
    name, js = ln.rstrip("\n").split("\t", 1)
    runs.setdefault(name, []).append(json.loads(js))
med = {n: {k: statistics.median(r[k] for r in rs) for k in ("train_img_per_s", "eval_img_per_s", "peak_rss_mb")}
       for n, rs in runs.items()}
print("%-14s %12s %12s %12s" % ("median", "train img/s", "eval img/s", "peak RSS MB"))
for n, m in med.items():
    print("%-14s %12.1f %12.1f %12.1f" % (n, m["train_img_per_s"], m["eval_img_per_s"], m["peak_rss_mb"]))
def ratio(a, b):
    if a in med and b in med:
        print("%-28s train %.2fx  eval %.2fx" % (a + " / " + b, med[a]["train_img_per_s"] / med[b]["train_img_per_s"],
                                                  med[a]["eval_img_per_s"] / med[b]["eval_img_per_s"]))
ratio("tailor-bf16", "tailor-fp32")
ratio("tailor-bf16", "pytorch-bf16")
ratio("tailor-bf16", "pytorch-fp32")
ratio("tailor-fp32", "pytorch-fp32")
PY
