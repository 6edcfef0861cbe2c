#!/usr/bin/env bash
# Runs the commands of docs/tutorial.md ("From CE to GCL"), in the tutorial's order, in WORK_DIR.
#   usage: scripts/tutorial.sh [--quick] WORK_DIR [TAILOR_BINARY]    (default binary: build/tailor)
# Every `run` line below is a command of the tutorial, word for word, followed by "${QUICK...[@]}": empty
# normally, and with --quick the reductions that make the whole tutorial run in well under a minute on one
# core (CI, tests/test_tutorial_cli.cpp): tiny Fashion-MNIST-LT (40..4 images, 10 test images per class),
# two steps per stage, the lab on a small synthetic set, a short t-SNE.
set -euo pipefail
quick=0
if [[ ${1:-} == --quick ]]; then quick=1; shift; fi
if [[ $# -lt 1 ]]; then
  echo "usage: $0 [--quick] WORK_DIR [TAILOR_BINARY]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${2:-$here/../build/tailor}")
mkdir -p "$1"
cd "$1"

QUICK_DATA=() QUICK_ONE=() QUICK_TWO=() QUICK_LAB=() QUICK_TSNE=()
if [[ $quick == 1 ]]; then
  QUICK_DATA=(--set data.imbalance.n_max=40 --set data.imbalance.ratio=10 --set data.test_per_class=10
              --set data.workers=0 --set threads=1 --overwrite)
  QUICK_ONE=("${QUICK_DATA[@]}" --set stage1.epochs=1 --set stage1.max_steps_per_epoch=2 --set stage1.batch_size=16)
  QUICK_TWO=("${QUICK_ONE[@]}" --set stage2.epochs=1 --set stage2.max_steps_per_epoch=2 --set stage2.batch_size=16)
  QUICK_LAB=(--data gaussian --classes 4 --n-max 200 --ratio 20 --epochs 3 --losses ce,balanced_softmax,gcl,gcl_no_cloud --threads 1)
  QUICK_TSNE=(--tsne-points 200 --tsne-iters 300 --threads 1)
fi

# `tailor ARGS...`, echoed first
run() {
  shift
  echo "+ tailor $*"
  "$bin" "$@"
}

# 1. The problem: a plain cross-entropy run, and its accuracy per shot group
run tailor train --set name=ce --set 'stage1.loss={"name": "ce"}' --set model.head=linear --set stage2.method=none --set eval.groups=thirds "${QUICK_ONE[@]}"
run tailor eval --run runs/ce --set eval.groups=counts
# 2. Softmax saturation (GCL Eq. 2-3)
run tailor inspect-loss --loss ce --counts 6000,278,60 --logits 0,0,3 --target 2
run tailor inspect-loss --sweep-gap --counts 6000,1292,278,60 --out gap_sweep
# 3. The fixes, one sample at a time
run tailor inspect-loss --loss ldam --counts 6000,278,60 --logits 0,0,0.1 --target 2 --set loss.s=30 --set loss.max_m=0.5
run tailor inspect-loss --loss balanced_softmax --counts 6000,278,60 --logits 0,0,3 --target 2
run tailor inspect-loss --loss logit_adjust --counts 6000,278,60 --logits 0,0,3 --target 2 --set loss.tau=1
run tailor inspect-loss --loss gcl --counts 6000,278,60 --logits 0,0,0.1 --target 2 --set loss.m=0 --set loss.noise_mul=0.5 --seed 1
# 4. The embedding lab
run tailor explore --out lab "${QUICK_LAB[@]}"
# 5. Two-stage methods: the classifier's weight norms, cRT and tau-normalisation
run tailor tau-sweep --run runs/ce
run tailor report --run runs/ce
run tailor train --set name=ce_crt --set 'stage1.loss={"name": "ce"}' --set model.head=linear --set 'stage2={"method": "crt", "epochs": 2}' --set eval.groups=thirds "${QUICK_TWO[@]}"
# 6. GCL, both stages, and its feature map
run tailor train --set eval.groups=thirds "${QUICK_TWO[@]}"
run tailor report --run runs/fashion_mnist_lt_gcl --tsne "${QUICK_TSNE[@]}"
echo "tutorial: done"
