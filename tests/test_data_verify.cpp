// `tailor verify-data` (data/verify.cpp): usage errors exit 2, data problems exit 1 naming the file,
// a clean dataset prints per-split and per-class counts, LT counts and the shot split; repeated images within a
// split and evaluation images that are training images are warnings (data/duplicates.h).
#include <doctest/doctest.h>

#include <stb_image_write.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/duplicates.h"
#include "data/folder.h"
#include "data/known_datasets.h"
#include "data/verify.h"

using namespace tailor::data;
namespace fs = std::filesystem;

namespace {

struct Run {
  int rc;
  std::string out, err;
};

Run run(std::vector<std::string> args) {
  args.insert(args.begin(), "verify-data");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  int rc = verify_data_main((int)argv.size(), argv.data(), out, err);
  return {rc, out.str(), err.str()};
}

struct Tree {
  fs::path root;
  Tree() {
    char tmpl[] = "/tmp/tailor_verify_XXXXXX";
    root = mkdtemp(tmpl);
    // train: class a 130 images, b 40, c 5; test: 3 per class (4x4 PNGs)
    const int ntrain[3] = {130, 40, 5};
    for (int split = 0; split < 2; ++split)
      for (int c = 0; c < 3; ++c) {
        fs::path d = root / (split ? "test" : "train") / std::string(1, (char)('a' + c));
        fs::create_directories(d);
        int n = split ? 3 : ntrain[c];
        for (int i = 0; i < n; ++i) {
          std::vector<uint8_t> px(48, (uint8_t)(i + c));
          px[0] = (uint8_t)i, px[1] = (uint8_t)c, px[2] = (uint8_t)split;  // every image distinct
          std::string p = (d / (std::to_string(i) + ".png")).string();
          stbi_write_png(p.c_str(), 4, 4, 3, px.data(), 12);
        }
      }
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string str() const { return root.string(); }
};

}  // namespace

TEST_CASE("verify-data: usage errors exit 2") {
  CHECK(run({}).rc == 2);
  Run r = run({"--format", "imagefolder", "--root", "/x", "--bogus", "1"});
  CHECK(r.rc == 2);
  CHECK(r.err.find("unknown flag --bogus") != std::string::npos);
  CHECK(r.err.find("usage: tailor verify-data") != std::string::npos);
  CHECK(run({"--format", "tfrecord", "--root", "/x"}).rc == 2);
  CHECK(run({"--format", "idx"}).rc == 2);
  CHECK(run({"--format", "idx", "--root", "/x", "--imbalance-ratio", "0.01"}).rc == 2);
  CHECK(run({"--format", "idx", "--root", "/x", "--seed", "-1"}).rc == 2);
  CHECK(run({"--format", "idx", "--root"}).rc == 2);
  CHECK(run({"--help"}).rc == 0);
  Run pl = run({"--format", "imagefolder", "--root", "/x", "--train-list", "a.txt"});
  CHECK(pl.rc == 2);
  CHECK(pl.err.find("--train-list / --val-list / --test-list are for --format list or inat") != std::string::npos);
  pl = run({"--format", "list", "--root", "/x", "--train-list", "a.txt", "--list", "b.txt"});
  CHECK(pl.rc == 2);
  CHECK(run({"--format", "list", "--root", "/x", "--n-max", "0"}).rc == 2);
  for (const char* n : {"0", "-3", "4294967298", "99999999999"}) {
    Run nc = run({"--format", "idx", "--root", "/x", "--num-classes", n});
    CHECK(nc.rc == 2);
    CHECK(nc.err.find("--num-classes: " + std::string(n) + " is outside [1, 10000000]") != std::string::npos);
  }
  Run root = run({"--format", "imagefolder", "--root", "/nonexistent/data"});
  CHECK(root.rc == 1);
  CHECK(root.err.find("verify-data: /nonexistent/data: no such folder") != std::string::npos);
}

TEST_CASE("verify-data: image folder, LT subset, shots") {
  Tree t;
  Run r = run({"--format", "imagefolder", "--root", t.str()});
  INFO(r.out);
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK(r.out.find("train: 175 images, 3 classes") != std::string::npos);
  CHECK(r.out.find("test: 9 images, 3 classes") != std::string::npos);
  CHECK(r.out.find("  class 1 (b): 40") != std::string::npos);
  CHECK(r.out.find("shots (by training count): many 1 class, medium 1, few 1 (many > 100, medium 20-100, few < 20 "
                   "training images)") != std::string::npos);
  CHECK(r.out.find("OK") != std::string::npos);
  // the summary that more than 100 classes get (iNaturalist's 8,142 counts would not fit a line)
  Run sum = run({"--format", "imagefolder", "--root", t.str(), "--split", "train", "--class-counts", "summary"});
  INFO(sum.err);
  CHECK(sum.rc == 0);
  CHECK(sum.out.find("  class 1 (b): 40") == std::string::npos);
  CHECK(sum.out.find("  per-class counts: max 130, median 40, min 5\n"
                     "  classes with 5-19 images: 1; 20-99 images: 1; 100-999 images: 1;\n"
                     "  largest: class 0 (a) 130\n  smallest: class 2 (c) 5\n") != std::string::npos);
  Run bad_mode = run({"--format", "imagefolder", "--root", t.str(), "--class-counts", "some"});
  CHECK(bad_mode.rc == 2);
  CHECK(bad_mode.err.find("--class-counts must be auto, all or summary") != std::string::npos);
  Run lt = run({"--format", "imagefolder", "--root", t.str(), "--split", "train", "--imbalance-ratio", "5",
                "--profile", "step"});
  INFO(lt.err);
  CHECK(lt.rc == 0);
  CHECK(lt.out.find("LT subset (step, imbalance_ratio 5, seed 0): 7 images, counts [5, 1, 1]") != std::string::npos);
  CHECK(lt.out.find("test:") == std::string::npos);
  Run th = run({"--format", "imagefolder", "--root", t.str(), "--split", "train", "--groups", "thirds"});
  CHECK(th.rc == 0);
  CHECK(th.out.find("many 1 class, medium 1, few 1 (thirds of the classes by training count: many 1 class (") !=
        std::string::npos);
  Run bad = run({"--format", "imagefolder", "--root", t.str(), "--many-above", "10", "--few-below", "12"});
  CHECK(bad.rc == 2);
  CHECK(bad.err.find("few_below (12) must be <= many_above + 1 (11)") != std::string::npos);
  CHECK(r.out.find("image sizes vary") == std::string::npos);
  // images of two sizes: fine for a resizing preset, said (not a problem: exit 0)
  for (int i = 0; i < 2; ++i) {
    std::vector<uint8_t> px(8 * 6 * 3, 7);
    stbi_write_png((t.root / "train/b" / ("wide" + std::to_string(i) + ".png")).c_str(), 8, 6, 3, px.data(), 24);
  }
  Run mixed = run({"--format", "imagefolder", "--root", t.str(), "--split", "train"});
  CHECK(mixed.rc == 0);
  CHECK_MESSAGE(mixed.out.find("  image sizes vary (2 sizes: 4x4 175 images, 8x6 2): train with data.augment imagenet "
                               "(it resizes); cifar and mnist, and auto on small images, keep images as they are and "
                               "refuse mixed sizes\n") != std::string::npos, mixed.out);
  // --augment: the preset a run would take, and its rule on the sizes (train refuses what it refuses)
  Run kept = run({"--format", "imagefolder", "--root", t.str(), "--augment", "auto"});
  CHECK(kept.rc == 1);
  CHECK(kept.out.find("  augment cifar at 4x4 (images as they are)\n") != std::string::npos);
  CHECK_MESSAGE(kept.err.find("verify-data: train: 2 images not 4x4 (2 sizes: 4x4 175 images, 8x6 2), e.g. " +
                              (t.root / "train/b/wide0.png").string() + ": data.augment auto (cifar) keeps images as "
                              "they are and training refuses them; use a resizing preset") != std::string::npos, kept.err);
  CHECK(kept.err.find("verify-data: test:") == std::string::npos);  // its 9 images are 4x4
  Run resized = run({"--format", "imagefolder", "--root", t.str(), "--augment", "imagenet", "--image-size", "16"});
  CHECK(resized.rc == 0);
  CHECK(resized.out.find("  augment imagenet at 16x16 (resized)\n  image sizes vary (2 sizes: 4x4 175 images, 8x6 2): "
                         "resized to 16x16 by data.augment imagenet\n") != std::string::npos);
  Run size = run({"--format", "imagefolder", "--root", t.str(), "--split", "test", "--augment", "cifar", "--image-size", "8"});
  CHECK(size.rc == 1);  // cifar at 8 on 4x4 images: the preset itself refuses, as train does
  CHECK(size.err.find("verify-data: test: data.image_size 8 with data.augment cifar, but the training images are 4x4") !=
        std::string::npos);
  Run typo = run({"--format", "imagefolder", "--root", t.str(), "--augment", "cifa"});
  CHECK(typo.rc == 2);
  CHECK(typo.err.find("--augment: unknown preset 'cifa' (auto, cifar, cifar_autoaugment,") != std::string::npos);
  // a test folder without class a: its classes are counted by the training classes' names
  fs::remove_all(t.root / "test/a");
  Run lack = run({"--format", "imagefolder", "--root", t.str()});
  CHECK(lack.rc == 0);
  CHECK(lack.out.find("test: 6 images, 3 classes\n  class 0 (a): 0\n  class 1 (b): 3\n  class 2 (c): 3\n") !=
        std::string::npos);
  // no training split: said (the other splits' labels were not checked against it)
  fs::remove_all(t.root / "train");
  Run none = run({"--format", "imagefolder", "--root", t.str()});
  CHECK(none.rc == 0);
  CHECK(none.out.find("warning: no training split (looked for " + (t.root / "train").string() + "/): the other splits' "
                      "labels were not checked against the training classes\n") != std::string::npos);
  CHECK(none.out.find("OK (1 warning above)") != std::string::npos);
}

TEST_CASE("verify-data: bad image, skip policy, missing list entry, config file") {
  Tree t;
  fs::path bad = t.root / "train" / "b" / "broken.png";
  { std::ofstream(bad) << "\x89PNG\r\n\x1a\n"; }
  Run r = run({"--format", "imagefolder", "--root", t.str()});
  CHECK(r.rc == 1);
  CHECK(r.err.find(bad.string() + ": truncated PNG") != std::string::npos);
  Run s = run({"--format", "imagefolder", "--root", t.str(), "--on-bad-image", "skip"});
  CHECK(s.rc == 0);
  CHECK(s.out.find("skipped 1 bad image") != std::string::npos);
  CHECK(s.out.find("OK (1 bad image skipped)") != std::string::npos);
  fs::remove(bad);
  // list format, auto-discovered "<something>_train.txt"
  { std::ofstream(t.root / "LT_train.txt") << "train/a/0.png 0\ntrain/b/7.png 1\ntrain/c/99.png 2\n"; }
  Run l = run({"--format", "list", "--root", t.str()});
  CHECK(l.rc == 1);
  CHECK(l.err.find("LT_train.txt:3: " + (t.root / "train/c/99.png").string() + ": missing file") != std::string::npos);
  { std::ofstream(t.root / "LT_train.txt") << "train/a/0.png 0\ntrain/b/7.png 1\ntrain/c/4.png 2\n"; }
  Run ok = run({"--format", "list", "--root", t.str()});
  INFO(ok.err);
  CHECK(ok.rc == 0);
  CHECK(ok.out.find("train: 3 images, 3 classes") != std::string::npos);
  Run nc = run({"--format", "list", "--root", t.str(), "--num-classes", "2"});
  CHECK(nc.rc == 1);
  CHECK(nc.err.find("LT_train.txt:3: label 2 out of range [0, 2)") != std::string::npos);
  // two training lists under the root: which one is meant is not guessed
  fs::copy_file(t.root / "LT_train.txt", t.root / "train.txt");
  Run two = run({"--format", "list", "--root", t.str()});
  CHECK(two.rc == 1);
  CHECK(two.err.find(t.str() + ": 2 train files (train.txt, LT_train.txt): name the one to check with --train-list FILE\n") !=
        std::string::npos);
  CHECK(run({"--format", "list", "--root", t.str(), "--train-list", "train.txt"}).rc == 0);
  fs::remove(t.root / "train.txt");
  // config file
  fs::path cfg = t.root / "cfg.json";
  {
    std::ofstream(cfg) << "{\"format\": \"imagefolder\", \"root\": \"" << t.str()
                       << "\", \"imbalance_ratio\": 2, \"profile\": \"exp\", \"seed\": 3, \"split\": \"train\"}";
  }
  Run c = run({"--config", cfg.string()});
  INFO(c.err);
  CHECK(c.rc == 0);
  CHECK(c.out.find("LT subset (exp, imbalance_ratio 2, seed 3)") != std::string::npos);
  { std::ofstream(cfg) << "{\"format\": \"imagefolder\", \"root\": \"" << t.str() << "\", \"imb_factor\": 0.01}"; }
  Run u = run({"--config", cfg.string()});
  CHECK(u.rc == 2);
  CHECK(u.err.find("unknown config key 'imb_factor'") != std::string::npos);
  { std::ofstream(cfg) << "{\"format\": "; }
  Run m = run({"--config", cfg.string()});
  CHECK(m.rc == 2);  // a config file's error, as its keys' (1 is for the data)
  CHECK(m.err.find("cfg.json: malformed JSON") != std::string::npos);
  std::ofstream(cfg) << R"({"format": "idx", "root": "/x", "num_classes": 3.5})";
  m = run({"--config", cfg.string()});
  CHECK(m.rc == 2);
  CHECK(m.err.find("key 'num_classes' must be a whole number in [1, 10000000], got 3.5") != std::string::npos);
  std::ofstream(cfg) << "[1]";
  m = run({"--config", cfg.string()});
  CHECK(m.rc == 2);
  CHECK(m.err.find("cfg.json: config must be a JSON object") != std::string::npos);
}

TEST_CASE("verify-data: IDX and Fashion-MNIST") {
  Run r = run({"--format", "idx", "--root", "/nonexistent"});
  CHECK(r.rc == 1);
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) return;
  Run f = run({"--format", "idx", "--root", "/usr/share/datasets/fashion-mnist", "--imbalance-ratio", "100"});
  INFO(f.err);
  CHECK(f.rc == 0);
  CHECK(f.out.find("train: 60000 images, 10 classes, 28x28x1") != std::string::npos);
  CHECK(f.out.find("test: 10000 images, 10 classes") != std::string::npos);
  CHECK(f.out.find("14886 images, counts [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]") != std::string::npos);
  Run nm = run({"--format", "idx", "--root", "/usr/share/datasets/fashion-mnist", "--split", "train",
                "--imbalance-ratio", "10", "--n-max", "1000"});
  CHECK(nm.rc == 0);
  CHECK(nm.out.find("images, counts [1000, ") != std::string::npos);
  CHECK(nm.out.find(", 100]") != std::string::npos);
  // --expect: the published sizes, before the LT subset
  Run e = run({"--format", "idx", "--root", "/usr/share/datasets/fashion-mnist", "--imbalance-ratio", "100",
               "--expect", "fashion_mnist"});
  CHECK(e.rc == 0);
  CHECK(e.out.find("  as published: Fashion-MNIST's train split: 60000 images, 10 classes, 6000 per class\n") !=
        std::string::npos);
  CHECK(e.out.find("  as published: Fashion-MNIST's test split: 10000 images, 10 classes, 1000 per class\n") !=
        std::string::npos);
  Run w = run({"--format", "idx", "--root", "/usr/share/datasets/fashion-mnist", "--split", "test", "--expect",
               "cifar100"});
  CHECK(w.rc == 1);
  CHECK(w.err == "verify-data: test: 10 classes, CIFAR-100's test split has 100 (--expect cifar100)\n"
                 "verify-data: test: 1000 per class, CIFAR-100's test split has 100 per class (--expect cifar100)\n"
                 "verify-data: FAILED (2 problems)\n");
}

