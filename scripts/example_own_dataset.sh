#!/usr/bin/env bash
# docs/data.md, "Your own dataset", as a script: a folder of images -> verify-data -> train -> eval -> report.
# CI runs it (tests/test_own_dataset.cpp) on a folder made from Fashion-MNIST.
#   scripts/example_own_dataset.sh DATA WORK [path/to/tailor]
#   DATA: DATA/train/<class>/*.png|jpg|ppm and DATA/test/<class>/... (optionally DATA/val/<class>/...)
set -euo pipefail
DATA=$(realpath "$1")
WORK=$2
TAILOR=$(realpath "${3:-$(dirname "$0")/../build/tailor}")
tailor() { "$TAILOR" "$@"; }
mkdir -p "$WORK" && cd "$WORK"
cat > my_data.json <<JSON
{
  "name": "my_data",
  "data": {"dataset": "image_folder", "root": "$DATA"},
  "model": {"arch": "resnet32", "head": "linear"},
  "stage1": {"method": "joint", "epochs": 2, "batch_size": 64, "loss": {"name": "ce"},
             "schedule": {"kind": "cosine"}},
  "stage2": {"method": "crt", "epochs": 1, "batch_size": 64, "bn_mode": "train"},
  "eval": {"groups": "thirds"}
}
JSON
tailor verify-data --format imagefolder --root "$DATA"
tailor train --config my_data.json
tailor eval --run runs/my_data --split test
tailor report --run runs/my_data
