#!/usr/bin/python3
"""CIFAR-LT training recipes in plain PyTorch: the reference side of benchmarks/reproduce.sh.

Written from the LDAM-DRW, GCL and classifier-balancing repositories' training scripts; only torch, numpy and PIL are needed (no
torchvision). All recipes train the option-A ResNet-32 of models.py.

Recipes (e = 0-based epoch; W = --warmup; a, b = --milestones; "warm-up" is lr * (e + 1) / W for e < W,
per epoch, exactly the LDAM-DRW / GCL scripts' lr * epoch / 5 with a 1-based epoch):

  ce            Linear head, cross-entropy, instance sampling, batch 128, SGD momentum 0.9, wd 2e-4,
                lr 0.1, warm-up then x0.01 from epoch a and x0.0001 from epoch b (LDAM-DRW schedule,
                as GCL's CE baseline: "same as LDAM").
  ce_mixup_crt  stage 1: Linear head, CE with mixup alpha 1 (one lambda ~ Beta(1, 1) per batch, a random
                permutation as partner, loss lam * CE(y_a) + (1 - lam) * CE(y_b)), batch 128, wd 2e-4,
                lr 0.1, warm-up then x0.1 from a, x0.01 from b (MiSLAS stage-1 row of §14).
                stage 2 (cRT, §4.2): the best stage-1 weights (as for gcl), backbone frozen and in eval
                mode, the Linear head re-initialised (nn.Linear default init), class-aware sampler (k = 4;
                an epoch is int(N / B) full batches), plain CE, no mixup, batch 128, SGD momentum 0.9, wd
                2e-4, 10 epochs, lr 0.1 * (1 + cos(pi e / E2)) / 2 (cosine to 0 set at the start of each
                epoch, so the first epoch runs at the full lr).
  ldam_drw      NormedLinear head, LDAM (s 30, max_m 0.5) with DRW: class weights 1 before epoch a,
                effective-number weights (beta 0.9999, normalised to sum C) from epoch a on; batch 128,
                lr 0.1, LDAM schedule (x0.01 / x0.0001).
  logit_adjust  Linear head, logit-adjusted loss (§7, Menon et al. 2021, tau 1): CE(z_j + log(pi_j^tau +
                1e-12), y) with pi_j = n_j / N the training prior; otherwise as ce (LDAM schedule, as
                tailor's recipes/cifar10_lt/logit_adjust.json, not the paper's 1241-epoch Keras schedule).
  gcl           stage 1 (§1.7): NormedLinear head, GCL loss s 30, m 0, noise_mul 0.5, mixup alpha 1 (the
                loss is called twice, so y_a and y_b get independent noise draws), batch 64, wd 2e-4,
                lr 0.1, warm-up then x0.1 from a, x0.01 from b. The stage-1 weights of the epoch with the
                best test top-1 are kept (as the GCL repository does).
                stage 2 (§1.8): those weights loaded, backbone frozen in eval mode, the NormedLinear head
                kept (not re-initialised) and trained alone with GCL s 20, m 0.1, noise_mul 0.5 and the
                focal term (gamma 1, detached p, plain mean), mixup alpha 1 (mixed images through the
                frozen backbone), CBEN sampler (§1.4; N draws with replacement per epoch), batch 64, wd
                2e-4, lr_e = 0.01 * lr_max * (1 + cos(pi e / E2)) with lr_max 0.1, 30 epochs.

Reported numbers: top1 is the best test top-1 over the epochs of the final stage (the LDAM-DRW / GCL
scripts select on the test set); many / medium / few are the mean per-class accuracies of that same
epoch for the classes with > 100 / 20..100 / < 20 training images (null for an empty group); top1_last
is the last epoch; stage1_top1 is the best stage-1 epoch (equal to top1 for the one-stage recipes).
The test set is evaluated after every epoch.

Data (--data DIR): either an image-folder tree DIR/{train,test}/<class>/**/*.{jpg,jpeg,png,ppm} or the
CIFAR-10 binary batches DIR/data_batch_{1..5}.bin + DIR/test_batch.bin (DIR may also be the parent of
cifar-10-batches-bin/). Sample order is the one of the tailor engine: classes = sub-folders sorted by name,
files sorted by (folder, file name) inside a class, classes concatenated in order (binary: file order).
Images are decoded once (PIL) into memory; only the LT subset of the training split is decoded.
LT subset (§3.5): n_c = int(n_max * (1 / rho) ** (c / (C - 1))), n_max = the smallest class count of the
balanced set; np.random.seed(lt_seed) once, then per class c in order: shuffle the ascending positions of
class c and keep the first n_c (class 0's kept samples first). CIFAR-10 rho 100: 5000 2997 1796 1077 645
387 232 139 83 50 = 12406 images. Augmentation: RandomCrop(32, padding 4, zero fill) + horizontal flip
(p 0.5) in the loader workers, ToTensor scaling and Normalize(mean (0.4914, 0.4822, 0.4465), std (0.2023,
0.1994, 0.2010)) on the batch; test images are only normalised.

Choices where the sources leave room (the tailor recipes must match them):
  * cRT hyper-parameters: §4.2 gives no CIFAR setting (ImageNet-LT: 10 epochs, lr 0.2, batch 512, wd
    5e-4; Places-LT: 10 epochs, lr 0.1, batch 256). Used here: 10 epochs, lr 0.1, batch 128 (the CIFAR
    stage-1 batch), wd 2e-4 (the CIFAR wd), the cosine variant whose first epoch runs at the full lr (the
    PyTorch < 1.1 reading of §4.2). The backbone is in eval mode (BN running statistics are used and kept;
    Kang et al.'s code would leave it in train mode). cRT starts, like GCL stage 2, from the stage-1
    epoch with the best test top-1 (--stage1-select last uses the last epoch instead).
  * The class-aware sampler keeps its class / within-class cycles across epochs (as Kang et al.'s
    iterator objects do); an epoch is int(N / B) full batches, as Decoupling's run_networks counts it
    (epoch_steps) and tailor's class-aware stages do.
  * DRW switches on at the first milestone (160 of 200 in the paper), so shortened schedules move it
    together with the lr drop.
  * GCL noise: |clamp(eps, -1, 1)| with eps ~ N(0, std 1/3), drawn on the CPU from the global torch RNG
    for every loss call, shape B x C.
  * CBEN weights are computed in float64 (the reference uses float32; the class probabilities agree to
    4 decimals).
  * wall_s is the time from the start of data loading to the end (decoding the dataset, training,
    per-epoch evaluation, stage switch), as tailor's wall_s; the decoding alone is also reported as load_s. train_img_per_s counts the images of
    both stages (stage-2 images go through the frozen backbone without gradients) over the training time
    only (no evaluation). peak_mem_mb is the peak RSS of this process (data-loader workers are separate
    processes) on the CPU, torch.cuda.max_memory_allocated on CUDA.

Time-limited jobs: --state FILE writes the run's progress after every epoch (atomically); --stop-after S
stops after the first epoch that ends past S seconds of this process, with the state saved, exit status 75;
--resume continues from FILE (which must exist; a state written with other recipe / seed / schedule flags
is refused, naming the flag). wall_s then adds up the parts. The resumed run follows the same schedule but
is not bit-identical to an uninterrupted one (the loader workers are re-seeded, a class-aware sampler
restarts its cycles); with --workers 0 and an instance or CBEN sampler it is.

Initial weights: --init FILE (safetensors, PyTorch names: a tailor checkpoint or replay_steps.py's
init.safetensors) replaces the seed's random initialisation after the model is built, so the seed's data
order and augmentation stay what they are without it; names and shapes must match the model's.

Example (the full GCL recipe on one CPU with 2 threads):
  /usr/bin/python3 benchmarks/pytorch/lt_train.py --recipe gcl --data .cache/cifar10-jpg --threads 2 \\
      --out runs/gcl_pytorch.json
Smoke test:
  /usr/bin/python3 benchmarks/pytorch/lt_train.py --recipe gcl --data .cache/cifar10-jpg --epochs 2 \\
      --warmup 1 --milestones 1,2 --stage2-epochs 1 --max-steps-per-epoch 5 --threads 1
"""
import argparse
import copy
import json
import math
import os
import random
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from check_checkpoint import read_safetensors  # noqa: E402
from lt_data import MEAN, STD, load_data, make_loader  # noqa: E402

