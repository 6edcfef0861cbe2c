// Device-resident data, the host side and the CPU twin of the kernel: a batch gathered through
// crop_flip_plan + crop_flip_normalize equals the Loader's batch bit for bit — the CIFAR transform
// (RandomCrop 32 with padding 4, flip, normalise), flip only, no augmentation, a 1-channel set, rank 1 of 2 —
// and a transform the kernel cannot run is refused with the op's name; mixup on the device (mix_rows) is
// the host's apply_mixup bit for bit; a training run with data.resident true is the run without it, bit for
// bit (with mixup too), also killed and resumed. (tests/test_cuda.cpp checks the CUDA
// kernel against this CPU twin; on a GPU the last case runs the loader resident on it against the host's.)
#include <doctest/doctest.h>

#include <cstring>
#include <optional>
#include <utility>

#include "cli_run.h"
#include "data/loader.h"
#include "data/mixup.h"
#include "data/resident.h"
#include "engine/allocator.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "train/run_data.h"
#include "train/run_model.h"
#include "train_cli.h"

using namespace tailor;
using namespace tailor::data;

namespace {

Dataset random_set(int64_t n, int h, int w, int c, int classes) {
  Dataset d;
  d.name = "random", d.height = h, d.width = w, d.channels = c, d.num_classes = classes;
  Rng rng(3);
  d.pixels.resize((size_t)(n * h * w * c));
  for (auto& p : d.pixels) p = (uint8_t)rng.below(256);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back((int32_t)((i * 7) % classes));
  for (int k = 0; k < classes; ++k) d.class_names.push_back("c" + std::to_string(k));
  return d;
}

// Every batch of `epoch` from the Loader and through the plan + kernel: the same indices and the same floats.
void check_epoch(const Dataset& ds, const TransformConfig& tf, int rank, int world, int64_t epoch) {
  SamplerConfig sc;
  sc.kind = SamplerKind::Instance, sc.seed = 5, sc.rank = rank, sc.world = world;
  Sampler sampler(ds.labels, ds.num_classes, sc);
  LoaderConfig lc;
  lc.batch_size = 8, lc.num_workers = 0, lc.seed = 17;
  Loader loader(ds, sampler, tf, lc);
  const std::vector<int32_t> plan = crop_flip_plan(sampler, epoch, lc.seed, tf, ds.height, ds.width);
  Tensor images = Tensor::empty({ds.size(), ds.height, ds.width, ds.channels}, DType::U8);
  std::memcpy(images.u8(), ds.pixels.data(), ds.pixels.size());
  const std::vector<float> table = normalization_table(ds.channels, tf.mean, tf.std);
  Tensor lut = Tensor::from_vector(table, {(int64_t)table.size()});
  int out_h = 0, out_w = 0;
  transform_output_shape(tf, ds.height, ds.width, &out_h, &out_w);
  loader.start_epoch(epoch);
  Batch b;
  int64_t pos = 0, batches = 0;
  while (loader.next(b)) {
    const int64_t n = b.labels.numel();
    std::vector<int32_t> rows(plan.begin() + pos * 4, plan.begin() + (pos + n) * 4);
    for (int64_t i = 0; i < n; ++i) REQUIRE(rows[(size_t)(i * 4)] == b.indices[(size_t)i]);
    Tensor got = crop_flip_normalize(images, Tensor::from_vector_i32(rows, {n, 4}), lut, out_h);
    REQUIRE(got.shape() == b.images.shape());
    CHECK(std::memcmp(got.f32(), b.images.f32(), (size_t)got.numel() * 4) == 0);
    pos += n;
    ++batches;
  }
  CHECK(pos * 4 == (int64_t)plan.size());
  CHECK(batches >= 3);
}

}  // namespace

TEST_CASE("the plan and the gather kernel give the Loader's batches bit for bit") {
  const Dataset rgb = random_set(37, 32, 32, 3, 5), gray = random_set(29, 28, 28, 1, 4);
  TransformConfig cifar = cifar_train_transform(), flip_only, plain = cifar_test_transform(), gray_crop;
  flip_only.hflip = true;
  flip_only.mean = {0.5f, 0.4f, 0.3f}, flip_only.std = {0.2f, 0.25f, 0.3f};
  gray_crop.crop = CropMode::RandomCrop, gray_crop.size = 28, gray_crop.padding = 2, gray_crop.hflip = true;
  for (int64_t epoch : {0, 3}) {
    CAPTURE(epoch);
    check_epoch(rgb, cifar, 0, 1, epoch);
    check_epoch(rgb, cifar, 1, 2, epoch);  // rank 1 of 2: its shard, its global positions' draws
    check_epoch(rgb, flip_only, 0, 1, epoch);
    check_epoch(rgb, plain, 0, 1, epoch);
    check_epoch(gray, gray_crop, 0, 1, epoch);
  }
}

