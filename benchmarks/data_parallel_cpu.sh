#!/usr/bin/env bash
# Data-parallel throughput on this machine's CPU cores: ResNet-32 on CIFAR-10-LT rho 100 (recipes/cifar10_lt/ce.json,
# batch 128), one epoch of STEPS steps. MODE threads (the default) alternates
#   one   1 process x 2 threads          (OpenMP inside every op)
#   dp    mpirun -np 2, 1 thread each    (per-rank BatchNorm; 2 x 64 per step)
#   sync  mpirun -np 2, 1 thread each, dist.sync_bn true
# MODE overlap alternates, on 2 ranks x 1 thread with per-rank BatchNorm and buckets of BUCKET_MB (default 0.25:
# ResNet-32's 1.8 MB of gradients in about 11 buckets; at the default dist.bucket_mb 25 they are one bucket, which
# cannot start before backward ends), the order swapped every round
#   off   dist.overlap false             (every bucket all-reduced after backward)
#   on    dist.overlap true              (each bucket all-reduced while backward runs)
# ROUNDS times each. Prints train img/s (the loop's own, metrics.jsonl) and, for the 2-rank runs, the share of
# the epoch rank 0 spent in collectives and those seconds per step (comm_seconds: waiting for the other rank
# included; with overlap, the time inside the polls and the final waits), and the machine's 1-minute load average
# as each run started (other work on the machine shows there).
#   benchmarks/data_parallel_cpu.sh DATA OUT [ROUNDS] [STEPS] [MODE] [BUCKET_MB]
#   DATA: the CIFAR-10 binary batches (../shared/data/get_cifar10_bin.sh DIR; DIR/cifar-10-batches-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 OUT=$2 ROUNDS=${3:-2} STEPS=${4:-60} MODE=${5:-threads} BUCKET=${6:-0.25}
T=build/tailor
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
common=(--config recipes/cifar10_lt/ce.json --set "runs_dir=$OUT" --set "data.root=$DATA" --set data.workers=1
        --set stage1.epochs=1 --set stage1.schedule.warmup_epochs=0 --set "stage1.max_steps_per_epoch=$STEPS" --set eval.every_epochs=0 --no-report --overwrite)
ranks() { mpirun -np 2 --oversubscribe $T train "${common[@]}" --set threads=1 "$@"; }
load() { cut -d' ' -f1 /proc/loadavg > "$OUT/$1.load"; }  # the machine's 1-minute load as the run starts
for r in $(seq 1 "$ROUNDS"); do
  if [ "$MODE" = overlap ]; then
    order=(off on)
    [ $((r % 2)) = 0 ] && order=(on off)
    for k in "${order[@]}"; do
      flag=false
      [ "$k" = on ] && flag=true
      load ${k}_$r
      ranks --set name=${k}_$r --set dist.bucket_mb=$BUCKET --set dist.overlap=$flag > "$OUT/${k}_$r.log" 2>&1
    done
  else
    load one_$r
    $T train "${common[@]}" --set name=one_$r --set threads=2 > "$OUT/one_$r.log" 2>&1
    load dp_$r
    ranks --set name=dp_$r > "$OUT/dp_$r.log" 2>&1
    load sync_$r
    ranks --set name=sync_$r --set dist.sync_bn=true > "$OUT/sync_$r.log" 2>&1
  fi
done
/usr/bin/python3 - "$OUT" "$ROUNDS" "$MODE" "$STEPS" <<'PY'
import json, sys
out, rounds, mode, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
runs = ([("off", "2 ranks x 1 thread, dist.overlap false"), ("on", "2 ranks x 1 thread, dist.overlap true")]
        if mode == "overlap" else
        [("one", "1 process x 2 threads"), ("dp", "2 ranks x 1 thread, per-rank BN"), ("sync", "2 ranks x 1 thread, SyncBN")])
print(f"| run | img/s per round | mean img/s | median img/s | vs {runs[0][0]} (mean) | collectives (% of the epoch) | "
      "collectives (ms per step) | load at start |")
print("|---|---|---|---|---|---|---|---|")
base = None
for kind, label in runs:
    rates, share, per_step, loads = [], [], [], []
    for r in range(1, rounds + 1):
        loads.append(open(f"{out}/{kind}_{r}.load").read().strip())
        m = [json.loads(l) for l in open(f"{out}/{kind}_{r}/metrics.jsonl")][-1]
        rates.append(m["img_per_s"])
        if "comm_seconds" in m:
            share.append(100 * m["comm_seconds"] / m["seconds"])
            per_step.append(1000 * m["comm_seconds"] / steps)
    mean = sum(rates) / len(rates)
    base = base or mean
    c = "%.1f" % (sum(share) / len(share)) if share else "-"
    s = " / ".join("%.1f" % x for x in per_step) if per_step else "-"
    med = sorted(rates)[len(rates) // 2] if len(rates) % 2 else sum(sorted(rates)[len(rates) // 2 - 1:][:2]) / 2
    print(f"| {label} | {' / '.join('%.0f' % x for x in rates)} | {mean:.0f} | {med:.0f} | {mean / base:.2f}x | {c} | {s} | "
          f"{' / '.join(loads)} |")
PY
