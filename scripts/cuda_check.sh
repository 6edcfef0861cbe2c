#!/usr/bin/env bash
# GPU verification of the CUDA backend, on a machine with an NVIDIA GPU and a CUDA build of tailor:
#   1. tests/test_cuda (CPU-vs-CUDA parity of every op, ResNet-32/50 steps, allocator, determinism), the
#      CUDA cases of tests/test_sync_free_step (the guard kernels, masked multi-tensor SGD, no host read or
#      wait in a step), of tests/test_step_graph (captured + replayed steps = eager steps) and the CUDA cases
#      of tests/test_precision(_cli) (cuDNN bf16 convolutions against fp32; a bf16 ResNet-32 run) and
#      tests/test_cuda_bf16_act (the bf16 activation kernels against their CPU twins)
#   2. compute-sanitizer memcheck on test_cuda (caching off; the out-of-memory case is left out because
#      memcheck lists its deliberate cudaMalloc failure as an API error) and on a few training steps
#   3. the out-of-memory message (an absurd batch)
#   4. tailor vs PyTorch eager, alternating: ResNet-32 b128 32x32 and ResNet-50 b64 224x224; 4c: tailor with
#      CUDA graphs (fp32, bf16) next to PyTorch eager fp32 and AMP bf16 channels_last; 4d: four concurrent
#      ResNet-32 benches' total throughput against one alone
#   5. the NCCL backend (docs/data_parallel.md): 20 deterministic steps of ResNet-32 on one process and on
#      `mpirun -np 1` with dist.backend nccl (every data-parallel code path on one GPU: the two step logs
#      must be identical), the same with dist.sync_bn (SyncBatchNorm on the GPU), and on 2 ranks when the
#      machine has 2 GPUs; needs DATA (CIFAR-10 binary batches)
#      or the Fashion-MNIST package
#   6. the ImageNet-LT input pipeline on this machine's cores (bench_data: JPEG decode + RandomResizedCrop 224 +
#      flip + ColorJitter through the Loader, one worker per core) next to ResNet-50's train img/s of step 4
# Usage: scripts/cuda_check.sh [BUILD_DIR]   (default build; configure it with -DTAILOR_CUDA=ON)
#   On a GPU node without the build dependencies, bundle the programs it runs (12 MB) from a portable build
#   (TAILOR_BUILD_DIR=build-portable TAILOR_CMAKE_ARGS=-DTAILOR_NATIVE=OFF TAILOR_BUILD_TARGET=all bash
#   scripts/setup.sh) and pass the bundle:
#   scripts/bundle.sh build-portable gpu.tar.xz tailor test_cuda test_cuda_bf16_act test_sync_free_step \
#     test_step_graph test_precision test_precision_cli test_bf16_activations bench_data;
#   there: tar -xJf gpu.tar.xz && scripts/cuda_check.sh tailor-bundle
#   7. (TTR=1 with DATA) time to result: GCL 20 + 3 epochs, tailor eager / with cuda_graphs and resident data /
#      PyTorch, each alone on the GPU (benchmarks/README.md "Full schedule on the GPU on the JPEG files": the
#      same protocol measured 46.4 s tailor vs 83.5 s PyTorch before CUDA graphs)
# Env:   PYTHON (python with torch+CUDA, default python3), PAIRS (default 3), COMPILE=1 (+ torch.compile), DATA, TTR,
#        STEPS (e.g. "1 2 4c": only those steps; default all but 7)
set -uo pipefail
B=${1:-build}
PYTHON=${PYTHON:-python3}
for f in "$B/test_cuda" "$B/tailor"; do
  [ -x "$f" ] || { echo "cuda_check: $f not found (build with -DTAILOR_CUDA=ON first)" >&2; exit 2; }
