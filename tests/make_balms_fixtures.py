#!/usr/bin/python3
"""Reference meta-gradients of Balanced Meta-Softmax's Meta Sampler (Ren et al. 2020; jiawei-ren/
BalancedMetaSoftmax-Classification data/MetaSampler.py, run_networks.py meta_forward), computed the way the
official code computes them: a hard Gumbel-softmax draw with the straight-through estimator over the dataset
indices, a differentiable one-step SGD-with-momentum look-ahead of a linear classifier on the ST-weighted
Balanced-Softmax loss, plain cross-entropy of the looked-ahead classifier on a meta batch, and
torch.autograd.grad(..., create_graph=True) back into the sampler's parameters w. Float64 throughout from
float32-rounded inputs.

    /usr/bin/python3 tests/make_balms_fixtures.py

Writes tests/fixtures/balms_reference.json: per case the inputs (class counts, labels of the N training
samples, the Gumbel noise [B, N], w, the classifier W, b and its momentum buffers, the features of the chosen
batch rows and of the meta batch, lr / momentum / weight decay / nesterov / first step) and the outputs (the
chosen indices, the looked-ahead W', b', the outer loss and dL/dw).
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def short32(a):
    return np.vectorize(lambda v: float(str(np.float32(v))), otypes=[float])(np.asarray(a)).tolist()


def case(name, rs, counts, B, M, d, lr, momentum, wd, nesterov, first, init_spread=1.5):
    C = len(counts)
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    N = len(labels)
    w0 = f32(rs.randn(C) * init_spread)
    noise = f32(-np.log(-np.log(rs.uniform(1e-6, 1 - 1e-6, size=(B, N)))))
    feats_all = f32(rs.randn(N, d))
    W0, b0 = f32(rs.randn(C, d) * 0.3), f32(rs.randn(C) * 0.1)
    vW0, vb0 = f32(rs.randn(C, d) * 0.05), f32(rs.randn(C) * 0.05)
    f_meta = f32(rs.randn(M, d))
    y_meta = np.arange(M) % C

    w = torch.tensor(w0, requires_grad=True)
    q = torch.sigmoid(w)                       # SampleLearner: Linear(C -> 1, no bias) + sigmoid on one-hots
    s = q[torch.tensor(labels)]                # the per-sample weight of every training image
    logits = torch.log(s)[None, :] + torch.tensor(noise)
    soft = F.softmax(logits, dim=1)            # gumbel_softmax(log s, hard=True, tau=1)
    idx = soft.argmax(1)
    hard = F.one_hot(idx, N).double()
    st = hard - soft.detach() + soft
    y = torch.tensor(labels)[idx]
    f = torch.tensor(feats_all)[idx]
    W, b = torch.tensor(W0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    z = f @ W.t() + b
    log_n = torch.log(torch.tensor(counts, dtype=torch.float64))
    per_sample = F.cross_entropy(z + log_n, y, reduction="none")  # Balanced Softmax
    x = per_sample[:, None] * st.detach() * st                   # SampleLearner.forward_loss
    L_in = x.sum(-1).mean()
    gW, gb = torch.autograd.grad(L_in, [W, b], create_graph=True)
    dW, db = gW + wd * W, gb + wd * b                             # torch.optim.SGD, dampening 0
    if first:
        vW, vb = dW, db
    else:
        vW, vb = momentum * torch.tensor(vW0) + dW, momentum * torch.tensor(vb0) + db
    stepW, stepb = (dW + momentum * vW, db + momentum * vb) if nesterov else (vW, vb)
    W1, b1 = W - lr * stepW, b - lr * stepb
    L_out = F.cross_entropy(torch.tensor(f_meta) @ W1.t() + b1, torch.tensor(y_meta))
    (dw,) = torch.autograd.grad(L_out, [w])
    return dict(name=name, counts=counts, labels=labels.tolist(), B=B, noise=short32(noise), w=short32(w0),
                W=short32(W0), b=short32(b0), momentum_W=short32(vW0), momentum_b=short32(vb0),
                features=short32(feats_all), meta_features=short32(f_meta), meta_labels=y_meta.tolist(), lr=lr,
                momentum=momentum, weight_decay=wd, nesterov=nesterov, first_step=first,
                chosen=idx.tolist(), W_ahead=W1.detach().tolist(), b_ahead=b1.detach().tolist(),
                outer_loss=L_out.item(), dw=dw.tolist())


def main():
    rs = np.random.RandomState(2020)
    cases = [
        case("momentum", rs, [16, 10, 6, 4, 3], B=6, M=5, d=6, lr=0.1, momentum=0.9, wd=5e-4, nesterov=False,
             first=False),
        case("first_step", rs, [12, 9, 5, 2], B=5, M=8, d=4, lr=0.05, momentum=0.9, wd=5e-4, nesterov=False,
             first=True),
        case("nesterov", rs, [20, 7, 7, 3, 2, 1], B=8, M=6, d=5, lr=0.2, momentum=0.8, wd=1e-3, nesterov=True,
             first=False),
    ]
    path = os.path.join(HERE, "fixtures", "balms_reference.json")
    with open(path, "w") as f:
        json.dump({"cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
