#!/usr/bin/python3
"""Generate the PyTorch parity fixtures in tests/fixtures/ (run with /usr/bin/python3,
torch 1.13 CPU; numpy comes with it; nothing else needed). Deterministic: re-running
reproduces the files byte for byte on the same machine/torch build (about 30 s).

    /usr/bin/python3 tests/make_fixtures.py [--out DIR] [--dtype float64|float32] [--only NAME]

--only NAME writes one file, parity_NAME.safetensors (NAME small: safetensors_small), and
leaves the others as they are.

Models come from benchmarks/pytorch/models.py (PyTorch state_dict names).

HASH. u(i, k) in (0, 1) for integers i >= 0 (flat index) and k (per tensor), all
uint32 arithmetic (mod 2^32):
    h = 2654435761*i + 40503*k + 1
    h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; h ^= h >> 16
    u = (h + 0.5) / 2^32            (exact in double)
k of a state_dict entry `name`: fnv1a32(utf-8 bytes of name) % 997, where fnv1a32:
    h = 2166136261; for each byte b: h ^= b; h = (h * 16777619) mod 2^32.

DETERMINISTIC WEIGHTS. For every entry of model.state_dict(), i = flat index in
PyTorch layout (row-major over the PyTorch shape):
  conv weight (4-D [out,in,kh,kw]) and Linear weight (2-D [out,in]):
      fan_in = numel / shape[0];   w = sqrt(6.0 / fan_in) * (2*u(i,k) - 1)
  NormedLinear weight (2-D [in,out]; resnet32 use_norm head `linear.weight`):
      w = 2*u(i,k) - 1
  BatchNorm: weight = 1 + 0.1*sin(i + k);  bias = 0.1*cos(i + k)
             running_mean = 0.05*sin(2*i + k)
             running_var  = 1 + 0.2*(0.5 + 0.5*sin(3*i + k))
             num_batches_tracked = 0
  Linear bias (linear.bias / fc.bias): 0.01*sin(i + k)
  Evaluated in double, left to right as written (sqrt/division/sin/cos from libm:
  Python math.* == C std::*), then rounded to float32 (nearest even). The hash
  formulas are bit-exact on any platform. Convs have no bias; BN eps 1e-5,
  momentum 0.1 (running_var is updated with the unbiased batch variance).
  (A sin(0.7*i + ...) weight pattern was tried first and rejected: its regular
  phase steps cancel inside every dot product, BN inputs get tiny variances and
  ResNet-50 gradients reach 1e10 with float32 results changing with thread count.)
INPUT: x[i] = float32(2*u(i, 997) - 1), i the flat index over [N,C,H,W].
LABELS: y[n] = (3*n + 1) % classes (stored as I32).
SAMPLES of a tensor with n elements (flattened, PyTorch layout): m = min(64, n)
  entries at indices floor(j*n/m), j = 0..m-1 (all entries when n <= 64); F32.

REFERENCE PRECISION. With the default --dtype float64 the models run in double
from the float32-rounded weights/inputs above, so the fixtures hold the exact
math for float32 parameters (values rounded to F32 when stored). The same case is
also run in float32 PyTorch, and its deviation from the reference is stored as a
tolerance guide: F64 scalars `f32_rel/<what>` = ||a32 - ref|| / ||ref|| over the
FULL tensor (logits, loss, eval_logits, grad/<param>, sgd_losses, sgd_final/<param>),
and __metadata__ f32_* = max/median of those. Some are large by nature: ReLU kinks
(a pre-activation within ~1e-6 of 0 changes sign under float32 rounding; PyTorch
float32 flips 3 of them in ResNet-32 at batch 8, none at batch 4) move a few gradient
entries by ~1%; ResNet-50 with batch 2 in train mode has ~1e-2 gradient deviations;
the 10 SGD steps memorise the batch and amplify rounding (loss ~1e-2, up to ~0.2 on
early BN biases). A float32 engine hits the same effects at other places, so
compare each tensor with a tolerance like max(floor, 10 * f32_rel/<what>), element
errors relative to the tensor's RMS, rather than one global constant.

FILES (safetensors; every file has __metadata__ describing its case):
  parity_resnet32.safetensors       (a) resnet32, Linear head, 10 classes, batch 4,
                                        3x32x32, train mode, loss = mean CE(logits, y)
  parity_resnet32_norm.safetensors  (b) resnet32, NormedLinear head, 10 classes, batch 4;
                                        `logits` = raw cosines, loss = mean CE(16*cos, y)
  parity_resnet50.safetensors       (c) resnet50 (torchvision layout), 10 classes, batch 2,
                                        3x64x64, train mode, loss = mean CE(logits, y)
  parity_resnet10.safetensors       (e) resnet10 (torchvision layout, BasicBlock), 10 classes,
                                        batch 2, 3x64x64, train mode, loss = mean CE(logits, y)
                                        (well conditioned: PyTorch's float32 gradients are within
                                        ~3e-6 of float64, so no eval-mode gradients needed)
  parity_resnext50.safetensors      (f) resnext50_32x4d (torchvision layout, grouped 3x3 convs),
                                        10 classes, batch 2, 3x64x64, train mode like (c),
                                        gradients from eval mode (train-mode float32 gradients are
                                        ~1 % off float64 as for ResNet-50; eval-mode ones ~1.5e-6)
  parity_resnet32_sgd.safetensors   (d) resnet32 Linear head, batch 16, 10 SGD steps (lr 0.001)
  safetensors_small.safetensors     hand-written values for the reader test
Keys of (a)-(c), (e) and (f), all after ONE train-mode forward + backward from the formula weights:
  input [N,C,H,W] F32, labels [N] I32, logits [N,classes] F32, loss [] F32,
  grad_norm/<param> [] F64 (L2 norm), grad_sum/<param> [] F64,
  grad_sample/<param> [m] F32, buffer/<bn>.running_mean|running_var [m] F32 (after
  the forward). (a) also has eval_logits [N,classes]: a fresh formula-initialised
  model in eval mode (running stats = formula values, not the updated ones).
Keys of (d): input, labels, sgd_losses [10] F32 (loss before each step), and after the
  10 steps sgd_final_sample/<param> [m] F32 and sgd_final_buffer/<bn buffer> [m] F32.
  SGD: lr 0.001 (SGD_LR), momentum 0.9, dampening 0, weight_decay 5e-4, nesterov False, PyTorch
  semantics: g = grad + wd*w; buf = g (first step) else 0.9*buf + g; w -= lr*buf.
  Model in train mode for every step; same fixed batch each step.
"""
import argparse
import copy
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pytorch"))
import models  # noqa: E402

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32",
          torch.int64: "I64", torch.uint8: "U8"}
