#!/usr/bin/python3
"""Reference steps of the training methods that compose parts checked elsewhere (a loss, a head, the
optimiser): PyTorch runs the method's step from the deterministic weights and input of make_fixtures.py, in
float64 from the float32-rounded values, and the C++ side (tests/test_method_steps.cpp) runs the method's
own code (train/methods/) from the same weights and compares.

    /usr/bin/python3 tests/make_method_fixtures.py

Writes fixtures/methods_reference.safetensors:
  mislas/*   MiSLAS stage 2 (dvlab-research/MiSLAS train_stage2.py): ResNet-32 (Linear head, formula weights)
             frozen, BN in eval mode; logits = (W f(x) + b) * learned_norm, learned_norm [1, C] = 1; label-aware
             smoothing (concave, head 0.3, tail 0.0) for the class counts below; SGD momentum 0.9, wd 5e-4 with
             two groups: {W, b} at lr_factor * lr, {learned_norm} at lr; two steps on one batch. Stored: the
             loss of each step, and W, b, learned_norm after the second step.
  kd/*       distillation (Hinton et al. 2015): student ResNet-32 (Linear head) trained end to end in train
             mode, teacher ResNet-32 (NormedLinear head, its raw cosines as logits) frozen in eval mode;
             L = (1 - a) CE(z_s, y) + a T^2 KL(softmax(z_t / T) || softmax(z_s / T)); one SGD step. Stored: the
             loss, the student's linear.weight / linear.bias after the step and a sample of conv1.weight.
"""
import copy
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "benchmarks", "pytorch"))
import make_fixtures as mf  # noqa: E402  (the formula weights, the safetensors writer)

COUNTS = [500, 300, 180, 100, 60, 35, 20, 12, 7, 4]
BATCH, SIZE, CLASSES = 8, 16, 10


def las_eps(counts, head, tail):  # concave: eps_tail + (eps_head - eps_tail) sin(pi (n - n_min) / (2 (n_max - n_min)))
    n1, nk = max(counts), min(counts)
    return torch.tensor([tail + (head - tail) * math.sin(math.pi * (n - nk) / (2 * (n1 - nk))) for n in counts])


def las_loss(z, y, eps):  # (1 - e_y) (-log p_y) + e_y (-(1/C) sum_j log p_j), mean over the batch
    logp = F.log_softmax(z, 1)
    e = eps[y]
    return ((1 - e) * -logp.gather(1, y[:, None])[:, 0] + e * -logp.mean(1)).mean()


def mislas_case(lr=0.1, lr_factor=0.5, momentum=0.9, wd=5e-4):
    torch.set_default_dtype(torch.float64)
    net = mf.build("resnet32", CLASSES).double()
    x, y = mf.make_input(BATCH, 3, SIZE, SIZE).double(), mf.make_labels(BATCH, CLASSES)
    net.eval()  # the frozen backbone, BN in eval mode
    with torch.no_grad():
        f = torch.flatten(F.adaptive_avg_pool2d(feature_map(net, x), 1), 1)
    fc = copy.deepcopy(net.linear)
    norm = nn.Parameter(torch.ones(1, CLASSES))
    opt = torch.optim.SGD([{"params": fc.parameters(), "lr": lr * lr_factor}, {"params": [norm], "lr": lr}],
                          momentum=momentum, weight_decay=wd)
    eps = las_eps(COUNTS, 0.3, 0.0)
    losses = []
    for _ in range(2):
        loss = las_loss(fc(f) * norm, y, eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"mislas/losses": torch.tensor(losses), "mislas/linear.fc.weight": fc.weight.detach(),
            "mislas/linear.fc.bias": fc.bias.detach(), "mislas/linear.scales": norm.detach().reshape(-1)}


def feature_map(net, x):  # models.py's ResNet-32 up to the last stage
    h = F.relu(net.bn1(net.conv1(x)))
    return net.layer3(net.layer2(net.layer1(h)))


def kd_case(lr=0.05, alpha=0.5, T=2.0, momentum=0.9, wd=5e-4):
    torch.set_default_dtype(torch.float64)
    student = mf.build("resnet32", CLASSES).double()
    teacher = mf.build("resnet32", CLASSES, use_norm=True).double()
    x, y = mf.make_input(BATCH, 3, SIZE, SIZE).double(), mf.make_labels(BATCH, CLASSES)
    teacher.eval()
    with torch.no_grad():
        zt = teacher(x)
    student.train()
    opt = torch.optim.SGD(student.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    zs = student(x)
    soft = F.kl_div(F.log_softmax(zs / T, 1), F.softmax(zt / T, 1), reduction="batchmean") * T * T
    loss = (1 - alpha) * F.cross_entropy(zs, y) + alpha * soft
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"kd/loss": torch.tensor([loss.item()]), "kd/linear.weight": student.linear.weight.detach(),
            "kd/linear.bias": student.linear.bias.detach(), "kd/conv1.weight": mf.sample(student.conv1.weight)}


def main():
    t = {}
    t.update(mislas_case())
    t.update(kd_case())
    t = {k: v.to(torch.float32).contiguous() for k, v in t.items()}
    path = os.path.join(HERE, "fixtures", "methods_reference.safetensors")
    mf.write_safetensors(path, t, {"generator": "tests/make_method_fixtures.py", "torch": torch.__version__,
                                   "batch": str(BATCH), "image_size": str(SIZE), "counts": str(COUNTS)})
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