TEST_CASE("evaluation through resident batches gives the host path's logits bit for bit") {
  const Dataset ds = random_set(45, 32, 32, 3, 5);
  Rng rng(9);
  auto net = make_resnet("resnet32", 5, 3, HeadKind::Linear, rng);
  auto logits = [&](bool resident) {
    std::vector<float> out;
    std::vector<int64_t> indices;
    for_each_eval_batch(
        *net, ds, cifar_test_transform(), 16, 0,
        [&](const Batch& b) {
          std::vector<float> v = net->forward(b.images).to_vector();
          out.insert(out.end(), v.begin(), v.end());
          indices.insert(indices.end(), b.indices.begin(), b.indices.end());
        },
        resident);
    CHECK(indices.size() == 45);
    for (size_t i = 0; i < indices.size(); ++i) CHECK(indices[i] == (int64_t)i);
    return out;
  };
  const std::vector<float> host = logits(false), dev = logits(true);
  REQUIRE(host.size() == 45 * 5);
  CHECK(std::memcmp(host.data(), dev.data(), host.size() * sizeof(float)) == 0);
  const std::vector<int64_t> counts{20, 10, 8, 4, 3};
  const EvalMetrics a = evaluate_dataset(*net, ds, cifar_test_transform(), counts, ShotRule{}, 16, 0, false);
  const EvalMetrics b = evaluate_dataset(*net, ds, cifar_test_transform(), counts, ShotRule{}, 16, 0, true);
  CHECK(a.top1 == b.top1);
  CHECK(a.per_class_acc == b.per_class_acc);
}

TEST_CASE("a transform the kernel cannot run is refused, naming the op") {
  SamplerConfig sc;
  const Dataset ds = random_set(10, 32, 32, 3, 2);
  Sampler s(ds.labels, 2, sc);
  CHECK_THROWS_WITH(crop_flip_plan(s, 0, 1, balms_cifar_train_transform(), 32, 32),
                    doctest::Contains("AutoAugment runs on the host only"));
  CHECK_THROWS_WITH(crop_flip_plan(s, 0, 1, imagenet_train_transform(), 32, 32),
                    doctest::Contains("only RandomCrop (or no crop) runs on the device"));
  CHECK(resident_transform_problem(cifar_train_transform(), 32, 32).empty());
}

TEST_CASE("mix_rows equals the host's mixup bit for bit") {
  Rng rng(11);
  const int64_t n = 9, row = 3 * 5 * 4;
  std::vector<float> x((size_t)(n * row));
  for (auto& v : x) v = (float)rng.normal() * 3.f;
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back((int32_t)(i % 4));
  for (double alpha : {0.2, 1.0}) {
    const MixupResult mr = draw_mixup(labels, alpha, 7, 2, 5);
    REQUIRE(mr.lambda != 1.f);
    std::vector<float> want = x;
    apply_mixup(want.data(), n, row, mr.lambda, mr.perm);
    const std::vector<int32_t> perm(mr.perm.begin(), mr.perm.end());
    const Tensor got = mix_rows(Tensor::from_vector(x, {n, 3, 5, 4}), Tensor::from_vector_i32(perm, {n}), mr.lambda);
    CHECK(got.shape() == Shape{n, 3, 5, 4});
    CHECK(std::memcmp(got.f32(), want.data(), want.size() * 4) == 0);
  }
}