# Per-recipe settings; "stage2": None for the one-stage recipes.
RECIPES = {
    "ce": dict(head="linear", loss="ce", batch=128, lr=0.1, factors=(0.01, 1e-4), mixup=0.0, stage2=None),
    "ldam_drw": dict(head="norm", loss="ldam_drw", batch=128, lr=0.1, factors=(0.01, 1e-4), mixup=0.0,
                     stage2=None),
    "logit_adjust": dict(head="linear", loss="logit_adjust", batch=128, lr=0.1, factors=(0.01, 1e-4),
                         mixup=0.0, stage2=None),
    "ce_mixup_crt": dict(head="linear", loss="ce", batch=128, lr=0.1, factors=(0.1, 0.01), mixup=1.0,
                         stage2=dict(method="crt", epochs=10, lr=0.1, sampler="class_aware", mixup=0.0,
                                     select="best")),
    "gcl": dict(head="norm", loss="gcl", batch=64, lr=0.1, factors=(0.1, 0.01), mixup=1.0,
                stage2=dict(method="gcl_retrain", epochs=30, lr=0.1, sampler="cben", mixup=1.0,
                            select="best")),
}
WEIGHT_DECAY = 2e-4
MOMENTUM = 0.9
EXIT_STOPPED = 75  # --stop-after: stopped early with the state saved (EX_TEMPFAIL)


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------
def upload(t, device):
    """A host tensor drawn this step, to the device without a host wait (pinned, asynchronous) on a GPU."""
    if device.type != "cuda":
        return t
    return t.pin_memory().to(device, non_blocking=True)


