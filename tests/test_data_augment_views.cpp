// The MoCo v2 / SimCLR view transforms: Pillow's HSV and L conversions on every colour, blur / grayscale / hue
// edge cases, the transforms against the ops in MoCo v2's order with replayed draws, the earlier presets' draws,
// and the presets.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "augment_images.h"
#include "data/augment.h"
#include "data/pil_ops.h"
#include "data/presets.h"
#include "json_fixture.h"

using namespace tailor::data;
using namespace tailor::test;

// The fixture's digest: sum over k of (k + 1) * v[k], modulo 2^61 (exact in uint64 below 2^26 values).
static uint64_t digest(const std::vector<uint8_t>& v) {
  uint64_t s = 0;
  for (size_t k = 0; k < v.size(); ++k) s += (uint64_t)(k + 1) * v[k];
  return s % (1ull << 61);
}

TEST_CASE("RGB -> HSV, HSV -> RGB and RGB -> L of all 2^24 colours equal PIL's") {
  const nlohmann::json j = load_json_fixture("data_pil_ops.json", "tests/gen_data_fixtures.py");
  const size_t n = (size_t)1 << 24;
  std::vector<uint8_t> all(n * 3), out(n * 3);
  for (size_t i = 0; i < n; ++i) {
    all[i * 3] = (uint8_t)(i >> 16);
    all[i * 3 + 1] = (uint8_t)(i >> 8);
    all[i * 3 + 2] = (uint8_t)i;
  }
  rgb_to_hsv(all.data(), out.data(), n);
  CHECK(digest(out) == j["all_colours"]["rgb_to_hsv"].get<uint64_t>());
  hsv_to_rgb(all.data(), out.data(), n);  // every (H, S, V) triple
  CHECK(digest(out) == j["all_colours"]["hsv_to_rgb"].get<uint64_t>());
  ImageU8 im;
  im.width = im.height = 4096;
  im.channels = 3;
  im.data = all;
  to_grayscale(im);
  std::vector<uint8_t> l(n);
  for (size_t i = 0; i < n; ++i) {
    REQUIRE((im.data[i * 3] == im.data[i * 3 + 1] && im.data[i * 3] == im.data[i * 3 + 2]));
    l[i] = im.data[i * 3];
  }
  CHECK(digest(l) == j["all_colours"]["rgb_to_l"].get<uint64_t>());
  // in place (in == out) gives the same
  std::vector<uint8_t> inplace(all.begin(), all.begin() + 3000), ref(3000);
  rgb_to_hsv(inplace.data(), ref.data(), 1000);
  rgb_to_hsv(inplace.data(), inplace.data(), 1000);
  CHECK(inplace == ref);
}

TEST_CASE("blur, grayscale and hue: identities, one-channel images, flip symmetry, range checks") {
  ImageU8 im = synth(23, 17);
  ImageU8 a = im;
  box_blur(a, 0.f);
  CHECK(a.data == im.data);
  gaussian_blur(a, 0.0);
  CHECK(a.data == im.data);
  ImageU8 one;
  one.width = 23;
  one.height = 17;
  one.channels = 1;
  for (size_t i = 0; i < im.data.size(); i += 3) one.data.push_back(im.data[i]);
  ImageU8 g = one;
  to_grayscale(g);
  adjust_hue(g, 0.3);
  CHECK(g.data == one.data);
  CHECK_THROWS_AS(adjust_hue(g, 0.6), std::runtime_error);
  CHECK_THROWS_AS(box_blur(g, 1.f, 0), std::runtime_error);
  ImageU8 h = im;
  adjust_hue(h, 0.001);  // a zero shift still goes through HSV and back, as torchvision's
  CHECK(h.data != im.data);
  CounterRng r(17);
  for (int k = 0; k < 40; ++k) {  // the box blur is mirror-symmetric: it commutes with the flip bit for bit
    ImageU8 x = synth(1 + (int)r.below(40), 1 + (int)r.below(30));
    const double sigma = r.uniform(0.05, 6.0);
    ImageU8 p = x, q = x;
    gaussian_blur(p, sigma);
    hflip(p);
    hflip(q);
    gaussian_blur(q, sigma);
    REQUIRE(p.data == q.data);
  }
}

