#!/usr/bin/python3
"""Reference values for tests/test_inspect_loss.cpp: one sample (logit vector, target, class counts)
through a loss: the loss value from the formulas of docs/losses.md written here in NumPy float64,
independently of the C++ losses, and dL/dz by central finite differences of that value (step 1e-6;
for gcl's stage-2 form the focal factor (1 - p)^gamma is held constant, as its stopgrad says):

    /usr/bin/python3 tests/make_inspect_fixtures.py

Writes fixtures/inspect_loss_reference.json (deterministic): a list of cases with the loss name, its
config keys (as `--set loss.<key>=` would give them), counts, float32-rounded logits, target, for gcl
the raw N(0, 1/3) noise draw, and the expected value / gradient.
"""
import json
import math
import os

import numpy as np

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def f32(v):
    return [float(x) for x in np.asarray(v, dtype=np.float32)]


def ce(a, y):
    a = np.asarray(a, dtype=np.float64)
    top = a.max()
    return -(a[y] - top - math.log(np.exp(a - top).sum()))


def loss_of(name, cfg, n, z, y, noise, focal_factor=None):
    """The loss; for gcl train_cls with focal_factor given, that factor replaces (1 - p)^gamma."""
    n = np.asarray(n, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    C = len(n)
    onehot = np.zeros(C)
    onehot[y] = 1.0
    if name == "ce":
        return ce(z, y)
    if name == "focal":  # (1 - p)^gamma * CE, gradient through p
        l = ce(z, y)
        return (1 - math.exp(-l)) ** cfg["gamma"] * l
    if name == "ldam":  # margins max_m * n^-1/4 / max(n^-1/4), on the target cosine, then scale s
        d = n ** -0.25
        d = d * cfg["max_m"] / d.max()
        return ce(cfg["s"] * (z - onehot * d), y)
    if name == "logit_adjust":
        return ce(z + np.log((n / n.sum()) ** cfg["tau"] + 1e-12), y)
    if name == "balanced_softmax":
        return ce(z + np.log(n), y)
    if name == "cb_softmax":  # w_j = (1-beta)/(1-beta^n_j), normalised to sum C; (1/B) sum w_y CE
        w = (1 - cfg["beta"]) / (1 - cfg["beta"] ** n)
        w = w * C / w.sum()
        return w[y] * ce(z, y)
    if name == "gcl":
        delta = math.log(n.max()) - np.log(n)
        dt = delta / delta.max()
        eps = np.abs(np.clip(np.asarray(noise, dtype=np.float64), -1, 1))
        l = ce(cfg["s"] * (z - cfg["noise_mul"] * eps * dt - cfg["m"] * onehot), y)
        if cfg.get("train_cls"):
            f = (1 - math.exp(-l)) ** cfg["gamma"] if focal_factor is None else focal_factor
            return f * l
        return l
    raise ValueError(name)


def grad_of(name, cfg, n, z, y, noise):
    """Central differences of the loss; gcl train_cls keeps its focal factor at the value of z."""
    factor = None
    if name == "gcl" and cfg.get("train_cls"):
        l = loss_of(name, dict(cfg, train_cls=False), n, z, y, noise)
        factor = (1 - math.exp(-l)) ** cfg["gamma"]
    h, g = 1e-6, []
    for j in range(len(z)):
        zp, zm = list(z), list(z)
        zp[j] += h
        zm[j] -= h
        g.append((loss_of(name, cfg, n, zp, y, noise, factor) - loss_of(name, cfg, n, zm, y, noise, factor)) / (2 * h))
    return g


COUNTS = [5000, 500, 50]
CASES = [
    ("ce", {}, [2.0, 1.0, 0.5], 2, None),
    ("ce", {}, [0.3, -1.2, 4.0], 0, None),
    ("focal", {"gamma": 2.0}, [2.0, 1.0, 0.5], 1, None),
    ("ldam", {"s": 30.0, "max_m": 0.5}, [0.5, 0.2, 0.1], 2, None),
    ("ldam", {"s": 10.0, "max_m": 0.3}, [0.1, 0.7, -0.2], 1, None),
    ("logit_adjust", {"tau": 1.0}, [2.0, 1.0, 0.5], 2, None),
    ("logit_adjust", {"tau": 0.5}, [2.0, 1.0, 0.5], 1, None),
    ("balanced_softmax", {}, [2.0, 1.0, 0.5], 2, None),
    ("cb_softmax", {"beta": 0.999}, [2.0, 1.0, 0.5], 2, None),
    ("gcl", {"s": 30.0, "m": 0.0, "noise_mul": 0.5}, [0.5, 0.2, 0.1], 2, [0.2, -0.5, 1.4]),
    ("gcl", {"s": 20.0, "m": 0.1, "noise_mul": 0.5, "train_cls": True, "gamma": 1.0}, [0.3, 0.25, 0.2], 2,
     [-0.1, 0.3, 0.45]),
]


def main():
    out = []
    for name, cfg, z, y, noise in CASES:
        zf = f32(z)
        nz = f32(noise) if noise else None
        case = {"loss": name, "set": cfg, "counts": COUNTS, "logits": zf, "target": y,
                "value": loss_of(name, cfg, COUNTS, zf, y, nz), "grad": grad_of(name, cfg, COUNTS, zf, y, nz)}
        if nz:
            case["noise"] = nz
        out.append(case)
    path = os.path.join(FIX, "inspect_loss_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("written", path, len(out), "cases")


if __name__ == "__main__":
    main()
