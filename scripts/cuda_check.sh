#!/usr/bin/env bash
# GPU verification of the CUDA backend, on a machine with an NVIDIA GPU and a CUDA build of tailor:
#   1. tests/test_cuda (CPU-vs-CUDA parity of every op, ResNet-32/50 steps, allocator, determinism), the
#      CUDA cases of tests/test_sync_free_step (the guard kernels, masked multi-tensor SGD, no host read or
#      wait in a step), of tests/test_step_graph (captured + replayed steps = eager steps) and the CUDA cases
#      of tests/test_precision(_cli) (cuDNN bf16 convolutions against fp32; a bf16 ResNet-32 run) and
#      tests/test_cuda_bf16_act (the bf16 activation kernels against their CPU twins), and the CUDA case of
#      tests/test_resident_data (the loader resident on the GPU against the host loader)
#   1g. (needs no DATA; ~4-6 min) tests/test_golden_runs' CUDA cases, in fp32 (NVIDIA_TF32_OVERRIDE=0): every
#      recipes/cifar10_lt recipe's short run on its synthetic folder on the GPU, every stage run to the end and the
#      first three steps' losses against the CPU golden (1e-4, then 1e-2: these runs amplify rounding ~100x a
#      step); and the classifier-stage methods (cRT, LWS, MiSLAS, decoupled Balanced Softmax, BALMS, GCL's stage 2)
#      from one CPU stage-1 checkpoint on both devices, every step within 1 %
#   1m. (needs DATA) every recipes/cifar10_lt method, 2 short epochs per stage on a small LT subset, on the GPU and
#      on the CPU: each stage's first loss within 1e-2 and the final top-1 of both (the methods end to end on CUDA)
#   2. compute-sanitizer memcheck on test_cuda (caching off; the out-of-memory case is left out because
#      memcheck lists its deliberate cudaMalloc failure as an API error) and on a few training steps
#   3. the out-of-memory message (an absurd batch)
#   4. tailor vs PyTorch eager, alternating: ResNet-32 b128 32x32 and ResNet-50 b64 224x224; 4c: tailor with
#      CUDA graphs (fp32, bf16) next to PyTorch eager fp32 and AMP bf16 channels_last; 4d: four concurrent
#      ResNet-32 benches' total throughput against one alone; 4p: where the time goes, per kernel (tailor bench
#      --profile) and per operator (torch.profiler), ResNet-32 b128 fp32/bf16 and ResNet-50 b256 bf16, and the GCL
#      recipe's real stage-1 steps with host-loaded and GPU-resident batches (debug.profile_steps; needs DATA)
#   5. the NCCL backend (docs/data_parallel.md): 20 deterministic steps of ResNet-32 on one process and on
#      `mpirun -np 1` with dist.backend nccl (every data-parallel code path on one GPU: the two step logs
#      must be identical; also with 0.1 MB gradient buckets and no timeout, and with the blocking all-reduce),
#      the same with dist.sync_bn (SyncBatchNorm on the GPU), and on 2 ranks when the
#      machine has 2 GPUs; needs DATA (CIFAR-10 binary batches)
#      or the Fashion-MNIST package
#   6. the ImageNet-LT input pipeline on this machine's cores (bench_data: JPEG decode + RandomResizedCrop 224 +
#      flip + ColorJitter through the Loader, one worker per core) next to ResNet-50's train img/s of step 4
# Usage: scripts/cuda_check.sh [BUILD_DIR]   (default build; configure it with -DTAILOR_CUDA=ON)
#   On a GPU node without the build dependencies: scripts/gpu_kit.sh KIT [CIFAR-10 JPEG archive] makes one folder
#   with all it needs (the steps below, and Fashion-MNIST cut for FMNIST); its header says how to run it there.
#   By hand: bundle the programs it runs (12 MB) from a portable build
#   (TAILOR_BUILD_DIR=build-portable TAILOR_CMAKE_ARGS=-DTAILOR_NATIVE=OFF TAILOR_BUILD_TARGET=all bash
#   scripts/setup.sh) and pass the bundle:
#   BUNDLE_MPIRUN=1 scripts/bundle.sh build-portable gpu.tar.xz tailor test_cuda test_cuda_bf16_act \
#     test_sync_free_step test_step_graph test_precision test_precision_cli test_bf16_activations \
#     test_resident_data test_golden_runs bench_data
#   (BUNDLE_MPIRUN=1: with Open MPI's launcher, for step 5 where the machine has none);
#   there: tar -xJf gpu.tar.xz && scripts/cuda_check.sh tailor-bundle
#   (the CUDA libraries of the machine's PyTorch wheels are used when the loader finds none: see below)
#   7. (STEPS 7, or TTR=1; needs DATA) time to result: GCL 20 + 3 epochs, tailor eager / with cuda_graphs and
#      resident data / PyTorch, each alone on the GPU (benchmarks/README.md "Full schedule on the GPU on the JPEG
#      files": the same protocol measured 46.4 s tailor vs 83.5 s PyTorch before CUDA graphs)
# Env:   PYTHON (python with torch+CUDA, default python3), PAIRS (default 3), COMPILE=1 (+ torch.compile), DATA
#        (CIFAR-10: binary batches or the JPEG tree), TTR, STEPS (e.g. "1 2 4c": only those steps; default all but
#        7), STEP_TIMEOUT (seconds one command may run, default 300), LOGS (folder for every command's full
#        output, default a temporary one), FMNIST (a folder of Fashion-MNIST's four .gz files, copied to
#        /usr/share/datasets/fashion-mnist when that is missing: step 1's CLI case needs it)
# Budget on an H100/H200 (estimates): 1: 1-3 min, 1g: ~4-6 min (its own limit STEP_TIMEOUT_1G, default 500 s,
#        so that a job limited to 10 minutes keeps time to unpack and report), 1m: ~4-5 min, 2: 2-6 min, 3: < 1 min,
#        4: ~2 min, 4b: ~0.5, 4c: ~1.5, 4d: ~1, 4p: ~1.5, 5: ~2, 6: ~0.5, 7: ~3.5.
#        One call of STEPS="1 3 4b 4c 4d 6" fits in ~6 minutes.
set -uo pipefail
B=${1:-build}
export PYTHON=${PYTHON:-python3}  # (also the PyTorch of benchmarks/reproduce.sh in step 7)
for f in "$B/test_cuda" "$B/tailor"; do
  [ -x "$f" ] || { echo "cuda_check: $f not found (build with -DTAILOR_CUDA=ON first)" >&2; exit 2; }
