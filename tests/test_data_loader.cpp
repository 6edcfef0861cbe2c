// Loader: ordered batches, results independent of the worker count, drop_last/keep_last, resume, sharding,
// bad-image policy on lazy datasets, two views per sample.
#include <doctest/doctest.h>

#include <stb_image_write.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/loader.h"
#include "data/mixup.h"

using namespace tailor;
using namespace tailor::data;
namespace fs = std::filesystem;

static Dataset synthetic(int n, int C, int H = 8, int W = 8) {
  Dataset ds;
  ds.name = "synthetic";
  ds.height = H;
  ds.width = W;
  ds.channels = 3;
  ds.num_classes = C;
  for (int c = 0; c < C; ++c) ds.class_names.push_back("c" + std::to_string(c));
  ds.pixels.resize((size_t)n * H * W * 3);
  for (size_t i = 0; i < ds.pixels.size(); ++i) ds.pixels[i] = (uint8_t)((i * 2654435761u) >> 13);
  for (int i = 0; i < n; ++i) ds.labels.push_back((int32_t)(i % C));
  return ds;
}

struct Collected {
  std::vector<std::vector<float>> images, images2;
  std::vector<std::vector<int32_t>> labels;
  std::vector<std::vector<int64_t>> indices;
};

static Collected run_epoch(Loader& L, int max_batches = 1 << 30) {
  Collected c;
  Batch b;
  while ((int)c.images.size() < max_batches && L.next(b)) {
    c.images.push_back(b.images.to_vector());
    if (b.images2.defined()) c.images2.push_back(b.images2.to_vector());
    c.labels.push_back(b.labels.to_vector_i32());
    c.indices.push_back(b.indices);
  }
  return c;
}

TEST_CASE("loader output does not depend on the number of workers") {
  Dataset ds = synthetic(203, 5);
  TransformConfig tf = cifar_train_transform();
  tf.size = 8;
  tf.padding = 2;
  LoaderConfig cfg;
  cfg.batch_size = 16;
  cfg.seed = 11;
  std::vector<Collected> runs;
  for (int workers : {0, 1, 3}) {
    SamplerConfig sc;
    sc.seed = 4;
    Sampler s(ds.labels, 5, sc);
    cfg.num_workers = workers;
    cfg.prefetch = workers == 3 ? 2 : 4;
    Loader L(ds, s, tf, cfg);
    L.start_epoch(2);
    CHECK(L.batches_per_epoch() == 13);  // 203 = 12 * 16 + 11, keep_last
    runs.push_back(run_epoch(L));
    CHECK(runs.back().images.size() == 13);
    auto expect = s.epoch_indices(2);
    std::vector<int64_t> got;
    for (auto& v : runs.back().indices) got.insert(got.end(), v.begin(), v.end());
    CHECK(got == expect);
  }
  CHECK(runs[0].images == runs[1].images);
  CHECK(runs[0].images == runs[2].images);
  CHECK(runs[0].labels == runs[2].labels);
  CHECK(runs[0].labels[0][3] == ds.labels[(size_t)runs[0].indices[0][3]]);
  CHECK(runs[0].images.back().size() == (size_t)11 * 8 * 8 * 3);
}

TEST_CASE("loader: drop_last, shapes, epochs differ, in-memory values") {
  Dataset ds = synthetic(50, 5, 4, 6);
  Sampler s(ds.labels, 5, SamplerConfig{});
  LoaderConfig cfg;
  cfg.batch_size = 8;
  cfg.drop_last = true;
  TransformConfig tf;  // no augmentation: images are x / 255
  Loader L(ds, s, tf, cfg);
  CHECK(L.batches_per_epoch() == 6);
  L.start_epoch(0);
  Batch b;
  REQUIRE(L.next(b));
  CHECK(b.images.shape() == Shape{8, 4, 6, 3});
  CHECK(b.labels.shape() == Shape{8});
  CHECK(b.labels.dtype() == DType::I32);
  auto px = b.images.to_vector();
  for (int k = 0; k < 72; ++k) CHECK(px[(size_t)k] == (float)ds.pixels[(size_t)b.indices[0] * 72 + k] / 255.f);
  auto e0 = run_epoch(L);
  CHECK(e0.images.size() == 5);
  L.start_epoch(1);
  auto e1 = run_epoch(L);
  CHECK(e1.indices != e0.indices);
  CHECK_FALSE(L.next(b));
}

