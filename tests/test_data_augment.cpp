// Augmentation: Pillow-exact ops against data_pil_ops.json, transform semantics, AutoAugment, Cutout, mixup.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "data/augment.h"
#include "data/autoaugment.h"
#include "data/mixup.h"
#include "data/pil_ops.h"
#include "augment_images.h"

using namespace tailor::data;
using namespace tailor::test;

TEST_CASE("Pillow-exact ops against data_pil_ops.json") {
  std::ifstream f(std::string(TAILOR_FIXTURES) + "/data_pil_ops.json");
  REQUIRE_MESSAGE(f.good(), "missing fixture data_pil_ops.json (run tests/gen_data_fixtures.py)");
  nlohmann::json j;
  f >> j;
  int n_cases = 0, n_shear_off = 0, shear_max = 0;
  for (auto& c : j["cases"]) {
    const std::string name = c["name"];
    ImageU8 src = synth(c["src_w"], c["src_h"]);
    const int w = c["w"], h = c["h"];
    std::vector<uint8_t> want = unhex(c["pixels"]);
    ImageU8 got = src;
    CAPTURE(name);
    CAPTURE(w);
    CAPTURE(h);
    if (name == "resize") {
      got.width = w;
      got.height = h;
      got.data.assign((size_t)w * h * 3, 0);
      resize_bilinear(src.data.data(), src.height, src.width, 3, (size_t)src.width * 3, h, w, got.data.data());
    } else if (name == "crop_resize") {
      auto b = c["box"];
      crop_resize(view(src), CropBox{b[0], b[1], b[2], b[3]}, h, w, got);
    } else if (name == "brightness") {
      adjust_brightness(got, c["factor"]);
    } else if (name == "contrast") {
      adjust_contrast(got, c["factor"]);
    } else if (name == "saturation") {
      adjust_saturation(got, c["factor"]);
    } else if (name == "sharpness") {
      adjust_sharpness(got, c["factor"]);
    } else if (name == "autocontrast" || name == "equalize") {
      if (c.value("variant", "") == "low")
        for (auto& v : got.data) v = (uint8_t)(40 + v / 3);  // the low-contrast variant (PIL point())
      if (name == "autocontrast") autocontrast(got);
      else equalize(got);
    } else if (name == "posterize") {
      posterize(got, c["bits"]);
    } else if (name == "solarize") {
      solarize(got, c["threshold"]);
    } else if (name == "invert") {
      invert(got);
    } else if (name == "translate_x" || name == "translate_y") {
      double m = c["magnitude"];
      double a[6] = {1, 0, name == "translate_x" ? m * src.width : 0, 0, 1, name == "translate_y" ? m * src.height : 0};
      const uint8_t fill[3] = {128, 128, 128};
      affine_nearest(got, a, fill);
    } else if (name == "rotate") {
      const uint8_t fill[3] = {128, 128, 128};
      rotate_nearest(got, c["degrees"], fill);
    } else if (name == "gaussian_blur") {
      if (c.value("variant", "") == "L") {  // blur of the one-channel convert("L") image
        to_grayscale(got);
        ImageU8 l;
        l.width = got.width;
        l.height = got.height;
        l.channels = 1;
        for (size_t i = 0; i < got.data.size(); i += 3) l.data.push_back(got.data[i]);
        got = l;
      }
      gaussian_blur(got, c["sigma"]);
    } else if (name == "box_blur") {
      box_blur(got, (float)c["radius"].get<double>());
    } else if (name == "grayscale") {
      to_grayscale(got);
    } else if (name == "rgb_to_hsv") {
      rgb_to_hsv(src.data.data(), got.data.data(), (size_t)w * h);
    } else if (name == "hsv_to_rgb") {
      hsv_to_rgb(src.data.data(), got.data.data(), (size_t)w * h);
    } else if (name == "hue") {
      adjust_hue(got, c["factor"]);
    } else if (name == "moco_view") {
      // MoCo v2's order with given parameters: crop -> jitter ops in `order` -> grayscale -> blur -> flip; and
      // the flip right after the crop, as apply_transform does it (the same pixels)
      auto b = c["box"];
      ImageU8 crop;
      crop_resize(view(src), CropBox{b[0], b[1], b[2], b[3]}, h, w, crop);
      const double f[4] = {c["factors"][0], c["factors"][1], c["factors"][2], c["factors"][3]};
      const bool flip = c["flip"];
      ImageU8 early = crop;
      if (flip) hflip(early);
      for (ImageU8* im : {&crop, &early}) {
        for (int k : c["order"]) jitter_op(*im, k, f);
        if (c["grayscale"].get<bool>()) to_grayscale(*im);
        gaussian_blur(*im, c["sigma"]);
      }
      if (flip) hflip(crop);
      CHECK(early.data == crop.data);
      got = crop;
    } else if (name == "shear_x" || name == "shear_y") {
      double m = c["magnitude"];
      double a[6] = {1, name == "shear_x" ? m : 0, 0, name == "shear_y" ? m : 0, 1, 0};
      const uint8_t fill[3] = {128, 128, 128};
      affine_bicubic(got, a, fill);
      int d = max_diff(got.data, want);
      shear_max = std::max(shear_max, d);
      if (d) ++n_shear_off;
      CHECK(d == 0);
      ++n_cases;
      continue;
    } else {
      FAIL("unknown case " << name);
    }
    REQUIRE(got.data.size() == want.size());
    CHECK(max_diff(got.data, want) == 0);
    ++n_cases;
  }
  CHECK(n_cases == (int)j["cases"].size());
  MESSAGE("bicubic shear vs PIL: max |diff| = " << shear_max << " in " << n_shear_off << " of 4 cases");
}