TEST_CASE("--expect: published split sizes") {
  const KnownDataset& k = known_dataset("imagenet_lt");
  CHECK(k.name == "ImageNet-LT");
  std::vector<int64_t> train(1000, 114);  // 1280, 5, then 998 classes summing to 114561
  train[0] = 1280;
  train[1] = 5;
  for (int c = 2; c < 2 + 789; ++c) ++train[c];
  CHECK(compare_with_known(k, "train", train).empty());
  CHECK(compare_with_known(k, "ImageNet_LT_train", train).empty());
  CHECK(describe_known_split(k, "train") == "ImageNet-LT's train split: 115846 images, 1000 classes, 1280 .. 5 per class");
  train[5] -= 1;  // a lost line
  CHECK(compare_with_known(k, "train", train) ==
        std::vector<std::string>{"train: 115845 images, ImageNet-LT's train split has 115846"});
  CHECK(compare_with_known(k, "test", std::vector<int64_t>(1000, 50)).empty());
  CHECK(compare_with_known(k, "test", std::vector<int64_t>(999, 50)) ==
        std::vector<std::string>{"test: 999 classes, ImageNet-LT's test split has 1000",
                                 "test: 49950 images, ImageNet-LT's test split has 50000"});
  std::vector<int64_t> val(1000, 20);
  val[0] = 21, val[1] = 19;
  CHECK(compare_with_known(k, "val", val) ==
        std::vector<std::string>{"val: 21 .. 19 per class, ImageNet-LT's val split has 20 per class"});
  CHECK(compare_with_known(k, "extra", val) ==
        std::vector<std::string>{"extra: ImageNet-LT has no split of that name (train, val, test)"});
  CHECK(split_kind("train2018") == "train");
  CHECK(split_kind("Places_LT_test") == "test");
  CHECK(compare_with_known(known_dataset("inat2018"), "val2018", std::vector<int64_t>(8142, 3)).empty());
  CHECK(compare_with_known(known_dataset("places_lt"), "val", std::vector<int64_t>(365, 20)).empty());
  CHECK_THROWS_WITH_AS(known_dataset("imagenet"), doctest::Contains("unknown dataset 'imagenet' (known: imagenet_lt"),
                       std::runtime_error);
  Run u = run({"--format", "idx", "--root", "/x", "--expect", "imagenet"});
  CHECK(u.rc == 2);
}

