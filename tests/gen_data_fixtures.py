#!/usr/bin/python3
"""Generates the data-layer test fixtures (tests/fixtures/data_*) with Debian's python3-numpy and python3-pil.

    /usr/bin/python3 tests/gen_data_fixtures.py [--cifar-archive ../shared/data/cifar10-jpg.tar.xz]

Outputs (deterministic; re-running gives identical files):
  data_lt_numpy.json   numpy-legacy MT19937 results: seeded random_sample/permutation, shuffles of several
                       lengths, and the LDAM-DRW/GCL CIFAR-LT subsets (imbalance_cifar.py logic) on synthetic
                       label arrays (i % C), plus the chosen files of the real CIFAR-10 folder layout.
  data_pil_ops.json    Pillow results (resize BILINEAR, ImageEnhance, ImageOps, affine/rotate, GaussianBlur /
                       BoxBlur, grayscale, HSV and torchvision's adjust_hue, a MoCo v2 view with given random
                       parameters) on a synthetic image the C++ test rebuilds from the same formula, and digests
                       of the RGB -> HSV, HSV -> RGB and RGB -> L conversions of all 2^24 colours.
  data_cifar10_pil.json  PIL decodes of a few images of the CIFAR-10 JPEG archive (if the archive is present).
  data_images/         small PNG/JPEG files in unusual modes (grayscale, CMYK, RGBA, palette, 16-bit) and the
                       PIL RGB pixels of each.
"""
import argparse
import io
import json
import os
import tarfile

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")