INPUT_K = 997


# ---------------------------------------------------------------- safetensors writer
def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: torch.Tensor}; data laid out in name order, header padded to 8."""
    header, chunks, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [pos, pos + len(raw)]}
        chunks.append(raw)
        pos += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


# ---------------------------------------------------------------- deterministic values
def fnv1a32(s):
    h = 2166136261
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def hash_u(n, k):
    """u(i, k) for i = 0..n-1 as float64 numpy array (uint64 math, reduced mod 2^32)."""
    m32 = np.uint64(0xFFFFFFFF)
    h = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761)
         + np.uint64((40503 * k + 1) & 0xFFFFFFFF)) & m32
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & m32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & m32
    h ^= h >> np.uint64(16)
    return (h.astype(np.float64) + 0.5) / 4294967296.0


def f32(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64)).to(torch.float32)


def libm(n, fn):
    """fn(i) with Python's math module (libm, same as C std::sin/cos)."""
    return f32([fn(i) for i in range(n)])


def formula_value(kind, name, shape):
    n = math.prod(shape)
    k = fnv1a32(name) % 997
    sin, cos = math.sin, math.cos
    if kind == "conv_or_linear":
        return f32(math.sqrt(6.0 / (n / shape[0])) * (2 * hash_u(n, k) - 1))
    if kind == "normed_linear":
        return f32(2 * hash_u(n, k) - 1)
    if kind == "bn_weight":
        return libm(n, lambda i: 1 + 0.1 * sin(i + k))
    if kind == "bn_bias":
        return libm(n, lambda i: 0.1 * cos(i + k))
    if kind == "running_mean":
        return libm(n, lambda i: 0.05 * sin(2 * i + k))
    if kind == "running_var":
        return libm(n, lambda i: 1 + 0.2 * (0.5 + 0.5 * sin(3 * i + k)))
    if kind == "linear_bias":
        return libm(n, lambda i: 0.01 * sin(i + k))
    raise ValueError(kind)