class OnDevice:
    """A constant kept on each device it is asked for, uploaded once."""

    def __init__(self, t):
        self.t, self.copies = t, {}

    def on(self, device):
        if device not in self.copies:
            self.copies[device] = self.t.to(device)
        return self.copies[device]


class GCLLoss:
    """GCL (§1.3): z = cos - noise_mul * |clamp(eps, -1, 1)| * delta~_j - m * [j = y], loss = CE(s * z, y);
    eps ~ N(0, std 1/3) per sample and class, delta~_j = (log n_max - log n_j) / max. With train_cls the
    per-sample CE values l are re-weighted by (1 - exp(-l).detach()) ** gamma (plain mean)."""

    def __init__(self, counts, s, m, noise_mul, train_cls=False, gamma=0.0):
        d = np.log(max(counts)) - np.log(np.asarray(counts, dtype=np.float64))
        d = d / d.max() if d.max() > 0 else np.zeros_like(d)
        self.delta = OnDevice(torch.tensor(d, dtype=torch.float32))
        self.s, self.m, self.noise_mul, self.train_cls, self.gamma = s, m, noise_mul, train_cls, gamma

    def __call__(self, cos, y):
        eps = upload((torch.randn(cos.shape) / 3.0).clamp(-1.0, 1.0).abs(), cos.device)
        z = cos - self.noise_mul * eps * self.delta.on(cos.device)
        if self.m:
            z = z - self.m * F.one_hot(y, cos.shape[1]).to(z.dtype)
        if not self.train_cls:
            return F.cross_entropy(self.s * z, y)
        l = F.cross_entropy(self.s * z, y, reduction="none")
        p = torch.exp(-l).detach()
        return ((1.0 - p) ** self.gamma * l).mean()


