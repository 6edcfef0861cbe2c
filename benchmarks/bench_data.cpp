// Data pipeline throughput (docs/data.md has the numbers and the decoder decision).
//
//   bench_data [--images N] [--epochs E] [--workers W] [--jpegs K] [--seconds S] [--pipeline-images P]
//
// 1. CIFAR-style pipeline: in-memory 32x32x3 uint8 images -> RandomCrop(32, 4) + flip + normalize ->
//    batches of 128 through the Loader with W worker threads (default 2), instance sampler. Reports img/s.
// 2. ImageNet-style per-core cost on K generated ~500x375 JPEGs (quality 85, 4:2:0): decode alone, and
//    decode + RandomResizedCrop 224 + flip + normalize, single thread, for stb_image and (when built with
//    TAILOR_HAVE_LIBJPEG) libjpeg-turbo. Reports img/s per core: calls per second of thread CPU time, best
//    of 5 interleaved slices (stable on a shared machine).
// 3. The ImageNet-LT training pipeline end to end: the K JPEGs written to a temporary folder and read as a
//    lazy dataset of P samples (files repeated; the page cache holds them, as it holds a hot ImageNet shard),
//    decoded + RandomResizedCrop 224 + flip + ColorJitter + normalised into batches of 256 by the Loader with
//    W worker threads. Reports wall img/s: the rate the pipeline can feed a GPU (compare ResNet-50's step rate).
#include <stb_image_write.h>

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/decode.h"
#include "data/loader.h"
#include "data/presets.h"
#include "data/samplers.h"

using namespace tailor::data;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static std::vector<uint8_t> photo_like(int w, int h, uint32_t seed) {
  // smooth colour fields + edges + mild noise: roughly the entropy of a natural photo at quality 85
  std::vector<uint8_t> px((size_t)w * h * 3);
  uint32_t s = seed * 2654435761u + 1;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      s = s * 1664525u + 1013904223u;
      int noise = (int)(s >> 28) - 8;
      for (int c = 0; c < 3; ++c) {
        double v = 128 + 60 * std::sin((x + 37 * c + seed) * 0.021) * std::cos((y - 11 * c) * 0.017) +
                   40 * ((((x / 47) + (y / 31) + (int)seed) % 3) - 1);
        px[((size_t)y * w + x) * 3 + c] = (uint8_t)std::max(0.0, std::min(255.0, v + noise));
      }
    }
  return px;
}

static std::vector<uint8_t> to_jpeg(const std::vector<uint8_t>& px, int w, int h, int q) {
  std::vector<uint8_t> out;
  stbi_write_jpg_to_func([](void* ctx, void* data, int size) {
    auto* o = (std::vector<uint8_t>*)ctx;
    o->insert(o->end(), (uint8_t*)data, (uint8_t*)data + size);
  }, &out, w, h, 3, px.data(), q);
  return out;
}

static double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Runs fn(i) for i = 0, 1, ... for `secs` seconds of this thread's CPU time (at least `min_iters` calls);
// returns calls per CPU second, i.e. img/s per core, insensitive to time spent descheduled on a busy machine.
static double rate(const std::function<void(int)>& fn, double secs, int min_iters) {
  fn(0);  // warm-up
  const double t0 = thread_cpu_seconds();
  int n = 0;
  while (n < min_iters || thread_cpu_seconds() - t0 < secs) fn(n++);
  return n / (thread_cpu_seconds() - t0);
}

// Measures every case in `rounds` interleaved time slices and keeps each case's best slice, so that
// load from other processes on a shared machine affects all cases alike and mostly drops out.
struct Case {
  std::string name;
  std::function<void(int)> fn;
  double best = 0;
};
static void measure(std::vector<Case>& cases, double secs, int rounds) {
  for (int r = 0; r < rounds; ++r)
    for (auto& c : cases) c.best = std::max(c.best, rate(c.fn, secs / rounds, 5));
}