def init_deterministic(model):
    kinds = {}
    for mname, m in model.named_modules():
        p = mname + "." if mname else ""
        if isinstance(m, nn.Conv2d):
            assert m.bias is None
            kinds[p + "weight"] = "conv_or_linear"
        elif isinstance(m, nn.Linear):
            kinds[p + "weight"] = "conv_or_linear"
            kinds[p + "bias"] = "linear_bias"
        elif isinstance(m, models.NormedLinear):
            kinds[p + "weight"] = "normed_linear"
        elif isinstance(m, nn.BatchNorm2d):
            kinds.update({p + "weight": "bn_weight", p + "bias": "bn_bias",
                          p + "running_mean": "running_mean", p + "running_var": "running_var",
                          p + "num_batches_tracked": "zero"})
    with torch.no_grad():
        for name, t in model.state_dict().items():
            kind = kinds[name]  # KeyError = a state_dict entry the formula does not cover
            if kind == "zero":
                t.zero_()
            else:
                t.copy_(formula_value(kind, name, list(t.shape)).view(t.shape))
    return model


def make_input(n, c, h, w):
    return f32(2 * hash_u(n * c * h * w, INPUT_K) - 1).view(n, c, h, w)


def make_labels(n, classes):
    return torch.tensor([(3 * i + 1) % classes for i in range(n)], dtype=torch.int64)