namespace {
void write_png(const fs::path& p, uint8_t v) {  // a 4x4 PNG of one grey value
  std::vector<uint8_t> px(48, v);
  stbi_write_png(p.string().c_str(), 4, 4, 3, px.data(), 12);
}
}  // namespace

TEST_CASE("repeated images and test images that are training images: found exactly, reported as warnings") {
  Tree t;  // every image distinct
  Run clean = run({"--format", "imagefolder", "--root", t.str()});
  CHECK(clean.rc == 0);
  CHECK(clean.out.find("warning") == std::string::npos);
  CHECK(clean.out.find("OK\n") != std::string::npos);
  auto copy = [&](const std::string& from, const std::string& to) { fs::copy_file(t.root / from, t.root / to); };
  copy("train/a/3.png", "train/a/copy.png");    // same label
  copy("train/a/4.png", "train/b/wrong.png");   // another label
  copy("train/c/1.png", "test/c/leak.png");     // a test image that is a training image
  copy("train/a/0.png", "test/b/leak2.png");    // ... with another label
  write_png(t.root / "test/c/near.png", 200);  // new content
  Run r = run({"--format", "imagefolder", "--root", t.str()});
  INFO(r.out);
  CHECK(r.rc == 0);  // warnings, not failures
  const std::string a = t.str() + "/train/a/", tr = t.str() + "/train/", te = t.str() + "/test/";
  CHECK(r.out.find("  warning: 2 images are byte-identical copies of another image of this split:\n"
                   "    " + a + "copy.png = " + a + "3.png\n"
                   "    " + tr + "b/wrong.png = " + a + "4.png (labels a and b)\n"
                   "  warning: 1 of these has another label than the image it repeats (a labelling error?)\n") !=
        std::string::npos);
  CHECK(r.out.find("  warning: 2 test images are training images (the same file 0, a byte-identical copy 2): the test "
                   "accuracy counts images the model was trained on\n"
                   "    " + te + "b/leak2.png = " + a + "0.png (labels a and b)\n"
                   "    " + te + "c/leak.png = " + tr + "c/1.png\n"
                   "  warning: 1 of these has another label than the image it repeats (a labelling error?)\n") !=
        std::string::npos);
  CHECK(r.out.find("near.png") == std::string::npos);
  CHECK(r.out.find("OK (4 warnings above)\n") != std::string::npos);
  // the decode pass's hashes (each file read once) equal the ones read afterwards, and drop with skipped images
  std::ofstream(t.root / "train/b/broken.png") << "not a png";
  LoadOptions o;
  o.lazy = o.verify_decode = true;
  o.on_bad_image = BadImagePolicy::Skip;
  Dataset plain = load_image_folder(t.str(), "train", o);
  o.hash_contents = true;
  Dataset hashed = load_image_folder(t.str(), "train", o);
  REQUIRE(hashed.skipped.size() == 1);
  CHECK(plain.content_hashes.empty());
  REQUIRE(hashed.content_hashes.size() == (size_t)hashed.size());
  CHECK(hashed.content_hashes == content_hashes(plain, 2));
  CHECK(content_hashes(hashed, 1) == hashed.content_hashes);
}

