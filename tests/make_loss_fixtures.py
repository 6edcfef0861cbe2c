#!/usr/bin/python3
"""Reference values for tests/test_losses.cpp and tests/test_metrics.cpp, computed in float64 from
the formulas of docs/losses.md, written here independently (run with Debian's python3-torch / python3-numpy):

    /usr/bin/python3 tests/make_loss_fixtures.py

Writes (deterministic; re-running gives identical files):
  fixtures/losses_reference.json   one entry per case: loss name, config (LossConfig field names),
                                   class counts, float32 logits / labels (and fixed noise, mixup
                                   partner, EQL gate, DRW epoch), the loss value and d loss / d logits.
                                   Also post-hoc logit adjustment outputs.
  fixtures/metrics_reference.json  recorded float32 logits + labels + training counts and the NumPy
                                   metrics: top-1/top-5 counts, confusion, per-class accuracy,
                                   many/medium/few (by TRAINING count: > 100, 20..100, < 20; group = mean
                                   of its classes' accuracies over the classes present in the test
                                   labels), mean CE, ECE/MCE with 15 bins as MiSLAS utils/metric.py;
                                   the balanced (class-mean) accuracy, and the groups of three rules
                                   (counts at 100 / 20, counts at other thresholds, thirds of the classes
                                   by training count): the rule's description, each group's class ids,
                                   tested classes and accuracy.

Every input is rounded to float32 first and the math is then done in float64, so the fixtures hold
the exact values for the float32 inputs the C++ test feeds. The implementations below are written
from the formulas, independently of the C++ compositions (e.g. GCLAng via cos(acos(c) + M), BCE via
torch's binary_cross_entropy_with_logits).
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def short32(a):
    """float32 values as the shortest decimal that reads back to the same float32 (the C++ side
    parses a double and casts it to float, which recovers the float32 exactly)."""
    return np.vectorize(lambda v: float(str(np.float32(v))), otypes=[float])(np.asarray(a)).tolist()


def g12(a):
    """Outputs to 12 significant digits (far below the 1e-5 tolerance, half the file size)."""
    return np.vectorize(lambda v: float("%.12g" % v), otypes=[float])(np.asarray(a)).tolist()


def onehot(y, C):
    return F.one_hot(torch.tensor(y), C).double()


# ---------------------------------------------------------------- loss formulas (float64)

def ce_rows(z, y):  # CE_i = -log softmax(z_i)_{y_i}
    return -F.log_softmax(z, 1)[torch.arange(len(y)), torch.tensor(y)]


def ce(z, y, w=None, sw=None):  # PyTorch weighted mean: sum w_y CE / sum w_y; sample factors s: sum s w_y CE / sum w_y
    l = ce_rows(z, y)
    if sw is not None:
        l = torch.tensor(f32(sw)) * l
    if w is None:
        return l.mean()
    wy = torch.tensor(w)[torch.tensor(y)]
    return (wy * l).sum() / wy.sum()


def focal(z, y, gamma, detach, w=None):  # l = w_y CE, p = e^-l, mean (1-p)^g l
    l = ce_rows(z, y)
    if w is not None:
        l = torch.tensor(w)[torch.tensor(y)] * l
    p = torch.exp(-l)
    if detach:
        p = p.detach()
    return ((1 - p) ** gamma * l).mean()


def effective_weights(counts, beta):  # (1-b)/(1-b^n), normalised to sum C
    n = np.array(counts, dtype=np.float64)
    w = (1.0 - beta) / (1.0 - np.power(beta, n))
    return list(w / w.sum() * len(counts))


def drw_weights(counts, epoch, drw_epoch, beta):
    return effective_weights(counts, 0.0 if epoch < drw_epoch else beta)


def cb_loss(z, y, counts, cfg, kind):
    B, C = z.shape
    w = torch.tensor(effective_weights(counts, cfg["beta"]))[torch.tensor(y)][:, None]  # w_{y_i}, [B,1]
    if kind == "softmax":
        return (w[:, 0] * ce_rows(z, y)).sum() / B
    t = onehot(y, C)
    bce = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    if kind == "focal":
        g = cfg["gamma"]
        bce = torch.exp(-g * t * z - g * torch.log1p(torch.exp(-z))) * bce  # (1 - p_t)^gamma
    return (w * bce).sum() / B


def ldam(cos, y, counts, cfg, w=None, sw=None):
    n = torch.tensor(counts, dtype=torch.float64)
    delta = n ** -0.25
    delta = delta * (cfg["max_m"] / delta.max())
    zbar = cos - onehot(y, len(counts)) * delta[torch.tensor(y)][:, None]
    return ce(cfg["s"] * zbar, y, w, sw)


def log_prior(counts, tau):
    pi = np.array(counts, dtype=np.float64) / np.sum(counts)
    return torch.tensor(np.log(pi ** tau + 1e-12))


def cloud(counts):  # dtilde_j, 0 for all when every count is equal
    d = np.log(np.max(counts)) - np.log(np.array(counts, dtype=np.float64))
    return torch.tensor(d / d.max() if d.max() > 0 else np.zeros_like(d))


def gcl(cos, y, counts, cfg, noise, w=None):
    e = torch.tensor(noise).clamp(-1, 1).abs()
    zbar = cos - cfg["noise_mul"] * e * cloud(counts) - cfg["m"] * onehot(y, len(counts))
    logits = cfg["s"] * zbar
    if not cfg.get("train_cls", False):
        return ce(logits, y, w)
    return focal(logits, y, cfg["gamma"], True, w)


def gcl_ang(cos, y, counts, cfg, noise, w=None):
    a = math.pi / 2 * cfg["epsilon"] * cloud(counts) * torch.tensor(noise).clamp(-1, 1)
    M = a.abs() + cfg["m"] * onehot(y, len(counts))
    phi = torch.cos(torch.acos(cos) + M)  # cos(theta + M)
    if cfg.get("easy_margin", False):
        out = torch.where(cos > 0, phi, cos)
    else:
        out = torch.where(cos > torch.cos(math.pi - M), phi, cos - torch.sin(math.pi - M))
    logits = cfg["s"] * out
    if not cfg.get("train_cls", False):
        return ce(logits, y, w)
    return focal(logits, y, cfg["gamma"], True, w)


def las_eps(counts, head, tail, shape, power):
    n = np.array(counts, dtype=np.float64)
    x = (n - n.min()) / (n.max() - n.min()) if n.max() > n.min() else np.ones_like(n)
    if shape == "concave":
        return tail + (head - tail) * np.sin(np.pi * x / 2)
    if shape == "linear":
        return tail + (head - tail) * x
    if shape == "convex":
        return head + (head - tail) * np.sin(1.5 * np.pi + np.pi * x / 2)
    return tail + (head - tail) * np.power(x, power)


def las(z, y, counts, cfg):
    eps = torch.tensor(las_eps(counts, cfg["smooth_head"], cfg["smooth_tail"], cfg["shape"], cfg["power"]))
    eps = eps[torch.tensor(y)]
    logp = F.log_softmax(z, 1)
    return ((1 - eps) * ce_rows(z, y) + eps * (-logp.mean(1))).mean()


def eql(z, y, counts, cfg, gate, w=None):
    f = np.array(counts, dtype=np.float64) / np.sum(counts)
    T = torch.tensor((f < cfg["eql_lambda"]).astype(np.float64))
    wt = 1 - torch.tensor(gate)[:, None] * T[None, :] * (1 - onehot(y, len(counts)))
    zmax = z.max(1, keepdim=True).values.detach()
    denom = (wt * torch.exp(z - zmax)).sum(1)
    zy = z[torch.arange(len(y)), torch.tensor(y)]
    l = -(zy - zmax[:, 0] - torch.log(denom))
    if w is None:
        return l.mean()
    wy = torch.tensor(w)[torch.tensor(y)]
    return (wy * l).sum() / wy.sum()


def loss_value(case, z, y, noise=None):
    name, cfg, counts = case["loss"], case["config"], case["counts"]
    w, sw = cfg.get("weight"), case.get("sample_weight")
    if "epoch" in case and cfg.get("train_rule") == "DRW":
        w = drw_weights(counts, case["epoch"], cfg.get("drw_epoch", 160), cfg["beta"])
    if name == "ce":
        return ce(z, y, w, sw)
    if name == "focal":
        return focal(z, y, cfg["gamma"], cfg.get("detach_p", False), w)
    if name.startswith("cb_"):
        return cb_loss(z, y, counts, cfg, name[3:])
    if name == "ldam":
        return ldam(z, y, counts, cfg, w, sw)
    if name == "logit_adjust":
        return ce(z + log_prior(counts, cfg["tau"]), y, w, sw)
    if name == "balanced_softmax":
        return ce(z + torch.log(torch.tensor(counts, dtype=torch.float64)), y, w, sw)
    if name == "balanced_sigmoid":
        pi = torch.tensor(counts, dtype=torch.float64) / sum(counts)
        zs = z + torch.log(pi) - torch.log(1 - pi)
        return F.binary_cross_entropy_with_logits(zs, onehot(y, len(counts)), reduction="sum") / z.shape[0]
    if name == "gcl":
        return gcl(z, y, counts, cfg, noise, w)
    if name == "gcl_ang":
        return gcl_ang(z, y, counts, cfg, noise, w)
    if name == "las":
        return las(z, y, counts, cfg)
    if name == "eql":
        return eql(z, y, counts, cfg, case["gate"], w)
    raise ValueError(name)


def evaluate(case):
    z = torch.tensor(f32(case["logits"]), requires_grad=True)
    if "labels_b" in case:  # mixup: lam L(y_a) + (1 - lam) L(y_b), two noise draws for GCL
        lam = case["lam"]
        L = lam * loss_value(case, z, case["labels"], case.get("noise")) + \
            (1 - lam) * loss_value(case, z, case["labels_b"], case.get("noise_b"))
    else:
        L = loss_value(case, z, case["labels"], case.get("noise"))
    L.backward()
    case["loss_value"] = L.item()
    case["grad"] = g12(z.grad.numpy())
    for k in ("logits", "noise", "noise_b", "sample_weight"):
        if k in case:
            case[k] = short32(case[k])
    return case


# ---------------------------------------------------------------- cases

def loss_cases():
    rs = np.random.RandomState(20240611)
    counts = [500, 211, 87, 40, 13, 5]
    equal = [100] * 6
    B, C = 8, 6
    y = [0, 1, 2, 3, 4, 5, 0, 5]
    yb = [3, 5, 0, 1, 5, 2, 4, 0]
    lam = float(np.float32(0.3))

    def logits():
        return f32(rs.randn(B, C) * 2.0).tolist()

    def cosines():
        return f32(rs.uniform(-0.95, 0.95, size=(B, C))).tolist()

    def noise():
        e = rs.randn(B, C) / 3.0
        e[0, 1], e[2, 5], e[7, 4] = 1.7, -1.3, 1.05  # beyond the clamp
        return f32(e).tolist()

    weight = f32([1.0, 2.0, 0.5, 3.0, 1.5, 4.0]).tolist()
    cases = []

    def add(name, loss, cfg, cnt=counts, cos=False, **extra):
        c = dict(name=name, loss=loss, config=cfg, counts=cnt, logits=cosines() if cos else logits(), labels=y)
        c.update(extra)
        cases.append(c)

    add("ce", "ce", {})
    add("ce_weighted", "ce", {"weight": weight})
    add("ce_mixup", "ce", {}, labels_b=yb, lam=lam)
    add("ce_mixup_weighted", "ce", {"weight": weight}, labels_b=yb, lam=lam)
    add("focal_g1", "focal", {"gamma": 1.0})
    add("focal_g2_detach", "focal", {"gamma": 2.0, "detach_p": True})
    add("focal_g0.5_weighted", "focal", {"gamma": 0.5, "weight": weight})
    for beta in (0.9999, 0.99):
        add("cb_softmax_b%g" % beta, "cb_softmax", {"beta": beta})
        add("cb_sigmoid_b%g" % beta, "cb_sigmoid", {"beta": beta})
    add("cb_focal_g1", "cb_focal", {"beta": 0.9999, "gamma": 1.0})
    add("cb_focal_g2", "cb_focal", {"beta": 0.999, "gamma": 2.0})
    add("ldam", "ldam", {"max_m": 0.5, "s": 30.0}, cos=True)
    add("ldam_drw_before", "ldam", {"max_m": 0.5, "s": 30.0, "train_rule": "DRW", "beta": 0.9999}, cos=True, epoch=159)
    add("ldam_drw_after", "ldam", {"max_m": 0.5, "s": 30.0, "train_rule": "DRW", "beta": 0.9999}, cos=True, epoch=160)
    add("ldam_equal_counts", "ldam", {"max_m": 0.5, "s": 30.0}, cnt=equal, cos=True)
    add("ce_drw_after", "ce", {"train_rule": "DRW", "beta": 0.999, "drw_epoch": 5}, epoch=7)
    add("logit_adjust_tau1", "logit_adjust", {"tau": 1.0})
    add("logit_adjust_tau1.5", "logit_adjust", {"tau": 1.5})
    add("balanced_softmax", "balanced_softmax", {})
    add("balanced_softmax_mixup", "balanced_softmax", {}, labels_b=yb, lam=lam)
    add("balanced_sigmoid", "balanced_sigmoid", {})
    stage1 = {"s": 30.0, "m": 0.0, "noise_mul": 0.5}
    stage2 = {"s": 20.0, "m": 0.1, "noise_mul": 0.5, "train_cls": True, "gamma": 1.0}
    add("gcl_stage1", "gcl", stage1, cos=True, noise=noise())
    add("gcl_stage2", "gcl", stage2, cos=True, noise=noise())
    add("gcl_defaults_weighted", "gcl", {"s": 30.0, "m": 0.5, "noise_mul": 1.0, "weight": weight}, cos=True,
        noise=noise())
    add("gcl_stage2_g2_weighted", "gcl", dict(stage2, gamma=2.0, weight=weight), cos=True, noise=noise())
    add("gcl_mixup", "gcl", stage1, cos=True, noise=noise(), labels_b=yb, lam=lam, noise_b=noise())
    add("gcl_stage2_mixup", "gcl", stage2, cos=True, noise=noise(), labels_b=yb, lam=lam, noise_b=noise())
    add("gcl_equal_counts", "gcl", stage2, cnt=equal, cos=True, noise=noise())
    ang = {"s": 30.0, "m": 0.5, "epsilon": 0.5}
    add("gcl_ang", "gcl_ang", ang, cos=True, noise=noise())
    add("gcl_ang_easy", "gcl_ang", dict(ang, easy_margin=True), cos=True, noise=noise())
    add("gcl_ang_stage2", "gcl_ang", dict(ang, s=15.0, m=0.1, train_cls=True, gamma=1.0), cos=True, noise=noise())
    add("gcl_ang_equal_counts", "gcl_ang", ang, cnt=equal, cos=True, noise=noise())
    for shape, head, tail in (("concave", 0.3, 0.0), ("linear", 0.4, 0.1), ("convex", 0.4, 0.1), ("exp", 0.3, 0.05)):
        add("las_" + shape, "las", {"smooth_head": head, "smooth_tail": tail, "shape": shape, "power": 2.0})
    add("las_equal_counts", "las", {"smooth_head": 0.4, "smooth_tail": 0.1, "shape": "concave", "power": 1.0},
        cnt=equal)
    add("eql", "eql", {"eql_lambda": 0.05}, gate=[1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    add("eql_weighted", "eql", {"eql_lambda": 0.05, "weight": weight}, gate=[1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    # per-sample factors in the reduction (LossInput::sample_weight; BALMS's straight-through sample weights)
    sw = f32([1.0, 0.0, 2.0, 1.0, 0.5, 1.0, 3.0, 1.0]).tolist()
    add("ce_sample_weight", "ce", {}, sample_weight=sw)
    add("ce_sample_weight_class_weight", "ce", {"weight": weight}, sample_weight=sw)
    add("ce_sample_weight_mixup", "ce", {}, sample_weight=sw, labels_b=yb, lam=lam)
    add("balanced_softmax_sample_weight", "balanced_softmax", {}, sample_weight=sw)
    add("logit_adjust_sample_weight", "logit_adjust", {"tau": 1.0}, sample_weight=sw)
    add("ldam_sample_weight", "ldam", {"max_m": 0.5, "s": 30.0}, cos=True, sample_weight=sw)
    return [evaluate(c) for c in cases]


def kd_cases():
    """Knowledge distillation's soft-target term, T^2 KL(softmax(t/T) || softmax(s/T)) averaged over the batch,
    as PyTorch's F.kl_div(F.log_softmax(s / T), F.softmax(t / T), reduction="batchmean") * T^2; its gradient
    in the student logits."""
    rs = np.random.RandomState(7)
    out = []
    for T in (1.0, 2.0, 4.0):
        zs = torch.tensor(f32(rs.randn(6, 5) * 3.0), requires_grad=True)
        zt = torch.tensor(f32(rs.randn(6, 5) * 3.0))
        L = F.kl_div(F.log_softmax(zs / T, 1), F.softmax(zt / T, 1), reduction="batchmean") * T * T
        L.backward()
        out.append({"name": "kd_T%g" % T, "temperature": T, "student": short32(zs.detach().numpy()),
                    "teacher": short32(zt.numpy()), "loss_value": L.item(), "grad": g12(zs.grad.numpy())})
    return out


def posthoc_cases():
    rs = np.random.RandomState(7)
    counts = [500, 211, 87, 40, 13, 5]
    out = []
    for tau in (1.0, 0.5, 2.0):
        z = f32(rs.randn(4, 6) * 2.0)
        adj = z - log_prior(counts, tau).numpy()
        out.append(dict(tau=tau, counts=counts, logits=short32(z), adjusted=g12(adj),
                        pred=np.argmax(adj, 1).tolist()))
    return out


# ---------------------------------------------------------------- metrics (NumPy)

def shot_groups(train_counts, rule):
    """Class ids of many / medium / few by training count (data/shots.h): counts: many n > many_above,
    few n < few_below, medium the rest; thirds: by count descending (ties: lower index first), the first
    round(C/3) many, the last round(C/3) few."""
    n = list(train_counts)
    C = len(n)
    if rule["rule"] == "thirds":
        order = sorted(range(C), key=lambda c: (-n[c], c))
        k = int(round(C / 3))
        groups = {"many": order[:k], "medium": order[k:C - k], "few": order[C - k:]}
    else:
        a, b = rule["many_above"], rule["few_below"]
        groups = {"many": [c for c in range(C) if n[c] > a], "medium": [c for c in range(C) if b <= n[c] <= a],
                  "few": [c for c in range(C) if n[c] < b]}
    return {g: sorted(v) for g, v in groups.items()}


def describe_rule(train_counts, rule):
    if rule["rule"] == "counts":
        a, b = rule["many_above"], rule["few_below"]
        medium = "none" if b > a else (str(a) if a == b else "%d-%d" % (b, a))
        return "many > %d, medium %s, few < %d training images" % (a, medium, b)
    parts, ranges = [], []
    for i, (g, ids) in enumerate(shot_groups(train_counts, rule).items()):
        n = sorted((train_counts[c] for c in ids), reverse=True)
        text = "%s %d" % (g, len(n)) + ("" if i else " class" if len(n) == 1 else " classes")
        if n:
            text += " (%s%s)" % (str(n[0]) if n[0] == n[-1] else "%d-%d" % (n[0], n[-1]), "" if i else " images")
        parts.append(text)
        ranges.append((g, n[-1] if n else None, n[0] if n else None))  # (name, lowest, highest)
    filled = [r for r in ranges if r[1] is not None]  # a tie across an empty group is one too
    ties = ["; %s and %s share the classes of %d images (a tie, cut by class index)" % (a[0], b[0], a[1])
            for a, b in zip(filled, filled[1:]) if a[1] == b[2]]
    return "thirds of the classes by training count: " + ", ".join(parts) + "".join(ties)


def metrics_reference(logits, labels, train_counts, bins=15, rules=()):
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    N, C = z.shape
    pred = np.argmax(z, 1)  # first maximum
    top5 = np.argsort(-z, axis=1, kind="stable")[:, :5]  # ties: lower index first
    conf_mat = np.zeros((C, C), dtype=np.int64)
    np.add.at(conf_mat, (y, pred), 1)
    per_class_count = np.bincount(y, minlength=C)
    per_class_acc = [float(conf_mat[c, c] / per_class_count[c]) if per_class_count[c] else None for c in range(C)]
    groups = {"many": [], "medium": [], "few": []}
    for c in np.unique(y):  # classes present in the test set (classifier-balancing shot_acc)
        n = train_counts[c]
        g = "many" if n > 100 else ("few" if n < 20 else "medium")
        groups[g].append(conf_mat[c, c] / per_class_count[c])
    shots = {g: {"classes": len(v), "acc": float(np.mean(v)) if v else None} for g, v in groups.items()}
    m = z.max(1, keepdims=True)
    p = np.exp(z - m) / np.exp(z - m).sum(1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(1, keepdims=True))
    conf = p.max(1)
    # no confidence may sit within rounding distance of a bin edge (the C++ sums in another order),
    # except the exact 1/15 of an all-equal row with 15 classes
    near = np.abs(conf[:, None] * bins - np.round(conf[:, None] * bins)) < 1e-9
    assert all(np.all(z[i] == z[i, 0]) for i in np.where(near.any(1))[0]), "confidence on a bin edge"
    # MiSLAS utils/metric.py calibration(): right-closed digitize over linspace(0, 1, bins + 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.digitize(conf, edges, right=True)
    acc_b, conf_b, cnt_b = np.zeros(bins), np.zeros(bins), np.zeros(bins, dtype=np.int64)
    for b in range(bins):
        sel = np.where(idx == b + 1)[0]
        if len(sel):
            acc_b[b] = np.mean(y[sel] == pred[sel])
            conf_b[b] = np.mean(conf[sel])
            cnt_b[b] = len(sel)
    gaps = np.abs(acc_b - conf_b)
    return dict(samples=int(N), top1_count=int((pred == y).sum()), top5_count=int((top5 == y[:, None]).any(1).sum()),
                top1=float((pred == y).mean()), top5=float((top5 == y[:, None]).any(1).mean()),
                confusion=conf_mat.reshape(-1).tolist(), per_class_count=per_class_count.tolist(),
                per_class_acc=per_class_acc, shots=shots, ece=float(np.sum(gaps * cnt_b) / np.sum(cnt_b)),
                mce=float(np.max(gaps)), bin_counts=cnt_b.tolist(),
                mean_loss=float(-np.mean(logp[np.arange(N), y])),
                balanced_acc=float(np.mean([a for a in per_class_acc if a is not None])),
                groups=[group_reference(train_counts, rule, per_class_acc) for rule in rules])


def group_reference(train_counts, rule, per_class_acc):
    """The groups of one rule: a group's accuracy is the mean over its classes with test samples."""
    out = dict(rule=rule, description=describe_rule(train_counts, rule))
    for g, ids in shot_groups(train_counts, rule).items():
        acc = [per_class_acc[c] for c in ids if per_class_acc[c] is not None]
        out[g] = {"class_ids": ids, "classes": len(acc), "acc": float(np.mean(acc)) if acc else None}
    return out


