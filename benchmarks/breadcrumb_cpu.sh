#!/usr/bin/env bash
# Breadcrumb / EMANATE against cRT from the same backbone, on CIFAR-10-LT rho 100 (the lossless CIFAR-10), a
# CPU budget. Per seed one run of two stages:
#   stage 1  recipes/cifar10_lt/breadcrumb.json cut to E epochs (cosine): the backbone F with the instance-
#            balanced head g_r, and Breadcrumb's class-balanced classifier g_c (class-aware images through F
#            until every feature FIFO is full, EMANATE features after) -> g_c is stage 1's evaluated head
#   stage 2  cRT (recipes/cifar10_lt/ce_mixup_crt.json's classifier stage, E2 epochs) on stage 1's LAST
#            backbone: a new linear classifier on class-balanced batches, F frozen
# So both classifiers sit on the same F. E must exceed the rarest class's FIFO length for EMANATE to run:
# n_b = ceil(97 steps x 128 / 10) = 1242 features per class and epoch, the rarest class has 50 images, so its
# FIFO needs ceil(1242 / 50) = 25 epochs and EMANATE starts at epoch 26.
# Many / medium / few are thirds of the classes by training count (3 / 4 / 3). One table.
#   benchmarks/breadcrumb_cpu.sh DATA OUT [SEEDS] [E] [E2] [THREADS] [JOBS]
#   DATA: the CIFAR-10 binary batches (../shared/data/get_cifar10_bin.sh DIR; DIR/cifar-10-batches-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 OUT=$2 SEEDS=${3:-"0 1"} E=${4:-36} E2=${5:-10} THREADS=${6:-1} JOBS=${7:-2}
T=build/tailor
mkdir -p "$OUT"
crt=$(/usr/bin/python3 -c "import json; s=json.load(open('recipes/cifar10_lt/ce_mixup_crt.json'))['stage2']; \
s['load']='last'; s['epochs']=$E2; print(json.dumps(s))")
run() {  # SEED
  local name=breadcrumb_s$1
  if [ -f "$OUT/$name/summary.json" ]; then return; fi
  if [ -f "$OUT/$name/checkpoints/train_state.safetensors" ]; then
    $T train --resume "$OUT/$name" >> "$OUT/$name.log" 2>&1
    return
  fi
  $T train --config recipes/cifar10_lt/breadcrumb.json --set "name=$name" --set "runs_dir=$OUT" \
    --set "data.root=$DATA" --set "threads=$THREADS" --set data.workers=2 --set eval.every_epochs=4 \
    --set eval.groups=thirds --no-report --set "seed=$1" --set "stage1.epochs=$E" --set "stage2=$crt" \
    > "$OUT/$name.log" 2>&1
}
for s in $SEEDS; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  run "$s" &
done
wait
/usr/bin/python3 - "$OUT" $SEEDS <<'PY'
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
print("| classifier on the same backbone | seed | top-1 % (last) | best % | many % | medium % | few % |")
print("|---|---|---|---|---|---|---|")
rows = {1: [], 2: []}
for s in seeds:
    lines = [json.loads(l) for l in open(f"{out}/breadcrumb_s{s}/metrics.jsonl")]
    for st in (1, 2):
        ev = [l for l in lines if "top1" in l and l.get("stage") == st]
        if ev:
            rows[st].append((s, ev[-1], max(l["top1"] for l in ev)))
for st, desc in ((1, "Breadcrumb g_c (EMANATE)"), (2, "cRT")):
    for s, e, best in rows[st]:
        print("| %s | %s | %.2f | %.2f | %.1f | %.1f | %.1f |" % (desc, s, e["top1"], best, e["many"], e["medium"],
                                                                  e["few"]))
PY
