#!/usr/bin/python3
"""CIFAR-LT training recipes in plain PyTorch: the reference side of benchmarks/reproduce.sh.

Written from docs LT_METHODS.md (sections 1, 3, 4.2, 14); only torch, numpy and PIL are needed (no
torchvision). All recipes train the option-A ResNet-32 of models.py.

Recipes (e = 0-based epoch; W = --warmup; a, b = --milestones; "warm-up" is lr * (e + 1) / W for e < W,
per epoch, exactly the LDAM-DRW / GCL scripts' lr * epoch / 5 with a 1-based epoch):

  ce            Linear head, cross-entropy, instance sampling, batch 128, SGD momentum 0.9, wd 2e-4,
                lr 0.1, warm-up then x0.01 from epoch a and x0.0001 from epoch b (LDAM-DRW schedule,
                LT_METHODS §3.6 / §14 "same as LDAM").
  ce_mixup_crt  stage 1: Linear head, CE with mixup alpha 1 (one lambda ~ Beta(1, 1) per batch, a random
                permutation as partner, loss lam * CE(y_a) + (1 - lam) * CE(y_b)), batch 128, wd 2e-4,
                lr 0.1, warm-up then x0.1 from a, x0.01 from b (MiSLAS stage-1 row of §14).
                stage 2 (cRT, §4.2): the best stage-1 weights (as for gcl), backbone frozen and in eval
                mode, the Linear head re-initialised (nn.Linear default init), class-aware sampler (k = 4;
                an epoch is N = dataset-size draws), plain CE, no mixup, batch 128, SGD momentum 0.9, wd
                2e-4, 10 epochs, lr 0.1 * (1 + cos(pi e / E2)) / 2 (cosine to 0 set at the start of each
                epoch, so the first epoch runs at the full lr).
  ldam_drw      NormedLinear head, LDAM (s 30, max_m 0.5) with DRW: class weights 1 before epoch a,
                effective-number weights (beta 0.9999, normalised to sum C) from epoch a on; batch 128,
                lr 0.1, LDAM schedule (x0.01 / x0.0001).
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
    iterator objects do); an epoch is N draws, the last batch may be short.
  * DRW switches on at the first milestone (160 of 200 in the paper), so shortened schedules move it
    together with the lr drop.
  * GCL noise: |clamp(eps, -1, 1)| with eps ~ N(0, std 1/3), drawn on the CPU from the global torch RNG
    for every loss call, shape B x C.
  * CBEN weights are computed in float64 (the reference uses float32; the class probabilities agree to
    4 decimals).
  * wall_s is the time from model construction to the end (training + per-epoch evaluation + stage
    switch); decoding the dataset is reported separately as load_s. train_img_per_s counts the images of
    both stages (stage-2 images go through the frozen backbone without gradients) over the training time
    only (no evaluation). peak_mem_mb is the peak RSS of this process (data-loader workers are separate
    processes) on the CPU, torch.cuda.max_memory_allocated on CUDA.

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

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".ppm")

# Per-recipe settings; "stage2": None for the one-stage recipes.
RECIPES = {
    "ce": dict(head="linear", loss="ce", batch=128, lr=0.1, factors=(0.01, 1e-4), mixup=0.0, stage2=None),
    "ldam_drw": dict(head="norm", loss="ldam_drw", batch=128, lr=0.1, factors=(0.01, 1e-4), mixup=0.0,
                     stage2=None),
    "ce_mixup_crt": dict(head="linear", loss="ce", batch=128, lr=0.1, factors=(0.1, 0.01), mixup=1.0,
                         stage2=dict(method="crt", epochs=10, lr=0.1, sampler="class_aware", mixup=0.0,
                                     select="best")),
    "gcl": dict(head="norm", loss="gcl", batch=64, lr=0.1, factors=(0.1, 0.01), mixup=1.0,
                stage2=dict(method="gcl_retrain", epochs=30, lr=0.1, sampler="cben", mixup=1.0,
                            select="best")),
}
WEIGHT_DECAY = 2e-4
MOMENTUM = 0.9


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------
def list_image_folder(root, split):
    """(paths, labels, class names) in the tailor engine's order."""
    d = os.path.join(root, split)
    classes = sorted(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e)))
    if not classes:
        raise SystemExit("%s: no class folders" % d)
    paths, labels = [], []
    for c, name in enumerate(classes):
        found = []
        for cur, _dirs, files in os.walk(os.path.join(d, name), followlinks=True):
            for f in files:
                if f.lower().endswith(IMAGE_EXTS):
                    found.append((cur, f))
        if not found:
            raise SystemExit("%s: class folder without images" % os.path.join(d, name))
        found.sort()  # folder first, then file name (byte order for ASCII names)
        paths += [os.path.join(cur, f) for cur, f in found]
        labels += [c] * len(found)
    return paths, np.array(labels, dtype=np.int64), classes