TEST_CASE("a list that names a file twice, and a test list sharing files with the training list") {
  Tree t;
  {
    std::ofstream tr(t.root / "train.txt"), te(t.root / "test.txt");
    tr << "train/a/0.png 0\ntrain/b/0.png 1\ntrain/c/0.png 2\n./train/a/0.png 0\ntrain/b/../b/0.png 2\n";
    te << "test/a/0.png 0\ntrain/c/0.png 2\n";
  }
  Run r = run({"--format", "list", "--root", t.str()});
  INFO(r.out);
  INFO(r.err);
  CHECK(r.rc == 0);
  const std::string root = t.str() + "/";
  CHECK(r.out.find("  warning: 2 files listed again in this split:\n"
                   "    " + root + "./train/a/0.png\n"
                   "    " + root + "train/b/../b/0.png (labels 1 and 2)\n"
                   "  warning: 1 of these has another label than the image it repeats (a labelling error?)\n") !=
        std::string::npos);
  CHECK(r.out.find("  warning: 1 test image is a training image (the same file 1, a byte-identical copy 0): the test "
                   "accuracy counts images the model was trained on\n"
                   "    " + root + "train/c/0.png\n") != std::string::npos);
  // a relative root, and a test list naming a training file by its absolute path: one file, not a copy
  { std::ofstream(t.root / "test.txt") << "test/a/0.png 0\n" << (t.root / "train/c/0.png").string() << " 2\n"; }
  const fs::path here = fs::current_path();
  fs::current_path(t.root.parent_path());
  Run rel = run({"--format", "list", "--root", t.root.filename().string()});
  fs::current_path(here);
  CHECK(rel.rc == 0);
  CHECK_MESSAGE(rel.out.find("  warning: 1 test image is a training image (the same file 1, a byte-identical copy 0)") !=
                std::string::npos, rel.out);
}

