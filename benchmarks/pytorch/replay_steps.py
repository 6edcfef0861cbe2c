#!/usr/bin/python3
"""Step-by-step replay, PyTorch side (tailor side: benchmarks/bench_replay.cpp; results in
benchmarks/README.md, "Step-by-step replay").

    replay_steps.py dump --data ROOT --seed S --out DIR [--recipe ce] [--steps 96] [--workers 2]
        DIR/init.safetensors: the ResNet-32 lt_train.py starts from with --recipe R --seed S (the same
        seeding order: random, numpy, torch, then the model; the recipe's head), PyTorch state-dict names,
        loadable by tailor; DIR/stream.json, images.f32, labels.i32: the first --steps batches of
        lt_train.py's own stage-1 loader for that seed (the recipe's batch size, instance sampler,
        RandomCrop + flip, normalised, NHWC float32); for a mixup recipe also lambda.f32 and perm.i32,
        each batch's lambda ~ Beta(a, a) and permutation drawn as lt_train.py draws them.
    replay_steps.py run --stream DIR --weights FILE [--recipe ce] [--head linear|norm] [--steps N]
        [--lr 0.1] [--momentum 0.9] [--weight-decay 2e-4] [--scale 30] [--threads T] [--save FILE] [--double]
        SGD on the stream from the weights, one JSON line per step: {"step": k, "loss": v} (the loss of
        batch k before update k; constant lr). The loss is the recipe's stage-1 loss (ce, ldam_drw before
        its DRW epoch, gcl); with the ce loss a norm head's cosines are multiplied by --scale. A stream
        with lambda.f32 is mixed: x <- lam x + (1 - lam) x[perm], loss lam L(y) + (1 - lam) L(y[perm]).
        --save writes the weights after the last step; --double runs in float64 from the same float32
        weights and batches (the exact-arithmetic reference for `diff`).
    replay_steps.py diff W0 A B
        the updates A - W0 and B - W0 of two runs from the weights W0 (--save files), per tensor:
        |(A - W0) - (B - W0)| / |A - W0| (Frobenius norms), worst tensors first, and over all tensors.
    replay_steps.py compare A.jsonl B.jsonl [A2.jsonl B2.jsonl ...]
        per pair: how many leading steps agree to 1e-5 relative, and both runs' mean loss over all steps
        and over the first quarter; for several pairs also each side's mean +- sd of those means and the
        paired difference A - B (mean +- sd, how many pairs have A lower).
"""
import argparse
import json
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lt_data  # noqa: E402
import models  # noqa: E402
from check_checkpoint import read_safetensors  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
from make_fixtures import write_safetensors  # noqa: E402
from lt_train import RECIPES, stage1_loss  # noqa: E402


def dump(a):
    os.makedirs(a.out, exist_ok=True)
    rc = RECIPES[a.recipe]
    batch = rc["batch"]
    train_x, train_y, _, _, classes, counts, source = lt_data.load_data(a.data, 100.0, 0)
    random.seed(a.seed)  # lt_train.py's order: seeds, model, then the loader
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    model = models.resnet32(num_classes=len(classes), use_norm=rc["head"] == "norm")
    write_safetensors(os.path.join(a.out, "init.safetensors"), model.state_dict())
    loader = lt_data.make_loader(train_x, train_y, counts, batch, "instance", a.workers, a.seed, torch.device("cpu"))
    mean = torch.tensor(lt_data.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(lt_data.STD).view(1, 3, 1, 1)
    steps, lams, perms = 0, [], []
    with open(os.path.join(a.out, "images.f32"), "wb") as fx, open(os.path.join(a.out, "labels.i32"), "wb") as fy:
        for xb, yb in loader:
            if steps == a.steps or len(yb) != batch:
                break
            x = (xb.float().div_(255.0) - mean) / std
            fx.write(x.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32).tobytes())  # NHWC
            fy.write(yb.numpy().astype(np.int32).tobytes())
            if rc["mixup"] > 0:  # train_epoch's draws, in its order
                lams.append(float(np.random.beta(rc["mixup"], rc["mixup"])))
                perms.append(torch.randperm(batch).numpy().astype(np.int32))
            steps += 1
    if lams:
        np.asarray(lams, np.float32).tofile(os.path.join(a.out, "lambda.f32"))
        np.concatenate(perms).tofile(os.path.join(a.out, "perm.i32"))
    with open(os.path.join(a.out, "stream.json"), "w") as f:
        json.dump(dict(steps=steps, batch=batch, channels=3, height=32, width=32, counts=[int(c) for c in counts],
                       mixup=rc["mixup"], source="lt_train.py loader (%s), recipe %s, seed %d, %d workers"
                       % (source, a.recipe, a.seed, a.workers)), f)
        f.write("\n")
    print("wrote %d batches of %d and init.safetensors to %s" % (steps, batch, a.out), file=sys.stderr)


