#!/usr/bin/env bash
# One folder with everything scripts/cuda_check.sh needs on a bare GPU node (one that has the NVIDIA driver,
# CUDA 13's libraries and PyTorch, but no compiler and none of the Debian packages tailor builds against):
#   KIT/gpu.tar.xz            the programs cuda_check runs, built portable (-DTAILOR_NATIVE=OFF) in build-portable/
#                             and bundled with their libraries and Open MPI's launcher (scripts/bundle.sh)
#   KIT/fmnist/               Fashion-MNIST cut to its first 6,000 training and 2,000 test images (the tests' LT
#                             subsets take at most 40 images per class; the full set is 30 MB)
#   KIT/cifar10-jpg.tar.xz    the CIFAR-10 JPEG archive, when one is named (DATA for steps 1m, 4p, 5 and 7)
# About 35 MB with the CIFAR-10 archive. Building build-portable takes ~15 minutes on 2 cores the first time.
#
# Usage: scripts/gpu_kit.sh KIT [CIFAR10_JPG_ARCHIVE]
# On the node, from a checkout of the same commit:
#   tar -xJf KIT/gpu.tar.xz && mkdir -p /tmp/c10 && tar -xJf KIT/cifar10-jpg.tar.xz -C /tmp/c10 &&
#   STEPS="1 3 4c 4p" DATA=/tmp/c10 FMNIST=KIT/fmnist scripts/cuda_check.sh tailor-bundle
#   (step 1g, the recipes on the GPU against the CPU goldens, takes ~4-6 minutes: a call of its own)
set -euo pipefail
[ $# -ge 1 ] || { awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$0" >&2; exit 2; }
kit=$1 cifar=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$kit"
if [ -n "$cifar" ] && [ ! -f "$cifar" ]; then echo "gpu_kit: $cifar not found" >&2; exit 2; fi
fm=/usr/share/datasets/fashion-mnist
[ -f "$fm/train-images-idx3-ubyte.gz" ] || { echo "gpu_kit: $fm not found (Debian: dataset-fashion-mnist)" >&2; exit 2; }

cd "$here"
# (CUDA ON, not AUTO: a kit without its CUDA backend would only be found out on the GPU machine)
TAILOR_BUILD_DIR=build-portable TAILOR_CMAKE_ARGS="-DTAILOR_NATIVE=OFF -DTAILOR_CUDA=ON" TAILOR_BUILD_TARGET=all \
  bash scripts/setup.sh
BUNDLE_MPIRUN=1 bash scripts/bundle.sh build-portable "$kit/gpu.tar.xz" tailor test_cuda test_cuda_bf16_act \
  test_sync_free_step test_step_graph test_precision test_precision_cli test_bf16_activations test_resident_data \
  test_golden_runs bench_data

# IDX files keep their header (the count is its second big-endian int32) and the first n records.
mkdir -p "$kit/fmnist"
python3 - "$fm" "$kit/fmnist" <<'PY'
import gzip, struct, sys
src, dst = sys.argv[1], sys.argv[2]
for split, n in (("train", 6000), ("t10k", 2000)):
    for kind, header, record in (("images-idx3", 16, 28 * 28), ("labels-idx1", 8, 1)):
        name = f"{split}-{kind}-ubyte.gz"
        data = gzip.open(f"{src}/{name}").read()
        out = data[:4] + struct.pack(">i", n) + data[8:header] + data[header:header + n * record]
        with gzip.open(f"{dst}/{name}", "wb") as f:
            f.write(out)
PY
if [ -n "$cifar" ]; then install -m 0644 "$cifar" "$kit/cifar10-jpg.tar.xz"; fi
du -sh "$kit"
