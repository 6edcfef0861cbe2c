#!/usr/bin/python3
"""Fabricated cells of a table and the statistics NumPy computes from them, for tests/test_table.cpp.

Writes tests/fixtures/table_cells/: spec.json (2 rows x 2 columns in two groups x 3 seeds), runs/<cell>/
{summary,eval,config}.json + metrics.jsonl as `tailor train` writes them, and expected.json: per cell the
mean and sample standard deviation (ddof=1) of top-1 at the last and the best epoch, balanced accuracy and
many / medium / few over the finished seeds, which split chose "best", the paper's number and the difference.

Rules the numbers follow (docs/cli.md, "tailor table"): eval.json evaluates the run's final checkpoint; when
that is a *_best checkpoint (eval.select test or val) it is the "best" number, chosen on that split, and
"last" is the last stage's final epoch in metrics.jsonl when that epoch was evaluated on test (n/a when the
epochs were evaluated on val); when it is a *_last checkpoint it is "last", and "best" is the highest top-1
of the last stage's test-evaluated epochs (chosen on test). A null group accuracy is left out of its mean.

Run: /usr/bin/python3 tests/make_table_fixture.py
"""
import json
import os
import shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "table_cells")

rng = np.random.default_rng(20240607)

ROWS = [
    # name, eval.select, stages, paper numbers
    ("two_stage", "test", 2, {"g1_r10": 61.5}),
    ("one_stage", "last", 1, {"g1_r10": 55.0, "g2_r100": 30.25}),
]
COLUMNS = [("g1_r10", "G1", 10), ("g2_r100", "G2", 100)]
SEEDS = [0, 1, 2]
UNFINISHED = {"one_stage.g2_r100.seed2"}  # no summary.json: not finished
VAL_SELECTED = {"two_stage.g2_r100"}  # eval.select val: epochs evaluated on val, best chosen on val


def r2(x):
    return float(np.round(x, 2))


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def make_cell(cell_id, select, stages, seed_index):
    d = os.path.join(OUT, "runs", cell_id)
    os.makedirs(d)
    split = "val" if select == "val" else "test"
    lines, last_stage_top1 = [], []
    for stage in range(1, stages + 1):
        epochs = 4
        for e in range(1, epochs + 1):
            top1 = r2(rng.uniform(20, 80))
            lines.append({"stage": stage, "epoch": e, "epochs": epochs, "step": 10 * e, "lr": 0.1, "loss": 1.5,
                          "train_images": 100, "seconds": 1.0, "img_per_s": 100.0, "skipped_steps": 0,
                          "eval_split": split, "top1": top1, "balanced_acc": top1})
            if stage == stages:
                last_stage_top1.append(top1)
    if select == "last":
        checkpoint = "stage%d_last.safetensors" % stages
        reported = last_stage_top1[-1]
    else:
        checkpoint = "stage%d_best.safetensors" % stages
        reported = max(last_stage_top1) if split == "test" else r2(rng.uniform(20, 80))  # test acc of a val choice
    many = None if (cell_id.startswith("two_stage.g1") and seed_index == 1) else r2(rng.uniform(50, 95))
    ev = {"samples": 100, "top1": reported, "balanced_acc": r2(reported - rng.uniform(0, 5)), "top5": 90.0,
          "many": many, "medium": r2(rng.uniform(20, 70)), "few": r2(rng.uniform(0, 40)), "ece": 3.0,
          "shot_groups": {"rule": "thirds", "description": "thirds of the classes by training count"},
          "class_names": ["a", "b", "c"], "train_counts": [50, 10, 2], "test_counts": [10, 10, 10],
          "per_class_acc": [80.0, 50.0, 10.0], "split": "test", "checkpoint": checkpoint}
    write_json(os.path.join(d, "eval.json"), ev)
    write_json(os.path.join(d, "config.json"), {"eval": {"select": select}})
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    if cell_id not in UNFINISHED:
        write_json(os.path.join(d, "summary.json"),
                   {"engine": "tailor", "stages": [{"method": "joint", "epochs": 4}] * stages, "top1": reported,
                    "wall_s": r2(rng.uniform(10, 20)), "train_img_per_s": r2(rng.uniform(100, 200))})
    if select == "last":
        last, best, best_by = reported, max(last_stage_top1), "test"
    elif split == "test":
        last, best, best_by = last_stage_top1[-1], reported, "test"
    else:
        last, best, best_by = None, reported, "val"
    return {"finished": cell_id not in UNFINISHED, "top1_last": last, "top1_best": best, "best_by": best_by,
            "balanced": ev["balanced_acc"], "many": many, "medium": ev["medium"], "few": ev["few"]}


def stat(values):
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "mean": None, "std": None}
    return {"n": int(v.size), "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if v.size > 1 else None}


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    spec = {"title": "fixture table", "axis": "imbalance ratio", "seeds": SEEDS,
            "columns": [{"name": n, "group": g, "x": x, "set": ["data.imbalance.ratio=%d" % x]} for n, g, x in COLUMNS],
            "rows": [{"name": n, "recipe": "../../../recipes/fashion_mnist_lt/gcl_default.json",
                      "set": ["eval.select=" + s], "paper": p} for n, s, _, p in ROWS]}
    write_json(os.path.join(OUT, "spec.json"), spec)
    expected = []
    for row, select, stages, paper in ROWS:
        for col, _, _ in COLUMNS:
            sel = "val" if row + "." + col in VAL_SELECTED else select
            runs = [make_cell("%s.%s.seed%d" % (row, col, s), sel, stages, i) for i, s in enumerate(SEEDS)]
            done = [r for r in runs if r["finished"]]
            cell = {"row": row, "column": col, "seeds": len(runs),
                    "status": "done" if len(done) == len(runs) else "partial"}
            for k in ("top1_last", "top1_best", "balanced", "many", "medium", "few"):
                cell[k] = stat([r[k] for r in done])
            by = sorted({r["best_by"] for r in done})
            cell["best_by"] = by[0] if len(by) == 1 else "mixed"
            cell["paper"] = paper.get(col)
            ours = cell["top1_best"]["mean"]
            cell["diff"] = None if cell["paper"] is None else ours - cell["paper"]
            expected.append(cell)
    write_json(os.path.join(OUT, "expected.json"), {"cells": expected})
    print("wrote", OUT)


if __name__ == "__main__":
    main()
