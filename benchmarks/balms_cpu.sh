#!/usr/bin/env bash
# BALMS vs decoupled Balanced Softmax from the same stage-1 model, on CIFAR-10-LT rho 200 (the lossless
# CIFAR-10), a CPU budget: the recipes' stages with shortened schedules. For each seed: stage 1 (the BALMS
# repository's base model, plain softmax cross-entropy: recipes/cifar10_lt/balms.json's stage 1 for E1
# epochs), then each recipe's stage 2 for E2 epochs as a run of its own starting from that checkpoint
# (model.init_from). Prints one table; many / medium / few are thirds of the classes by training count
# (3 / 4 / 3 classes).
#   benchmarks/balms_cpu.sh DATA OUT [SEEDS] [E1] [E2] [THREADS]
#   DATA: the CIFAR-10 binary batches (../shared/data/get_cifar10_bin.sh DIR; DIR/cifar-10-batches-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 OUT=$2 SEEDS=${3:-"0 1"} E1=${4:-30} E2=${5:-10} THREADS=${6:-2}
T=build/tailor
mkdir -p "$OUT"
common=(--set "runs_dir=$OUT" --set "data.root=$DATA" --set "threads=$THREADS" --set data.workers=2 --no-report
        --set eval.groups=thirds)  # rho 200 has no class under 20 images: thirds of the classes by count
for s in $SEEDS; do
  [ -f "$OUT/ce_s$s/summary.json" ] || $T train --config recipes/cifar10_lt/balms.json --set "name=ce_s$s" \
    --set "seed=$s" --set stage2.method=none --set "stage1.epochs=$E1" --set stage1.schedule.warmup_epochs=2 \
    --set "eval.every_epochs=$E1" "${common[@]}"
  ck=$OUT/ce_s$s/checkpoints/stage1_last.safetensors
  for v in decoupled_balanced_softmax balms; do
    # the recipe's stage 2 as the run's only stage, from the stage-1 checkpoint
    stage=$(/usr/bin/python3 -c "import json,sys; s=json.load(open('recipes/cifar10_lt/$v.json'))['stage2']; \
s.pop('load'); s['epochs']=$E2; print(json.dumps(s))")
    [ -f "$OUT/${v}_s$s/summary.json" ] || $T train --config "recipes/cifar10_lt/$v.json" --set "name=${v}_s$s" \
      --set "seed=$s" --set stage2.method=none --set "stage1=$stage" --set "model.init_from=$ck" \
      --set eval.every_epochs=1 "${common[@]}"
  done
done
/usr/bin/python3 - "$OUT" $SEEDS <<'PY'
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
print("%-28s %4s %7s %7s %7s %7s %7s %7s  %s" % ("run", "seed", "top-1", "best", "many", "medium", "few", "bal",
                                                  "learned class sampling probability (class 0 .. 9)"))
for v in ("ce", "decoupled_balanced_softmax", "balms"):
    for s in seeds:
        d = f"{out}/{v}_s{s}"
        sm = json.load(open(f"{d}/summary.json"))
        lines = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
        ev = [l for l in lines if "top1" in l]
        rates = next((l["class_sample_prob"] for l in reversed(lines) if "class_sample_prob" in l), None)
        print("%-28s %4s %7.2f %7.2f %7s %7s %7s %7s  %s" % (
            v, s, ev[-1]["top1"], max(l["top1"] for l in ev), ev[-1]["many"], ev[-1]["medium"], ev[-1]["few"],
            ev[-1].get("balanced_acc"), "" if rates is None else " ".join("%.3f" % p for p in rates)))
PY