TEST_CASE("in-memory images: repeats by pixels, and equal hashes alone never make a repeat") {
  Dataset train, test;
  for (Dataset* d : {&train, &test}) {
    d->height = d->width = 2;
    d->channels = 1;
    d->num_classes = 2;
    d->class_names = {"x", "y"};
  }
  train.pixels = {1, 2, 3, 4, /**/ 5, 6, 7, 8, /**/ 1, 2, 3, 4, /**/ 9, 9, 9, 9};
  train.labels = {0, 1, 1, 0};
  train.paths = {"b.bin#0", "b.bin#1", "b.bin#2", "b.bin#3"};  // records, not files: no same-file check
  test.pixels = {5, 6, 7, 8, /**/ 0, 0, 0, 0};
  test.labels = {1, 0};
  const std::vector<uint64_t> h = content_hashes(train, 2), ht = content_hashes(test, 1);
  CHECK(h[0] == h[2]);
  CHECK(h[0] != h[1]);
  CHECK(h[0] != 0);
  SplitRepeats r = find_repeats(train, h);
  CHECK(r.same_file.empty());
  REQUIRE(r.same_content.size() == 1);
  CHECK(r.same_content[0].first == 0);
  CHECK(r.same_content[0].repeat == 2);
  CHECK(r.label_conflicts == 1);
  SplitRepeats l = find_leaks(train, h, test, ht);
  REQUIRE(l.same_content.size() == 1);
  CHECK(l.same_content[0].first == 1);
  CHECK(l.same_content[0].repeat == 0);
  CHECK(l.label_conflicts == 0);
  // a hash collision (every hash equal): only the byte-identical pair is reported
  const std::vector<uint64_t> same(4, 42), same_t(2, 42);
  r = find_repeats(train, same);
  REQUIRE(r.same_content.size() == 1);
  CHECK(r.same_content[0].repeat == 2);
  l = find_leaks(train, same, test, same_t);
  REQUIRE(l.same_content.size() == 1);
  CHECK(l.same_content[0].repeat == 0);
  std::ostringstream os;
  write_leaks(os, train, test, "val", l, "", "  ");
  CHECK(os.str() == "warning: 1 val image is a training image (the same file 0, a byte-identical copy 1): the val "
                    "accuracy counts images the model was trained on\n  sample 0 = b.bin#1\n");
}