def run(a):
    if a.threads:
        torch.set_num_threads(a.threads)
    rc = RECIPES[a.recipe]
    head = a.head or rc["head"]
    meta = json.load(open(os.path.join(a.stream, "stream.json")))
    shape = (-1, meta["batch"], meta["height"], meta["width"], meta["channels"])
    x = np.fromfile(os.path.join(a.stream, "images.f32"), np.float32).reshape(shape)
    x = np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))  # NHWC -> NCHW
    y = np.fromfile(os.path.join(a.stream, "labels.i32"), np.int32).reshape(shape[:2])
    mixed = os.path.exists(os.path.join(a.stream, "lambda.f32"))
    if mixed:
        lams = np.fromfile(os.path.join(a.stream, "lambda.f32"), np.float32)
        perms = np.fromfile(os.path.join(a.stream, "perm.i32"), np.int32).reshape(shape[:2])
    if rc["loss"] != "ce" and "counts" not in meta:
        sys.exit("replay_steps.py: %s has no class counts (stream.json \"counts\"), needed by %s" % (a.stream, rc["loss"]))
    loss_fn = stage1_loss(rc["loss"], meta.get("counts"))
    model = models.resnet32(num_classes=10, in_channels=meta["channels"], use_norm=head == "norm")
    model.load_state_dict(read_safetensors(a.weights), strict=True)
    if a.double:
        model.double()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
    for s in range(min(a.steps, meta["steps"])):
        xs, ys = torch.from_numpy(x[s]), torch.from_numpy(y[s]).long()
        if a.double:
            xs = xs.double()
        if mixed:  # as lt_train.py's train_epoch
            lam, perm = float(lams[s]), torch.from_numpy(perms[s]).long()
            xs = lam * xs + (1.0 - lam) * xs[perm]
        out = model(xs)
        if head == "norm" and rc["loss"] == "ce":
            out = out * a.scale
        loss = lam * loss_fn(out, ys) + (1.0 - lam) * loss_fn(out, ys[perm]) if mixed else loss_fn(out, ys)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        print(json.dumps({"step": s, "loss": float("%.7g" % loss.item())}), flush=True)
    if a.save:
        write_safetensors(a.save, model.state_dict())


def compare_pair(fa, fb):
    la = [json.loads(l)["loss"] for l in open(fa) if l.strip()]
    lb = [json.loads(l)["loss"] for l in open(fb) if l.strip()]
    n = min(len(la), len(lb))
    same = 0
    while same < n and abs(la[same] - lb[same]) <= 1e-5 * abs(lb[same]):
        same += 1
    q = max(1, n // 4)
    return dict(steps=n, leading_steps_within_1e5=same, mean_a=round(float(np.mean(la[:n])), 4),
                mean_b=round(float(np.mean(lb[:n])), 4), first_quarter_mean_a=round(float(np.mean(la[:q])), 4),
                first_quarter_mean_b=round(float(np.mean(lb[:q])), 4))


def compare(a):
    if len(a.files) % 2:
        sys.exit("replay_steps.py compare: give pairs of files, A B [A2 B2 ...]")
    rows = [compare_pair(a.files[i], a.files[i + 1]) for i in range(0, len(a.files), 2)]
    for r in rows:
        print(json.dumps(r))
    if len(rows) > 1:  # over the pairs: each side's mean loss, and the paired difference a - b
        ma, mb = np.array([r["mean_a"] for r in rows]), np.array([r["mean_b"] for r in rows])
        print(json.dumps(dict(pairs=len(rows), mean_a=round(float(ma.mean()), 4), sd_a=round(float(ma.std(ddof=1)), 4),
                              mean_b=round(float(mb.mean()), 4), sd_b=round(float(mb.std(ddof=1)), 4),
                              diff_mean=round(float((ma - mb).mean()), 4), diff_sd=round(float((ma - mb).std(ddof=1)), 4),
                              a_lower=int((ma < mb).sum()))))


def diff(a):
    w0, wa, wb = (read_safetensors(f) for f in (a.w0, a.a, a.b))
    rows, num, den = [], 0.0, 0.0
    for k, t0 in w0.items():
        if not t0.is_floating_point():
            continue
        da, db = (wa[k].double() - t0.double()), (wb[k].double() - t0.double())
        n, d = float((da - db).norm()), float(da.norm())
        num, den = num + n * n, den + d * d
        rows.append((n / d if d > 0 else float("nan") if n > 0 else 0.0, k, d))
    rows.sort(key=lambda r: -r[0] if r[0] == r[0] else -1e30)
    for rel, k, d in rows[:a.top]:
        print("%-40s update %.3e  relative difference %.3e" % (k, d, rel))
    print("all tensors: relative difference of the updates %.3e" % (num ** 0.5 / den ** 0.5))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--data", required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", required=True)
    d.add_argument("--steps", type=int, default=96)
    d.add_argument("--recipe", choices=sorted(RECIPES), default="ce")
    d.add_argument("--workers", type=int, default=2)
    r = sub.add_parser("run")
    r.add_argument("--stream", required=True)
    r.add_argument("--weights", required=True)
    r.add_argument("--recipe", choices=sorted(RECIPES), default="ce")
    r.add_argument("--head", choices=["linear", "norm"], default=None, help="default: the recipe's")
    r.add_argument("--steps", type=int, default=1 << 30)
    r.add_argument("--lr", type=float, default=0.1)
    r.add_argument("--momentum", type=float, default=0.9)
    r.add_argument("--weight-decay", type=float, default=2e-4)
    r.add_argument("--scale", type=float, default=30.0)
    r.add_argument("--threads", type=int, default=None)
    f = sub.add_parser("diff")
    f.add_argument("w0")
    f.add_argument("a")
    f.add_argument("b")
    f.add_argument("--top", type=int, default=12)
    r.add_argument("--save", default=None)
    r.add_argument("--double", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("files", nargs="+", metavar="A B")
    a = p.parse_args()
    {"dump": dump, "run": run, "diff": diff, "compare": compare}[a.cmd](a)


if __name__ == "__main__":
    main()
