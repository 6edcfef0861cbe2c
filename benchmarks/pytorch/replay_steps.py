#!/usr/bin/python3
"""Step-by-step replay, PyTorch side (tailor side: benchmarks/bench_replay.cpp; results in
benchmarks/README.md, "Step-by-step replay").

    replay_steps.py dump --data ROOT --seed S --out DIR [--steps 96] [--head linear|norm] [--workers 2]
        DIR/init.safetensors: the ResNet-32 lt_train.py starts from with --seed S (the same seeding
        order: random, numpy, torch, then the model), PyTorch state-dict names, loadable by tailor;
        DIR/stream.json, images.f32, labels.i32: the first --steps batches of lt_train.py's own stage-1
        loader for that seed (instance sampler, RandomCrop + flip, normalised, NHWC float32).
    replay_steps.py run --stream DIR --weights FILE [--head linear|norm] [--steps N] [--lr 0.1]
        [--momentum 0.9] [--weight-decay 2e-4] [--scale 30] [--threads T]
        SGD on the stream from the weights, one JSON line per step: {"step": k, "loss": v} (the loss of
        batch k before update k; cross-entropy, a norm head's cosines times --scale; constant lr).
    replay_steps.py compare A.jsonl B.jsonl
        how many leading steps agree to 1e-5 relative, and both runs' mean loss over all steps and over
        the first quarter.
"""
import argparse
import json
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lt_data  # noqa: E402
import models  # noqa: E402
from check_checkpoint import read_safetensors  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
from make_fixtures import write_safetensors  # noqa: E402

BATCH = 128


def dump(a):
    os.makedirs(a.out, exist_ok=True)
    train_x, train_y, _, _, classes, counts, source = lt_data.load_data(a.data, 100.0, 0)
    random.seed(a.seed)  # lt_train.py's order: seeds, model, then the loader
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    model = models.resnet32(num_classes=len(classes), use_norm=a.head == "norm")
    write_safetensors(os.path.join(a.out, "init.safetensors"), model.state_dict())
    loader = lt_data.make_loader(train_x, train_y, counts, BATCH, "instance", a.workers, a.seed, torch.device("cpu"))
    mean = torch.tensor(lt_data.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(lt_data.STD).view(1, 3, 1, 1)
    steps = 0
    with open(os.path.join(a.out, "images.f32"), "wb") as fx, open(os.path.join(a.out, "labels.i32"), "wb") as fy:
        for xb, yb in loader:
            if steps == a.steps or len(yb) != BATCH:
                break
            x = (xb.float().div_(255.0) - mean) / std
            fx.write(x.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32).tobytes())  # NHWC
            fy.write(yb.numpy().astype(np.int32).tobytes())
            steps += 1
    with open(os.path.join(a.out, "stream.json"), "w") as f:
        json.dump(dict(steps=steps, batch=BATCH, channels=3, height=32, width=32,
                       source="lt_train.py loader (%s), seed %d, %d workers" % (source, a.seed, a.workers)), f)
        f.write("\n")
    print("wrote %d batches of %d and init.safetensors to %s" % (steps, BATCH, a.out), file=sys.stderr)


def run(a):
    if a.threads:
        torch.set_num_threads(a.threads)
    meta = json.load(open(os.path.join(a.stream, "stream.json")))
    shape = (-1, meta["batch"], meta["height"], meta["width"], meta["channels"])
    x = np.fromfile(os.path.join(a.stream, "images.f32"), np.float32).reshape(shape)
    x = np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))  # NHWC -> NCHW
    y = np.fromfile(os.path.join(a.stream, "labels.i32"), np.int32).reshape(shape[:2])
    model = models.resnet32(num_classes=10, in_channels=meta["channels"], use_norm=a.head == "norm")
    model.load_state_dict(read_safetensors(a.weights), strict=True)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
    for s in range(min(a.steps, meta["steps"])):
        out = model(torch.from_numpy(x[s]))
        if a.head == "norm":
            out = out * a.scale
        loss = F.cross_entropy(out, torch.from_numpy(y[s]).long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        print(json.dumps({"step": s, "loss": float("%.7g" % loss.item())}), flush=True)


def compare(a):
    la = [json.loads(l)["loss"] for l in open(a.a) if l.strip()]
    lb = [json.loads(l)["loss"] for l in open(a.b) if l.strip()]
    n = min(len(la), len(lb))
    same = 0
    while same < n and abs(la[same] - lb[same]) <= 1e-5 * abs(lb[same]):
        same += 1
    q = max(1, n // 4)
    print(json.dumps(dict(steps=n, leading_steps_within_1e5=same, mean_a=round(float(np.mean(la[:n])), 4),
                          mean_b=round(float(np.mean(lb[:n])), 4), first_quarter_mean_a=round(float(np.mean(la[:q])), 4),
                          first_quarter_mean_b=round(float(np.mean(lb[:q])), 4))))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--data", required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", required=True)
    d.add_argument("--steps", type=int, default=96)
    d.add_argument("--head", choices=["linear", "norm"], default="linear")
    d.add_argument("--workers", type=int, default=2)
    r = sub.add_parser("run")
    r.add_argument("--stream", required=True)
    r.add_argument("--weights", required=True)
    r.add_argument("--head", choices=["linear", "norm"], default="linear")
    r.add_argument("--steps", type=int, default=1 << 30)
    r.add_argument("--lr", type=float, default=0.1)
    r.add_argument("--momentum", type=float, default=0.9)
    r.add_argument("--weight-decay", type=float, default=2e-4)
    r.add_argument("--scale", type=float, default=30.0)
    r.add_argument("--threads", type=int, default=None)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    a = p.parse_args()
    {"dump": dump, "run": run, "compare": compare}[a.cmd](a)


if __name__ == "__main__":
    main()