TEST_CASE("resize_bilinear_window equals resize then crop") {
  ImageU8 im = synth(61, 47);
  CounterRng r(3);
  for (int k = 0; k < 60; ++k) {
    int oh = 1 + (int)r.below(90), ow = 1 + (int)r.below(90);
    if (k % 5 == 0) oh = 47;  // no vertical pass
    if (k % 7 == 0) ow = 61;  // no horizontal pass
    std::vector<uint8_t> full((size_t)oh * ow * 3);
    resize_bilinear(im.data.data(), 47, 61, 3, 61 * 3, oh, ow, full.data());
    int wy = (int)r.below(oh), wx = (int)r.below(ow);
    int wh = 1 + (int)r.below(oh - wy), ww = 1 + (int)r.below(ow - wx);
    std::vector<uint8_t> win((size_t)wh * ww * 3);
    resize_bilinear_window(im.data.data(), 47, 61, 3, 61 * 3, oh, ow, wy, wx, wh, ww, win.data());
    for (int y = 0; y < wh; ++y)
      REQUIRE(std::equal(win.begin() + (int64_t)y * ww * 3, win.begin() + (int64_t)(y + 1) * ww * 3,
                         full.begin() + ((int64_t)(wy + y) * ow + wx) * 3));
  }
}

TEST_CASE("ToTensor + Normalize arithmetic") {
  ImageU8 im = synth(5, 4);
  std::vector<float> out(5 * 4 * 3);
  TransformConfig t = cifar_test_transform();
  normalize_to_float(view(im), false, t.mean, t.std, out.data());
  for (size_t i = 0; i < out.size(); ++i) {
    int c = (int)(i % 3);
    float want = ((float)im.data[i] / 255.f - kCifarMean[c]) / kCifarStd[c];
    REQUIRE(out[i] == want);
  }
  std::vector<float> fl(out.size());
  normalize_to_float(view(im), true, t.mean, t.std, fl.data());
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) CHECK(fl[(y * 5 + x) * 3 + c] == out[(y * 5 + (4 - x)) * 3 + c]);
  std::vector<float> plain(out.size());
  normalize_to_float(view(im), false, {}, {}, plain.data());
  CHECK(plain[7] == (float)im.data[7] / 255.f);
  CHECK_THROWS_AS(normalize_to_float(view(im), false, {0.5f}, {0.5f}, plain.data()), std::runtime_error);
}

