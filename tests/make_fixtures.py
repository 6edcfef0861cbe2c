#!/usr/bin/python3
"""Generate the PyTorch parity fixtures in tests/fixtures/ (run with /usr/bin/python3,
torch 1.13 CPU; no other package needed). Deterministic: re-running reproduces the
files byte for byte on the same machine/torch build.

    /usr/bin/python3 tests/make_fixtures.py [--out DIR]

Models come from benchmarks/pytorch/models.py (PyTorch state_dict names).

DETERMINISTIC WEIGHTS (the C++ tests implement the same formula). For every entry
of model.state_dict() named `name`, with flattened PyTorch-layout index i:
  k = fnv1a32(utf8 bytes of name) % 997, where fnv1a32: h = 2166136261; for each
      byte b: h ^= b; h = (h * 16777619) mod 2^32.
  conv weight (4-D, [out,in,kh,kw]) and Linear weight (2-D, [out,in]):
      fan_in = numel / shape[0];   w = sqrt(4 / fan_in) * sin(0.7*i + 1.3*k + 0.1)
  NormedLinear weight (2-D, [in,out]; resnet32 use_norm head `linear.weight`):
      w = sin(0.7*i + 1.3*k + 0.1)
  BatchNorm: weight = 1 + 0.1*sin(i + k);  bias = 0.1*cos(i + k)
             running_mean = 0.05*sin(2*i + k)
             running_var  = 1 + 0.2*(0.5 + 0.5*sin(3*i + k))
             num_batches_tracked = 0
  Linear bias (linear.bias / fc.bias): 0.01*sin(i + k)
  Everything is evaluated in float64 exactly in the order written, left to right
  (e.g. (0.7*i + 1.3*k) + 0.1, with 1.3*k a double), with libm sin/cos/sqrt
  (Python math.* == C std::*), then rounded to float32 (round to nearest even).
  Convs have no bias. BN eps 1e-5, momentum 0.1 (running_var uses the unbiased
  batch variance).
INPUT: x[i] = float32(sin(0.37*i + 0.5)), i the flattened index over [N,C,H,W].
LABELS: y[n] = (3*n + 1) % classes (stored as I32).
SAMPLES of a tensor with n elements (flattened, PyTorch layout): m = min(64, n)
  entries at indices floor(j*n/m), j = 0..m-1 (all entries when n <= 64), F32.

FILES (safetensors; every file has __metadata__ describing its case):
  parity_resnet32.safetensors       (a) resnet32, Linear head, 10 classes, batch 4,
                                        3x32x32, train mode, loss = mean CE(logits, y)
  parity_resnet32_norm.safetensors  (b) resnet32, NormedLinear head, 10 classes, batch 4;
                                        `logits` = raw cosines, loss = mean CE(16*cos, y)
  parity_resnet50.safetensors       (c) resnet50 (torchvision layout), 10 classes, batch 2,
                                        3x64x64, train mode, loss = mean CE(logits, y)
  parity_resnet32_sgd.safetensors   (d) resnet32 Linear head, batch 8, 10 SGD steps
  safetensors_small.safetensors     hand-written values for the reader test
Keys of (a)-(c), all after ONE train-mode forward + backward from the formula weights:
  input [N,C,H,W] F32, labels [N] I32, logits [N,classes] F32, loss [] F32,
  grad_norm/<param> [] F64 (L2 norm), grad_sum/<param> [] F64,
  grad_sample/<param> [m] F32, buffer/<bn>.running_mean|running_var [m] F32 (after
  the forward). (a) also has eval_logits [N,classes]: a fresh formula-initialised
  model in eval mode (running stats = formula values, not the updated ones).
Keys of (d): input, labels, sgd_losses [10] F32 (loss before each step), and after the
  10 steps sgd_final_sample/<param> [m] F32 and sgd_final_buffer/<bn buffer> [m] F32.
  SGD: lr 0.05, momentum 0.9, dampening 0, weight_decay 5e-4, nesterov False, PyTorch
  semantics: g = grad + wd*w; buf = g (first step) else 0.9*buf + g; w -= lr*buf.
  Model in train mode for every step; same fixed batch each step.
"""
import argparse
import array
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pytorch"))
import models  # noqa: E402

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32",
          torch.int64: "I64", torch.uint8: "U8"}


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


def from_formula(n, fn):
    return torch.frombuffer(array.array("d", (fn(i) for i in range(n))),
                            dtype=torch.float64).to(torch.float32)