class LDAMLoss:
    """LDAM (§3.1): CE(s * (cos - Delta_y [j = y]), y, weight), Delta_j = max_m * n_j^-1/4 / max n^-1/4."""

    def __init__(self, counts, max_m=0.5, s=30.0):
        m = np.asarray(counts, dtype=np.float64) ** -0.25
        self.margins = OnDevice(torch.tensor(m * (max_m / m.max()), dtype=torch.float32))
        self.s, self.weight = s, None  # weight: an OnDevice, or None

    def __call__(self, cos, y):
        z = cos - F.one_hot(y, cos.shape[1]).to(cos.dtype) * self.margins.on(cos.device)[y].unsqueeze(1)
        w = None if self.weight is None else self.weight.on(cos.device)
        return F.cross_entropy(self.s * z, y, weight=w)


class LogitAdjustedLoss:
    """Logit-adjusted loss (§7): CE(z_j + log(pi_j^tau + 1e-12), y), pi_j = n_j / N (the official code adds
    the 1e-12 to pi^tau inside the log); the test prediction is the plain argmax z."""

    def __init__(self, counts, tau=1.0):
        pi = np.asarray(counts, dtype=np.float64) / float(sum(counts))
        self.offset = OnDevice(torch.tensor(np.log(pi ** tau + 1e-12), dtype=torch.float32))

    def __call__(self, logits, y):
        return F.cross_entropy(logits + self.offset.on(logits.device), y)


def drw_weights(counts, epoch, drw_epoch, beta=0.9999):
    """DRW (§3.2): ones before drw_epoch, then (1 - beta) / (1 - beta^n_j) normalised to sum C."""
    b = 0.0 if epoch < drw_epoch else beta
    w = (1.0 - b) / (1.0 - b ** np.asarray(counts, dtype=np.float64))
    return torch.tensor(w / w.sum() * len(counts), dtype=torch.float32)


def ce_loss(out, y):
    return F.cross_entropy(out, y)


def stage1_loss(name, counts):
    """The recipes' stage-1 loss: "ce", "ldam_drw" (LDAMLoss; DRW sets .weight per epoch), "logit_adjust"
    or "gcl"."""
    if name == "ce":
        return ce_loss
    if name == "logit_adjust":
        return LogitAdjustedLoss(counts, tau=1.0)
    if name == "ldam_drw":
        return LDAMLoss(counts, max_m=0.5, s=30.0)
    return GCLLoss(counts, s=30.0, m=0.0, noise_mul=0.5)


# ----------------------------------------------------------------------------------------------------
# Schedules (e is the 0-based epoch; the lr is set at the start of each epoch)
# ----------------------------------------------------------------------------------------------------
def lr_warmup_multistep(e, base, warmup, milestones, factors):
    if e < warmup:
        return base * (e + 1) / warmup
    f = 1.0
    for m, fac in zip(milestones, factors):
        if e >= m:
            f = fac
    return base * f


def lr_cosine(e, base, total):
    return base * 0.5 * (1.0 + math.cos(math.pi * e / total))


# ----------------------------------------------------------------------------------------------------
# Training / evaluation
# ----------------------------------------------------------------------------------------------------
MEAN_T = OnDevice(torch.tensor(MEAN).view(1, 3, 1, 1))
STD_T = OnDevice(torch.tensor(STD).view(1, 3, 1, 1))


def normalize_batch(xb, device):
    return (xb.to(device, non_blocking=True).float().div_(255.0) - MEAN_T.on(device)) / STD_T.on(device)


@torch.no_grad()
def evaluate(model, x, y, counts, device, batch=500):
    model.eval()
    num_classes = len(counts)
    pred = []
    xt = torch.from_numpy(x)
    for i in range(0, len(y), batch):
        xb = xt[i:i + batch].permute(0, 3, 1, 2)
        pred.append(model(normalize_batch(xb, device)).argmax(1).cpu())
    pred = torch.cat(pred).numpy()
    correct = pred == y
    per_class = np.array([correct[y == c].mean() * 100.0 if (y == c).any() else np.nan
                          for c in range(num_classes)])
    n = np.asarray(counts)

    def group(mask):
        vals = per_class[mask & ~np.isnan(per_class)]
        return round(float(vals.mean()), 4) if len(vals) else None

    return dict(top1=round(float(correct.mean() * 100.0), 4), many=group(n > 100),
                medium=group((n >= 20) & (n <= 100)), few=group(n < 20),
                per_class_acc=[None if np.isnan(v) else round(float(v), 4) for v in per_class])


