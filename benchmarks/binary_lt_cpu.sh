#!/usr/bin/env bash
# The cosine losses' scale s on a two-class long-tailed folder of one's own: Fashion-MNIST's T-shirt/top (the
# first 5,000 training images of class 0) against shirt (the first 50 of class 6), tested on the first 1,000 test
# images of each, written as PGM class folders (DATA/{train,test}/{shirt,shirt_top}/<index>.pgm). ResNet-32, the
# main job's recipe (recipes/fashion_mnist_lt/gcl_default.json) on that folder at 20 + 5 epochs: GCL two-stage with
# the recipe's scales (stage 1 s 30, stage 2 s 20), the same with s 10 in both stages, and CE + cRT (linear head).
# The test set is balanced, so top-1 = balanced accuracy; "many" is T-shirt/top, "medium" shirt (50 images).
#   benchmarks/binary_lt_cpu.sh OUT [SEEDS] [THREADS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1 SEEDS=${2:-"0 1 2"} THREADS=${3:-2} JOBS=${4:-1}
T=build/tailor
FM=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
DATA=$OUT/data
if [ ! -d "$DATA/test" ]; then
  python3 - "$FM" "$DATA" <<'PY'
import gzip, os, sys
src, dst = sys.argv[1], sys.argv[2]
names = {0: "shirt_top", 6: "shirt"}
for split, tag, counts in (("train", "train", {0: 5000, 6: 50}), ("t10k", "test", {0: 1000, 6: 1000})):
    images = gzip.open(f"{src}/{split}-images-idx3-ubyte.gz").read()[16:]
    labels = gzip.open(f"{src}/{split}-labels-idx1-ubyte.gz").read()[8:]
    for c, n in counts.items():
        os.makedirs(f"{dst}/{tag}/{names[c]}", exist_ok=True)
        for i in [i for i, y in enumerate(labels) if y == c][:n]:
            with open(f"{dst}/{tag}/{names[c]}/{i}.pgm", "wb") as f:
                f.write(b"P5\n28 28\n255\n" + images[i * 784:(i + 1) * 784])
PY
fi
run() {  # NAME SEED --set ...
  local name=$1 seed=$2
  shift 2
  [ -f "$OUT/$name/summary.json" ] && return
  rm -rf "${OUT:?}/$name"
  $T train --config recipes/fashion_mnist_lt/gcl_default.json --set "name=$name" --set "runs_dir=$OUT" \
    --set data.dataset=image_folder --set "data.root=$DATA" --set data.augment=auto --set data.imbalance.profile=none \
    --set "threads=$THREADS" --set "seed=$seed" --set stage1.epochs=20 --set stage2.epochs=5 --no-report "$@" \
    > "$OUT/$name.log" 2>&1
}
for s in $SEEDS; do
  for v in gcl gcl_s10 ce_crt; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    case $v in
      gcl) run "gcl_s$s" "$s" & ;;
      gcl_s10) run "gcl_s10_s$s" "$s" --set stage1.loss.s=10 --set stage2.loss.s=10 & ;;
      ce_crt) run "ce_crt_s$s" "$s" --set 'stage1.loss={"name": "ce"}' --set model.head=linear \
                --set 'stage2={"method": "crt", "epochs": 5}' & ;;
    esac
  done
done
wait
python3 - "$OUT" $SEEDS <<'PY'
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
def epochs(name):  # metrics.jsonl: stage 1's last epoch, the last stage's last epoch, its best test top-1
    rows = [json.loads(line) for line in open(f"{out}/{name}/metrics.jsonl")]
    rows = [r for r in rows if r.get("eval_split") == "test"]
    final_stage = max(r["stage"] for r in rows)
    first = [r for r in rows if r["stage"] == 1][-1]
    last = [r for r in rows if r["stage"] == final_stage]
    return first, last[-1], max(r["top1"] for r in last)
print("| run | seed | stage 1: top-1 % (T-shirt / shirt) | final top-1 % | best % | T-shirt/top % | shirt % |")
print("|---|---|---|---|---|---|---|")
for label, desc in (("gcl", "GCL, s 30 / 20 (the recipe's)"), ("gcl_s10", "GCL, s 10 / 10"),
                    ("ce_crt", "CE + cRT")):
    for s in seeds:
        first, final, best = epochs(f"{label}_s{s}")
        print(f"| {desc} | {s} | {first['top1']:.2f} ({first['many']:.1f} / {first['medium']:.1f}) | "
              f"{final['top1']:.2f} | {best:.2f} | {final['many']:.2f} | {final['medium']:.2f} |")
PY