TEST_CASE("tailor train with data.resident: the same run bit for bit, also killed and resumed") {
  using namespace train_cli;
  if (!have_fashion_mnist()) {
    MESSAGE("skipped: the Fashion-MNIST package is not installed");
    return;
  }
  const std::string dir = temp_folder("tailor_resident_");
  const std::string cfg = write_config(dir, "ce", R"({"model": {"arch": "resnet32"},
      "stage1": {"method": "joint", "epochs": 3, "batch_size": 16, "loss": {"name": "ce"}}})");
  auto args = [&](const std::string& name, const std::string& extra) {
    return "train --config " + cfg + " " + small_data(dir, name) + " --no-report " + extra;
  };
  Run host = run(args("host", ""));
  REQUIRE_MESSAGE(host.code == 0, host.out);
  Run dev = run(args("resident", "--set data.resident=true"));
  REQUIRE_MESSAGE(dev.code == 0, dev.out);
  check_same_run(std::filesystem::path(dir) / "host", std::filesystem::path(dir) / "resident", 3, 2);
  Run killed = run(args("killed", "--set data.resident=true"), "TAILOR_KILL_AT_STEP=13");
  CHECK(killed.code != 0);
  Run resumed = run("train --resume " + dir + "/killed");
  REQUIRE_MESSAGE(resumed.code == 0, resumed.out);
  check_same_run(std::filesystem::path(dir) / "host", std::filesystem::path(dir) / "killed", 3, 2);
  // mixup: drawn on the host from the batch's labels, mixed on the batch's device
  Run host_mix = run(args("host_mix", "--set stage1.mixup_alpha=1"));
  REQUIRE_MESSAGE(host_mix.code == 0, host_mix.out);
  Run dev_mix = run(args("resident_mix", "--set stage1.mixup_alpha=1 --set data.resident=true"));
  REQUIRE_MESSAGE(dev_mix.code == 0, dev_mix.out);
  check_same_run(std::filesystem::path(dir) / "host_mix", std::filesystem::path(dir) / "resident_mix", 3, 2);
  CHECK(slurp(std::filesystem::path(dir) / "host_mix" / "steps.jsonl") !=
        slurp(std::filesystem::path(dir) / "host" / "steps.jsonl"));
}

TEST_CASE("CUDA: the loader resident on the GPU gives the host loader's batches bit for bit, also from a cursor") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  const Dataset rgb = random_set(45, 32, 32, 3, 5), gray = random_set(37, 28, 28, 1, 4);
  TransformConfig cifar = cifar_train_transform(), gray_crop;
  gray_crop.crop = CropMode::RandomCrop, gray_crop.size = 28, gray_crop.padding = 2, gray_crop.hflip = true;
  auto batches = [](const Dataset& ds, const TransformConfig& tf, std::optional<Device> resident, int64_t epoch,
                    int64_t cursor) {
    SamplerConfig sc;
    sc.kind = SamplerKind::Instance, sc.seed = 5;
    Sampler sampler(ds.labels, ds.num_classes, sc);
    LoaderConfig lc;
    lc.batch_size = 8, lc.num_workers = 0, lc.seed = 17, lc.resident = resident;
    Loader loader(ds, sampler, tf, lc);
    loader.start_epoch(epoch, cursor);
    std::vector<std::pair<std::vector<float>, std::vector<int32_t>>> out;
    Batch b;
    while (loader.next(b)) out.push_back({b.images.cpu().to_vector(), b.labels.cpu().to_vector_i32()});
    return out;
  };
  for (int64_t epoch : {0, 1})
    for (int64_t cursor : {0, 16}) {
      CAPTURE(epoch);
      CAPTURE(cursor);
      CHECK(batches(rgb, cifar, std::nullopt, epoch, cursor) == batches(rgb, cifar, Device::cuda(0), epoch, cursor));
      CHECK(batches(gray, gray_crop, std::nullopt, epoch, cursor) ==
            batches(gray, gray_crop, Device::cuda(0), epoch, cursor));
    }
}

TEST_CASE("data.resident: an evaluated split the device cannot gather is refused before training, naming it") {
  RunData d;
  d.eval_tf = cifar_test_transform();
  d.test = std::make_unique<Dataset>(random_set(12, 32, 32, 3, 4));
  CHECK_NOTHROW(check_resident_eval(d));
  d.val = std::make_unique<Dataset>(random_set(12, 32, 32, 3, 4));
  d.val->pixels.clear();  // a split decoded from its files as it is read
  CHECK_THROWS_WITH_AS(check_resident_eval(d), doctest::Contains("the val split (random) is read from files"),
                       std::runtime_error);
  d.val.reset();
  d.eval_tf.crop = CropMode::CenterCrop, d.eval_tf.size = 24;
  CHECK_THROWS_WITH_AS(check_resident_eval(d), doctest::Contains("the test split's transform"), std::runtime_error);
}