def metrics_cases():
    rs = np.random.RandomState(31337)
    out = []

    # every case: the default counts rule, counts at other thresholds, thirds
    def case(name, train_counts, N, missing=(), ties=0, thresholds=((50, 10),), test_p=None, margin=None):
        C = len(train_counts)
        # test_p: test labels drawn with these class probabilities (an imbalanced test set)
        rest = rs.randint(0, C, N - C) if test_p is None else rs.choice(C, N - C, p=test_p)
        labels = np.concatenate([np.arange(C), rest])
        labels = np.array([l if l not in missing else (l + 1) % C for l in labels])
        scale = rs.uniform(0.05, 6.0, size=(N, 1))  # spreads the confidences over all bins
        z = rs.randn(N, C) * scale
        z[np.arange(N), labels] += rs.uniform(0, 4.0, N)  # better than chance
        if margin is not None:  # per-class extra margin of the true logit: head classes learnt better
            z[np.arange(N), labels] += np.asarray(margin)[labels]
        z[:ties] = 0.25  # all-equal rows: argmax and top-5 tie-breaking
        z = np.asarray(z, dtype=np.float32)
        rules = [{"rule": "counts", "many_above": 100, "few_below": 20}]
        rules += [{"rule": "counts", "many_above": a, "few_below": b} for a, b in thresholds]
        rules.append({"rule": "thirds"})
        ref = metrics_reference(z, labels, train_counts, rules=rules)
        out.append(dict(name=name, train_counts=list(train_counts), logits=short32(z), labels=labels.tolist(),
                        expected=ref))

    # groups at the boundaries: > 100 many, 20..100 medium, < 20 few
    case("three_groups", [400, 250, 150, 101, 100, 60, 20, 19, 10, 5, 3, 2, 1, 7, 15], 400, ties=3,
         thresholds=((150, 10),))
    case("empty_groups", [90, 80, 50, 40, 20], 200, thresholds=((60, 45),))  # no many, no few: n/a
    case("class_without_test_samples", [300, 120, 90, 30, 12, 4, 2], 150, missing=(5,), thresholds=((89, 12),))
    # a test set as imbalanced as the training set, the head learnt better: top-1 well above the balanced
    # accuracy; a tie at the thirds' many / medium boundary (classes 2 and 3)
    counts = [600, 400, 250, 250, 120, 50, 50, 15, 8, 4]
    case("imbalanced_test_set", counts, 600, thresholds=((200, 30),), test_p=np.array(counts) / sum(counts),
         margin=np.linspace(3.0, -3.0, len(counts)))
    # a natural long tail whose rarest class has 210 images: the counts rule calls every class many,
    # thirds splits 3 / 4 / 3; thresholds 999 / 1000 leave no medium class
    natural = [int(2250 * (210 / 2250) ** (i / 9)) for i in range(10)]
    case("natural_long_tail", natural, 300, thresholds=((999, 1000), (1500, 400)))
    return out


def dump(obj, name):
    path = os.path.join(FIX, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    dump({"cases": loss_cases(), "posthoc": posthoc_cases(), "kd": kd_cases()}, "losses_reference.json")
    dump({"bins": 15, "cases": metrics_cases()}, "metrics_reference.json")