TEST_CASE("loader resume: the remaining batches equal an uninterrupted epoch") {
  Dataset ds = synthetic(300, 7);
  TransformConfig tf = cifar_train_transform();
  tf.size = 8;
  LoaderConfig cfg;
  cfg.batch_size = 32;
  cfg.seed = 3;
  SamplerConfig sc;
  sc.kind = SamplerKind::ClassAware;
  sc.num_samples = 300;
  Sampler s1(ds.labels, 7, sc);
  Loader full(ds, s1, tf, cfg);
  full.start_epoch(5);
  auto ref = run_epoch(full);
  Sampler s2(ds.labels, 7, sc);
  SamplerState saved;
  {
    Loader part(ds, s2, tf, cfg);
    part.start_epoch(5);
    auto first = run_epoch(part, 4);
    CHECK(first.images.size() == 4);
    saved = part.state();
  }
  CHECK(saved.epoch == 5);
  CHECK(saved.cursor == 128);
  Sampler s3(ds.labels, 7, sc);
  s3.load_state(saved);
  Loader again(ds, s3, tf, cfg);  // picks up the sampler's state
  auto rest = run_epoch(again);
  REQUIRE(rest.images.size() == ref.images.size() - 4);
  for (size_t k = 0; k < rest.images.size(); ++k) {
    CHECK(rest.images[k] == ref.images[k + 4]);
    CHECK(rest.indices[k] == ref.indices[k + 4]);
  }
  // mixup on a batch is a function of (seed, epoch, batch)
  Sampler s4(ds.labels, 7, sc);
  Loader m(ds, s4, tf, cfg);
  Batch b1, b2;
  m.start_epoch(0);
  REQUIRE(m.next(b1));
  m.start_epoch(0);
  REQUIRE(m.next(b2));
  MixupResult r1 = mixup_batch(b1, 1.0, 9, 0, 0), r2 = mixup_batch(b2, 1.0, 9, 0, 0);
  CHECK(r1.lambda == r2.lambda);
  CHECK(b1.images.to_vector() == b2.images.to_vector());
  CHECK(r1.labels_b == r2.labels_b);
}

TEST_CASE("loader shards: two ranks see disjoint halves with the same augmentation") {
  Dataset ds = synthetic(64, 4);
  TransformConfig tf = cifar_train_transform();
  tf.size = 8;
  LoaderConfig cfg;
  cfg.batch_size = 64;
  SamplerConfig one;
  Sampler s(ds.labels, 4, one);
  Loader L(ds, s, tf, cfg);
  L.start_epoch(0);
  Batch all;
  REQUIRE(L.next(all));
  auto allpx = all.images.to_vector();
  for (int r = 0; r < 2; ++r) {
    SamplerConfig sc;
    sc.world = 2;
    sc.rank = r;
    Sampler sr(ds.labels, 4, sc);
    LoaderConfig c2 = cfg;
    c2.batch_size = 32;
    Loader Lr(ds, sr, tf, c2);
    Lr.start_epoch(0);
    Batch b;
    REQUIRE(Lr.next(b));
    auto px = b.images.to_vector();
    const size_t row = 8 * 8 * 3;
    for (int k = 0; k < 32; ++k) {
      int g = r + 2 * k;  // global position
      CHECK(b.indices[(size_t)k] == all.indices[(size_t)g]);
      CHECK(std::equal(px.begin() + (int64_t)(k * row), px.begin() + (int64_t)((k + 1) * row), allpx.begin() + (int64_t)(g * row)));
    }
  }
}

TEST_CASE("loader on a lazy dataset: decode errors follow the policy") {
  char tmpl[] = "/tmp/tailor_loader_XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  Dataset ds;
  ds.name = "lazy";
  ds.channels = 3;
  ds.num_classes = 2;
  ds.class_names = {"a", "b"};
  for (int i = 0; i < 10; ++i) {
    std::vector<uint8_t> px((size_t)12 * 10 * 3, (uint8_t)(i * 20));
    std::string p = (dir / ("img" + std::to_string(i) + ".png")).string();
    stbi_write_png(p.c_str(), 12, 10, 3, px.data(), 36);
    ds.paths.push_back(p);
    ds.labels.push_back(i % 2);
  }
  { std::ofstream(ds.paths[3], std::ios::trunc) << "garbage"; }
  TransformConfig tf = imagenet_test_transform();
  tf.resize = 10;
  tf.size = 8;
  SamplerConfig sc;
  sc.kind = SamplerKind::Sequential;
  Sampler s(ds.labels, 2, sc);
  LoaderConfig cfg;
  cfg.batch_size = 4;
  {
    Loader L(ds, s, tf, cfg);
    L.start_epoch(0);
    Batch b;
    CHECK_THROWS_WITH_AS(L.next(b), doctest::Contains("img3.png: not a JPEG, PNG"), std::runtime_error);
  }
  cfg.on_bad_image = BadImagePolicy::Skip;
  Loader L(ds, s, tf, cfg);
  L.start_epoch(0);
  Batch b;
  REQUIRE(L.next(b));
  CHECK(b.images.shape() == Shape{3, 8, 8, 3});
  CHECK(b.indices == std::vector<int64_t>{0, 1, 2});
  CHECK(b.labels.to_vector_i32() == std::vector<int32_t>{0, 1, 0});
  CHECK(L.skipped() == 1);
  REQUIRE(L.next(b));
  CHECK(b.images.size(0) == 4);
  CHECK(b.images.to_vector()[0] == doctest::Approx((80 / 255.f - 0.485f) / 0.229f));
  fs::remove_all(dir);
  // a lazy dataset without a crop cannot be batched
  Sampler s2(ds.labels, 2, sc);
  CHECK_THROWS_AS(Loader(ds, s2, TransformConfig{}, cfg), std::runtime_error);
}

