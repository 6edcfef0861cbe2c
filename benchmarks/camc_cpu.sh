#!/usr/bin/env bash
# CAMC's ablation on CIFAR-10-LT rho 100 (the lossless CIFAR-10), a CPU budget: recipes/cifar10_lt/camc.json
# cut to E epochs (multi-step milestones at E-2 and E-1, one warm-up epoch), with the calibrated pooling
# (lambda 1, T 0.5, s 16) attending the true class's map in training (stage1.camc.attend label, the method's
# default; the recipe attends the predicted one) and without it (lambda 0: the same normalised
# classifier with the fixed scale on plain GAP features); VARIANTS=all adds lambda 1 with a sharper attention
# (T 0.1); VARIANTS=predicted runs the calibrated pooling with the predicted class's map in training
# (stage1.camc.attend predicted) at lambda 1 and 0.5; VARIANTS=plain_pred runs the plain one (lambda 0) and the
# predicted-class one at lambda 1 only.
# Many / medium / few are thirds of the classes by training count (3 / 4 / 3). One table.
#   benchmarks/camc_cpu.sh DATA OUT [SEEDS] [E] [THREADS] [JOBS]
#   DATA: the CIFAR-10 binary batches (../shared/data/get_cifar10_bin.sh DIR; DIR/cifar-10-batches-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 OUT=$2 SEEDS=${3:-"0 1"} E=${4:-6} THREADS=${5:-1} JOBS=${6:-1}
T=build/tailor
mkdir -p "$OUT"
variants=("plain:0:0.5:label" "camc:1:0.5:label")
[ "${VARIANTS:-}" = all ] && variants+=("camc_t0.1:1:0.1:label")
[ "${VARIANTS:-}" = predicted ] && variants=("pred:1:0.5:predicted" "pred_l0.5:0.5:0.5:predicted")
[ "${VARIANTS:-}" = plain_pred ] && variants=("plain:0:0.5:label" "pred:1:0.5:predicted")
run() {  # NAME LAMBDA TEMPERATURE SEED ATTEND
  local name=$1
  if [ -f "$OUT/$name/summary.json" ]; then return; fi
  if [ -f "$OUT/$name/checkpoints/train_state.safetensors" ]; then
    $T train --resume "$OUT/$name" > "$OUT/$name.log" 2>&1
    return
  fi
  $T train --config recipes/cifar10_lt/camc.json --set "name=$name" --set "runs_dir=$OUT" --set "data.root=$DATA" \
    --set "threads=$THREADS" --set data.workers=2 --set eval.every_epochs=2 --set eval.groups=thirds --no-report \
    --set "seed=$4" --set "model.camc_lambda=$2" --set "model.camc_temperature=$3" --set "stage1.epochs=$E" --set "stage1.camc.attend=$5" \
    --set stage1.schedule.warmup_epochs=1 --set "stage1.schedule.milestones=[$((E - 2)),$((E - 1))]" \
    > "$OUT/$name.log" 2>&1
}
for s in $SEEDS; do
  for v in "${variants[@]}"; do
    IFS=: read -r label lambda temp attend <<< "$v"
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    run "${label}_s$s" "$lambda" "$temp" "$s" "$attend" &
  done
done
wait
/usr/bin/python3 - "$OUT" $SEEDS <<'PY'
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
print("| run | seed | top-1 % (last) | best % | many % | medium % | few % |")
print("|---|---|---|---|---|---|---|")
import os
for label, desc in (("plain", "normalised classifier, s 16 (lambda 0)"), ("camc", "CAMC lambda 1, T 0.5, s 16"),
                    ("camc_t0.1", "CAMC lambda 1, T 0.1, s 16"),
                    ("pred", "CAMC lambda 1, T 0.5, s 16, predicted class's map in training"),
                    ("pred_l0.5", "CAMC lambda 0.5, T 0.5, s 16, predicted class's map in training")):
    for s in seeds:
        if not os.path.exists(f"{out}/{label}_s{s}/metrics.jsonl"):
            continue
        ev = [json.loads(l) for l in open(f"{out}/{label}_s{s}/metrics.jsonl")]
        ev = [l for l in ev if "top1" in l]
        e = ev[-1]
        print("| %s | %s | %.2f | %.2f | %.1f | %.1f | %.1f |" % (desc, s, e["top1"], max(l["top1"] for l in ev),
                                                                  e["many"], e["medium"], e["few"]))
PY