int main(int argc, char** argv) {
  int64_t images = 50000;
  int epochs = 2, workers = 2, jpegs = 32;
  int64_t pipeline_images = 1024;
  double secs = 2.0;  // per case, split into 5 interleaved slices
  for (int i = 1; i < argc; i += 2) {
    const std::string f = i + 1 < argc ? argv[i] : "";  // a flag without its value: the usage
    if (f == "--images") images = std::atoll(argv[i + 1]);
    else if (f == "--epochs") epochs = std::atoi(argv[i + 1]);
    else if (f == "--workers") workers = std::atoi(argv[i + 1]);
    else if (f == "--jpegs") jpegs = std::atoi(argv[i + 1]);
    else if (f == "--seconds") secs = std::atof(argv[i + 1]);
    else if (f == "--pipeline-images") pipeline_images = std::atoll(argv[i + 1]);
    else {
      const bool help = std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h";
      std::fprintf(help ? stdout : stderr,
                   "usage: bench_data [--images N] [--epochs E] [--workers W] [--jpegs K] [--seconds S] "
                   "[--pipeline-images P]\n(what each part measures: the top of benchmarks/bench_data.cpp)\n");
      return help ? 0 : 2;
    }
  }

  // ---- 1. CIFAR pipeline through the Loader
  Dataset ds;
  ds.name = "bench-cifar";
  ds.height = ds.width = 32;
  ds.channels = 3;
  ds.num_classes = 10;
  for (int c = 0; c < 10; ++c) ds.class_names.push_back(std::to_string(c));
  ds.pixels.resize((size_t)images * 3072);
  for (size_t i = 0; i < ds.pixels.size(); ++i) ds.pixels[i] = (uint8_t)((i * 2654435761u) >> 20);
  for (int64_t i = 0; i < images; ++i) ds.labels.push_back((int32_t)(i % 10));
  double best[2] = {0, 0};
  int64_t counted = 0;
  for (int rep = 0; rep < 3; ++rep)
    for (int k = 0; k < 2; ++k) {
      const int w = k ? workers : 0;
      Sampler s(ds.labels, 10, SamplerConfig{});
      LoaderConfig cfg;
      cfg.batch_size = 128;
      cfg.num_workers = w;
      cfg.prefetch = 4;
      Loader L(ds, s, cifar_train_transform(), cfg);
      int64_t n = 0;
      auto t0 = Clock::now();
      for (int e = 0; e < epochs; ++e) {
        L.start_epoch(e);
        Batch b;
        while (L.next(b)) n += b.images.size(0);
      }
      best[k] = std::max(best[k], n / seconds_since(t0));
      counted = n;
    }
  for (int k = 0; k < 2; ++k)
    std::printf("cifar pipeline (crop 32 pad 4 + flip + normalize, batch 128), %d worker%s: %.0f img/s "
                "(best of 3 x %lld images)\n", k ? workers : 0, (k ? workers : 0) == 1 ? "" : "s", best[k],
                (long long)counted);

  // ---- 2. JPEG decode + RandomResizedCrop 224 + flip + normalize, one core
  std::vector<std::vector<uint8_t>> files;
  size_t bytes = 0;
  for (int k = 0; k < jpegs; ++k) {
    bool portrait = k % 4 == 3;
    int w = portrait ? 375 : 500, h = portrait ? 500 : 375;
    files.push_back(to_jpeg(photo_like(w, h, (uint32_t)k), w, h, 85));
    bytes += files.back().size();
  }
  std::printf("jpeg set: %d files, 500x375 (1/4 portrait), quality 85, mean %.1f KiB\n", jpegs,
              bytes / 1024.0 / jpegs);
  TransformConfig rrc = imagenet_train_transform(false);
  TransformConfig rrc_cj = imagenet_train_transform(true);
  TransformConfig test = imagenet_test_transform();
  TransformConfig moco = make_preset("moco_v2", 224, PresetInput{"list", 375, 500}).train;
  std::vector<float> out(224 * 224 * 3);
  struct Dec {
    const char* name;
    ImageU8 (*fn)(const uint8_t*, size_t, const std::string&);
  };
  std::vector<Dec> decs = {{"stb_image", &decode_stb}};
  if (have_libjpeg()) decs.push_back({"libjpeg-turbo", &decode_libjpeg});
  std::vector<Case> cases;
  for (const Dec& d : decs) {
    auto dec = d.fn;
    cases.push_back({std::string(d.name) + " decode only", [&files, dec](int i) {
                       const auto& f = files[(size_t)i % files.size()];
                       dec(f.data(), f.size(), "b");
                     }});
    for (auto [label, tf] : {std::pair<const char*, const TransformConfig*>{" + RRC224+flip+norm", &rrc},
                             {" + RRC224+flip+ColorJitter+norm", &rrc_cj},
                             {" + Resize256+CenterCrop224+norm", &test}}) {
      cases.push_back({std::string(d.name) + label, [&files, &out, dec, tf](int i) {
                         static thread_local TransformScratch sc;
                         const auto& f = files[(size_t)i % files.size()];
                         ImageU8 im = dec(f.data(), f.size(), "b");
                         CounterRng rng = make_rng(0, 0, i);
                         apply_transform(*tf, ImageView{im.data.data(), im.height, im.width, im.channels}, rng,
                                         out.data(), sc);
                       }});
    }
  }
  // augmentation alone on a decoded image (no decode)
  ImageU8 im = decode_stb(files[0].data(), files[0].size(), "b");
  for (auto [label, tf] : {std::pair<const char*, const TransformConfig*>{"RRC224+flip+norm alone", &rrc},
                           {"RRC224+flip+ColorJitter+norm alone", &rrc_cj},
                           {"MoCo v2 view (RRC224, jitter, gray, blur) alone", &moco}}) {
    cases.push_back({label, [&im, &out, tf](int i) {
                       static thread_local TransformScratch sc;
                       CounterRng rng = make_rng(0, 0, i);
                       apply_transform(*tf, ImageView{im.data.data(), im.height, im.width, im.channels}, rng,
                                       out.data(), sc);
                     }});
  }
  measure(cases, secs, 5);
  for (auto& c : cases) std::printf("  %-48s %7.0f img/s/core\n", c.name.c_str(), c.best);

  // ---- 3. the ImageNet-LT pipeline through the Loader, W workers
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("tailor_bench_jpeg_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  Dataset lazy;
  lazy.name = "bench-jpeg";
  lazy.channels = 3;
  lazy.num_classes = 10;
  for (int c = 0; c < 10; ++c) lazy.class_names.push_back(std::to_string(c));
  for (int k = 0; k < jpegs; ++k)
    std::ofstream(dir / (std::to_string(k) + ".jpg"), std::ios::binary)
        .write((const char*)files[(size_t)k].data(), (std::streamsize)files[(size_t)k].size());
  for (int64_t i = 0; i < pipeline_images; ++i) {
    lazy.paths.push_back((dir / (std::to_string(i % jpegs) + ".jpg")).string());
    lazy.labels.push_back((int32_t)(i % 10));
  }
  for (int rep = 0; rep < 2; ++rep) {
    Sampler s(lazy.labels, 10, SamplerConfig{});
    LoaderConfig cfg;
    cfg.batch_size = 256;
    cfg.num_workers = workers;
    cfg.prefetch = std::max(4, 2 * workers);
    Loader L(lazy, s, rrc_cj, cfg);
    int64_t n = 0;
    auto t0 = Clock::now();
    L.start_epoch(0);
    Batch b;
    while (L.next(b)) n += b.images.size(0);
    std::printf("imagenet pipeline (JPEG decode + RRC224 + flip + ColorJitter + normalize, batch 256), %d worker%s: "
                "%.0f img/s (%lld images)\n", workers, workers == 1 ? "" : "s", n / seconds_since(t0), (long long)n);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
