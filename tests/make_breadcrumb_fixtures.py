#!/usr/bin/python3
"""Reference values for tests/test_breadcrumb.cpp, with Debian's python3-torch:

    /usr/bin/python3 tests/make_breadcrumb_fixtures.py

Writes fixtures/breadcrumb_reference.json (deterministic): the feature FIFOs and the EMANATE set exactly as
BoLiu-SVCL/Breadcrumbs train.py builds them (deque per class of (features, mean) with popleft when full,
ql = ceil(nb / n_c); EMANATE per class: stored epochs newest first, h - mu_e, the first nb rows, + the newest
mean), for several epochs of random float32 features whose per-class counts vary from epoch to epoch (the
instance batches of a real epoch do not split the classes evenly). Per epoch: the features and labels that
enter, and the ready flag after the push; at the end, the EMANATE rows before the shuffle (classes in order).
"""
import json
import math
import os
from collections import deque

import numpy as np
import torch

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def case(name, rs, counts, nb, dim, epochs):
    C = len(counts)
    ql = [math.ceil(nb / n) for n in counts]
    fifo = [deque() for _ in range(C)]
    rec = []
    for e in range(epochs):
        # every class appears at least once per epoch, around its count
        per = [max(1, n + int(rs.randint(-1, 2))) for n in counts]
        labels = np.concatenate([np.full(k, c) for c, k in enumerate(per)]).astype(np.int64)
        rs.shuffle(labels)
        feats = rs.randn(len(labels), dim).astype(np.float32)
        cur_f, cur_l = torch.tensor(feats), torch.tensor(labels)
        ready = True
        for c in range(C):  # train.py, the end of an epoch
            idx = torch.where(cur_l == c)[0]
            cf = torch.index_select(cur_f, 0, idx)
            avg = cf.mean(dim=0, keepdim=True)
            if len(fifo[c]) >= ql[c]:
                fifo[c].popleft()
            fifo[c].append((cf, avg))
            if len(fifo[c]) < ql[c]:
                ready = False
        rec.append({"feats": feats.ravel().tolist(), "labels": labels.tolist(), "ready": ready})
    out_f, out_l = [], []
    for c in range(C):  # train.py, the start of an epoch once ready
        cfs = torch.empty((0, dim))
        for e in range(ql[c]):
            cfs = torch.cat((cfs, fifo[c][-1 - e][0] - fifo[c][-1 - e][1]))
        cfs = cfs[:nb, :] + fifo[c][-1][1]
        out_f.append(cfs)
        out_l += [c] * cfs.shape[0]
    return {"name": name, "counts": counts, "nb": nb, "dim": dim, "lengths": ql, "epochs": rec,
            "emanate_feats": torch.cat(out_f).numpy().ravel().astype(float).tolist(), "emanate_labels": out_l}


def main():
    rs = np.random.RandomState(23)
    cases = [case("ten_classes", rs, [40, 30, 23, 18, 14, 11, 8, 6, 5, 4], 16, 6, 7),
             case("nb_above_counts", rs, [9, 3, 2, 1], 7, 4, 9)]
    os.makedirs(FIX, exist_ok=True)
    with open(os.path.join(FIX, "breadcrumb_reference.json"), "w") as f:
        json.dump({"cases": cases}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
