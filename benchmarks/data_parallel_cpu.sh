#!/usr/bin/env bash
# Data-parallel throughput on this machine's CPU cores: ResNet-32 on CIFAR-10-LT rho 100 (recipes/cifar10_lt/ce.json,
# batch 128), one epoch of STEPS steps, alternating
#   one   1 process x 2 threads          (OpenMP inside every op)
#   dp    mpirun -np 2, 1 thread each    (per-rank BatchNorm; 2 x 64 per step)
#   sync  mpirun -np 2, 1 thread each, dist.sync_bn true
# ROUNDS times each. Prints train img/s (the loop's own, metrics.jsonl) and, for the 2-rank runs, the share of
# the epoch spent in collectives (comm_seconds: waiting for the other rank included).
#   benchmarks/data_parallel_cpu.sh DATA OUT [ROUNDS] [STEPS]
#   DATA: the CIFAR-10 binary batches (../shared/data/get_cifar10_bin.sh DIR; DIR/cifar-10-batches-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 OUT=$2 ROUNDS=${3:-2} STEPS=${4:-60}
T=build/tailor
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
common=(--config recipes/cifar10_lt/ce.json --set "runs_dir=$OUT" --set "data.root=$DATA" --set data.workers=1
        --set stage1.epochs=1 --set stage1.schedule.warmup_epochs=0 --set "stage1.max_steps_per_epoch=$STEPS" --set eval.every_epochs=0 --no-report --overwrite)
for r in $(seq 1 "$ROUNDS"); do
  $T train "${common[@]}" --set name=one_$r --set threads=2 > "$OUT/one_$r.log" 2>&1
  mpirun -np 2 --oversubscribe $T train "${common[@]}" --set name=dp_$r --set threads=1 > "$OUT/dp_$r.log" 2>&1
  mpirun -np 2 --oversubscribe $T train "${common[@]}" --set name=sync_$r --set threads=1 --set dist.sync_bn=true \
    > "$OUT/sync_$r.log" 2>&1
done
/usr/bin/python3 - "$OUT" "$ROUNDS" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
print("| run | img/s per round | mean img/s | vs 1 x 2 threads | collectives (% of the epoch) |")
print("|---|---|---|---|---|")
base = None
for kind, label in [("one", "1 process x 2 threads"), ("dp", "2 ranks x 1 thread, per-rank BN"),
                    ("sync", "2 ranks x 1 thread, SyncBN")]:
    rates, comm = [], []
    for r in range(1, rounds + 1):
        m = [json.loads(l) for l in open(f"{out}/{kind}_{r}/metrics.jsonl")][-1]
        rates.append(m["img_per_s"])
        if "comm_seconds" in m: comm.append(100 * m["comm_seconds"] / m["seconds"])
    mean = sum(rates) / len(rates)
    base = base or mean
    c = "%.1f" % (sum(comm) / len(comm)) if comm else "-"
    print(f"| {label} | {' / '.join('%.0f' % x for x in rates)} | {mean:.0f} | {mean / base:.2f}x | {c} |")
PY