TEST_CASE("loader: two views per sample (second_view), keyed by (seed, epoch, position, view)") {
  Dataset ds = synthetic(75, 5, 12, 12);
  TransformConfig tf;  // view 0: RandomCrop(12, 2) + flip + colour distortion (cifar_moco at 12 x 12)
  tf.crop = CropMode::RandomCrop;
  tf.size = 12;
  tf.padding = 2;
  tf.hflip = true;
  tf.brightness = tf.contrast = tf.saturation = 0.4;
  tf.hue = 0.1;
  tf.color_jitter_p = 0.8;
  tf.grayscale_p = 0.2;
  tf.mean = {0.5f, 0.4f, 0.3f};
  tf.std = {0.2f, 0.2f, 0.25f};
  TransformConfig key = tf;  // view 1: a MoCo v2 key view of another size, with blur
  key.crop = CropMode::RandomResizedCrop;
  key.size = 8;
  key.scale_min = 0.2;
  key.blur_p = 0.5;
  LoaderConfig cfg;
  cfg.batch_size = 16;
  cfg.seed = 21;
  cfg.second_view = key;
  SamplerConfig sc;
  sc.seed = 2;
  std::vector<Collected> runs;
  for (int workers : {0, 1, 3}) {
    Sampler s(ds.labels, 5, sc);
    cfg.num_workers = workers;
    Loader L(ds, s, tf, cfg);
    CHECK(L.out_height2() == 8);
    L.start_epoch(3);
    runs.push_back(run_epoch(L));
    REQUIRE(runs.back().images2.size() == 5);  // 75 = 4 * 16 + 11
    CHECK(runs.back().images2.back().size() == (size_t)11 * 8 * 8 * 3);
  }
  CHECK(runs[0].images == runs[1].images);
  CHECK(runs[0].images == runs[2].images);
  CHECK(runs[0].images2 == runs[1].images2);
  CHECK(runs[0].images2 == runs[2].images2);
  // view 0 is what a one-view loader gives; view 1 is apply_transform(second_view, image, make_rng(seed, epoch, g, 1))
  {
    Sampler s(ds.labels, 5, sc);
    LoaderConfig one = cfg;
    one.second_view.reset();
    Loader L(ds, s, tf, one);
    L.start_epoch(3);
    Collected c = run_epoch(L);
    CHECK(c.images == runs[0].images);
    CHECK(c.images2.empty());
  }
  const size_t row2 = 8 * 8 * 3;
  int64_t g = 0;
  for (size_t b = 0; b < runs[0].indices.size(); ++b)
    for (size_t k = 0; k < runs[0].indices[b].size(); ++k, ++g) {
      const int64_t di = runs[0].indices[b][k];
      ImageView v{ds.pixels.data() + (size_t)di * 12 * 12 * 3, 12, 12, 3};
      std::vector<float> want(row2);
      CounterRng rng = make_rng(cfg.seed, 3, g, 1);
      TransformScratch scratch;
      apply_transform(key, v, rng, want.data(), scratch);
      REQUIRE(std::equal(want.begin(), want.end(), runs[0].images2[b].begin() + (int64_t)(k * row2)));
    }
  // under one transform the two views of a sample differ (independent streams), each reproducibly
  {
    LoaderConfig same = cfg;
    same.second_view = tf;
    Sampler s1(ds.labels, 5, sc), s2(ds.labels, 5, sc);
    Loader A(ds, s1, tf, same), B(ds, s2, tf, same);
    A.start_epoch(0);
    B.start_epoch(0);
    Batch a, b;
    REQUIRE(A.next(a));
    REQUIRE(B.next(b));
    CHECK(a.images2.shape() == a.images.shape());
    auto x = a.images.to_vector(), y = a.images2.to_vector();
    const size_t row = 12 * 12 * 3;
    for (size_t k = 0; k < 16; ++k)
      CHECK_FALSE(std::equal(x.begin() + (int64_t)(k * row), x.begin() + (int64_t)((k + 1) * row), y.begin() + (int64_t)(k * row)));
    CHECK(b.images.to_vector() == x);
    CHECK(b.images2.to_vector() == y);
    // load(): both views, as the sampler's stream would augment those positions
    Batch l;
    A.load(a.indices, 0, 0, l);
    CHECK(l.images.to_vector() == x);
    CHECK(l.images2.to_vector() == y);
    to_device(l, Device::cpu());
    CHECK(l.images2.to_vector() == y);
  }
}