def decode_images(paths):
    from PIL import Image
    out = None
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.uint8)
        if out is None:
            out = np.empty((len(paths),) + a.shape, dtype=np.uint8)
        if a.shape != out.shape[1:]:
            raise SystemExit("%s: image shape %s differs from %s" % (p, a.shape, out.shape[1:]))
        out[i] = a
    return out


def cifar_bin_dir(root):
    for d in (root, os.path.join(root, "cifar-10-batches-bin")):
        if os.path.isfile(os.path.join(d, "test_batch.bin")):
            return d
    return None


def read_cifar_bin(files):
    xs, ys = [], []
    for f in files:
        raw = np.fromfile(f, dtype=np.uint8)
        if raw.size % 3073:
            raise SystemExit("%s: size %d is not a multiple of 3073" % (f, raw.size))
        rec = raw.reshape(-1, 3073)
        ys.append(rec[:, 0].astype(np.int64))
        xs.append(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def lt_counts(n_max, num_classes, rho):
    r = 1.0 / rho
    return [int(n_max * r ** (c / (num_classes - 1.0))) for c in range(num_classes)]


def lt_subset(labels, num_classes, rho, seed):
    """Indices of the LT subset (LDAM-DRW imbalance_cifar.py) and the per-class counts."""
    n_max = int(np.bincount(labels, minlength=num_classes).min())
    counts = lt_counts(n_max, num_classes, rho)
    rs = np.random.RandomState(seed)  # the same stream as np.random.seed(seed) + np.random.shuffle
    keep = []
    for c in range(num_classes):
        idx = np.where(labels == c)[0]
        rs.shuffle(idx)
        if len(idx) < counts[c]:
            raise SystemExit("class %d has %d images, the LT profile needs %d" % (c, len(idx), counts[c]))
        keep.append(idx[:counts[c]])
    return np.concatenate(keep), counts


def load_data(root, rho, lt_seed):
    """uint8 HWC train (LT subset) / test arrays, labels, class names and LT counts."""
    bdir = cifar_bin_dir(root)
    if bdir is not None:
        train_x, train_y = read_cifar_bin([os.path.join(bdir, "data_batch_%d.bin" % i) for i in range(1, 6)])
        test_x, test_y = read_cifar_bin([os.path.join(bdir, "test_batch.bin")])
        classes = [str(c) for c in range(int(train_y.max()) + 1)]
        meta = os.path.join(bdir, "batches.meta.txt")
        if os.path.isfile(meta):
            names = [l.strip() for l in open(meta) if l.strip()]
            if len(names) == len(classes):
                classes = names
        keep, counts = lt_subset(train_y, len(classes), rho, lt_seed)
        return train_x[keep], train_y[keep], test_x, test_y, classes, counts, "cifar10-bin " + bdir
    if os.path.isdir(os.path.join(root, "train")) and os.path.isdir(os.path.join(root, "test")):
        paths, labels, classes = list_image_folder(root, "train")
        keep, counts = lt_subset(labels, len(classes), rho, lt_seed)
        train_x = decode_images([paths[i] for i in keep])
        tpaths, test_y, tclasses = list_image_folder(root, "test")
        if tclasses != classes:
            raise SystemExit("%s: test classes differ from train classes" % root)
        return train_x, labels[keep], decode_images(tpaths), test_y, classes, counts, "image folder " + root
    raise SystemExit("%s: neither DIR/{train,test}/<class>/ images nor CIFAR-10 binary batches" % root)


class TrainSet(torch.utils.data.Dataset):
    """RandomCrop(32, padding 4, zeros) + horizontal flip on uint8 HWC images; returns uint8 CHW."""

    def __init__(self, x, y, seed):
        self.x, self.y = x, y
        self.rng = np.random.default_rng(seed)
        self.pad = np.zeros((x.shape[1] + 8, x.shape[2] + 8, x.shape[3]), dtype=np.uint8)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        h, w = self.x.shape[1], self.x.shape[2]
        self.pad[4:4 + h, 4:4 + w] = self.x[i]
        dy, dx, flip = self.rng.integers(0, 9), self.rng.integers(0, 9), self.rng.random() < 0.5
        img = self.pad[dy:dy + h, dx:dx + w]
        if flip:
            img = img[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), int(self.y[i])


def worker_init(_worker_id):
    info = torch.utils.data.get_worker_info()
    # torch gives every worker a distinct seed derived from the main process's (seeded) torch RNG
    info.dataset.rng = np.random.default_rng(torch.initial_seed() % 2 ** 63)


class ClassAwareSampler(torch.utils.data.Sampler):
    """Kang et al.'s ClassAwareSampler (§4.4): a shuffled cycle over the classes (re-shuffled every pass);
    each class turn yields k items of that class's own shuffled cycle (re-shuffled every pass). An epoch is
    num_samples draws; the cycles continue across epochs."""

    def __init__(self, labels, num_classes, k, num_samples, seed):
        self.rng = random.Random(seed)
        self.k, self.num_samples = k, num_samples
        self.by_class = [list(np.where(labels == c)[0]) for c in range(num_classes)]
        self.by_class = [(c, idx) for c, idx in enumerate(self.by_class) if idx]
        self.class_cycle, self.class_pos = [], 0
        self.item_cycles = [[list(idx), len(idx)] for _, idx in self.by_class]  # [order, position]

    def _next_class(self):
        if self.class_pos >= len(self.class_cycle):
            self.class_cycle = list(range(len(self.by_class)))
            self.rng.shuffle(self.class_cycle)
            self.class_pos = 0
        self.class_pos += 1
        return self.class_cycle[self.class_pos - 1]

    def _next_item(self, j):
        cyc = self.item_cycles[j]
        if cyc[1] >= len(cyc[0]):
            self.rng.shuffle(cyc[0])
            cyc[1] = 0
        cyc[1] += 1
        return int(cyc[0][cyc[1] - 1])

    def __iter__(self):
        out = []
        while len(out) < self.num_samples:
            j = self._next_class()
            out += [self._next_item(j) for _ in range(self.k)]
        return iter(out[:self.num_samples])

    def __len__(self):
        return self.num_samples


def cben_class_weights(counts, beta_a=0.9999, beta_b=1e-5):
    """CBEN per-sample weight of each class (§1.4): (1 - b_c) / (1 - b_c ** n_c)."""
    n = np.asarray(counts, dtype=np.float64)
    delta = np.log(n.max()) - np.log(n)
    span = delta.max() - delta.min()
    dn = (delta - delta.min()) / span if span > 0 else np.zeros_like(delta)
    beta = beta_a + beta_b * dn
    return (1.0 - beta) / (1.0 - beta ** n)


def make_loader(x, y, counts, batch, sampler, workers, seed, device):
    ds = TrainSet(x, y, seed)
    kw = dict(batch_size=batch, num_workers=workers, pin_memory=device.type == "cuda", drop_last=False)
    if workers > 0:
        kw.update(worker_init_fn=worker_init, persistent_workers=True)
    if sampler == "instance":
        return torch.utils.data.DataLoader(ds, shuffle=True, **kw)
    if sampler == "class_aware":
        s = ClassAwareSampler(y, len(counts), 4, len(y), seed)
    elif sampler in ("cben", "balanced_rs"):
        cw = cben_class_weights(counts) if sampler == "cben" else 1.0 / np.asarray(counts, dtype=np.float64)
        s = torch.utils.data.WeightedRandomSampler(torch.as_tensor(cw[y]), len(y), replacement=True)
    else:
        raise SystemExit("unknown sampler %r" % sampler)
    return torch.utils.data.DataLoader(ds, sampler=s, **kw)


# ----------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------
class GCLLoss:
    """GCL (§1.3): z = cos - noise_mul * |clamp(eps, -1, 1)| * delta~_j - m * [j = y], loss = CE(s * z, y);
    eps ~ N(0, std 1/3) per sample and class, delta~_j = (log n_max - log n_j) / max. With train_cls the
    per-sample CE values l are re-weighted by (1 - exp(-l).detach()) ** gamma (plain mean)."""

    def __init__(self, counts, s, m, noise_mul, train_cls=False, gamma=0.0):
        d = np.log(max(counts)) - np.log(np.asarray(counts, dtype=np.float64))
        d = d / d.max() if d.max() > 0 else np.zeros_like(d)
        self.delta = torch.tensor(d, dtype=torch.float32)
        self.s, self.m, self.noise_mul, self.train_cls, self.gamma = s, m, noise_mul, train_cls, gamma

    def __call__(self, cos, y):
        eps = (torch.randn(cos.shape) / 3.0).clamp(-1.0, 1.0).abs().to(cos.device)
        z = cos - self.noise_mul * eps * self.delta.to(cos.device)
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
        self.margins = torch.tensor(m * (max_m / m.max()), dtype=torch.float32)
        self.s, self.weight = s, None

    def __call__(self, cos, y):
        z = cos - F.one_hot(y, cos.shape[1]).to(cos.dtype) * self.margins.to(cos.device)[y].unsqueeze(1)
        w = None if self.weight is None else self.weight.to(cos.device)
        return F.cross_entropy(self.s * z, y, weight=w)


def drw_weights(counts, epoch, drw_epoch, beta=0.9999):
    """DRW (§3.2): ones before drw_epoch, then (1 - beta) / (1 - beta^n_j) normalised to sum C."""
    b = 0.0 if epoch < drw_epoch else beta
    w = (1.0 - b) / (1.0 - b ** np.asarray(counts, dtype=np.float64))
    return torch.tensor(w / w.sum() * len(counts), dtype=torch.float32)


def ce_loss(out, y):
    return F.cross_entropy(out, y)


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
def normalize_batch(xb, device):
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    return (xb.to(device, non_blocking=True).float().div_(255.0) - mean) / std


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
                medium=group((n >= 20) & (n <= 100)), few=group(n < 20))


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
            perm = torch.randperm(x.shape[0]).to(device)
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
              per_epoch=None):
    """Trains `epochs` epochs, evaluating after each; returns (best, last, best_state, train_s, images)."""
    opt = torch.optim.SGD(params, lr=lr_of(0), momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    best, best_state, last = None, None, None
    train_s, images = 0.0, 0
    for e in range(epochs):
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
        train_s += t1 - t0
        images += n
        if best is None or last["top1"] > best["top1"]:
            best = dict(last, epoch=e + 1)
            best_state = copy.deepcopy(model.state_dict())
        log("[%s] epoch %d/%d  lr %.6f  loss %.4f  top1 %.2f (best %.2f @%d)  %.1f s (train %.1f, eval %.1f)"
            % (name, e + 1, epochs, lr, loss, last["top1"], best["top1"], best["epoch"], t2 - t0, t1 - t0,
               t2 - t1))
    return best, last, best_state, train_s, images


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
    p.add_argument("--out", default=None, help="also write the final JSON line to this file")
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

    t_load = time.perf_counter()
    train_x, train_y, test_x, test_y, classes, counts, source = load_data(a.data, a.imbalance_ratio, a.lt_seed)
    load_s = time.perf_counter() - t_load
    log("data: %s, %d classes, load %.1f s" % (source, len(classes), load_s))
    log("LT subset (exp, imbalance ratio %g, lt_seed %d): %d images, counts %s"
        % (a.imbalance_ratio, a.lt_seed, len(train_y), counts))
    log("test: %d images" % len(test_y))

    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    t_start = time.perf_counter()
    batch = a.batch or rc["batch"]
    lr1 = a.lr if a.lr is not None else rc["lr"]
    test = (test_x, test_y)

    model = models.resnet32(num_classes=len(classes), use_norm=rc["head"] == "norm").to(device)
    if rc["loss"] == "ce":
        loss1 = ce_loss
    elif rc["loss"] == "ldam_drw":
        loss1 = LDAMLoss(counts, max_m=0.5, s=30.0)
    else:
        loss1 = GCLLoss(counts, s=30.0, m=0.0, noise_mul=0.5)

    def per_epoch1(e):
        if rc["loss"] == "ldam_drw":
            loss1.weight = drw_weights(counts, e, a.milestones[0])

    loader1 = make_loader(train_x, train_y, counts, batch, "instance", a.workers, a.seed, device)
    log("stage 1: %s, %s head, batch %d, lr %g, warmup %d, milestones %s x%s, mixup %g, %d epochs"
        % (a.recipe, rc["head"], batch, lr1, a.warmup, a.milestones, list(rc["factors"]), rc["mixup"], a.epochs))
    best1, last1, state1, train_s, images = run_stage(
        "stage1", model, loader1,
        model.parameters(), lambda e: lr_warmup_multistep(e, lr1, a.warmup, a.milestones, rc["factors"]),
        a.epochs, loss1, rc["mixup"], test, counts, a, device, frozen=False, per_epoch=per_epoch1)
    del loader1
    best, last = best1, last1

    e2 = 0
    if s2 is not None:
        e2 = a.stage2_epochs if a.stage2_epochs is not None else s2["epochs"]
        select = a.stage1_select or s2["select"]
        if select == "best":
            model.load_state_dict(state1)
        for prm in model.parameters():
            prm.requires_grad_(False)
        lr_max = a.stage2_lr if a.stage2_lr is not None else s2["lr"]
        sampler = a.stage2_sampler or s2["sampler"]
        if s2["method"] == "crt":
            model.linear = nn.Linear(model.linear.in_features, len(classes)).to(device)  # default init
            loss2 = ce_loss
            lr_of = lambda e: lr_cosine(e, lr_max, e2)  # noqa: E731
        else:
            for prm in model.linear.parameters():
                prm.requires_grad_(True)
            loss2 = GCLLoss(counts, s=20.0, m=0.1, noise_mul=0.5, train_cls=True, gamma=1.0)
            lr_of = lambda e: lr_cosine(e, 0.02 * lr_max, e2)  # = 0.01 lr_max (1 + cos(pi e / E2))  # noqa: E731
        log("stage 2: %s from the %s stage-1 epoch (top1 %.2f), sampler %s, batch %d, lr %g cosine, mixup %g, "
            "%d epochs" % (s2["method"], select, (best1 if select == "best" else last1)["top1"], sampler, batch,
                           lr_of(0), s2["mixup"], e2))
        loader2 = make_loader(train_x, train_y, counts, batch, sampler, a.workers, a.seed + 1, device)
        best, last, _, t2, n2 = run_stage(
            "stage2", model, loader2, list(model.linear.parameters()), lr_of, e2, loss2, s2["mixup"], test,
            counts, a, device, frozen=True)
        del loader2
        train_s += t2
        images += n2

    wall_s = time.perf_counter() - t_start
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
        "peak_mem_mb": round(peak, 1),
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