TEST_CASE("CIFAR RandomCrop(32, 4) + flip: fast path equals the general path and a manual crop") {
  ImageU8 im = synth(32, 32);
  TransformConfig fast = cifar_train_transform();
  TransformConfig slow = fast;
  slow.cutout_holes = 1;
  slow.cutout_length = 0;  // forces the general uint8 path; a zero-length hole is a no-op
  std::set<std::pair<int, int>> offsets;
  int flips = 0;
  for (int k = 0; k < 400; ++k) {
    std::vector<float> a(32 * 32 * 3), b(32 * 32 * 3), m(32 * 32 * 3);
    CounterRng r1 = make_rng(9, 0, k), r2 = make_rng(9, 0, k), r3 = make_rng(9, 0, k);
    TransformScratch s;
    apply_transform(fast, view(im), r1, a.data(), s);
    apply_transform(slow, view(im), r2, b.data(), s);
    REQUIRE(a == b);
    // replay the draws: top, left in [0, 8], then the flip
    int top = (int)r3.below(9) - 4, left = (int)r3.below(9) - 4;
    bool flip = r3.bernoulli(0.5);
    offsets.insert({top, left});
    flips += flip;
    ImageU8 crop;
    crop.width = crop.height = 32;
    crop.channels = 3;
    crop.data.assign(32 * 32 * 3, 0);
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        int sy = top + y, sx = left + x;
        if (sy < 0 || sy >= 32 || sx < 0 || sx >= 32) continue;
        for (int c = 0; c < 3; ++c) crop.data[(y * 32 + x) * 3 + c] = im.data[(sy * 32 + sx) * 3 + c];
      }
    normalize_to_float(view(crop), flip, fast.mean, fast.std, m.data());
    REQUIRE(a == m);
  }
  CHECK(offsets.size() == 81);
  CHECK(flips > 150);
  CHECK(flips < 250);
}

TEST_CASE("RandomResizedCrop parameters follow torchvision") {
  CounterRng rng(42);
  int fallback = 0;
  for (int k = 0; k < 2000; ++k) {
    CropBox b = random_resized_crop_params(375, 500, 0.08, 1.0, 3.0 / 4, 4.0 / 3, rng);
    REQUIRE(b.top >= 0);
    REQUIRE(b.left >= 0);
    REQUIRE(b.top + b.height <= 375);
    REQUIRE(b.left + b.width <= 500);
    double frac = (double)b.height * b.width / (375.0 * 500);
    CHECK(frac >= 0.07);
    CHECK(frac <= 1.0);
    double ar = (double)b.width / b.height;
    if (b.height == 375 && b.width == 500) ++fallback;
    else {
      CHECK(ar >= 0.70);
      CHECK(ar <= 1.42);
    }
  }
  CHECK(fallback < 20);
  // A very wide image makes every attempt fail: centre crop clamped to the max ratio.
  CounterRng r2(1);
  CropBox w = random_resized_crop_params(10, 1000, 0.9, 1.0, 3.0 / 4, 4.0 / 3, r2);
  CHECK(w.height == 10);
  CHECK(w.width == 13);  // round(10 * 4/3)
  CHECK(w.top == 0);
  CHECK(w.left == (1000 - 13) / 2);
  CropBox t = random_resized_crop_params(1000, 10, 0.9, 1.0, 3.0 / 4, 4.0 / 3, r2);
  CHECK(t.width == 10);
  CHECK(t.height == 13);  // round(10 / (3/4))
}

TEST_CASE("Resize(256) + CenterCrop(224) geometry") {
  int h, w;
  resize_shorter_side(375, 500, 256, &h, &w);
  CHECK(h == 256);
  CHECK(w == 341);
  resize_shorter_side(500, 375, 256, &h, &w);
  CHECK(w == 256);
  CHECK(h == 341);
  CropBox b = center_crop_box(256, 341, 224, 224);
  CHECK(b.top == 16);
  CHECK(b.left == 58);  // round(58.5) = 58 (half to even)
  CropBox c = center_crop_box(256, 343, 224, 224);
  CHECK(c.left == 60);  // round(59.5) = 60
  CropBox big = center_crop_box(29, 30, 32, 32);
  CHECK(big.top == -1);
  CHECK(big.left == -1);
  TransformConfig t = imagenet_test_transform();
  ImageU8 im = synth(500, 375);
  std::vector<float> out(224 * 224 * 3);
  CounterRng r(0);
  TransformScratch s;
  apply_transform(t, view(im), r, out.data(), s);
  // same result by hand: resize to 341x256, crop (16, 58)
  ImageU8 rs;
  crop_resize(view(im), CropBox{0, 0, 375, 500}, 256, 341, rs);
  ImageU8 cc;
  crop_resize(view(rs), CropBox{16, 58, 224, 224}, 224, 224, cc);
  std::vector<float> want(out.size());
  normalize_to_float(view(cc), false, t.mean, t.std, want.data());
  CHECK(out == want);
}