def formula_value(kind, name, shape):
    n = math.prod(shape)
    k = fnv1a32(name) % 997
    sin, cos = math.sin, math.cos
    if kind == "conv_or_linear":
        scale = math.sqrt(4 / (n / shape[0]))
        return from_formula(n, lambda i: scale * sin(0.7 * i + 1.3 * k + 0.1))
    if kind == "normed_linear":
        return from_formula(n, lambda i: sin(0.7 * i + 1.3 * k + 0.1))
    if kind == "bn_weight":
        return from_formula(n, lambda i: 1 + 0.1 * sin(i + k))
    if kind == "bn_bias":
        return from_formula(n, lambda i: 0.1 * cos(i + k))
    if kind == "running_mean":
        return from_formula(n, lambda i: 0.05 * sin(2 * i + k))
    if kind == "running_var":
        return from_formula(n, lambda i: 1 + 0.2 * (0.5 + 0.5 * sin(3 * i + k)))
    if kind == "linear_bias":
        return from_formula(n, lambda i: 0.01 * sin(i + k))
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
    return from_formula(n * c * h * w, lambda i: math.sin(0.37 * i + 0.5)).view(n, c, h, w)


def make_labels(n, classes):
    return torch.tensor([(3 * i + 1) % classes for i in range(n)], dtype=torch.int64)


def sample(t):
    flat = t.detach().reshape(-1).to(torch.float32)
    n = flat.numel()
    m = min(64, n)
    return flat[torch.tensor([j * n // m for j in range(m)], dtype=torch.int64)].clone()


def bn_buffers(model):
    return [(n, b) for n, b in model.named_buffers()
            if n.endswith("running_mean") or n.endswith("running_var")]


# ---------------------------------------------------------------- cases
def build(model_name, classes, use_norm=False):
    kw = {"use_norm": use_norm} if model_name == "resnet32" else {}
    torch.manual_seed(0)  # the builtin init is overwritten anyway
    return init_deterministic(models.build(model_name, classes, **kw))


def gradient_case(model_name, classes, batch, size, use_norm=False):
    model = build(model_name, classes, use_norm)
    x, y = make_input(batch, 3, size, size), make_labels(batch, classes)
    model.train()
    model.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(16.0 * logits if use_norm else logits, y)
    loss.backward()
    out = {"input": x, "labels": y.to(torch.int32), "logits": logits.detach(),
           "loss": loss.detach().reshape(())}
    for name, p in model.named_parameters():
        g = p.grad.detach().to(torch.float64)
        out["grad_norm/" + name] = g.norm().reshape(())
        out["grad_sum/" + name] = g.sum().reshape(())
        out["grad_sample/" + name] = sample(p.grad)
    for name, b in bn_buffers(model):
        out["buffer/" + name] = sample(b)
    return out


def sgd_case(steps=10, batch=8, classes=10):
    model = build("resnet32", classes)
    x, y = make_input(batch, 3, 32, 32), make_labels(batch, classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4,
                          nesterov=False)
    model.train()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    out = {"input": x, "labels": y.to(torch.int32),
           "sgd_losses": torch.tensor(losses, dtype=torch.float32)}
    for name, p in model.named_parameters():
        out["sgd_final_sample/" + name] = sample(p)
    for name, b in bn_buffers(model):
        out["sgd_final_buffer/" + name] = sample(b)
    return out


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
    out_dir = ap.parse_args().out
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    common = {"generator": "tests/make_fixtures.py", "torch": torch.__version__,
              "weights": "formula v1 (see make_fixtures.py)"}

    def save(fname, tensors, **meta):
        path = os.path.join(out_dir, fname)
        write_safetensors(path, tensors, dict(common, **meta))
        print("%-34s %4d tensors %8d bytes" % (fname, len(tensors), os.path.getsize(path)))

    a = gradient_case("resnet32", 10, 4, 32)
    fresh = build("resnet32", 10).eval()
    with torch.no_grad():
        a["eval_logits"] = fresh(a["input"])
    save("parity_resnet32.safetensors", a, model="resnet32", head="linear", classes="10",
         batch="4", image_size="32", mode="train", loss="mean CE(logits, labels)")

    b = gradient_case("resnet32", 10, 4, 32, use_norm=True)
    save("parity_resnet32_norm.safetensors", b, model="resnet32", head="normed_linear",
         classes="10", batch="4", image_size="32", mode="train",
         loss="mean CE(16 * logits, labels); logits are raw cosines")

    c = gradient_case("resnet50", 10, 2, 64)
    save("parity_resnet50.safetensors", c, model="resnet50", head="fc", classes="10",
         batch="2", image_size="64", mode="train", loss="mean CE(logits, labels)")

    d = sgd_case()
    save("parity_resnet32_sgd.safetensors", d, model="resnet32", head="linear", classes="10",
         batch="8", image_size="32", steps="10",
         optimizer="SGD lr 0.05 momentum 0.9 dampening 0 weight_decay 5e-4 nesterov False")

    save("safetensors_small.safetensors", small_fixture(), format="pt",
         note="hand-written values for tests/test_safetensors.cpp")


if __name__ == "__main__":
    main()