done
export TAILOR_BIN="$(cd "$B" && pwd)/tailor"  # the CLI tests' tailor (tests/cli_run.h), also from a bundle
status=0
want() { [ -z "${STEPS:-}" ] || [[ " $STEPS " == *" $1 "* ]]; }  # STEPS="1 4c": only those steps
if want 1; then
echo "== 1. test_cuda"
"$B/test_cuda" | grep -E "MESSAGE|test cases|assertions|ERROR" || status=1
"$B/test_sync_free_step" -tc="CUDA*" | grep -E "MESSAGE|test cases|assertions|ERROR" || status=1
"$B/test_step_graph" -tc="CUDA*" | grep -E "MESSAGE|test cases|assertions|ERROR" || status=1
"$B/test_precision" -tc="*CUDA*" -s | grep -E "MESSAGE|bf16 numbers|test cases|assertions|ERROR" || status=1
"$B/test_cuda_bf16_act" | grep -E "MESSAGE|test cases|assertions|ERROR" || status=1
"$B/test_precision_cli" -tc="*on cuda*" -s | grep -E "MESSAGE|step 1|test cases|assertions|ERROR" || status=1
fi
if want 2; then
echo "== 2. memcheck"
if command -v compute-sanitizer >/dev/null; then
  TAILOR_CUDA_CACHING=0 compute-sanitizer --tool memcheck "$B/test_cuda" -tce="*out of memory*" 2>&1 |
    grep -E "ERROR SUMMARY|test cases" || status=1
  TAILOR_CUDA_CACHING=0 compute-sanitizer --tool memcheck "$B/tailor" bench --model resnet32 --device cuda \
    --steps 2 --warmup 1 2>&1 | grep -E "ERROR SUMMARY" || status=1
else
  echo "compute-sanitizer not found: skipped"
fi
fi
if want 3; then
echo "== 3. out of memory (expected: a clear error, exit 1)"
"$B/tailor" bench --model resnet50 --device cuda --batch 1000 --steps 1 2>&1 | tail -2
fi
if want 4; then
echo "== 4. tailor vs PyTorch eager"
export TAILOR="$B/tailor" PYTHON DEVICE=cuda PAIRS=${PAIRS:-3}
"$(dirname "$0")/../benchmarks/compare.sh" resnet32 128 50 8 2>&1 | grep -v "^  " || status=1
EXTRA="--image-size 224" "$(dirname "$0")/../benchmarks/compare.sh" resnet50 64 20 8 2>&1 | grep -v "^  " || status=1
fi
if want 4b; then
echo "== 4b. bf16: tailor (cuDNN bf16 convolutions) vs PyTorch autocast bf16 channels_last, ResNet-32 b128"
for r in 1 2; do
  "$B/tailor" bench --model resnet32 --batch 128 --steps 50 --device cuda --precision bf16 | grep '^{' | cut -c1-220
  "$PYTHON" "$(dirname "$0")/../benchmarks/pytorch/bench_resnet.py" --model resnet32 --batch 128 --steps 50 \
    --device cuda --precision bf16 --channels-last 2>/dev/null | grep '^{' | cut -c1-220
done
fi
if want 4c; then
echo "== 4c. CUDA graphs: tailor --cuda-graphs (fp32, bf16) vs PyTorch eager fp32 / AMP bf16 channels_last, ResNet-32 b128"
for r in 1 2; do
  for p in fp32 bf16; do
    "$B/tailor" bench --model resnet32 --batch 128 --steps 200 --device cuda --precision $p --cuda-graphs | grep '^{' | cut -c1-240
    if [ $p = bf16 ]; then cl=--channels-last; else cl=; fi
    "$PYTHON" "$(dirname "$0")/../benchmarks/pytorch/bench_resnet.py" --model resnet32 --batch 128 --steps 200 \
      --device cuda --precision $p $cl 2>/dev/null | grep '^{' | cut -c1-220
  done
done
"$B/tailor" bench --model resnet50 --batch 256 --steps 20 --device cuda --precision bf16 --cuda-graphs | grep '^{' | cut -c1-240
fi
if want 4d; then
echo "== 4d. several runs on one GPU: 4 concurrent ResNet-32 b128 benches (total train img/s) vs one alone"
conc=$(mktemp -d)
"$B/tailor" bench --model resnet32 --batch 128 --steps 1000 --device cuda | grep '^{' > "$conc/alone.json"
for i in 1 2 3 4; do
  "$B/tailor" bench --model resnet32 --batch 128 --steps 1000 --device cuda | grep '^{' > "$conc/c$i.json" &
done
wait
python3 - "$conc" <<'PY' || status=1
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
alone = json.loads((d / "alone.json").read_text())["train_img_per_s"]
each = [json.loads((d / f"c{i}.json").read_text())["train_img_per_s"] for i in range(1, 5)]
print(f"alone {alone:.0f} img/s; 4 at once {' + '.join(f'{x:.0f}' for x in each)} = {sum(each):.0f} img/s "
      f"({sum(each) / alone:.2f}x one)")
