#!/usr/bin/env bash
# Side-by-side CIFAR-10-LT (imbalance ratio 100) reproduction: one recipe trained by tailor and by the
# PyTorch reference (benchmarks/pytorch/lt_train.py) on the same images, one table at the end.
#
# Usage: benchmarks/reproduce.sh RECIPE [--epochs E] [--stage2-epochs E2] [--seeds "0 1"] [--data DIR]
#                                [--threads T] [--device cpu|cuda] [--engines "tailor pytorch"] [--out DIR]
#                                [--stop-after SECONDS]
#   RECIPE          ce | ce_mixup_crt | ldam_drw | logit_adjust | gcl   (tailor: recipes/cifar10_lt/RECIPE.json)
#   --epochs E      stage-1 epochs (default 200). The schedule keeps the 200-epoch shape:
#                   warm-up W = max(1, round(5E/200)), lr drops at round(160E/200) and round(180E/200)
#                   (0-based epochs; round half up; the second drop is moved to a+1 when both round to a),
#                   passed explicitly to both engines. DRW (ldam_drw) starts at the first drop.
#   --stage2-epochs default 30 (gcl) / 10 (ce_mixup_crt); ignored by the one-stage recipes
#   --seeds         training seeds (default "0"); the LT subset is always lt_seed 0 (the same images)
#   --data DIR      CIFAR-10 image folder (DIR/train/<class>/*.jpg, DIR/test/<class>/*.jpg) or the CIFAR-10
#                   binary batches. Default: ../shared/data/cifar10-jpg.tar.xz (or $CIFAR10_ARCHIVE)
#                   extracted once into .cache/cifar10-jpg
#                   (a JPEG quality-75 copy: both engines score 4-5 points of top-1 lower on it than on the
#                   lossless binary batches, which are what the papers trained on)
#   --threads T     compute threads for both engines (default: nproc)
#   --device        cpu (default) or cuda
#   --engines       which engines, in the order they alternate per seed (default "tailor pytorch")
#   --out DIR       results folder (default runs/reproduce/RECIPE-YYYYmmdd-HHMMSS): one sub-folder per run
#                   with summary.json, a .log per run, and table.md. Rerunning a command with the same
#                   --out continues it: finished runs are kept, stopped ones resume from their state
#                   (tailor train --resume; lt_train.py --state/--resume), missing ones start
#   --stop-after S  time budget of this invocation in seconds (e.g. a job or a remote call with a time
#                   limit): each run gets what is left as its own --stop-after, stops with its state saved
#                   after the epoch that ends past it, later runs are not started; the exit status is then
#                   75 and the same command continues. Split runs add up their process times.
# Environment:
#   TAILOR=path              tailor binary (default ./build/tailor)
#   PYTHON=path              python with torch (default /usr/bin/python3)
#   REPRO_MAX_STEPS=N        cap every epoch at N steps in both engines (smoke tests)
#   REPRO_TAILOR_ARGS="..."  extra arguments for `tailor train` (e.g. "--set data.workers=2")
#   REPRO_PYTORCH_ARGS="..." extra arguments for lt_train.py (e.g. "--workers 0")
#
# Each run writes summary.json with the keys engine, top1, many, medium, few, top1_last, wall_s,
# train_img_per_s, peak_mem_mb (top1 = best test top-1 over the final stage's epochs, as the reference
# scripts report; top1_last = the last epoch) and its per-class accuracies; OUT/runs.tsv lists the runs
# with the process time measured around each command (the time-to-result). The table (built by
# benchmarks/repro_table.py, which rebuilds it from one or more OUT folders) lists every run, adds
# head / mid / tail accuracies by class index (CIFAR-10 [0,3) / [3,7) / [7,10), MiSLAS's convention, since
# CIFAR-10-LT has no class in the "few" < 20 images group), then per engine the mean +- sample std of
# top-1 and tail over the seeds and the time ratios pytorch / tailor (means over the seeds).
# Run from anywhere; paths are resolved against the current directory, the commands run in the repo root.
set -uo pipefail

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "reproduce.sh: $*" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CPUS=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # before OMP_NUM_THREADS is exported
TAILOR=${TAILOR:-./build/tailor}
PYTHON=${PYTHON:-/usr/bin/python3}
MAX_STEPS=${REPRO_MAX_STEPS:-}