TEST_CASE("ImageNet train transform: shape, determinism per rng") {
  ImageU8 im = synth(500, 375);
  TransformConfig t = imagenet_train_transform(true);
  std::vector<float> a(224 * 224 * 3), b(a.size()), c(a.size());
  TransformScratch s;
  CounterRng r1 = make_rng(1, 2, 3), r2 = make_rng(1, 2, 3), r3 = make_rng(1, 2, 4);
  apply_transform(t, view(im), r1, a.data(), s);
  apply_transform(t, view(im), r2, b.data(), s);
  apply_transform(t, view(im), r3, c.data(), s);
  CHECK(a == b);
  CHECK(a != c);
  for (float v : a) REQUIRE(std::isfinite(v));
}

TEST_CASE("ColorJitter draws factors, then applies them in a random order (of three ops, or of four with hue)") {
  ImageU8 im = synth(20, 10);
  for (double hue : {0.0, 0.1}) {
    const int n_ops = hue > 0 ? 4 : 3;
    std::set<std::vector<uint8_t>> outcomes;
    std::set<std::vector<int>> orders;
    for (int k = 0; k < 300; ++k) {
      ImageU8 a = im;
      CounterRng r = make_rng(3, 0, k);
      CounterRng replay = r;
      color_jitter(a, 0.4, 0.4, 0.4, hue, r);
      double f[4] = {replay.uniform(0.6, 1.4), replay.uniform(0.6, 1.4), replay.uniform(0.6, 1.4), 0};
      if (hue > 0) f[3] = replay.uniform(-hue, hue);
      std::vector<int> order = {0, 1, 2, 3};
      order.resize((size_t)n_ops);
      for (int i = n_ops - 1; i > 0; --i) std::swap(order[(size_t)i], order[(size_t)replay.below(i + 1)]);
      ImageU8 b = im;
      for (int o : order) jitter_op(b, o, f);
      REQUIRE(a.data == b.data);
      CHECK(r.ctr == replay.ctr);
      orders.insert(order);
      outcomes.insert(a.data);
    }
    CHECK(outcomes.size() > 290);
    CHECK(orders.size() == (hue > 0 ? 24u : 6u));
  }
  ImageU8 a = im;
  CounterRng r(1);
  CHECK_THROWS_AS(color_jitter(a, 0.4, 0.4, 0.4, 0.7, r), std::runtime_error);
}

TEST_CASE("AutoAugment CIFAR-10 policy") {
  CHECK(kCifar10PolicyCount == 25);
  const int post[10] = {8, 8, 7, 7, 6, 6, 5, 5, 4, 4};
  for (int l = 0; l < 10; ++l) CHECK(autoaugment_magnitude(AugOp::Posterize, l) == post[l]);
  CHECK(autoaugment_magnitude(AugOp::Solarize, 0) == 256);
  CHECK(autoaugment_magnitude(AugOp::Solarize, 9) == 0);
  CHECK(autoaugment_magnitude(AugOp::TranslateX, 9) == doctest::Approx(150.0 / 331));
  CHECK(autoaugment_magnitude(AugOp::Rotate, 2) == doctest::Approx(20.0 / 3));
  ImageU8 im = synth(32, 32);
  // every op at every level keeps the shape
  for (int op = 0; op <= (int)AugOp::Invert; ++op)
    for (int l = 0; l < 10; ++l)
      for (int sign : {-1, 1}) {
        ImageU8 a = im;
        apply_aug_op(a, (AugOp)op, autoaugment_magnitude((AugOp)op, l), sign);
        REQUIRE(a.data.size() == im.data.size());
      }
  int changed = 0;
  for (int k = 0; k < 300; ++k) {
    ImageU8 a = im;
    CounterRng r = make_rng(0, 0, k);
    autoaugment_cifar10(a, r);
    changed += a.data != im.data;
  }
  CHECK(changed > 150);  // most sub-policies fire at least one op
  TransformConfig t = balms_cifar_train_transform();
  std::vector<float> out(32 * 32 * 3);
  TransformScratch s;
  CounterRng r = make_rng(0, 0, 0);
  apply_transform(t, view(im), r, out.data(), s);
  for (float v : out) REQUIRE(std::isfinite(v));
}

