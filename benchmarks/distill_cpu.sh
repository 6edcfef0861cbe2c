#!/usr/bin/env bash
# The distillation methods against their own teachers and against CE and GCL, on CIFAR-10-LT rho 100 (the
# lossless CIFAR-10), a CPU budget: the CIFAR-10 recipes with every long stage cut to E epochs (multi-step
# milestones at E-2 and E-1, one warm-up epoch), GCL's classifier stage to 3 epochs, SSD's LWS stage to 2
# epochs of 100 class-aware batches. Per seed: ce, gcl, cbd (stage 1 = its CE teacher, stage 2 = the
# student), ssd (stage I CE + label-masked MoCo, stage II LWS teacher, stage III the soft head). One table;
# many / medium / few are thirds of the classes by training count (3 / 4 / 3 classes: rho 100 has no class
# under 20 images).
#   benchmarks/distill_cpu.sh DATA OUT [SEEDS] [E] [THREADS] [JOBS] [BASE_SEEDS]
#   DATA: the CIFAR-10 binary batches (../shared/data/get_cifar10_bin.sh DIR; DIR/cifar-10-batches-bin)
#   JOBS: runs at once (each with THREADS threads); BASE_SEEDS: the seeds of ce and gcl (default SEEDS)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 OUT=$2 SEEDS=${3:-"0 1"} E=${4:-6} THREADS=${5:-1} JOBS=${6:-2} BASE_SEEDS=${7:-${3:-"0 1"}}
T=build/tailor
mkdir -p "$OUT"
ms="[$((E - 2)),$((E - 1))]"
run() {  # NAME RECIPE ARGS...: skipped when finished, continued when a state exists
  local name=$1 recipe=$2; shift 2
  while pgrep -f "name=$name( |$)" > /dev/null; do sleep 10; done  # a run of it still going (an earlier call)
  if [ -f "$OUT/$name/summary.json" ]; then return; fi
  if [ -f "$OUT/$name/checkpoints/train_state.safetensors" ]; then
    $T train --resume "$OUT/$name" > "$OUT/$name.log" 2>&1
  else
    $T train --config "recipes/cifar10_lt/$recipe.json" --set "name=$name" --set "runs_dir=$OUT" \
      --set "data.root=$DATA" --set "threads=$THREADS" --set data.workers=2 --set eval.every_epochs=2 \
      --set eval.groups=thirds --no-report "$@" > "$OUT/$name.log" 2>&1
  fi
}
jobs_list=()
for s in $BASE_SEEDS; do
  jobs_list+=("run ce_s$s ce --set seed=$s --set stage1.epochs=$E --set stage1.schedule.warmup_epochs=1 \
--set stage1.schedule.milestones=$ms")
  jobs_list+=("run gcl_s$s gcl --set seed=$s --set stage1.epochs=$E --set stage1.schedule.warmup_epochs=1 \
--set stage1.schedule.milestones=$ms --set stage2.epochs=3")
done
for s in $SEEDS; do
  jobs_list+=("run cbd_s$s cbd --set seed=$s --set stage1.epochs=$E --set stage2.epochs=$E")
  jobs_list+=("run ssd_s$s ssd --set seed=$s --set stage1.epochs=$E --set stage2.epochs=2 \
--set stage2.max_steps_per_epoch=100 --set stage3.epochs=$E")
done
for j in "${jobs_list[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  eval "$j" &
done
wait
/usr/bin/python3 - "$OUT" "$SEEDS" "$BASE_SEEDS" <<'PY'
import json, sys
out, seeds, base_seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
rows = [("ce", "ce", None), ("gcl", "gcl", None), ("cbd teacher (stage 1)", "cbd", 1), ("cbd student", "cbd", 2),
        ("ssd stage I", "ssd", 1), ("ssd stage II (LWS teacher)", "ssd", 2), ("ssd stage III soft head", "ssd", 3)]
print("| run | seed | top-1 % (last) | best % | many % | medium % | few % |")
print("|---|---|---|---|---|---|---|")
for label, run, stage in rows:
    for s in (base_seeds if run in ("ce", "gcl") else seeds):
        lines = [json.loads(l) for l in open(f"{out}/{run}_s{s}/metrics.jsonl")]
        ev = [l for l in lines if "top1" in l]
        if stage is None:
            stage = max(l["stage"] for l in ev)
        ev = [l for l in ev if l["stage"] == stage]
        e = ev[-1]
        print("| %s | %s | %.2f | %.2f | %.1f | %.1f | %.1f |" % (
            label, s, e["top1"], max(l["top1"] for l in ev), e["many"], e["medium"], e["few"]))
PY
