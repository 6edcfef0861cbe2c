#!/usr/bin/python3
"""PyTorch training/eval throughput baseline for the tailor engine.

Times full training steps (forward, mean cross-entropy, backward, SGD with
momentum 0.9 and weight decay 5e-4) on one fixed synthetic batch, then eval
forwards (model.eval(), no_grad), and prints ONE JSON line:

  {"model", "device", "batch", "threads", "image_size", "classes", "steps",
   "train_img_per_s", "eval_img_per_s", "peak_rss_mb"[, "peak_gpu_mb"]}

The same line is printed by `tailor bench` so the two can be compared
(benchmarks/compare_cpu.sh).

Example:
  /usr/bin/python3 benchmarks/pytorch/bench_resnet.py --model resnet32 \
      --batch 128 --steps 20 --device cpu --threads 2
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


def positive(s):
    v = int(s)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer, got %r" % s)
    return v


def non_negative(s):
    v = int(s)
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0, got %r" % s)
    return v


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, choices=sorted(models.MODELS))
    p.add_argument("--batch", type=positive, required=True)
    p.add_argument("--steps", type=positive, required=True)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=positive, default=None,
                   help="intra-op threads (default: torch's current setting)")
    p.add_argument("--image-size", type=positive, default=None,
                   help="default 32 for resnet32, 224 otherwise")
    p.add_argument("--classes", type=positive, default=None,
                   help="default 10 for resnet32, 1000 otherwise")
    p.add_argument("--warmup", type=non_negative, default=3,
                   help="untimed steps before each timed phase (default 3)")
    p.add_argument("--compile", action="store_true", help="wrap the model with torch.compile")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: forward and loss under torch.autocast(dtype=torch.bfloat16)")
    p.add_argument("--profile", type=non_negative, default=0,
                   help="after the timed steps, N more training steps under torch.profiler; its table of "
                        "operators (self time, largest first) goes to stderr, beside tailor bench --profile's")
    a = p.parse_args(argv)
    if a.image_size is None:
        a.image_size = 32 if a.model == "resnet32" else 224
    if a.classes is None:
        a.classes = 10 if a.model == "resnet32" else 1000
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda requested but CUDA is not available")
    if a.compile and not hasattr(torch, "compile"):
        p.error("--compile needs torch >= 2.0 (this is torch %s)" % torch.__version__)
    return a


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def profile(a, device, model, train_step):
    from torch.profiler import ProfilerActivity
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    model.train()
    sync(device)
    with torch.profiler.profile(activities=acts) as prof:
        t0 = time.perf_counter()
        for _ in range(a.profile):
            train_step()
        sync(device)
        wall_ms = (time.perf_counter() - t0) * 1000 / a.profile
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print("torch.profiler: %d training steps, %s batch %d %dx%d %s on %s (times are totals over the steps); "
          "wall %.3f ms/step" % (a.profile, a.model, a.batch, a.image_size, a.image_size, a.precision,
                                 torch.cuda.get_device_name() if device.type == "cuda" else "the CPU", wall_ms),
          file=sys.stderr)
    print(prof.key_averages().table(sort_by=key, row_limit=30), file=sys.stderr)


def main(argv=None):
    a = parse_args(argv)
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    torch.manual_seed(0)
    model = models.build(a.model, a.classes).to(device)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(a.batch, 3, a.image_size, a.image_size, device=device)
    x = x.contiguous(memory_format=fmt)
    y = torch.randint(0, a.classes, (a.batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    run = torch.compile(model) if a.compile else model

    bf16 = a.precision == "bf16"

    def autocast():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)

    def train_step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(run(x), y)
        loss.backward()
        opt.step()
        return loss

    model.train()
    for _ in range(a.warmup):
        train_step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = train_step()
    sync(device)
    train_s = time.perf_counter() - t0
    if not torch.isfinite(loss).item():
        print("warning: non-finite training loss", file=sys.stderr)

    model.eval()
    with torch.no_grad(), autocast():
        for _ in range(a.warmup):
            run(x)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(a.steps):
            run(x)
        sync(device)
        eval_s = time.perf_counter() - t0

    if a.profile:
        profile(a, device, model, train_step)

    out = {
        "model": a.model,
        "device": a.device,
        "batch": a.batch,
        "threads": threads,
        "image_size": a.image_size,
        "classes": a.classes,
        "steps": a.steps,
        "precision": a.precision,
        "train_img_per_s": round(a.batch * a.steps / train_s, 2),
        "eval_img_per_s": round(a.batch * a.steps / eval_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }
    if device.type == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / (1024.0 * 1024.0), 1)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