PY
fi
if want 5; then
echo "== 5. NCCL data parallel"
if [ -n "${DATA:-}" ]; then data=(--set data.dataset=cifar10 --set "data.root=$DATA"); else data=(); fi
if ! command -v mpirun >/dev/null; then
  echo "mpirun not found: skipped"
elif [ -z "${DATA:-}" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "no DATA and no Fashion-MNIST: skipped"
else
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  out=$(mktemp -d)
  echo '{"model": {"arch": "resnet32"}, "stage1": {"method": "joint", "epochs": 1, "batch_size": 128,
         "max_steps_per_epoch": 20, "schedule": {"warmup_epochs": 0}, "loss": {"name": "ce"}}}' > "$out/ce.json"
  dp=(train --config "$out/ce.json" "${data[@]}" --set "runs_dir=$out" --device "${DP_DEVICE:-cuda}" --deterministic
      --set log.step_losses=true --set eval.every_epochs=0 --no-report)
  "$B/tailor" "${dp[@]}" --set name=plain > "$out/plain.log" 2>&1 || { status=1; tail -3 "$out/plain.log"; }
  mpirun -np 1 "$B/tailor" "${dp[@]}" --set name=nccl1 --set dist.backend=nccl > "$out/nccl1.log" 2>&1 ||
    { status=1; tail -5 "$out/nccl1.log"; }
  if cmp -s "$out/plain/steps.jsonl" "$out/nccl1/steps.jsonl"; then echo "1 rank over NCCL: steps identical"
  else echo "1 rank over NCCL: steps DIFFER"; status=1; fi
  # SyncBatchNorm on the GPU (its sums through the host): one process vs one NCCL rank, and its losses next to
  # per-rank BN's
  "$B/tailor" "${dp[@]}" --set name=plain_sbn --set dist.sync_bn=true > "$out/plain_sbn.log" 2>&1 ||
    { status=1; tail -3 "$out/plain_sbn.log"; }
  mpirun -np 1 "$B/tailor" "${dp[@]}" --set name=nccl1_sbn --set dist.backend=nccl --set dist.sync_bn=true \
    > "$out/nccl1_sbn.log" 2>&1 || { status=1; tail -5 "$out/nccl1_sbn.log"; }
  if cmp -s "$out/plain_sbn/steps.jsonl" "$out/nccl1_sbn/steps.jsonl"; then echo "SyncBN, 1 rank over NCCL: steps identical"
  else echo "SyncBN, 1 rank over NCCL: steps DIFFER"; status=1; fi
  paste -d' ' <(head -3 "$out/plain/steps.jsonl" | cut -c1-70) <(head -3 "$out/plain_sbn/steps.jsonl" | cut -c40-70)
  if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
    mpirun -np 2 "$B/tailor" "${dp[@]}" --set name=nccl2 > "$out/nccl2.log" 2>&1 || { status=1; tail -5 "$out/nccl2.log"; }
    grep -h '"img_per_s"' "$out/plain/metrics.jsonl" "$out/nccl2/metrics.jsonl" | cut -c1-200
  fi
fi
fi
if want 6; then
echo "== 6. ImageNet-LT input pipeline, $(nproc) workers (compare: ResNet-50 train img/s above)"
if [ -x "$B/bench_data" ]; then
  "$B/bench_data" --images 1000 --epochs 1 --seconds 1 --workers "$(nproc)" --pipeline-images 8192 2>&1 |
    grep -E "libjpeg-turbo \+ RRC224\+flip\+ColorJitter|imagenet pipeline" || status=1
else
  echo "bench_data not built: skipped"
fi
fi
if [ "${TTR:-0}" = 1 ] && [ -n "${DATA:-}" ]; then
  echo "== 7. time to result: GCL 20 + 3 epochs on DATA, tailor eager, tailor with cuda_graphs + resident data, PyTorch"
  ttr=$(mktemp -d)
  for v in eager graphs pytorch; do
    case $v in
      eager) args=(--engines tailor); extra="" ;;
      graphs) args=(--engines tailor); extra="--set cuda_graphs=true --set data.resident=true" ;;
      pytorch) args=(--engines pytorch); extra="" ;;
    esac
    REPRO_TAILOR_ARGS="$extra" TAILOR="$B/tailor" "$(dirname "$0")/../benchmarks/reproduce.sh" gcl --device cuda \
      --threads 8 --seeds 0 --epochs 20 --stage2-epochs 3 --data "$DATA" "${args[@]}" --out "$ttr/$v" 2>&1 |
      tail -4 || status=1
  done
fi
exit $status