// One transform's draws in augment.h's order, replayed, and the ops applied in MoCo v2's order (flip last).
static std::vector<float> replay_moco_order(const TransformConfig& t, const ImageU8& im, CounterRng& r, int counts[4]) {
  ImageU8 x;
  bool flip;
  if (t.crop == CropMode::RandomResizedCrop) {
    CropBox b = random_resized_crop_params(im.height, im.width, t.scale_min, t.scale_max, t.ratio_min, t.ratio_max, r);
    crop_resize(view(im), b, t.size, t.size, x);
    flip = r.bernoulli(0.5);
  } else {
    REQUIRE(t.crop == CropMode::RandomCrop);
    const int p = t.padding, S = t.size;
    int top = (int)r.below(im.height + 2 * p - S + 1) - p, left = (int)r.below(im.width + 2 * p - S + 1) - p;
    flip = r.bernoulli(0.5);
    crop_resize(view(im), CropBox{top, left, S, S}, S, S, x);
  }
  const bool jitter = t.color_jitter_p >= 1 || r.uniform() < t.color_jitter_p;
  if (jitter) {
    double f[4] = {r.uniform(1 - t.brightness, 1 + t.brightness), r.uniform(1 - t.contrast, 1 + t.contrast),
                   r.uniform(1 - t.saturation, 1 + t.saturation), 0};
    f[3] = t.hue > 0 ? r.uniform(-t.hue, t.hue) : 0;
    int order[4] = {0, 1, 2, 3};
    for (int i = t.hue > 0 ? 3 : 2; i > 0; --i) std::swap(order[i], order[r.below(i + 1)]);
    for (int k : order) jitter_op(x, k, f);
  }
  const bool gray = t.grayscale_p > 0 && r.uniform() < t.grayscale_p;
  if (gray) to_grayscale(x);
  const bool blur = t.blur_p > 0 && r.uniform() < t.blur_p;
  if (blur) gaussian_blur(x, r.uniform(t.blur_sigma_min, t.blur_sigma_max));
  if (flip) hflip(x);
  counts[0] += jitter;
  counts[1] += gray;
  counts[2] += blur;
  counts[3] += flip;
  std::vector<float> out(x.data.size());
  normalize_to_float(view(x), false, t.mean, t.std, out.data());
  return out;
}

TEST_CASE("moco_v2 / simclr / cifar_moco transforms equal the ops in MoCo v2's order with the replayed draws") {
  ImageU8 big = synth(61, 47), small = synth(32, 32);
  PresetInput in;
  in.dataset = "list";
  in.height = in.width = 32;
  for (const char* name : {"moco_v2", "simclr", "cifar_moco"}) {
    const bool cifar = std::string(name) == "cifar_moco";
    TransformConfig t = make_preset(name, cifar ? 32 : 24, in).train;
    const ImageU8& im = cifar ? small : big;
    const int N = 400;
    int counts[4] = {0, 0, 0, 0};
    for (int k = 0; k < N; ++k) {
      CounterRng r = make_rng(7, 1, k), replay = r;
      std::vector<float> got((size_t)t.size * t.size * 3);
      TransformScratch s;
      apply_transform(t, view(im), r, got.data(), s);
      REQUIRE(got == replay_moco_order(t, im, replay, counts));
      CHECK(r.ctr == replay.ctr);
    }
    CAPTURE(name);
    CHECK(std::abs(counts[0] - 0.8 * N) < 5 * std::sqrt(N * 0.16));
    CHECK(std::abs(counts[1] - 0.2 * N) < 5 * std::sqrt(N * 0.16));
    CHECK(std::abs(counts[2] - t.blur_p * N) < 5 * std::sqrt(N * 0.25) + 1);
    CHECK(std::abs(counts[3] - 0.5 * N) < 5 * std::sqrt(N * 0.25));
  }
}

