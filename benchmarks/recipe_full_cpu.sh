#!/usr/bin/env bash
# One CIFAR-10-LT recipe as shipped (recipes/cifar10_lt/RECIPE.json: its full schedule, rho 100) on the
# lossless CIFAR-10 on the CPU, for each seed of SEEDS, one run at a time, then a table of every stage:
# top-1 at the last epoch and the best (with its epoch), many / medium / few and ECE at the last epoch, the
# stage's training seconds and images/s (a post-hoc last stage: its final evaluation). Many / medium / few
# are thirds of the classes by training count (3 / 4 / 3 classes): rho 100 has no class under 20 images. A
# run whose directory holds a finished run is kept, an interrupted one (a stopped job, --stop-after) is
# resumed, a missing one started. About 95 minutes per seed of a 200-epoch ResNet-32 recipe on 2 cores.
#   benchmarks/recipe_full_cpu.sh RECIPE DATA OUT [SEEDS] [THREADS] [-- extra tailor train arguments]
#   DATA: the CIFAR-10 binary batches (../shared/data/get_cifar10_bin.sh DIR; DIR/cifar-10-batches-bin)
#   e.g. benchmarks/recipe_full_cpu.sh ldam_drw DIR/cifar-10-batches-bin runs/full "0" 2
# Environment: TAILOR (default build/tailor); STOP_AFTER=S passes --stop-after S to each train or resume (a
# run that stops saves its state and the script exits 75 without the table; the same command continues).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
RECIPE=$1 DATA=$2 OUT=$3 SEEDS=${4:-0} THREADS=${5:-2}
shift $(( $# < 5 ? $# : 5 ))
[ "${1:-}" = "--" ] && shift
T=${TAILOR:-build/tailor}
CONFIG=recipes/cifar10_lt/$RECIPE.json
[ -f "$CONFIG" ] || { echo "recipe_full_cpu.sh: no $CONFIG" >&2; exit 2; }
stop=()
[ -n "${STOP_AFTER:-}" ] && stop=(--stop-after "$STOP_AFTER")
mkdir -p "$OUT"
for s in $SEEDS; do
  run=$OUT/${RECIPE}_s$s
  if [ -f "$run/summary.json" ]; then continue; fi
  if [ -d "$run" ]; then
    $T train --resume "$run" --no-report "${stop[@]}"
  else
    $T train --config "$CONFIG" --set "name=${RECIPE}_s$s" --set "seed=$s" --set "runs_dir=$OUT" \
      --set "data.root=$DATA" --set "threads=$THREADS" --set data.workers=2 --set eval.groups=thirds \
      --no-report "${stop[@]}" "$@"
  fi
done
/usr/bin/python3 - "$OUT" "$RECIPE" $SEEDS <<'PY'
import json, sys
out, recipe, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
print("| seed | stage | top-1 % last | best (epoch) | many % | medium % | few % | ECE % | train s | img/s |")
print("|---|---|---|---|---|---|---|---|---|---|")
for s in seeds:
    lines = [json.loads(l) for l in open(f"{out}/{recipe}_s{s}/metrics.jsonl")]
    for k in sorted({l["stage"] for l in lines}):
        ev = [l for l in lines if l["stage"] == k and l.get("top1") is not None]
        if not ev:
            continue
        last, best = ev[-1], max(ev, key=lambda l: l["top1"])  # the first epoch of the best top-1
        secs = sum(l["seconds"] for l in lines if l["stage"] == k and "seconds" in l)
        imgs = sum(l["train_images"] for l in lines if l["stage"] == k and "train_images" in l)
        print("| %s | %d | %.2f | %.2f (%d) | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f |" % (
            s, k, last["top1"], best["top1"], best["epoch"], last["many"], last["medium"], last["few"],
            last["ece"], secs, imgs / secs if secs else 0))
    summary = json.load(open(f"{out}/{recipe}_s{s}/summary.json"))
    if summary["stages"][-1]["epochs"] == 0:  # a post-hoc last stage (tau_norm, ...): no epoch, its eval.json
        print("| %s | %d (post-hoc) | %.2f | — | %.2f | %.2f | %.2f | %.2f | — | — |" % (
            s, len(summary["stages"]), summary["top1"], summary["many"], summary["medium"], summary["few"],
            summary["ece"]))
PY