[ $# -ge 1 ] || { usage >&2; exit 2; }
case $1 in -h|--help) usage; exit 0 ;; esac
RECIPE=$1; shift
case $RECIPE in
    ce|ldam_drw|logit_adjust) TWO_STAGE=0; E2_DEFAULT=0 ;;
    ce_mixup_crt) TWO_STAGE=1; E2_DEFAULT=10 ;;
    gcl) TWO_STAGE=1; E2_DEFAULT=30 ;;
    *) die "unknown recipe '$RECIPE' (ce | ce_mixup_crt | ldam_drw | logit_adjust | gcl)" ;;
esac

EPOCHS=200; E2=$E2_DEFAULT; SEEDS="0"; DATA=""; THREADS=$CPUS; DEVICE=cpu; ENGINES="tailor pytorch"; OUT=""
STOP_AFTER=""
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { case $1 in -h|--help) usage; exit 0 ;; esac; die "option $1 needs a value"; }
    case $1 in
        --epochs) EPOCHS=$2 ;;
        --stage2-epochs) E2=$2 ;;
        --seeds) SEEDS=$2 ;;
        --data) DATA=$2 ;;
        --threads) THREADS=$2 ;;
        --device) DEVICE=$2 ;;
        --engines) ENGINES=$2 ;;
        --out) OUT=$2 ;;
        --stop-after) STOP_AFTER=$2 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift 2
done

is_uint() { case $1 in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }
if ! is_uint "$EPOCHS" || [ "$EPOCHS" -lt 1 ]; then die "--epochs must be a positive integer"; fi
is_uint "$E2" || die "--stage2-epochs must be a non-negative integer"
if ! is_uint "$THREADS" || [ "$THREADS" -lt 1 ]; then die "--threads must be a positive integer"; fi
[ -z "$MAX_STEPS" ] || is_uint "$MAX_STEPS" || die "REPRO_MAX_STEPS must be a non-negative integer"
if [ -n "$STOP_AFTER" ] && { ! is_uint "$STOP_AFTER" || [ "$STOP_AFTER" -lt 1 ]; }; then
    die "--stop-after must be a positive number of seconds"
fi
for s in $SEEDS; do is_uint "$s" || die "--seeds: '$s' is not a non-negative integer"; done
[ -n "${SEEDS// /}" ] || die "--seeds is empty"
case $DEVICE in cpu|cuda) ;; *) die "--device must be cpu or cuda" ;; esac
for e in $ENGINES; do case $e in tailor|pytorch) ;; *) die "--engines: unknown engine '$e'" ;; esac; done
[ -n "${ENGINES// /}" ] || die "--engines is empty"
if [ "$TWO_STAGE" = 1 ] && [ "$E2" -lt 1 ]; then die "--stage2-epochs must be >= 1 for $RECIPE"; fi

abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
[ -z "$DATA" ] || DATA=$(abspath "$DATA")
[ -z "$OUT" ] || OUT=$(abspath "$OUT")
case $TAILOR in /*) ;; */*) TAILOR=$(cd "$ROOT" && abspath "$TAILOR") ;; esac
cd "$ROOT" || die "cannot enter $ROOT"

