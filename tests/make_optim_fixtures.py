#!/usr/bin/python3
"""Reference trajectories for tests/test_optim.cpp from torch.optim.Adam / AdamW (torch 1.13, the
default single-tensor implementation; run with Debian's python3-torch):

    /usr/bin/python3 tests/make_optim_fixtures.py

Writes (deterministic; re-running gives identical files):
  fixtures/optim_reference.json  one entry per case: the optimiser (adam / adamw), its hyper-parameters,
                                 the initial float32 parameters, STEPS gradient sets (a parameter
                                 missing from a set has no gradient on that step: torch skips it and
                                 its step count stays), and after every step the parameters as torch
                                 computes them in float32 ("params32", with each parameter's step
                                 count) and, as a guide to float32's own error, in float64 ("params64",
                                 same inputs). Also the float32 state after the last step.

The hyper-parameters are rounded to float32 before torch sees them (tailor's AdamOptions are floats),
so both sides run the same numbers; every float32 value is written as the shortest decimal that reads
back to the same float32.
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
STEPS = 6
SHAPES = {"w": [7], "b": [3, 5], "c": [4]}
GRAD_SCALE = {"w": 1.0, "b": 1e-3, "c": 1e-6}  # c's gradients are near eps: eps matters
NO_GRAD = {"c": [0, 3]}                          # steps (0-based) on which c has no gradient

CASES = [
    ("adam_default", "adam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)),
    ("adam_weight_decay", "adam", dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)),
    ("adamw", "adamw", dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-2)),
    ("adamw_betas_eps", "adamw", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
]


def r32(x):
    return float(np.float32(x))


def short32(t):
    out = [float(str(np.float32(v))) for v in t.detach().reshape(-1).tolist()]
    assert np.array_equal(np.float32(out), t.detach().reshape(-1).numpy())  # read as double, cast to float
    return out


def g17(t):
    return [float("%.17g" % v) for v in t.detach().reshape(-1).tolist()]


def inputs(seed):
    gen = torch.Generator().manual_seed(seed)
    init = {k: torch.randn(s, generator=gen, dtype=torch.float32) for k, s in SHAPES.items()}
    grads = []
    for step in range(STEPS):
        gs = {}
        for k, s in SHAPES.items():
            g = (torch.randn(s, generator=gen, dtype=torch.float64) * GRAD_SCALE[k]).float()
            if step not in NO_GRAD.get(k, []):
                gs[k] = g
        grads.append(gs)
    return init, grads


def run(kind, hyper, init, grads, dtype):
    params = {k: v.clone().to(dtype).requires_grad_() for k, v in init.items()}
    cls = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    opt = cls(list(params.values()), foreach=False, **hyper)
    after = []
    for gs in grads:
        for k, p in params.items():
            p.grad = gs[k].to(dtype) if k in gs else None
        opt.step()
        steps = {k: int(opt.state[p]["step"].item()) if p in opt.state else 0 for k, p in params.items()}
        after.append(({k: p.detach().clone() for k, p in params.items()}, steps))
    state = {k: (opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"]) for k, p in params.items()}
    return after, state


def main():
    cases = []
    for i, (name, kind, hyper) in enumerate(CASES):
        hyper = dict(lr=r32(hyper["lr"]), betas=tuple(r32(b) for b in hyper["betas"]), eps=r32(hyper["eps"]),
                     weight_decay=r32(hyper["weight_decay"]))
        init, grads = inputs(1000 + i)
        after32, state32 = run(kind, hyper, init, grads, torch.float32)
        after64, _ = run(kind, hyper, init, grads, torch.float64)
        cases.append({
            "name": name,
            "optimizer": kind,
            "lr": hyper["lr"], "beta1": hyper["betas"][0], "beta2": hyper["betas"][1], "eps": hyper["eps"],
            "weight_decay": hyper["weight_decay"],
            "shapes": SHAPES,
            "init": {k: short32(v) for k, v in init.items()},
            "grads": [{k: short32(g) for k, g in gs.items()} for gs in grads],
            "params32": [{k: short32(v) for k, v in ps.items()} for ps, _ in after32],
            "steps": [st for _, st in after32],
            "params64": [{k: g17(v) for k, v in ps.items()} for ps, _ in after64],
            "exp_avg": {k: short32(m) for k, (m, _) in state32.items()},
            "exp_avg_sq": {k: short32(v) for k, (_, v) in state32.items()},
        })
    os.makedirs(FIX, exist_ok=True)
    with open(os.path.join(FIX, "optim_reference.json"), "w") as f:
        json.dump({"generator": "tests/make_optim_fixtures.py", "torch": torch.__version__, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
