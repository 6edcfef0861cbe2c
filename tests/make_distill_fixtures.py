#!/usr/bin/python3
"""Reference values for tests/test_distillation.cpp, in float64 with Debian's python3-torch:

    /usr/bin/python3 tests/make_distill_fixtures.py

Writes fixtures/distill_reference.json (deterministic):
  cbd    Class-Balanced Distillation's feature term, as google-research class_balanced_distillation
         train.py compute_feat_distillation: both sides L2-normalised, mean over the batch of 1 - cosine;
         the teachers' features are each L2-normalised and concatenated first (TeacherModel). Value and
         d/d student features. Cases: one teacher, three teachers.
  moco   SSD's label-masked MoCo loss, as MCG-NJU/SSD-LT builder.py cal_contrastive_loss (exp sums,
         same-label queue keys multiplied out of the denominator, mean over the batch). Value and d/d q.
         Cases: a random queue at T 0.2 and 0.07; queries whose every queue key shares their class (the
         denominator is the positive alone: loss 0 for them); the initial queue (all labels 0).
Inputs are rounded to float32 first, so the fixtures hold exact values for the float32 inputs the C++
test feeds.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def short32(a):
    return np.vectorize(lambda v: float(str(np.float32(v))), otypes=[float])(np.asarray(a)).tolist()


def g12(a):
    return np.vectorize(lambda v: float("%.12g" % v), otypes=[float])(np.asarray(a)).tolist()


def normalized32(rs, n, d):
    x = rs.randn(n, d)
    return f32(x / np.linalg.norm(x, axis=1, keepdims=True))


def cbd_case(name, rs, n, teacher_dims, student_scale):
    teachers = [f32(rs.randn(n, d)) for d in teacher_dims]
    fs = torch.tensor(f32(rs.randn(n, sum(teacher_dims)) * student_scale), requires_grad=True)
    ft = torch.cat([F.normalize(torch.tensor(t), dim=1) for t in teachers], dim=1)  # TeacherModel: concat
    s, t = F.normalize(fs, dim=1), F.normalize(ft, dim=1)
    loss = torch.mean(1.0 - torch.sum(s * t, dim=-1))
    loss.backward()
    return {"name": name, "student": short32(fs.detach().numpy()), "teachers": [short32(t) for t in teachers],
            "loss": loss.item(), "grad": g12(fs.grad.numpy())}


def moco_case(name, rs, T, labels, queue_labels, n=6, d=8):
    K = len(queue_labels)
    q = torch.tensor(normalized32(rs, n, d), requires_grad=True)
    k = torch.tensor(normalized32(rs, n, d))
    queue = torch.tensor(normalized32(rs, K, d))  # [K, D] here; the reference keeps [D, K]
    y, qy = torch.tensor(labels), torch.tensor(queue_labels)
    l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
    l_neg = torch.einsum("nc,ck->nk", [q, queue.t()])
    logits_pos = l_pos / T
    exp_pos = torch.exp(logits_pos)
    exp_neg = torch.exp(l_neg / T)
    mask = 1 - (y.reshape(-1, 1).expand(n, K) == qy.reshape(1, -1).expand(n, K)).double()
    exp_logits = torch.cat([exp_pos, exp_neg * mask], dim=1)
    loss = -(logits_pos - torch.log(exp_logits.sum(1, keepdim=True))).mean()
    loss.backward()
    return {"name": name, "temperature": T, "q": short32(q.detach().numpy()), "k": short32(k.numpy()),
            "queue": short32(queue.numpy()), "labels": labels, "queue_labels": queue_labels, "loss": loss.item(),
            "grad": g12(q.grad.numpy())}


def main():
    rs = np.random.RandomState(22)
    cbd = [cbd_case("one_teacher", rs, 5, [6], 1.0), cbd_case("three_teachers", rs, 5, [4, 4, 4], 3.0)]
    moco = [
        moco_case("random_T0.2", rs, 0.2, [0, 1, 2, 3, 1, 2], list(rs.randint(0, 4, 16).tolist())),
        moco_case("random_T0.07", rs, 0.07, [3, 0, 0, 1, 2, 3], list(rs.randint(0, 4, 16).tolist())),
        moco_case("queue_all_of_one_class", rs, 0.2, [2, 2, 0, 1, 2, 3], [2] * 16),
        moco_case("initial_queue_labels_0", rs, 0.2, [0, 1, 0, 2, 3, 0], [0] * 16),
    ]
    os.makedirs(FIX, exist_ok=True)
    with open(os.path.join(FIX, "distill_reference.json"), "w") as f:
        json.dump({"cbd": cbd, "moco": moco}, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