# ---- data: extract the CIFAR-10 JPEG archive once
if [ -z "$DATA" ]; then
    ARCHIVE=${CIFAR10_ARCHIVE:-$ROOT/../shared/data/cifar10-jpg.tar.xz}
    DATA=$ROOT/.cache/cifar10-jpg
    mkdir -p "$ROOT/.cache" || die "cannot create $ROOT/.cache"
    exec 9>"$ROOT/.cache/cifar10-jpg.lock"      # runs started together extract it once, the others wait
    flock 9 || die "cannot lock $ROOT/.cache/cifar10-jpg.lock"
    if [ ! -f "$DATA/.extracted" ]; then
        [ -f "$ARCHIVE" ] || die "no --data given and $ARCHIVE not found (set CIFAR10_ARCHIVE)"
        echo "extracting $ARCHIVE into $DATA ..."
        TMP=$ROOT/.cache/cifar10-jpg.tmp.$$
        rm -rf "$TMP"
        mkdir -p "$TMP" || die "cannot create $TMP"
        tar -xJf "$ARCHIVE" -C "$TMP" || { rm -rf "$TMP"; die "extracting $ARCHIVE failed"; }
        SRC=$TMP
        if [ ! -d "$SRC/train" ]; then  # the archive may hold one top-level folder
            for d in "$TMP"/*/; do [ -d "$d/train" ] && SRC=${d%/}; done
        fi
        if [ ! -d "$SRC/train" ] || [ ! -d "$SRC/test" ]; then rm -rf "$TMP"; die "$ARCHIVE has no train/ and test/"; fi
        rm -rf "$DATA"
        mv "$SRC" "$DATA" || die "cannot move the data into $DATA"
        rm -rf "$TMP"
        touch "$DATA/.extracted"
    fi
    exec 9>&-
fi
[ -d "$DATA" ] || die "--data $DATA is not a directory"

# ---- the shortened schedule (same shape as 200 epochs: warm-up 5, drops at 160 and 180)
WARMUP=$(( (EPOCHS + 20) / 40 ))                  # round(5E/200), half up
[ "$WARMUP" -ge 1 ] || WARMUP=1
M1=$(( (320 * EPOCHS + 200) / 400 ))              # round(160E/200)
M2=$(( (360 * EPOCHS + 200) / 400 ))              # round(180E/200)
[ "$M2" -gt "$M1" ] || M2=$((M1 + 1))

# ---- preflight
for e in $ENGINES; do
    if [ "$e" = tailor ]; then
        [ -x "$TAILOR" ] || die "tailor binary not found at $TAILOR (build it, or set TAILOR=...)"
        [ -f "recipes/cifar10_lt/$RECIPE.json" ] || die "recipes/cifar10_lt/$RECIPE.json not found"
    else
        "$PYTHON" -c "import torch" 2>/dev/null || die "$PYTHON cannot import torch (apt-get install python3-torch)"
    fi
done

[ -n "$OUT" ] || OUT=$ROOT/runs/reproduce/$RECIPE-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" || die "cannot create $OUT"
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
# shellcheck disable=SC2206
TAILOR_EXTRA=(${REPRO_TAILOR_ARGS:-})
# shellcheck disable=SC2206
PYTORCH_EXTRA=(${REPRO_PYTORCH_ARGS:-})

echo "recipe $RECIPE: stage-1 $EPOCHS epochs (warm-up $WARMUP, lr drops at $M1,$M2)$([ "$TWO_STAGE" = 1 ] && echo ", stage-2 $E2 epochs")"
echo "data $DATA, device $DEVICE, threads $THREADS, seeds [$SEEDS], engines [$ENGINES]${MAX_STEPS:+, max $MAX_STEPS steps per epoch}"
echo "results in $OUT"
TITLE="CIFAR-10-LT (imbalance ratio 100), recipe $RECIPE, stage-1 $EPOCHS epochs (warm-up $WARMUP, drops $M1/$M2)$([ "$TWO_STAGE" = 1 ] && echo ", stage-2 $E2 epochs"), device $DEVICE, $THREADS threads${MAX_STEPS:+, max $MAX_STEPS steps/epoch}"

FAILED=0; STOPPED=0
T_START=$(date +%s)
for seed in $SEEDS; do
    for engine in $ENGINES; do
        name=$RECIPE-$engine-s$seed
        if [ -f "$OUT/$name/summary.json" ]; then
            echo; echo "=== $engine seed $seed: finished earlier ($OUT/$name/summary.json), kept"
            continue
        fi
        budget=()
        if [ -n "$STOP_AFTER" ]; then
            left=$((STOP_AFTER - ($(date +%s) - T_START)))
            if [ "$left" -le 0 ]; then
                echo; echo "=== $engine seed $seed: not started (--stop-after $STOP_AFTER s used up)"
                STOPPED=1
                continue
            fi
            budget=(--stop-after "$left")
        fi
        if [ "$engine" = tailor ]; then
            if [ -f "$OUT/$name/checkpoints/train_state.safetensors" ]; then
                # the run's own config.json; data.root again, since a continuation may run where the
                # repository (and so .cache/) has another path
                cmd=("$TAILOR" train --resume "$OUT/$name" --set "data.root=$DATA")
            else
                cmd=("$TAILOR" train --config "recipes/cifar10_lt/$RECIPE.json"
                     --set "name=$name" --set "runs_dir=$OUT" --set "seed=$seed" --set "threads=$THREADS"
                     --set "device=$DEVICE" --set "data.root=$DATA" --set "stage1.epochs=$EPOCHS"
                     --set "stage1.schedule.warmup_epochs=$WARMUP" --set "stage1.schedule.milestones=[$M1,$M2]")
                [ "$TWO_STAGE" = 1 ] && cmd+=(--set "stage2.epochs=$E2")
                # DRW follows the first lr drop (160 of 200), as lt_train.py does
                [ "$RECIPE" = ldam_drw ] && cmd+=(--set "stage1.loss.drw_epoch=$M1")
                if [ -n "$MAX_STEPS" ]; then
                    cmd+=(--set "stage1.max_steps_per_epoch=$MAX_STEPS")
                    [ "$TWO_STAGE" = 1 ] && cmd+=(--set "stage2.max_steps_per_epoch=$MAX_STEPS")
                fi
                cmd+=("${TAILOR_EXTRA[@]}")
            fi
        else
            mkdir -p "$OUT/$name"
            cmd=("$PYTHON" benchmarks/pytorch/lt_train.py --recipe "$RECIPE" --data "$DATA"
                 --imbalance-ratio 100 --lt-seed 0 --seed "$seed" --threads "$THREADS" --device "$DEVICE"
                 --epochs "$EPOCHS" --warmup "$WARMUP" --milestones "$M1,$M2"
                 --state "$OUT/$name/state.pt" --out "$OUT/$name/summary.json")
            [ -f "$OUT/$name/state.pt" ] && cmd+=(--resume)
            [ "$TWO_STAGE" = 1 ] && cmd+=(--stage2-epochs "$E2")
            [ -n "$MAX_STEPS" ] && cmd+=(--max-steps-per-epoch "$MAX_STEPS")
            cmd+=("${PYTORCH_EXTRA[@]}")
        fi
        cmd+=("${budget[@]}")
        echo
        echo "=== $engine seed $seed: $(printf '%q ' "${cmd[@]}")"
        t0=$(date +%s.%N)
        "${cmd[@]}" 2>&1 | tee -a "$OUT/$name.log"
        rc=${PIPESTATUS[0]}
        t1=$(date +%s.%N)
        if [ "$rc" -eq 75 ]; then
            echo "=== $engine seed $seed stopped by --stop-after (state saved; rerun the same command to continue)"
            STOPPED=1
        elif [ "$rc" -ne 0 ] || [ ! -f "$OUT/$name/summary.json" ]; then
            echo "=== $engine seed $seed FAILED (exit $rc; log $OUT/$name.log)" >&2
            FAILED=1
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$seed" "$name" "$rc" \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" "$TITLE" >>"$OUT/runs.tsv"
    done
done

# ---- the table (stdout and OUT/table.md; benchmarks/repro_table.py OUT rebuilds it)
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo
"$PYTHON" benchmarks/repro_table.py "$OUT" --write "$OUT/table.md" \
    --machine "$(date -u +%Y-%m-%dT%H:%MZ), $CPUS CPUs${CPU:+ ($CPU)}$([ "$DEVICE" = cuda ] && command -v nvidia-smi >/dev/null && echo ", $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)")" \
    || FAILED=1
echo "table written to $OUT/table.md"
if [ "$FAILED" = 1 ]; then exit 1; fi
if [ "$STOPPED" = 1 ]; then
    echo "some runs are unfinished (--stop-after): rerun the same command with --out $OUT to continue them"
    exit 75
fi
exit 0