def train_epoch(model, loader, opt, loss_fn, mixup, device, max_steps, frozen):
    """One epoch; frozen: backbone in eval mode under no_grad, only the head trains."""
    if frozen:
        model.eval()
    else:
        model.train()
    total, images, steps = 0.0, 0, 0
    for xb, yb in loader:
        if max_steps and steps >= max_steps:
            break
        x = normalize_batch(xb, device)
        y = yb.to(device, non_blocking=True)
        if mixup > 0:
            lam = float(np.random.beta(mixup, mixup))
            perm = upload(torch.randperm(x.shape[0]), device)
            x = lam * x + (1.0 - lam) * x[perm]
        if frozen:
            with torch.no_grad():
                feat = model.features(x)
            out = model.linear(feat)
        else:
            out = model(x)
        if mixup > 0:
            loss = lam * loss_fn(out, y) + (1.0 - lam) * loss_fn(out, y[perm])
        else:
            loss = loss_fn(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * x.shape[0]
        images += x.shape[0]
        steps += 1
    return total / max(images, 1), images


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_stage(name, model, loader, params, lr_of, epochs, loss_fn, mixup, test, counts, a, device, frozen,
              per_epoch=None, resume=None, after_epoch=None):
    """Trains `epochs` epochs, evaluating after each; returns a dict with best, last, best_state, train_s,
    images and stopped. resume: the same dict saved by an earlier segment (plus epoch and opt) to continue
    from; after_epoch(progress) is called after every epoch and returns True to stop early."""
    opt = torch.optim.SGD(params, lr=lr_of(0), momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    r = dict(best=None, last=None, best_state=None, train_s=0.0, images=0, epoch=0, stopped=False)
    if resume is not None:
        opt.load_state_dict(resume["opt"])
        r.update({k: resume[k] for k in ("best", "last", "best_state", "train_s", "images", "epoch")})
    for e in range(r["epoch"], epochs):
        lr = lr_of(e)
        for g in opt.param_groups:
            g["lr"] = lr
        if per_epoch:
            per_epoch(e)
        sync(device)
        t0 = time.perf_counter()
        loss, n = train_epoch(model, loader, opt, loss_fn, mixup, device, a.max_steps_per_epoch, frozen)
        sync(device)
        t1 = time.perf_counter()
        last = evaluate(model, test[0], test[1], counts, device)
        t2 = time.perf_counter()
        r["train_s"] += t1 - t0
        r["images"] += n
        r["last"], r["epoch"] = last, e + 1
        if r["best"] is None or last["top1"] > r["best"]["top1"]:
            r["best"] = dict(last, epoch=e + 1)
            r["best_state"] = copy.deepcopy(model.state_dict())
        log("[%s] epoch %d/%d  lr %.6f  loss %.4f  top1 %.2f (best %.2f @%d)  %.1f s (train %.1f, eval %.1f)"
            % (name, e + 1, epochs, lr, loss, last["top1"], r["best"]["top1"], r["best"]["epoch"], t2 - t0,
               t1 - t0, t2 - t1))
        if after_epoch and e + 1 < epochs and after_epoch(dict(r, opt=opt.state_dict())):
            r["stopped"] = True
            break
    return r


class StateFile:
    """--state: the run's progress after every epoch (model, optimizer, stage, epoch, best / last results,
    RNG states, time so far), written atomically; --resume continues from it. A resumed run continues the
    same schedule from the next epoch; it is not bit-identical to an uninterrupted one (the data-loader
    workers are re-seeded and a class-aware sampler restarts its cycles)."""

    KEYS = ("recipe", "seed", "epochs", "warmup", "milestones", "stage2_epochs", "imbalance_ratio", "lt_seed",
            "batch", "lr", "init")  # a state written before --init existed reads None for it

    def __init__(self, path, args):
        self.path, self.args = path, args

    def identity(self):
        return {k: getattr(self.args, k) for k in self.KEYS}

    def load(self):
        if not self.path or not os.path.isfile(self.path):
            sys.exit("lt_train.py: --resume: state file %s not found (nothing to resume; drop --resume to start)"
                     % self.path)
        st = torch.load(self.path, map_location="cpu", weights_only=False)  # our own state (numpy RNG arrays)
        for k, v in self.identity().items():
            if st["identity"].get(k) != v:
                sys.exit("lt_train.py: --resume: %s was written with --%s %r, this run has %r"
                         % (self.path, k.replace("_", "-"), st["identity"].get(k), v))
        return st

    def save(self, model, stage, progress, stage1, elapsed):
        if not self.path:
            return
        st = dict(identity=self.identity(), stage=stage, model=model.state_dict(), progress=progress,
                  stage1=stage1, elapsed=elapsed,
                  rng=dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state(),
                           cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None))
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        tmp = self.path + ".tmp"
        torch.save(st, tmp)
        os.replace(tmp, self.path)


def load_init(model, path):
    """--init: every tensor of the model's state (BatchNorm statistics included) from a safetensors file, names
    and shapes checked; the model was built first, so the seed's RNG streams are where they are without --init."""
    if not os.path.isfile(path):
        sys.exit("lt_train.py: --init: %s not found" % path)
    got = read_safetensors(path)
    want = model.state_dict()
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing or extra:
        sys.exit("lt_train.py: --init %s: names differ from the model's (missing %s; not in the model %s)"
                 % (path, missing[:5], extra[:5]))
    for k, v in want.items():
        if tuple(got[k].shape) != tuple(v.shape):
            sys.exit("lt_train.py: --init %s: %s has shape %s, the model's is %s"
                     % (path, k, tuple(got[k].shape), tuple(v.shape)))
    model.load_state_dict({k: got[k].to(want[k].dtype) for k in want})


def restore_rng(rng):
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--recipe", required=True, choices=sorted(RECIPES))
    p.add_argument("--data", required=True, help="image-folder root (train/, test/) or CIFAR-10 binary dir")
    p.add_argument("--imbalance-ratio", type=float, default=100.0)
    p.add_argument("--lt-seed", type=int, default=0)
    p.add_argument("--seed", type=int, default=0, help="python / numpy / torch seed for training")
    p.add_argument("--epochs", type=int, default=200, help="stage-1 epochs")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--milestones", default="160,180", help="a,b: 0-based epochs of the two lr drops")
    p.add_argument("--stage2-epochs", type=int, default=None, help="default 30 (gcl) / 10 (ce_mixup_crt)")
    p.add_argument("--stage2-lr", type=float, default=None,
                   help="gcl: lr_max (0.1; the lr is 0.01 lr_max (1 + cos)); crt: base lr (0.1)")
    p.add_argument("--stage2-sampler", choices=["cben", "balanced_rs", "class_aware", "instance"], default=None)
    p.add_argument("--stage1-select", choices=["best", "last"], default=None,
                   help="stage-1 weights stage 2 starts from (default: best test top-1)")
    p.add_argument("--batch", type=int, default=None, help="both stages (default: 64 gcl, 128 otherwise)")
    p.add_argument("--lr", type=float, default=None, help="stage-1 base lr (default 0.1)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--workers", type=int, default=2, help="data-loader worker processes (0: in process)")
    p.add_argument("--max-steps-per-epoch", type=int, default=0, help="cap on steps per epoch (smoke tests)")
    p.add_argument("--init", default=None,
                   help="start from these weights (safetensors, PyTorch names: a tailor checkpoint or "
                        "replay_steps.py's init.safetensors) instead of the seed's random initialisation; the "
                        "seed still draws the data order and augmentation as without --init")
    p.add_argument("--out", default=None, help="also write the final JSON line to this file")
    p.add_argument("--state", default=None, help="write the run's progress to this file after every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --state (which must exist)")
    p.add_argument("--stop-after", type=float, default=0,
                   help="seconds: stop after the first epoch that ends past this time in this process, with the "
                        "state saved (needs --state), exit status %d; 0 = never" % EXIT_STOPPED)
    a = p.parse_args(argv)
    try:
        a.milestones = [int(v) for v in a.milestones.split(",")]
        assert len(a.milestones) == 2
    except (ValueError, AssertionError):
        p.error("--milestones expects two integers a,b")
    if a.epochs < 1 or a.warmup < 0 or a.workers < 0 or a.max_steps_per_epoch < 0:
        p.error("--epochs must be >= 1; --warmup, --workers, --max-steps-per-epoch >= 0")
    if a.imbalance_ratio < 1:
        p.error("--imbalance-ratio is n_max / n_min >= 1")
    if (a.resume or a.stop_after > 0) and not a.state:
        p.error("--resume and --stop-after need --state FILE")
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda requested but CUDA is not available")
    return a


def main(argv=None):
    a = parse_args(argv)
    rc = RECIPES[a.recipe]
    s2 = rc["stage2"]
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    state_file = StateFile(a.state, a)
    resumed = state_file.load() if a.resume else None

    t_start = t_load = time.perf_counter()
    elapsed_before = resumed["elapsed"] if resumed else 0.0
    train_x, train_y, test_x, test_y, classes, counts, source = load_data(a.data, a.imbalance_ratio, a.lt_seed)
    load_s = time.perf_counter() - t_load
    log("data: %s, %d classes, load %.1f s" % (source, len(classes), load_s))
    log("LT subset (exp, imbalance ratio %g, lt_seed %d): %d images, counts %s"
        % (a.imbalance_ratio, a.lt_seed, len(train_y), counts))
    log("test: %d images" % len(test_y))

    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    batch = a.batch or rc["batch"]
    lr1 = a.lr if a.lr is not None else rc["lr"]
    test = (test_x, test_y)
    e2 = (a.stage2_epochs if a.stage2_epochs is not None else s2["epochs"]) if s2 is not None else 0

    model = models.resnet32(num_classes=len(classes), use_norm=rc["head"] == "norm").to(device)
    if a.init and not resumed:
        load_init(model, a.init)
        log("initial weights from %s" % a.init)
    if resumed:
        if resumed["stage"] == 2 and s2["method"] == "crt":
            model.linear = nn.Linear(model.linear.in_features, len(classes)).to(device)
        model.load_state_dict(resumed["model"])
        restore_rng(resumed["rng"])
        log("resumed from %s: stage %d after epoch %d (%.1f s so far)"
            % (a.state, resumed["stage"], resumed["progress"]["epoch"], elapsed_before))

    def elapsed():
        return elapsed_before + time.perf_counter() - t_start

    def after_epoch(stage, stage1=None):
        def save_and_check(progress):
            state_file.save(model, stage, progress, stage1, elapsed())
            return a.stop_after > 0 and time.perf_counter() - t_start >= a.stop_after
        return save_and_check

    def stop(stage, progress):
        log("stopped after %.0f s at stage %d epoch %d; state in %s (continue with --resume)"
            % (time.perf_counter() - t_start, stage, progress["epoch"], a.state))
        return EXIT_STOPPED

    loss1 = stage1_loss(rc["loss"], counts)

    def per_epoch1(e):
        if rc["loss"] == "ldam_drw":
            loss1.weight = OnDevice(drw_weights(counts, e, a.milestones[0]))

    if resumed is None or resumed["stage"] == 1:
        loader1 = make_loader(train_x, train_y, counts, batch, "instance", a.workers, a.seed, device)
        log("stage 1: %s, %s head, batch %d, lr %g, warmup %d, milestones %s x%s, mixup %g, %d epochs"
            % (a.recipe, rc["head"], batch, lr1, a.warmup, a.milestones, list(rc["factors"]), rc["mixup"],
               a.epochs))
        r1 = run_stage(
            "stage1", model, loader1,
            model.parameters(), lambda e: lr_warmup_multistep(e, lr1, a.warmup, a.milestones, rc["factors"]),
            a.epochs, loss1, rc["mixup"], test, counts, a, device, frozen=False, per_epoch=per_epoch1,
            resume=resumed["progress"] if resumed else None, after_epoch=after_epoch(1))
        del loader1
        if r1["stopped"]:
            return stop(1, r1)
        stage1 = {k: r1[k] for k in ("best", "last", "best_state", "train_s", "images")}
        resumed = None
    else:
        stage1 = resumed["stage1"]
    best1, last1 = stage1["best"], stage1["last"]
    best, last = best1, last1
    train_s, images = stage1["train_s"], stage1["images"]

    if s2 is not None:
        select = a.stage1_select or s2["select"]
        if resumed is None:  # entering stage 2: its starting weights
            if select == "best":
                model.load_state_dict(stage1["best_state"])
            if s2["method"] == "crt":
                model.linear = nn.Linear(model.linear.in_features, len(classes)).to(device)  # default init
        for prm in model.parameters():
            prm.requires_grad_(False)
        lr_max = a.stage2_lr if a.stage2_lr is not None else s2["lr"]
        sampler = a.stage2_sampler or s2["sampler"]
        if s2["method"] == "crt":
            loss2 = ce_loss
            lr_of = lambda e: lr_cosine(e, lr_max, e2)  # noqa: E731
        else:
            loss2 = GCLLoss(counts, s=20.0, m=0.1, noise_mul=0.5, train_cls=True, gamma=1.0)
            lr_of = lambda e: lr_cosine(e, 0.02 * lr_max, e2)  # = 0.01 lr_max (1 + cos(pi e / E2))  # noqa: E731
        for prm in model.linear.parameters():
            prm.requires_grad_(True)
        log("stage 2: %s from the %s stage-1 epoch (top1 %.2f), sampler %s, batch %d, lr %g cosine, mixup %g, "
            "%d epochs" % (s2["method"], select, (best1 if select == "best" else last1)["top1"], sampler, batch,
                           lr_of(0), s2["mixup"], e2))
        stage1_kept = dict(stage1, best_state=None)  # stage 2 no longer needs the stage-1 weights
        loader2 = make_loader(train_x, train_y, counts, batch, sampler, a.workers, a.seed + 1, device)
        r2 = run_stage(
            "stage2", model, loader2, list(model.linear.parameters()), lr_of, e2, loss2, s2["mixup"], test,
            counts, a, device, frozen=True, resume=resumed["progress"] if resumed else None,
            after_epoch=after_epoch(2, stage1_kept))
        del loader2
        if r2["stopped"]:
            return stop(2, r2)
        best, last = r2["best"], r2["last"]
        train_s += r2["train_s"]
        images += r2["images"]

    wall_s = elapsed()
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / (1024.0 * 1024.0)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out = {
        "engine": "pytorch", "recipe": a.recipe, "device": a.device, "threads": torch.get_num_threads(),
        "seed": a.seed, "epochs": a.epochs, "stage2_epochs": e2,
        "top1": best["top1"], "many": best["many"], "medium": best["medium"], "few": best["few"],
        "top1_last": last["top1"], "stage1_top1": best1["top1"], "stage1_top1_last": last1["top1"],
        "best_epoch": best["epoch"], "imbalance_ratio": a.imbalance_ratio, "train_images": int(len(train_y)),
        "wall_s": round(wall_s, 2), "load_s": round(load_s, 2), "train_s": round(train_s, 2),
        "train_img_per_s": round(images / train_s, 2) if train_s > 0 else None,
        "peak_mem_mb": round(peak, 1), "per_class_acc": best["per_class_acc"],
    }
    line = json.dumps(out)
    print(line, flush=True)
    if a.out:
        d = os.path.dirname(os.path.abspath(a.out))
        os.makedirs(d, exist_ok=True)
        with open(a.out, "w") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