done
# A bundle leaves CUDA's own libraries to the machine: where the loader cannot find them, take those of the
# PyTorch wheels (site-packages/nvidia/*/lib: cudart, cuBLAS, cuDNN, NCCL), and stop here if any is missing.
if [ -x "$B/run" ]; then
  if ! "$B/run" --check tailor >/dev/null 2>&1 && [ -z "${TAILOR_CUDA_LIBS:-}" ]; then
    TAILOR_CUDA_LIBS=$("$PYTHON" - <<'PY' 2>/dev/null
import glob, os, site
dirs = {os.path.dirname(p) for s in site.getsitepackages() for p in glob.glob(os.path.join(s, "nvidia", "**", "lib", "lib*.so*"), recursive=True)}
print(":".join(sorted(dirs)))
PY
)
    export TAILOR_CUDA_LIBS
    echo "cuda_check: TAILOR_CUDA_LIBS=$TAILOR_CUDA_LIBS"
  fi
  for p in tailor test_cuda; do "$B/run" --check $p || { echo "cuda_check: $p cannot load its libraries" >&2; exit 2; }; done
fi
export TAILOR_BIN="$(cd "$B" && pwd)/tailor"  # the CLI tests' tailor (tests/cli_run.h), also from a bundle
LOGS=${LOGS:-$(mktemp -d)}
mkdir -p "$LOGS"
status=0
want() { [ -z "${STEPS:-}" ] || [[ " $STEPS " == *" $1 "* ]]; }  # STEPS="1 4c": only those steps
T() { timeout -k 10 "${STEP_TIMEOUT:-300}" "$@"; }                # every command: a hang costs minutes, not the call
# test NAME PROGRAM ARGS...: runs a doctest program into $LOGS/NAME.log and prints its summary; on a failure the
# failing checks with their test cases, and the status becomes 1
test_prog() {
  local name=$1; shift
  T "$@" > "$LOGS/$name.log" 2>&1
  local rc=$?
  grep -E "MESSAGE|bf16 numbers|step 1|test cases|assertions" "$LOGS/$name.log" | grep -v "^=*$"
  if [ $rc = 77 ]; then
    status=1
    echo "-- $name SKIPPED (exit 77: no usable GPU)"
  elif [ $rc != 0 ]; then
    status=1
    echo "-- $name FAILED (exit $rc; $LOGS/$name.log):"
    grep -E -B2 -A6 "ERROR|FATAL|TEST CASE|exception" "$LOGS/$name.log" | head -80
  elif grep -q -E "no CUDA device|skipped: no GPU|skipped the CUDA" "$LOGS/$name.log"; then
    status=1  # (the programs whose CUDA cases return early pass without a GPU)
    echo "-- $name SKIPPED its CUDA cases (no usable GPU)"
  fi
}
if [ -n "${FMNIST:-}" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then  # (steps 1 and 5 read it)
  mkdir -p /usr/share/datasets/fashion-mnist && cp "$FMNIST"/*.gz /usr/share/datasets/fashion-mnist/
fi
if want 1; then
echo "== 1. test_cuda"
test_prog test_cuda "$B/test_cuda"
test_prog sync_free "$B/test_sync_free_step" -tc="CUDA*" -s
test_prog step_graph "$B/test_step_graph" -tc="CUDA*" -s
test_prog precision "$B/test_precision" -tc="*CUDA*" -s
test_prog bf16_act "$B/test_cuda_bf16_act"
[ -x "$B/test_resident_data" ] && test_prog resident "$B/test_resident_data" -tc="CUDA*" -s
test_prog precision_cli "$B/test_precision_cli" -tc="*on cuda*" -s
grep -q "skipped: the Fashion-MNIST" "$LOGS/precision_cli.log" &&
  { status=1; echo "-- precision_cli: SKIPPED (no Fashion-MNIST: set FMNIST)"; }
fi
if want 1g; then
echo "== 1g. every CIFAR-10-LT recipe's short run on the GPU against its CPU golden, the classifier stages step by step"
if [ -x "$B/test_golden_runs" ]; then
  export TAILOR_SOURCE_DIR="$(cd "$(dirname "$0")/.." && pwd)"  # its recipes and tests/fixtures/golden_runs.json
  STEP_TIMEOUT=${STEP_TIMEOUT_1G:-500} test_prog golden "$B/test_golden_runs" -tc="CUDA*" -s
else
  status=1
  echo "-- step 1g SKIPPED: $B/test_golden_runs missing (bundle it)"
fi
fi
if want 1m; then
echo "== 1m. every CIFAR-10-LT recipe, a short run on the GPU next to the same run on the CPU (needs DATA)"
if [ -z "${DATA:-}" ]; then
  echo "-- step 1m SKIPPED: it needs DATA"
else
  m=$(mktemp -d)
  for f in "$(dirname "$0")"/../recipes/cifar10_lt/*.json; do
    r=$(basename "$f" .json)
    # two short epochs per stage on a small LT subset of DATA, every step's loss logged (as tests/test_golden_runs)
    a=(train --config "$f" --set "runs_dir=$m" --set data.dataset=cifar10 --set "data.root=$DATA"
       --set data.imbalance.n_max=200 --set data.test_per_class=20 --set log.step_losses=true --deterministic
       --set threads=8 --no-report)
    for k in $("$PYTHON" -c "import json; print(*[s[5:] for s in json.load(open('$f')) if s.startswith('stage')])"); do
      a+=(--set stage$k.epochs=2 --set stage$k.batch_size=32)  # every stage of the recipe (cbd_ens has 5)
    done
    a+=(--set stage1.schedule.warmup_epochs=1)
    if [ "$r" = ldam_drw ]; then a+=(--set stage1.loss.drw_epoch=1); fi
    for d in cpu cuda; do
      T "$B/tailor" "${a[@]}" --set name=${r}_$d --device $d > "$LOGS/1m_${r}_$d.log" 2>&1 ||
        { status=1; echo "-- $r on $d FAILED:"; grep -m3 -E "error|Error" "$LOGS/1m_${r}_$d.log" || tail -3 "$LOGS/1m_${r}_$d.log"; }
    done
  done
  # per recipe: the first step's loss of stage 1 on both devices (fp32; TF32 convolutions on the GPU: within
  # 1e-2); the later stages' first losses (after dozens of steps, rounding differences have grown: threads=1 vs 2
  # on the CPU alone moves them by percents) and the final top-1 of each, shown for information
  "$PYTHON" - "$m" <<'PY' || status=1
import json, pathlib, sys
root, bad = pathlib.Path(sys.argv[1]), 0
for cpu in sorted(root.glob("*_cpu")):
    r, gpu = cpu.name[:-4], root / (cpu.name[:-4] + "_cuda")
    def firsts(d):
        out = {}
        for line in (d / "steps.jsonl").read_text().splitlines() if (d / "steps.jsonl").exists() else []:
            s = json.loads(line)
            out.setdefault(s["stage"], s["loss"])
        return out
    def top1(d):
        p = d / "summary.json"
        return json.loads(p.read_text()).get("top1") if p.exists() else None
    a, b = firsts(cpu), firsts(gpu)
    first = min(a) if a else None
    ok = bool(a) and a.keys() == b.keys() and abs(a[first] - b[first]) <= 1e-2 * max(1.0, abs(a[first]))
    bad += not ok
    print(f"{r:32s} {'ok ' if ok else 'BAD'} first losses cpu {[round(v, 5) for v in a.values()]} "
          f"cuda {[round(v, 5) for v in b.values()]}  top-1 cpu {top1(cpu)} cuda {top1(gpu)}")
sys.exit(1 if bad else 0)
PY
fi
fi
if want 2; then
echo "== 2. memcheck"
if command -v compute-sanitizer >/dev/null; then
  # (the ResNet-50/ResNeXt steps left out: minutes under memcheck, and their kernels are ResNet-32's)
  # a bundle's programs are wrappers that exec the binary: --target-processes all follows them
  san=(compute-sanitizer --tool memcheck --error-exitcode 99 --target-processes all)
  TAILOR_CUDA_CACHING=0 T "${san[@]}" "$B/test_cuda" -tce="*out of memory*,*ResNet-50*,*ResNeXt*" > "$LOGS/memcheck.log" 2>&1 ||
    status=1
  TAILOR_CUDA_CACHING=0 T "${san[@]}" "$B/tailor" bench --model resnet32 --device cuda --steps 2 --warmup 1 \
    > "$LOGS/memcheck_bench.log" 2>&1 || status=1
  TAILOR_CUDA_CACHING=0 T "${san[@]}" "$B/tailor" bench --model resnet32 --device cuda --steps 4 --warmup 1 \
    --precision bf16 --cuda-graphs > "$LOGS/memcheck_bf16_graphs.log" 2>&1 || status=1
  grep -h -E "ERROR SUMMARY|test cases|Invalid|out of bounds" "$LOGS"/memcheck*.log | sort | uniq -c | head -20
else
  echo "compute-sanitizer not found: skipped"
fi
fi
if want 3; then
echo "== 3. out of memory (expected: a clear error, exit 1)"
# batch 2000 at 224x224: ~225 GB of activations, more than any one GPU has (1000 fits an H200's 141 GB)
# (--deterministic: cuDNN's heuristics rank the algorithms, no timing of them on gigabyte buffers first)
o=$(T "$B/tailor" bench --model resnet50 --device cuda --batch 2000 --steps 1 --deterministic 2>&1); rc=$?
tail -2 <<<"$o"
if [ $rc = 1 ] && grep -q "CUDA out of memory" <<<"$o"; then echo "out of memory: reported (exit 1)"
else echo "out of memory: NOT reported as expected (exit $rc)"; status=1; fi
fi
if want 4; then
echo "== 4. tailor vs PyTorch eager"
export TAILOR="$B/tailor" PYTHON DEVICE=cuda PAIRS=${PAIRS:-3}
T "$(dirname "$0")/../benchmarks/compare.sh" resnet32 128 50 8 2>&1 | grep -v "^  [a-z0-9-]*: {" || status=1
EXTRA="--image-size 224" T "$(dirname "$0")/../benchmarks/compare.sh" resnet50 64 20 8 2>&1 |
  grep -v "^  [a-z0-9-]*: {" || status=1
fi
# bench LABEL COMMAND...: one benchmark's JSON line (cut to 300 characters), its output in $LOGS; a failure is
# shown and counted
bench() {
  local label=$1; shift
  T "$@" > "$LOGS/$label.log" 2>&1
  local rc=$?
  grep '^{' "$LOGS/$label.log" | cut -c1-300
  if [ $rc != 0 ]; then status=1; echo "-- $label FAILED (exit $rc):"; tail -5 "$LOGS/$label.log"; fi
}
if want 4b; then
echo "== 4b. bf16: tailor (cuDNN bf16 convolutions) vs PyTorch autocast bf16 channels_last, ResNet-32 b128"
for r in 1 2; do
  bench 4b_tailor_$r "$B/tailor" bench --model resnet32 --batch 128 --steps 50 --device cuda --precision bf16
  bench 4b_pytorch_$r "$PYTHON" "$(dirname "$0")/../benchmarks/pytorch/bench_resnet.py" --model resnet32 --batch 128 \
    --steps 50 --device cuda --precision bf16 --channels-last
done
fi
if want 4c; then
echo "== 4c. CUDA graphs: tailor --cuda-graphs (fp32, bf16) vs PyTorch eager fp32 / AMP bf16 channels_last, ResNet-32 b128"
for r in 1 2; do
  for p in fp32 bf16; do
    bench 4c_tailor_${p}_$r "$B/tailor" bench --model resnet32 --batch 128 --steps 200 --device cuda --precision $p \
      --cuda-graphs
    if [ $p = bf16 ]; then cl=--channels-last; else cl=; fi
    bench 4c_pytorch_${p}_$r "$PYTHON" "$(dirname "$0")/../benchmarks/pytorch/bench_resnet.py" --model resnet32 \
      --batch 128 --steps 200 --device cuda --precision $p $cl
  done
done
# ResNet-50 b256 224x224 bf16 (issue: >= 1.1x PyTorch AMP channels_last), alternating, with peak memory
for r in 1 2; do
  bench 4c_tailor_r50_$r "$B/tailor" bench --model resnet50 --batch 256 --steps 20 --device cuda --precision bf16 \
    --cuda-graphs
  bench 4c_pytorch_r50_$r "$PYTHON" "$(dirname "$0")/../benchmarks/pytorch/bench_resnet.py" --model resnet50 \
    --batch 256 --steps 20 --image-size 224 --device cuda --precision bf16 --channels-last
done
fi
if want 4d; then
echo "== 4d. several runs on one GPU: 4 concurrent ResNet-32 b128 benches (total train img/s) vs one alone"
conc=$(mktemp -d)
T "$B/tailor" bench --model resnet32 --batch 128 --steps 1000 --device cuda | grep '^{' > "$conc/alone.json" || status=1
for i in 1 2 3 4; do
  T "$B/tailor" bench --model resnet32 --batch 128 --steps 1000 --device cuda | grep '^{' > "$conc/c$i.json" &
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
if want 4p; then
echo "== 4p. where the time goes: tailor bench --profile (per kernel) and torch.profiler (per operator), eager steps"
for cfg in "resnet32 128 fp32" "resnet32 128 bf16" "resnet50 256 bf16"; do
  read -r m bsz p <<<"$cfg"
  if [ $p = bf16 ]; then cl=--channels-last; else cl=; fi
  bench 4p_tailor_${m}_$p "$B/tailor" bench --model $m --batch $bsz --steps 5 --device cuda --precision $p --profile 5
  sed -n '/^kernel profile: .* training/,/^kernels:/p' "$LOGS/4p_tailor_${m}_$p.log" | head -32
  bench 4p_pytorch_${m}_$p "$PYTHON" "$(dirname "$0")/../benchmarks/pytorch/bench_resnet.py" --model $m \
    --batch $bsz --steps 5 --device cuda --precision $p $cl --profile 5
  sed -n '/^torch.profiler/,$p' "$LOGS/4p_pytorch_${m}_$p.log" | grep -v '^{' | head -28
done
# the GCL recipe's stage-1 steps as trained (loader, GCL's noise, the loss, the guard), batches from the host
# workers or resident on the GPU: how much of a real step's wall time no kernel covers (needs DATA)
if [ -n "${DATA:-}" ]; then
  for res in false true; do
    pr=$(mktemp -d)
    T "$B/tailor" train --config "$(dirname "$0")/../recipes/cifar10_lt/gcl.json" --set "runs_dir=$pr" --set name=p \
      --set data.dataset=cifar10 --set "data.root=$DATA" --set data.resident=$res --device cuda --no-report \
      --set stage1.epochs=1 --set stage1.schedule.warmup_epochs=1 --set stage1.max_steps_per_epoch=40 --set stage2.epochs=1 \
      --set stage2.max_steps_per_epoch=5 --set debug.profile_steps=30 > "$LOGS/4p_gcl_resident_$res.log" 2>&1 ||
      { status=1; echo "-- 4p GCL (data.resident $res) FAILED:"; tail -3 "$LOGS/4p_gcl_resident_$res.log"; }
    echo "GCL CIFAR-10-LT, data.resident $res:"
    head -24 "$pr/p/profile_stage1.txt" 2>/dev/null
  done
fi
fi
if want 5; then
echo "== 5. NCCL data parallel"
if [ -n "${DATA:-}" ]; then data=(--set data.dataset=cifar10 --set "data.root=$DATA"); else data=(); fi
# (a bundle made with BUNDLE_MPIRUN=1 brings its own Open MPI: scripts/bundle.sh)
if [ -z "${MPIRUN:-}" ]; then if [ -x "$B/mpirun" ]; then MPIRUN=$B/mpirun; else MPIRUN=mpirun; fi; fi
if ! command -v "$MPIRUN" >/dev/null; then
  echo "-- step 5 SKIPPED: $MPIRUN not found (set MPIRUN to an Open MPI 4 mpirun)"
elif [ -z "${DATA:-}" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "-- step 5 SKIPPED: no DATA and no Fashion-MNIST"
else
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  out=$(mktemp -d)
  echo '{"model": {"arch": "resnet32"}, "stage1": {"method": "joint", "epochs": 1, "batch_size": 128,
         "max_steps_per_epoch": 20, "schedule": {"warmup_epochs": 0}, "loss": {"name": "ce"}}}' > "$out/ce.json"
  dp=(train --config "$out/ce.json" "${data[@]}" --set "runs_dir=$out" --device "${DP_DEVICE:-cuda}" --deterministic
      --set log.step_losses=true --set eval.every_epochs=0 --no-report)
  mpi=("$MPIRUN" --bind-to none -x NCCL_DEBUG=WARN)
  # run NAME [mpirun -np N] ARGS...: one training run into $out/NAME, its log's tail on a failure
  run() {
    local name=$1; shift
    local pre=()
    if [ "${1:-}" = -np ]; then pre=("${mpi[@]}" -np "$2"); shift 2; fi
    T "${pre[@]}" "$B/tailor" "${dp[@]}" --set name=$name "$@" > "$out/$name.log" 2>&1 ||
      { status=1; echo "-- $name FAILED:"; grep -m5 -E "error|Error|failed" "$out/$name.log" || tail -5 "$out/$name.log"; }
  }
  # same A B LABEL: the two runs' step logs byte for byte
  same() {
    if [ ! -s "$out/$1/steps.jsonl" ] || [ ! -s "$out/$2/steps.jsonl" ]; then echo "$3: a run failed (no steps)"; status=1
    elif cmp -s "$out/$1/steps.jsonl" "$out/$2/steps.jsonl"; then echo "$3: steps identical"
    else echo "$3: steps DIFFER"; status=1; paste -d' ' <(head -3 "$out/$1/steps.jsonl") <(head -3 "$out/$2/steps.jsonl"); fi
  }
  # one rank: every data-parallel code path on one GPU (NCCL moves no data between one rank)
  run plain
  run nccl1 -np 1 --set dist.backend=nccl
  same plain nccl1 "1 rank over NCCL"
  # the same with many gradient buckets (ResNet-32's 1.9 MB is one bucket of the default 25 MB) and only the
  # stream waiting for them (dist.timeout_s 0: no host poll), and with the blocking all-reduce after backward
  run nccl1_b -np 1 --set dist.backend=nccl --set dist.bucket_mb=0.1 --set dist.timeout_s=0
  same plain nccl1_b "1 rank over NCCL, 0.1 MB buckets, no timeout"
  run nccl1_blk -np 1 --set dist.backend=nccl --set dist.overlap=false
  same plain nccl1_blk "1 rank over NCCL, blocking all-reduce"
  # SyncBatchNorm on the GPU (its sums through the host): one process vs one NCCL rank
  run plain_sbn --set dist.sync_bn=true
  run nccl1_sbn -np 1 --set dist.backend=nccl --set dist.sync_bn=true
  same plain_sbn nccl1_sbn "SyncBN, 1 rank over NCCL"
  if [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -ge 2 ]; then
    # two ranks: NCCL's all-reduce against MPI's (a 2-term sum rounds once either way), and the global batch
    # of one process (SyncBN: within float rounding, docs/data_parallel.md)
    run nccl2_sbn -np 2 --set dist.backend=nccl --set dist.sync_bn=true
    run mpi2_sbn -np 2 --set dist.backend=mpi --set dist.sync_bn=true
    same nccl2_sbn mpi2_sbn "SyncBN, 2 ranks, NCCL vs MPI"
    paste -d' ' <(head -3 "$out/plain_sbn/steps.jsonl" | cut -c1-80) <(head -3 "$out/nccl2_sbn/steps.jsonl" | cut -c40-80)
    run nccl2 -np 2 --set dist.backend=nccl
    grep -h '"img_per_s"' "$out/plain/metrics.jsonl" "$out/nccl2/metrics.jsonl" | cut -c1-200
  fi
fi
fi
if want 6; then
echo "== 6. ImageNet-LT input pipeline, $(nproc) workers (compare: ResNet-50 train img/s above)"
if [ -x "$B/bench_data" ]; then
  T "$B/bench_data" --images 1000 --epochs 1 --seconds 1 --workers "$(nproc)" --pipeline-images 8192 2>&1 |
    grep -E "libjpeg-turbo \+ RRC224\+flip\+ColorJitter|imagenet pipeline" || status=1
else
  echo "bench_data not built: skipped"
fi
fi
if [[ " ${STEPS:-} " == *" 7 "* ]] || [ "${TTR:-0}" = 1 ]; then
  echo "== 7. time to result: GCL 20 + 3 epochs on DATA, tailor eager, tailor with cuda_graphs + resident data, PyTorch"
fi
if { [[ " ${STEPS:-} " == *" 7 "* ]] || [ "${TTR:-0}" = 1 ]; } && [ -z "${DATA:-}" ]; then
  echo "-- step 7 SKIPPED: it needs DATA"
elif [[ " ${STEPS:-} " == *" 7 "* ]] || [ "${TTR:-0}" = 1 ]; then
  ttr=$(mktemp -d)
  for v in eager graphs pytorch; do
    case $v in
      eager) args=(--engines tailor); extra="" ;;
      graphs) args=(--engines tailor); extra="--set cuda_graphs=true --set data.resident=true" ;;
      pytorch) args=(--engines pytorch); extra="" ;;
    esac
    REPRO_TAILOR_ARGS="$extra" TAILOR="$B/tailor" T "$(dirname "$0")/../benchmarks/reproduce.sh" gcl --device cuda \
      --threads 8 --seeds 0 --epochs 20 --stage2-epochs 3 --data "$DATA" "${args[@]}" --out "$ttr/$v" \
      > "$LOGS/7_$v.log" 2>&1 || status=1
    echo "-- $v:"; tail -5 "$LOGS/7_$v.log"
  done
fi
exit $status
