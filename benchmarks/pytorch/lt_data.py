"""Data side of benchmarks/pytorch/lt_train.py: CIFAR-10 from an image folder or the binary batches, the
LDAM-DRW long-tailed subset, the augmented training set and the samplers (instance, class-aware, CBEN,
class-balanced). See lt_train.py's docstring for the exact sample order and augmentation."""
import os
import random

import numpy as np
import torch

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".ppm")


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
        s = ClassAwareSampler(y, len(counts), 4, max(1, len(y) // batch) * batch, seed)  # int(N / B) full batches
    elif sampler in ("cben", "balanced_rs"):
        cw = cben_class_weights(counts) if sampler == "cben" else 1.0 / np.asarray(counts, dtype=np.float64)
        s = torch.utils.data.WeightedRandomSampler(torch.as_tensor(cw[y]), len(y), replacement=True)
    else:
        raise SystemExit("unknown sampler %r" % sampler)
    return torch.utils.data.DataLoader(ds, sampler=s, **kw)