def sample(t):
    flat = t.detach().reshape(-1)
    n = flat.numel()
    m = min(64, n)
    return flat[torch.tensor([j * n // m for j in range(m)], dtype=torch.int64)].to(torch.float32)


def bn_buffers(model):
    return [(n, b) for n, b in model.named_buffers()
            if n.endswith("running_mean") or n.endswith("running_var")]


def scalar(v):
    return torch.tensor(v, dtype=torch.float64)


def rel(a, b):
    a, b = a.detach().double(), b.detach().double()
    d = (a - b).norm().item()
    return d / b.norm().item() if b.norm().item() > 0 else d


# ---------------------------------------------------------------- cases
def build(model_name, classes, use_norm=False):
    kw = {"use_norm": use_norm} if model_name == "resnet32" else {}
    torch.manual_seed(0)  # the builtin init is overwritten anyway
    return init_deterministic(models.build(model_name, classes, **kw))


def forward_backward(model, x, y, use_norm, train=True):
    model.train(train)
    model.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(16.0 * logits if use_norm else logits, y)
    loss.backward()
    return logits.detach(), loss.detach()


def gradient_case(model_name, classes, batch, size, dtype, use_norm=False, grads_in_eval=False):
    """One train-mode forward/backward in `dtype`, plus float32-vs-reference deviations.
    grads_in_eval: the gradients (and their float32 deviations) come from a separate eval-mode
    forward/backward of a fresh model instead (train-mode BN at batch 2 with 2x2 maps is so
    ill-conditioned that PyTorch's own float32 gradients are 1-3 % off float64)."""
    base = build(model_name, classes, use_norm)
    x, y = make_input(batch, 3, size, size), make_labels(batch, classes)
    ref = copy.deepcopy(base).to(dtype)
    logits, loss = forward_backward(ref, x.to(dtype), y, use_norm)
    out = {"input": x, "labels": y.to(torch.int32), "logits": logits.to(torch.float32),
           "loss": loss.to(torch.float32).reshape(())}
    if grads_in_eval:
        train_buffers = bn_buffers(ref)
        ref = copy.deepcopy(base).to(dtype)
        _, eloss = forward_backward(ref, x.to(dtype), y, use_norm, train=False)
        out["eval_loss"] = eloss.to(torch.float32).reshape(())
    for name, p in ref.named_parameters():
        g = p.grad.detach().to(torch.float64)
        out["grad_norm/" + name] = g.norm().reshape(())
        out["grad_sum/" + name] = g.sum().reshape(())
        out["grad_sample/" + name] = sample(p.grad)
    for name, b in (train_buffers if grads_in_eval else bn_buffers(ref)):
        out["buffer/" + name] = sample(b)

    if grads_in_eval:
        l32, loss32 = forward_backward(copy.deepcopy(base), x, y, use_norm)
        forward_backward(base, x, y, use_norm, train=False)
    else:
        l32, loss32 = forward_backward(base, x, y, use_norm)  # float32 run for the stats
    p32 = dict(base.named_parameters())
    gs = []
    for name, p in ref.named_parameters():
        gs.append(rel(p32[name].grad, p.grad))
        out["f32_rel/grad/" + name] = scalar(gs[-1])
    out["f32_rel/logits"] = scalar(rel(l32, logits))
    out["f32_rel/loss"] = scalar(rel(loss32, loss))
    stats = {"f32_logits_rel": rel(l32, logits), "f32_loss_rel": rel(loss32, loss),
             "f32_grad_rel_max": max(gs), "f32_grad_rel_median": float(np.median(gs))}
    return out, stats


# A small learning rate keeps the 10 steps out of the chaotic memorisation regime: at lr 0.05 / batch 8
# PyTorch's own float32 run drifts 3.5e-3 from float64 (ReLU sign flips amplified by BN in train mode),
# at lr 0.001 / batch 16 it stays within 1.5e-4.
SGD_LR, SGD_BATCH = 0.001, 16

# --only choices: parity_NAME.safetensors, and "small" for safetensors_small.safetensors.
FIXTURES = ["resnet32", "resnet32_norm", "resnet50", "resnet10", "resnext50", "resnet32_sgd", "small"]


def sgd_run(model, x, y, steps, lr=None, train=True):
    lr = SGD_LR if lr is None else lr
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4,
                          nesterov=False)
    model.train(train)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return torch.tensor(losses, dtype=torch.float32)


def sgd_case(dtype, steps=10, batch=8, classes=10, lr=None, train=True):
    base = build("resnet32", classes)
    x, y = make_input(batch, 3, 32, 32), make_labels(batch, classes)
    ref = copy.deepcopy(base).to(dtype)
    losses = sgd_run(ref, x.to(dtype), y, steps, lr, train)
    out = {"input": x, "labels": y.to(torch.int32), "sgd_losses": losses}
    for name, p in ref.named_parameters():
        out["sgd_final_sample/" + name] = sample(p)
    for name, b in bn_buffers(ref):
        out["sgd_final_buffer/" + name] = sample(b)
    losses32 = sgd_run(base, x, y, steps, lr, train)
    p32 = dict(base.named_parameters())
    ws = []
    for name, p in ref.named_parameters():
        ws.append(rel(p32[name], p))
        out["f32_rel/sgd_final/" + name] = scalar(ws[-1])
    out["f32_rel/sgd_losses"] = scalar(rel(losses32, losses))
    stats = {"f32_sgd_losses_rel": rel(losses32, losses), "f32_sgd_final_rel_max": max(ws),
             "f32_sgd_final_rel_median": float(np.median(ws))}
    return out, stats


def small_fixture():
    return {
        "alpha": torch.tensor([[0.0, 1.5, -2.25], [0.125, 1024.0, -7.75]], dtype=torch.float32),
        "beta": torch.tensor([1, -2, 1 << 40], dtype=torch.int64),
        "gamma": torch.tensor([0, 1, 127, 255], dtype=torch.uint8),
        "delta": torch.tensor(3.141592653589793, dtype=torch.float64),
        "epsilon": torch.tensor([[-1, 2], [-2147483648, 2147483647]], dtype=torch.int32),
        "empty": torch.zeros(2, 0, dtype=torch.float32),
    }


def main():
    ap = argparse.ArgumentParser(description="generate tests/fixtures parity files")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"))
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                    help="precision of the reference run (default float64)")
    ap.add_argument("--only", choices=FIXTURES,
                    help="write only this fixture (parity_NAME.safetensors, or safetensors_small)")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    common = {"generator": "tests/make_fixtures.py", "torch": torch.__version__,
              "weights": "formula v2 (hash weights/input; see make_fixtures.py)",
              "reference_dtype": args.dtype}

    def save(fname, tensors, stats=None, **meta):
        path = os.path.join(args.out, fname)
        meta = dict(common, **meta)
        meta.update({k: "%.3e" % v for k, v in (stats or {}).items()})
        write_safetensors(path, tensors, meta)
        print("%-34s %4d tensors %8d bytes  %s" % (
            fname, len(tensors), os.path.getsize(path),
            " ".join("%s=%.1e" % (k[4:], v) for k, v in (stats or {}).items())))

    def want(name):
        return args.only in (None, name)

    if want("resnet32"):
        a, st = gradient_case("resnet32", 10, 4, 32, dtype)
        fresh = build("resnet32", 10).eval()
        with torch.no_grad():
            ev32 = fresh(a["input"])
            ev = fresh.to(dtype)(a["input"].to(dtype))
        a["eval_logits"] = ev.to(torch.float32)
        a["f32_rel/eval_logits"] = scalar(rel(ev32, ev))
        save("parity_resnet32.safetensors", a, st, model="resnet32", head="linear", classes="10",
             batch="4", image_size="32", mode="train", loss="mean CE(logits, labels)")

    if want("resnet32_norm"):
        b, st = gradient_case("resnet32", 10, 4, 32, dtype, use_norm=True)
        save("parity_resnet32_norm.safetensors", b, st, model="resnet32", head="normed_linear",
             classes="10", batch="4", image_size="32", mode="train",
             loss="mean CE(16 * logits, labels); logits are raw cosines")

    for name, arch in (("resnet50", "resnet50"), ("resnext50", "resnext50_32x4d")):  # (c), (f)
        if want(name):
            c, st = gradient_case(arch, 10, 2, 64, dtype, grads_in_eval=True)
            save("parity_%s.safetensors" % name, c, st, model=arch, head="fc", classes="10",
                 batch="2", image_size="64", mode="train (logits, loss, buffers); eval (eval_loss, gradients)",
                 loss="mean CE(logits, labels)")

    if want("resnet10"):
        e, st = gradient_case("resnet10", 10, 2, 64, dtype)
        save("parity_resnet10.safetensors", e, st, model="resnet10", head="fc", classes="10",
             batch="2", image_size="64", mode="train", loss="mean CE(logits, labels)")

    if want("resnet32_sgd"):
        d, st = sgd_case(dtype, batch=SGD_BATCH)
        save("parity_resnet32_sgd.safetensors", d, st, model="resnet32", head="linear",
             classes="10", batch=str(SGD_BATCH), image_size="32", steps="10",
             optimizer="SGD lr %g momentum 0.9 dampening 0 weight_decay 5e-4 nesterov False" % SGD_LR)

    if want("small"):
        save("safetensors_small.safetensors", small_fixture(), format="pt",
             note="hand-written values for tests/test_safetensors.cpp")


if __name__ == "__main__":
    main()
