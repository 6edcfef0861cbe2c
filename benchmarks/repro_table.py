#!/usr/bin/python3
"""The results table of benchmarks/reproduce.sh, rebuilt from its results folder(s).

Usage: benchmarks/repro_table.py OUT [OUT ...] [--title TEXT] [--write FILE]

Each OUT is a folder written by reproduce.sh: OUT/runs.tsv lists one run (or one part of a run split by
--stop-after) per line (engine, seed, name, exit status, process seconds, title) and OUT/NAME/summary.json holds that run's results (tailor also writes
OUT/NAME/eval.json with the per-class accuracies; lt_train.py puts them in summary.json). Several folders
give one table (e.g. the seeds of one recipe run at different times).

Columns: top-1 (best epoch of the final stage, the references' protocol) and the last epoch; many / medium /
few by training count (> 100 / 20..100 / < 20 images: CIFAR-10-LT rho 100 has no class under 20 images, so
"few" is empty there); head / mid / tail by class index, MiSLAS's CIFAR convention (CIFAR-10 classes
[0,3) / [3,7) / [7,10), i.e. 5000..1796 / 1077..232 / 139..50 training images; CIFAR-100 [0,36) / [36,71) /
[71,100)), the mean per-class accuracy of each range; the engine's own wall time (data loading to the
end) and the process time measured around the command (start-up, final evaluation and report included:
the time-to-result); training throughput; peak memory (CPU: peak RSS of the main process; CUDA: peak
GPU memory). Below the table: per engine the mean +- sample std of top-1 and tail over the seeds, and the
time ratio pytorch / tailor (means over the seeds).
"""
import argparse
import json
import math
import os
import sys

INDEX_GROUPS = {10: (3, 7), 100: (36, 71)}  # MiSLAS head / mid / tail boundaries by class count


def load_json(path):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        text = f.read().strip()
    try:
        return json.loads(text)  # one object, pretty-printed or on one line
    except ValueError:
        try:
            return json.loads(text.splitlines()[-1])  # else the last line
        except (ValueError, IndexError):
            return None


def index_groups(per_class):
    """(head, mid, tail) mean per-class accuracies by class index, or Nones for other class counts."""
    if not per_class or len(per_class) not in INDEX_GROUPS:
        return None, None, None
    a, b = INDEX_GROUPS[len(per_class)]

    def mean(vals):
        vals = [v for v in vals if v is not None]
        return sum(vals) / len(vals) if vals else None

    return mean(per_class[:a]), mean(per_class[a:b]), mean(per_class[b:])


def read_runs(out_dir):
    """One entry per run name, in first-seen order; a run split over several invocations (--stop-after) has
    one runs.tsv line per segment: its process time is their sum and its status the last segment's."""
    runs, by_name = [], {}
    tsv = os.path.join(out_dir, "runs.tsv")
    if not os.path.isfile(tsv):
        sys.exit("repro_table.py: %s not found (not a reproduce.sh results folder?)" % tsv)
    with open(tsv) as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 6:
                sys.exit("repro_table.py: %s line %d: expected 6 tab-separated fields" % (tsv, n))
            engine, seed, name, rc, proc_s, title = parts
            r = by_name.get(name)
            if r is None:
                r = by_name[name] = dict(engine=engine, seed=seed, name=name, title=title, process_s=0.0,
                                         segments=0)
                runs.append(r)
            r["rc"] = rc
            r["segments"] += 1
            r["process_s"] += float(proc_s) if proc_s else 0.0
    for r in runs:
        s = load_json(os.path.join(out_dir, r["name"], "summary.json")) if r["rc"] == "0" else None
        if s is not None:
            per_class = s.get("per_class_acc")
            if per_class is None:  # tailor: eval.json of the kept checkpoint (the one summary.json reports)
                ev = load_json(os.path.join(out_dir, r["name"], "eval.json")) or {}
                per_class = ev.get("per_class_acc")
            s["head"], s["mid"], s["tail"] = index_groups(per_class)
            s["process_s"] = r["process_s"]
            s["segments"] = r["segments"]
        r["summary"] = s
    return runs


def fmt(v, nd=2):
    return "-" if v is None else ("%.*f" % (nd, v) if isinstance(v, (int, float)) else str(v))


def mean_std(v):
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd


def table(out_dirs, title=None, machine=None):
    runs = [r for d in out_dirs for r in read_runs(d)]
    titles = sorted({r["title"] for r in runs})
    lines = ["### " + (title or "; ".join(titles)), ""]
    if machine:
        lines += ["Machine: " + machine, ""]
    lines += ["| engine | seed | top-1 % | top-1 last % | many % | medium % | few % | head % | mid % | tail % "
              "| wall s | process s | train img/s | peak MB |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by_engine = {}
    for r in runs:
        s = r["summary"]
        if s is None:
            what = "unfinished (stopped, resumable)" if r["rc"] == "75" else "failed (exit %s)" % r["rc"]
            lines.append("| %s | %s | %s, see %s.log |%s" % (r["engine"], r["seed"], what, r["name"], " |" * 11))
            continue
        by_engine.setdefault(r["engine"], []).append(s)
        peak = s.get("peak_gpu_mb", s.get("peak_mem_mb"))
        lines.append("| " + " | ".join([r["engine"], r["seed"]] + [fmt(s.get(k)) for k in (
            "top1", "top1_last", "many", "medium", "few", "head", "mid", "tail")] + [
            fmt(s.get("wall_s"), 1),
            fmt(s.get("process_s"), 1) + (" (%d parts)" % s["segments"] if s.get("segments", 1) > 1 else ""),
            fmt(s.get("train_img_per_s"), 1),
            fmt(peak, 1)]) + " |")
    lines.append("")
    times = {}
    for engine, ss in by_engine.items():
        parts = []
        for key, label in (("top1", "top-1"), ("tail", "tail")):
            v = [s[key] for s in ss if s.get(key) is not None]
            if v:
                m, sd = mean_std(v)
                parts.append("%s %.2f +- %.2f" % (label, m, sd))
        lines.append("- %s over %d seed(s): %s" % (engine, len(ss), ", ".join(parts)))
        for key in ("wall_s", "process_s"):
            v = [s[key] for s in ss if s.get(key) is not None]
            if v:
                times.setdefault(key, {})[engine] = sum(v) / len(v)
    for key, label in (("wall_s", "wall time"), ("process_s", "process time")):
        t = times.get(key, {})
        if t.get("tailor") and t.get("pytorch"):
            lines.append("- %s pytorch / tailor: %.1f s / %.1f s = %.2fx"
                         % (label, t["pytorch"], t["tailor"], t["pytorch"] / t["tailor"]))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", nargs="+", help="reproduce.sh results folder(s)")
    p.add_argument("--title", default=None, help="table title (default: the runs' recipe titles)")
    p.add_argument("--machine", default=None, help="a 'Machine:' line under the title")
    p.add_argument("--write", default=None, help="also write the table to this file")
    a = p.parse_args(argv)
    text = table(a.out, a.title, a.machine)
    print(text, end="")
    if a.write:
        with open(a.write, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