TEST_CASE("the presets without the new options draw and compute as before: crop, flip, jitter(b, c, s)") {
  ImageU8 im = synth(61, 47);
  TransformConfig t = imagenet_train_transform(true);
  t.size = 24;
  for (int k = 0; k < 100; ++k) {
    CounterRng r = make_rng(2, 0, k), replay = r;
    std::vector<float> got(24 * 24 * 3), want(got.size());
    TransformScratch s;
    apply_transform(t, view(im), r, got.data(), s);
    CropBox b = random_resized_crop_params(47, 61, 0.08, 1.0, 3.0 / 4, 4.0 / 3, replay);
    ImageU8 x;
    crop_resize(view(im), b, 24, 24, x);
    const bool flip = replay.bernoulli(0.5);
    color_jitter(x, 0.4, 0.4, 0.4, 0, replay);
    normalize_to_float(view(x), flip, t.mean, t.std, want.data());
    REQUIRE(got == want);
    CHECK(r.ctr == replay.ctr);
  }
}

// SimCLR's colour distortion: ColorJitter(x, x, x, hue) with p 0.8, grayscale p 0.2; and the blur probability.
static void check_colour_distortion(const TransformConfig& t, double x, double hue, double blur_p) {
  CHECK(t.brightness == x);
  CHECK(t.contrast == x);
  CHECK(t.saturation == x);
  CHECK(t.hue == hue);
  CHECK(t.color_jitter_p == 0.8);
  CHECK(t.grayscale_p == 0.2);
  CHECK(t.blur_p == blur_p);
  CHECK(t.hflip);
}

TEST_CASE("MoCo v2 and SimCLR presets") {
  PresetInput in;
  in.dataset = "list";
  in.height = 375;
  in.width = 500;
  Preset m = make_preset("moco_v2", 0, in), sc = make_preset("simclr", 0, in), inet = make_preset("imagenet", 0, in);
  CHECK(m.size == 224);
  CHECK(!m.exact);
  CHECK(m.train.crop == CropMode::RandomResizedCrop);
  CHECK(m.train.scale_min == 0.2);
  CHECK(m.train.scale_max == 1.0);
  check_colour_distortion(m.train, 0.4, 0.1, 0.5);
  CHECK(m.train.blur_sigma_min == 0.1);
  CHECK(m.train.blur_sigma_max == 2.0);
  CHECK(m.train.mean == inet.train.mean);
  CHECK(sc.train.scale_min == 0.08);
  check_colour_distortion(sc.train, 0.8, 0.2, 0);
  for (const Preset* p : {&m, &sc}) {
    CHECK(p->eval.crop == CropMode::ResizeCenterCrop);
    CHECK(p->eval.resize == 256);
    CHECK(p->eval.std == inet.eval.std);
  }
  in.height = in.width = 32;
  in.dataset = "cifar10";
  for (const char* name : {"cifar_moco", "cifar_simclr"}) {
    CHECK(preset_is_exact(name, in));
    Preset c = make_preset(name, 0, in), base = make_preset("cifar", 0, in);
    CHECK(c.size == 32);
    CHECK(c.train.crop == CropMode::RandomCrop);
    CHECK(c.train.padding == 4);
    check_colour_distortion(c.train, 0.4, 0.1, 0);
    CHECK(c.train.mean == base.train.mean);
    CHECK(c.eval.crop == CropMode::None);
  }
  in.height = in.width = 28;
  CHECK_THROWS_WITH_AS(make_preset("cifar_moco", 32, in), doctest::Contains("keeps images as they are"),
                       std::runtime_error);
  // a one-channel recipe's preset on a folder (its images are read as RGB): the message says what to use instead
  in.dataset = "image_folder";
  CHECK_THROWS_WITH_AS(make_preset("mnist", 0, in),
                       doctest::Contains("read as 3 channels (grey ones repeated): use auto"), std::runtime_error);
  CHECK(make_preset("auto", 0, in).name == "cifar");
}