TEST_CASE("Cutout zeroes one clipped square") {
  for (int k = 0; k < 200; ++k) {
    ImageU8 im = synth(32, 32);
    for (auto& v : im.data) v = (uint8_t)(v | 1);  // no zero pixels before
    CounterRng r = make_rng(0, 1, k);
    cutout(im, 1, 16, r);
    int zeros = 0, minx = 99, maxx = -1, miny = 99, maxy = -1;
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x)
        if (im.data[(y * 32 + x) * 3] == 0) {
          ++zeros;
          minx = std::min(minx, x);
          maxx = std::max(maxx, x);
          miny = std::min(miny, y);
          maxy = std::max(maxy, y);
        }
    REQUIRE(zeros > 0);
    CHECK(zeros == (maxx - minx + 1) * (maxy - miny + 1));  // a rectangle
    CHECK(maxx - minx + 1 <= 16);
    CHECK(maxy - miny + 1 <= 16);
  }
}

TEST_CASE("mixup: one lambda per batch, partner permutation, both label vectors") {
  const int64_t n = 16, row = 12;
  std::vector<float> x((size_t)(n * row));
  for (size_t i = 0; i < x.size(); ++i) x[i] = (float)i;
  std::vector<int32_t> y((size_t)n);
  for (int64_t i = 0; i < n; ++i) y[(size_t)i] = (int32_t)(i % 5);
  std::vector<float> orig = x;
  MixupResult r = mixup_rows(x.data(), n, row, y, 1.0, 7, 3, 11);
  CHECK(r.lambda > 0.f);
  CHECK(r.lambda < 1.f);
  CHECK(r.labels_a == y);
  std::set<int64_t> perm(r.perm.begin(), r.perm.end());
  CHECK(perm.size() == (size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    CHECK(r.labels_b[(size_t)i] == y[(size_t)r.perm[(size_t)i]]);
    for (int64_t k = 0; k < row; ++k)
      REQUIRE(x[(size_t)(i * row + k)] == doctest::Approx(r.lambda * orig[(size_t)(i * row + k)] +
                                                          (1.f - r.lambda) * orig[(size_t)(r.perm[(size_t)i] * row + k)])
                                              .epsilon(1e-6));
  }
  std::vector<float> x2 = orig;
  MixupResult r2 = mixup_rows(x2.data(), n, row, y, 1.0, 7, 3, 11);
  CHECK(r2.lambda == r.lambda);
  CHECK(x2 == x);
  std::vector<float> x3 = orig;
  MixupResult r3 = mixup_rows(x3.data(), n, row, y, 0.0, 7, 3, 11);
  CHECK(r3.lambda == 1.f);
  CHECK(x3 == orig);
  // draw, then apply: the same draw and the same pixels as mixup_rows (a replayed stream relies on it)
  MixupResult d = draw_mixup(y, 1.0, 7, 3, 11);
  CHECK(d.lambda == r.lambda);
  CHECK(d.perm == r.perm);
  CHECK(d.labels_b == r.labels_b);
  std::vector<float> x4 = orig;
  apply_mixup(x4.data(), n, row, d.lambda, d.perm);
  CHECK(x4 == x);
  CHECK_THROWS_WITH_AS(apply_mixup(x4.data(), n, row, d.lambda, {0, 1}), doctest::Contains("permutation length"),
                       std::runtime_error);
  // Beta(a, a) moments
  for (double a : {1.0, 0.2}) {
    double s = 0, s2 = 0;
    const int K = 4000;
    for (int k = 0; k < K; ++k) {
      std::vector<float> t(12, 0.f);
      double l = mixup_rows(t.data(), 1, 12, {0}, a, 1, 0, k).lambda;
      s += l;
      s2 += l * l;
    }
    double mean = s / K, var = s2 / K - mean * mean;
    CHECK(mean == doctest::Approx(0.5).epsilon(0.05));
    CHECK(var == doctest::Approx(1.0 / (4 * (2 * a + 1))).epsilon(0.1));
  }
}

TEST_CASE("counter RNG: uniform, below, determinism") {
  CounterRng a = make_rng(1, 2, 3), b = make_rng(1, 2, 3), c = make_rng(1, 2, 4);
  CHECK(a.next_u64() == b.next_u64());
  CHECK(make_rng(1, 2, 3).next_u64() != c.next_u64());
  std::vector<int> hist(7, 0);
  CounterRng r(5);
  for (int i = 0; i < 70000; ++i) ++hist[(size_t)r.below(7)];
  for (int h : hist) CHECK(std::abs(h - 10000) < 500);
  for (int i = 0; i < 1000; ++i) {
    double u = r.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
  }
}
