// The real CIFAR-10 JPEG archive (../shared/data/cifar10-jpg.tar.xz): 50,000 / 10,000 images, pixels equal to
// PIL's decode (exact with libjpeg-turbo; stb_image's IDCT/upsampling differ by <= 4, see docs/data.md),
// the LDAM/GCL LT subset picks the same files as numpy, verify-data passes, and the loader runs on it.
// Exits with code 77 (ctest: skipped) when the archive is absent.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/decode.h"
#include "data/folder.h"
#include "data/imbalance.h"
#include "data/loader.h"
#include "data/verify.h"

using namespace tailor::data;
namespace fs = std::filesystem;

namespace {

const std::string kArchive = std::string(TAILOR_SOURCE_DIR) + "/../shared/data/cifar10-jpg.tar.xz";

// Extracts the archive once per process into a temporary directory (removed at exit).
const std::string& cifar_root() {
  static std::string root;
  if (!root.empty()) return root;
  if (!fs::exists(kArchive)) {
    MESSAGE("skipped: " << kArchive << " not found");
    std::exit(77);
  }
  char tmpl[] = "/tmp/tailor_cifar10_XXXXXX";
  root = mkdtemp(tmpl);
  std::string cmd = "tar xJf '" + kArchive + "' -C '" + root + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(root, ec);
  });
  return root;
}

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = (uint8_t)std::stoi(s.substr(2 * i, 2), nullptr, 16);
  return out;
}

const Dataset& train_set() {
  static Dataset ds = load_image_folder(cifar_root(), "train");
  return ds;
}

}  // namespace

TEST_CASE("CIFAR-10 JPEG archive loads: 50,000 / 10,000 images, 10 classes") {
  const Dataset& tr = train_set();
  CHECK(tr.size() == 50000);
  CHECK(tr.num_classes == 10);
  CHECK(tr.height == 32);
  CHECK(tr.width == 32);
  CHECK(tr.class_names == std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                   "horse", "ship", "truck"});
  for (auto n : class_counts(tr.labels, 10)) CHECK(n == 5000);
  LoadOptions lazy;
  lazy.lazy = true;
  Dataset te = load_image_folder(cifar_root(), "test", lazy);
  CHECK(te.size() == 10000);
  for (auto n : class_counts(te.labels, 10)) CHECK(n == 1000);
}

TEST_CASE("CIFAR-10 pixels equal PIL's decode") {
  std::ifstream f(std::string(TAILOR_FIXTURES) + "/data_cifar10_pil.json");
  REQUIRE_MESSAGE(f.good(), "missing fixture data_cifar10_pil.json (run tests/gen_data_fixtures.py)");
  nlohmann::json j;
  f >> j;
  int worst = 0;
  size_t differing = 0, total = 0;
  for (auto& im : j["images"]) {
    std::string path = cifar_root() + "/" + im["path"].get<std::string>();
    ImageU8 got = decode_image_file(path);
    auto want = unhex(im["pixels"]);
    REQUIRE(got.data.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      int d = std::abs((int)got.data[i] - (int)want[i]);
      worst = std::max(worst, d);
      differing += d != 0;
      ++total;
    }
    // the eager folder load holds the same pixels
    const Dataset& tr = train_set();
    for (size_t k = 0; k < tr.paths.size() && im["path"].get<std::string>().rfind("train/", 0) == 0; ++k)
      if (tr.paths[k] == path) {
        CHECK(std::equal(got.data.begin(), got.data.end(), tr.pixels.begin() + (int64_t)k * 3072));
        break;
      }
  }
  MESSAGE("JPEG decoder " << std::string(jpeg_decoder_name()) << ": max |diff| vs PIL = " << worst << ", " << differing << " of "
                          << total << " values differ");
  if (have_libjpeg()) CHECK(worst == 0);
  else CHECK(worst <= 4);  // stb_image vs libjpeg-turbo islow IDCT + fancy upsampling (measured over all 60k images)
}

TEST_CASE("LT subset of the real layout picks numpy's files") {
  std::ifstream f(std::string(TAILOR_FIXTURES) + "/data_lt_numpy.json");
  REQUIRE(f.good());
  nlohmann::json j;
  f >> j;
  const Dataset& tr = train_set();
  LtSubset s = make_lt_subset(tr.labels, 10, 100, LtProfile::Exp, 0);
  CHECK(s.total == 12406);
  CHECK(s.counts == std::vector<int64_t>{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50});
  auto& files = j["cifar10_folder_ratio100_seed0_first10"];
  size_t pos = 0;
  for (int c = 0; c < 10; ++c) {
    auto want = files[tr.class_names[(size_t)c]].get<std::vector<std::string>>();
    for (size_t k = 0; k < want.size(); ++k) {
      CAPTURE(c);
      CHECK(tr.paths[(size_t)s.indices[pos + k]] == cifar_root() + "/" + want[k]);
    }
    pos += (size_t)s.counts[(size_t)c];
  }
}

TEST_CASE("verify-data on the CIFAR-10 folder with an LT subset") {
  std::string root = cifar_root();
  const char* argv[] = {"verify-data", "--format", "imagefolder", "--root", root.c_str(), "--imbalance-ratio", "100",
                        "--profile", "exp", "--seed", "0", "--expect", "cifar10"};
  std::ostringstream out, err;
  int rc = verify_data_main(13, (char**)argv, out, err);
  INFO(out.str());
  INFO(err.str());
  CHECK(rc == 0);
  CHECK(out.str().find("train: 50000 images, 10 classes") != std::string::npos);
  CHECK(out.str().find("test: 10000 images, 10 classes") != std::string::npos);
  CHECK(out.str().find("as published: CIFAR-10's train split: 50000 images, 10 classes, 5000 per class") !=
        std::string::npos);
  CHECK(out.str().find("warning") == std::string::npos);  // no repeated image, no test image among the training ones
  CHECK(out.str().find("12406 images, counts [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]") != std::string::npos);
  CHECK(out.str().find("many 8 classes, medium 2, few 0 (many > 100, medium 20-100, few < 20 training images)") !=
        std::string::npos);
}

TEST_CASE("loader over CIFAR-10-LT: CIFAR augmentation, 0 vs 2 workers identical") {
  const Dataset& tr = train_set();
  LtSubset s = make_lt_subset(tr.labels, 10, 100, LtProfile::Exp, 0);
  Dataset lt = subset(tr, s.indices);
  CHECK(lt.size() == 12406);
  std::vector<std::vector<float>> out[2];
  for (int w : {0, 2}) {
    Sampler sm(lt.labels, 10, SamplerConfig{});
    LoaderConfig cfg;
    cfg.batch_size = 128;
    cfg.num_workers = w;
    Loader L(lt, sm, cifar_train_transform(), cfg);
    CHECK(L.batches_per_epoch() == 97);
    Batch b;
    for (int k = 0; k < 5 && L.next(b); ++k) out[w ? 1 : 0].push_back(b.images.to_vector());
  }
  CHECK(out[0] == out[1]);
}