def lt_counts(n_max, C, ratio, profile):
    imb_factor = 1.0 / ratio
    if profile == "exp":
        return [int(n_max * (imb_factor ** (c / (C - 1.0)))) for c in range(C)]
    return [int(n_max)] * (C // 2) + [int(n_max * imb_factor)] * (C - C // 2)


def lt_subset(targets, C, ratio, profile, seed):
    """imbalance_cifar.py gen_imbalanced_data, with np.random.seed(seed) before it."""
    np.random.seed(seed)
    targets_np = np.array(targets, dtype=np.int64)
    counts = lt_counts(len(targets) / C, C, ratio, profile)
    chosen = []
    for the_class, the_img_num in zip(np.unique(targets_np), counts):
        idx = np.where(targets_np == the_class)[0]
        np.random.shuffle(idx)
        chosen.extend(int(i) for i in idx[:the_img_num])
    return counts, chosen


def digest(seq):
    return int(sum((k + 1) * int(v) for k, v in enumerate(seq)) % (1 << 61))


def gen_lt():
    out = {}
    np.random.seed(0)
    out["seed0_random_sample"] = float(np.random.random_sample())
    np.random.seed(0)
    out["seed0_permutation10"] = [int(v) for v in np.random.permutation(10)]
    shuffles = []
    for seed, n in [(0, 1), (1, 2), (2, 3), (3, 17), (4, 1000), (5, 65537), (6, 70000)]:
        np.random.seed(seed)
        a = np.arange(n, dtype=np.int64)
        np.random.shuffle(a)
        shuffles.append({"seed": seed, "n": n, "head": [int(v) for v in a[:20]], "digest": digest(a)})
    out["shuffles"] = shuffles
    subsets = []
    for C in (10, 100):
        labels = [i % C for i in range(50000)]
        for ratio in (100, 50, 200, 10):
            for profile in ("exp", "step"):
                counts, chosen = lt_subset(labels, C, ratio, profile, 0)
                e = {"classes": C, "ratio": ratio, "profile": profile, "seed": 0, "counts": counts,
                     "total": len(chosen), "head": chosen[:50], "digest": digest(chosen)}
                if ratio == 100 and profile == "exp":
                    e["indices"] = chosen
                subsets.append(e)
    counts, chosen = lt_subset([i % 10 for i in range(50000)], 10, 100, "exp", 7)
    subsets.append({"classes": 10, "ratio": 100, "profile": "exp", "seed": 7, "counts": counts,
                    "total": len(chosen), "head": chosen[:50], "digest": digest(chosen)})
    out["subsets"] = subsets
    # The real CIFAR-10 JPEG layout: train/<class>/NNNN.jpg with NNNN = rank inside the class in the original
    # training order, so the class-grouped label array gives the same shuffles (each class has 5000 images).
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    grouped = [c for c in range(10) for _ in range(5000)]
    counts, chosen = lt_subset(grouped, 10, 100, "exp", 0)
    files = {}
    pos = 0
    for c in range(10):
        files[names[c]] = ["train/%s/%04d.jpg" % (names[c], chosen[pos + k] - c * 5000) for k in range(10)]
        pos += counts[c]
    out["cifar10_folder_ratio100_seed0_first10"] = files
    return out


def synth_image(w, h):
    """uint8 RGB image the C++ test rebuilds: v = (37x + 91y + 53c + 7((xy) % 17)) % 256."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    v = (37 * x + 91 * y + 53 * c + 7 * ((x * y) % 17)) % 256
    return Image.fromarray(v.astype(np.uint8), "RGB")


def hexpix(im):
    return np.asarray(im.convert("RGB") if im.mode not in ("RGB", "L") else im).tobytes().hex()


def rotate_with_fill(img, magnitude):
    rot = img.convert("RGBA").rotate(magnitude)
    return Image.composite(rot, Image.new("RGBA", rot.size, (128,) * 4), rot).convert(img.mode)


def gen_pil_ops():
    out = {"formula": "(37x + 91y + 53c + 7((x*y) % 17)) % 256", "cases": []}
    cases = out["cases"]
    fill = (128, 128, 128)

    def add(name, src, im, raw=False, **kw):  # raw: the image's own bands (HSV), not converted to RGB
        d = {"name": name, "src_w": src.size[0], "src_h": src.size[1], "w": im.size[0], "h": im.size[1],
             "pixels": np.asarray(im).tobytes().hex() if raw else hexpix(im)}
        d.update(kw)
        cases.append(d)

    small = synth_image(37, 29)
    big = synth_image(150, 113)
    for src in (small, big):
        for (w, h) in [(16, 12), (64, 48), (37, 20), (20, src.size[1]), (100, 3), (96, 80), (7, 5)]:
            add("resize", src, src.resize((w, h), Image.BILINEAR))
    # crop then resize (RandomResizedCrop's resized_crop): box (left, top, width, height)
    for (l, t, cw, ch, w, h) in [(5, 3, 20, 17, 24, 24), (0, 0, 37, 29, 32, 32), (30, 20, 7, 9, 50, 41)]:
        add("crop_resize", small, small.crop((l, t, l + cw, t + ch)).resize((w, h), Image.BILINEAR),
            box=[t, l, ch, cw])
    for (l, t, cw, ch, w, h) in [(17, 9, 120, 97, 56, 56), (40, 2, 61, 80, 64, 64)]:
        add("crop_resize", big, big.crop((l, t, l + cw, t + ch)).resize((w, h), Image.BILINEAR), box=[t, l, ch, cw])
    for f in (0.6, 1.4, 0.0, 1.9):
        add("brightness", small, ImageEnhance.Brightness(small).enhance(f), factor=f)
    for f in (0.5, 1.7, 0.1):
        add("contrast", small, ImageEnhance.Contrast(small).enhance(f), factor=f)
    for f in (0.3, 1.8):
        add("saturation", small, ImageEnhance.Color(small).enhance(f), factor=f)
    for f in (0.2, 1.9):
        add("sharpness", small, ImageEnhance.Sharpness(small).enhance(f), factor=f)
    low = small.point(lambda v: 40 + v // 3)  # a low-contrast image for autocontrast/equalize
    add("autocontrast", low, ImageOps.autocontrast(low), variant="low")
    add("equalize", low, ImageOps.equalize(low), variant="low")
    add("equalize", small, ImageOps.equalize(small))
    add("posterize", small, ImageOps.posterize(small, 5), bits=5)
    for t in (128, float(np.linspace(256, 0, 10)[1])):
        add("solarize", small, ImageOps.solarize(small, t), threshold=t)
    add("invert", small, ImageOps.invert(small))
    for m in (float(np.linspace(0, 150 / 331, 10)[9]), -float(np.linspace(0, 150 / 331, 10)[3])):
        add("translate_x", small, small.transform(small.size, Image.AFFINE, (1, 0, m * small.size[0], 0, 1, 0),
                                                  fillcolor=fill), magnitude=m)
        add("translate_y", small, small.transform(small.size, Image.AFFINE, (1, 0, 0, 0, 1, m * small.size[1]),
                                                  fillcolor=fill), magnitude=m)
    for deg in (float(np.linspace(0, 30, 10)[2]), -20.0):
        add("rotate", small, rotate_with_fill(small, deg), degrees=deg)
    for m in (0.2, -0.3):
        add("shear_x", small, small.transform(small.size, Image.AFFINE, (1, m, 0, 0, 1, 0), Image.BICUBIC,
                                              fillcolor=fill), magnitude=m)
        add("shear_y", small, small.transform(small.size, Image.AFFINE, (1, 0, 0, m, 1, 0), Image.BICUBIC,
                                              fillcolor=fill), magnitude=m)
    gen_ssl_ops(add, small, big)
    out["all_colours"] = all_colour_digests()
    return out


def adjust_hue(img, hue_factor):
    """torchvision 0.14 functional_pil.adjust_hue."""
    if img.mode in {"L", "1", "I", "F"}:
        return img
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):
        np_h += np.uint8(hue_factor * 255)
    h = Image.fromarray(np_h, "L")
    return Image.merge("HSV", (h, s, v)).convert(img.mode)


def to_grayscale3(img):
    """torchvision to_grayscale(img, num_output_channels=3): convert("L") replicated into RGB."""
    g = np.array(img.convert("L"), dtype=np.uint8)
    return Image.fromarray(np.dstack([g, g, g]), "RGB")


def gen_ssl_ops(add, small, big):
    """MoCo v2 / SimCLR ops: GaussianBlur(sigma) (moco.loader.GaussianBlur), BoxBlur, RandomGrayscale, HSV, hue."""
    sigmas = [0.1, 0.5, 1.0, 2.0] + [float(v) for v in np.random.RandomState(0).uniform(0.1, 2.0, 6)]
    for sg in sigmas:
        add("gaussian_blur", small, small.filter(ImageFilter.GaussianBlur(radius=sg)), sigma=sg)
    for sg in (1.3, 7.5):
        add("gaussian_blur", big, big.filter(ImageFilter.GaussianBlur(radius=sg)), sigma=sg)
    for (w, h, sg) in [(5, 3, 2.0), (5, 3, 8.0), (1, 7, 1.5), (7, 1, 1.5), (2, 2, 0.7), (1, 1, 3.0)]:
        tiny = synth_image(w, h)
        add("gaussian_blur", tiny, tiny.filter(ImageFilter.GaussianBlur(radius=sg)), sigma=sg)
    gray = small.convert("L")
    add("gaussian_blur", small, gray.filter(ImageFilter.GaussianBlur(radius=1.7)), sigma=1.7, variant="L")
    for r in (0.5, 1.0, 2.7, 20.0):
        add("box_blur", small, small.filter(ImageFilter.BoxBlur(r)), radius=r)
    add("grayscale", small, to_grayscale3(small))
    add("rgb_to_hsv", small, small.convert("HSV"), raw=True)
    as_hsv = Image.frombytes("HSV", small.size, small.tobytes())  # the synthetic bytes read as H, S, V
    add("hsv_to_rgb", small, as_hsv.convert("RGB"))
    for f in (-0.5, -0.37, -0.1, -0.003, 0.0, 0.002, 0.05, 0.1, 0.25, 0.5):
        add("hue", small, adjust_hue(small, f), factor=f)
    # A MoCo v2 view with given random parameters, in main_moco.py's order: RandomResizedCrop(24, box) ->
    # ColorJitter (the four ops in `order`: 0 brightness, 1 contrast, 2 saturation, 3 hue) -> RandomGrayscale
    # -> GaussianBlur(sigma) -> RandomHorizontalFlip.
    for (box, factors, order, gray_on, sigma, flip) in [
            ((9, 17, 97, 120), (1.2, 0.7, 1.3, -0.06), (2, 0, 3, 1), False, 1.1, True),
            ((40, 2, 61, 80), (0.8, 1.3, 0.6, 0.09), (3, 1, 0, 2), True, 0.3, False)]:
        t, l, ch, cw = box
        im = big.crop((l, t, l + cw, t + ch)).resize((24, 24), Image.BILINEAR)
        ops = [lambda x: ImageEnhance.Brightness(x).enhance(factors[0]),
               lambda x: ImageEnhance.Contrast(x).enhance(factors[1]),
               lambda x: ImageEnhance.Color(x).enhance(factors[2]),
               lambda x: adjust_hue(x, factors[3])]
        for k in order:
            im = ops[k](im)
        if gray_on:
            im = to_grayscale3(im)
        im = im.filter(ImageFilter.GaussianBlur(radius=sigma))
        if flip:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        add("moco_view", big, im, box=list(box), factors=list(factors), order=list(order), grayscale=gray_on,
            sigma=sigma, flip=flip)


def all_colour_digests():
    """digest() of convert("HSV") and convert("L") of the 4096 x 4096 image holding every RGB colour once
    (pixel i = (i >> 16, (i >> 8) & 255, i & 255), row-major), and of convert("RGB") of those bytes read as HSV."""
    i = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([(i >> 16) & 255, (i >> 8) & 255, i & 255], axis=1).astype(np.uint8).reshape(4096, 4096, 3)
    im = Image.fromarray(rgb, "RGB")

    def dig(a):
        a = np.asarray(a).reshape(-1)
        total = 0
        for s in range(0, a.size, 1 << 22):
            part = a[s:s + (1 << 22)].astype(np.int64)
            total += int((np.arange(s + 1, s + 1 + part.size, dtype=np.int64) * part).sum())
        return total % (1 << 61)

    return {"rgb_to_hsv": dig(im.convert("HSV")), "rgb_to_l": dig(im.convert("L")),
            "hsv_to_rgb": dig(Image.frombytes("HSV", im.size, rgb.tobytes()).convert("RGB"))}


def gen_cifar_pil(archive):
    picks = ["train/airplane/0000.jpg", "train/cat/1234.jpg", "train/frog/4999.jpg", "test/truck/0999.jpg",
             "test/bird/0500.jpg", "train/airplane/3400.jpg"]
    out = {"archive": "cifar10-jpg.tar.xz", "images": []}
    with tarfile.open(archive, "r:xz") as tf:
        for name in picks:
            data = tf.extractfile(name).read()
            im = Image.open(io.BytesIO(data)).convert("RGB")
            out["images"].append({"path": name, "w": im.size[0], "h": im.size[1], "pixels": hexpix(im)})
    return out


def gen_odd_images():
    d = os.path.join(FIX, "data_images")
    os.makedirs(d, exist_ok=True)
    rgb = synth_image(9, 7)
    files = {}
    gray = rgb.convert("L")
    gray.save(os.path.join(d, "gray.jpg"), quality=90)
    rgb.convert("CMYK").save(os.path.join(d, "cmyk.jpg"), quality=90)
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray((np.arange(63).reshape(7, 9) * 4).astype(np.uint8), "L"))
    rgba.save(os.path.join(d, "rgba.png"))
    rgb.convert("P", palette=Image.ADAPTIVE, colors=16).save(os.path.join(d, "palette.png"))
    gray.save(os.path.join(d, "gray.png"))
    rgb.save(os.path.join(d, "rgb.png"))
    rgb.save(os.path.join(d, "rgb.ppm"))
    rgb.save(os.path.join(d, "rgb.jpg"), quality=85)
    Image.fromarray((np.arange(63).reshape(7, 9) * 1000).astype(np.uint16)).save(os.path.join(d, "gray16.png"))
    for name in sorted(os.listdir(d)):
        if name.endswith(".json"):
            continue
        im = Image.open(os.path.join(d, name))
        files[name] = {"mode": im.mode, "w": im.size[0], "h": im.size[1],
                       "rgb": np.asarray(im.convert("RGB")).tobytes().hex()}
    with open(os.path.join(d, "pil_rgb.json"), "w") as f:
        json.dump(files, f, indent=1, sort_keys=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cifar-archive", default=os.path.join(HERE, "..", "..", "shared", "data", "cifar10-jpg.tar.xz"))
    args = ap.parse_args()
    os.makedirs(FIX, exist_ok=True)
    with open(os.path.join(FIX, "data_lt_numpy.json"), "w") as f:
        json.dump(gen_lt(), f, separators=(",", ":"))
    with open(os.path.join(FIX, "data_pil_ops.json"), "w") as f:
        json.dump(gen_pil_ops(), f, separators=(",", ":"))
    if os.path.exists(args.cifar_archive):
        with open(os.path.join(FIX, "data_cifar10_pil.json"), "w") as f:
            json.dump(gen_cifar_pil(args.cifar_archive), f, indent=1)
    else:
        print("note: %s not found; data_cifar10_pil.json not regenerated" % args.cifar_archive)
    gen_odd_images()


if __name__ == "__main__":
    main()
