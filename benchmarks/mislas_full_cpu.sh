#!/usr/bin/env bash
# The full MiSLAS schedule on CIFAR-10-LT rho 100 (the lossless CIFAR-10) on the CPU, and the decoupled second
# stages from its stage-1 model. First recipes/cifar10_lt/mislas.json as shipped (seed 0: CE + mixup 200
# epochs, then MiSLAS' stage 2 from the best stage-1 checkpoint, 10 epochs); then, from that same checkpoint,
# each second stage as a run of its own (model.init_from), for each seed of SEEDS2 (the seed of the stage's
# sampler and classifier; the backbone is the same): MiSLAS' stage 2 alone (mislas2), cRT and LWS (the stage 2
# of recipes/cifar10_lt/ce_mixup_crt.json, LWS with its training keys), and once the post-hoc tau-norm (tau
# chosen on test: CIFAR has no val split) and NCM. Prints one table; many / medium / few are thirds of the
# classes by training count (3 / 4 / 3 classes). About 95 minutes on 2 cores, 90 of them stage 1.
#   benchmarks/mislas_full_cpu.sh DATA OUT [SEEDS2] [THREADS]
#   DATA: the CIFAR-10 binary batches (../shared/data/get_cifar10_bin.sh DIR; DIR/cifar-10-batches-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 OUT=$2 SEEDS2=${3:-"0 1 2"} THREADS=${4:-2}
T=build/tailor
mkdir -p "$OUT"
common=(--set "runs_dir=$OUT" --set "data.root=$DATA" --set "threads=$THREADS" --set data.workers=2 --no-report
        --set eval.groups=thirds)  # rho 100 has no class under 20 images: thirds of the classes by count
TAILOR=$T benchmarks/recipe_full_cpu.sh mislas "$DATA" "$OUT" 0 "$THREADS"  # the recipe itself: mislas_s0
ck=$OUT/mislas_s0/checkpoints/stage1_best.safetensors  # what MiSLAS' stage 2 loads (load: best)
stage_of() {  # a recipe's stage 2 as a stage of its own, with edits (python statements on s)
  /usr/bin/python3 -c "import json; s=json.load(open('recipes/cifar10_lt/$1.json'))['stage2']; s.pop('load'); $2
print(json.dumps(s))"
}
second() {  # NAME SEED STAGE_JSON: a one-stage run from the stage-1 checkpoint
  [ -f "$OUT/$1_s$2/summary.json" ] || $T train --config recipes/cifar10_lt/ce_mixup_crt.json --set "name=$1_s$2" \
    --set "seed=$2" --set stage2.method=none --set "stage1=$3" --set "model.init_from=$ck" "${common[@]}"
}
for s in $SEEDS2; do
  second mislas2 "$s" "$(stage_of mislas '')"
  second crt "$s" "$(stage_of ce_mixup_crt '')"
  second lws "$s" "$(stage_of ce_mixup_crt "s['method']='lws'; s.pop('loss')")"
done
second tau 0 '{"method": "tau_norm", "choose_tau_on_test": true}'
second ncm 0 '{"method": "ncm"}'
/usr/bin/python3 - "$OUT" $SEEDS2 <<'PY'
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
print("%-22s %4s %7s %7s %7s %7s %7s %7s" % ("run", "seed", "last", "best", "many", "medium", "few", "ECE"))
def row(name, seed, ev):
    print("%-22s %4s %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f" % (name, seed, ev[-1]["top1"], max(l["top1"] for l in ev),
          ev[-1]["many"], ev[-1]["medium"], ev[-1]["few"], ev[-1]["ece"]))
lines = [json.loads(l) for l in open(f"{out}/mislas_s0/metrics.jsonl")]
for k in (1, 2):
    row("mislas stage %d" % k, 0, [l for l in lines if l.get("top1") is not None and l["stage"] == k])
for v in ("mislas2", "crt", "lws"):
    for s in seeds:
        row(v, s, [json.loads(l) for l in open(f"{out}/{v}_s{s}/metrics.jsonl") if '"top1"' in l])
for v in ("tau", "ncm"):  # post-hoc: no epochs, one evaluation (eval.json)
    row(v, 0, [json.load(open(f"{out}/{v}_s0/eval.json"))])
PY
