#!/usr/bin/python3
"""Loads a tailor ResNet-32 checkpoint into the PyTorch model with load_state_dict(strict=True) and
compares eval-mode logits with tailor's on the same input.

    mkdir -p /tmp/ckpt && TAILOR_EXPORT_DIR=/tmp/ckpt build/test_checkpoint
    /usr/bin/python3 benchmarks/pytorch/check_checkpoint.py /tmp/ckpt
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        b, e = d["data_offsets"]
        t = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=DTYPES[d["dtype"]])
        out[name] = t.reshape(d["shape"]).clone()
    return out


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ckpt"
    sd = read_safetensors(os.path.join(d, "resnet32.safetensors"))
    io = read_safetensors(os.path.join(d, "resnet32_io.safetensors"))
    model = models.resnet32(num_classes=10)
    model.load_state_dict(sd, strict=True)  # raises on any missing/unexpected/mismatched name
    model.eval()
    with torch.no_grad():
        logits = model(io["input_nchw"])
    diff = (logits - io["logits"]).abs().max().item()
    ok = torch.allclose(logits, io["logits"], rtol=1e-3, atol=1e-4)
    print(json.dumps({"strict_load": "ok", "tensors": len(sd), "max_abs_logit_diff": diff,
                      "num_batches_tracked": int(sd["bn1.num_batches_tracked"]), "allclose": ok}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
