// A user's own long-tailed data, end to end through `tailor`: a folder of 28x28 images written from
// Fashion-MNIST with a natural long tail (300 .. 12 training images per class) and an imbalanced test folder.
// It trains as image_folder at its own size with its own counts, step for step as the cifar10 + folder path
// on the same files (same checkpoints, same accuracy, similar memory); a subset is opt-in; a wrong geometry
// is an error before training; lists are relative to data.root in train and verify-data; label errors name
// file:line before any training step; a progress line reaches a log file early in the epoch; and the
// docs/data.md walkthrough (scripts/example_own_dataset.sh) runs. Skipped (exit 77) without Fashion-MNIST.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <regex>
#include <string>

#include "cli_run.h"
#include "data/idx.h"
#include "train/config.h"
#include "train_cli.h"

namespace fs = std::filesystem;
using train_cli::slurp;
using tailor::Json;

namespace {

const std::string& root() {
  static std::string r = train_cli::temp_folder("tailor_own_data_");
  return r;
}

const int kTrain[10] = {300, 210, 147, 103, 72, 50, 35, 25, 17, 12};  // 300 * 0.7^c
int test_count(int c) { return 40 - 3 * c; }                          // 40 .. 13: imbalanced too

// DATA/{train,test}/c<k>/NNNN.ppm (RGB, the gray value in every channel) and DATA/{train,test}.txt.
const std::string& data_dir() {
  static std::string dir = [] {
    const std::string d = root() + "/data";
    std::ofstream lists[2] = {std::ofstream(d + "_train.txt"), std::ofstream(d + "_test.txt")};
    for (int s = 0; s < 2; ++s) {
      const std::string split = s == 0 ? "train" : "test";
      tailor::data::Dataset src = tailor::data::load_idx_dataset(tailor::data::kFashionMnistRoot, split);
      std::vector<int> written(10, 0);
      for (int64_t i = 0; i < src.size(); ++i) {
        const int c = src.labels[i];
        if (written[c] >= (s == 0 ? kTrain[c] : test_count(c))) continue;
        const std::string name = "c" + std::to_string(c);  // folder order = class order
        char file[32];
        std::snprintf(file, sizeof file, "%04d.ppm", written[c]++);
        const fs::path rel = fs::path(split) / name / file;
        fs::create_directories(fs::path(d) / split / name);
        std::string img = "P6\n28 28\n255\n";
        for (int p = 0; p < 28 * 28; ++p) img += std::string(3, (char)src.pixels[i * 784 + p]);
        std::ofstream(fs::path(d) / rel, std::ios::binary) << img;
        lists[s] << rel.string() << " " << c << "\n";
      }
    }
    fs::rename(d + "_train.txt", d + "/train.txt");
    fs::rename(d + "_test.txt", d + "/test.txt");
    return d;
  }();
  return dir;
}

// One stage of joint CE training, one epoch (31 steps of 32), every step's loss logged.
std::string config(const std::string& name, const std::string& data) {
  const std::string p = root() + "/" + name + ".json";
  std::ofstream(p) << R"({"name": ")" << name << R"(", "runs_dir": ")" << root() << R"(/runs", "threads": 1,
    "data": )" << data << R"(,
    "model": {"arch": "resnet32", "head": "linear"},
    "stage1": {"method": "joint", "epochs": 1, "batch_size": 32, "loss": {"name": "ce"},
               "schedule": {"kind": "constant"}, "optim": {"lr": 0.05}},
    "log": {"step_losses": true}})";
  return p;
}

std::string folder_data(const std::string& extra = "") {
  return R"({"dataset": "image_folder", "root": ")" + data_dir() + "\"" + extra + "}";
}

// A shell command's output (stdout + stderr) and exit code.
Run shell(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

Json summary(const std::string& name) { return Json::parse(slurp(root() + "/runs/" + name + "/summary.json")); }

}  // namespace

TEST_CASE("a folder of small images trains at its own size with its own counts, as the cifar10 + folder path") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  Run a = run("train --no-report --config " + config("own", folder_data()));
  REQUIRE_MESSAGE(a.code == 0, a.out);
  CHECK(a.out.find("data: augment cifar at 28x28 (images as they are)") != std::string::npos);
  CHECK(a.out.find("data: image folder " + data_dir() + " (its own counts): 971 training images, 10 classes, counts "
                   "[300, 210, 147, 103, 72, 50, 35, 25, 17, 12]") != std::string::npos);
  CHECK(a.out.find("data: test 265 images") != std::string::npos);
  // the same files read as CIFAR-10 from a folder: the same steps and weights, the same accuracy
  Run b = run("train --no-report --config " +
              config("as_cifar", R"({"dataset": "cifar10", "format": "folder", "root": ")" + data_dir() +
                                     R"(", "imbalance": {"profile": "none"}})"));
  REQUIRE_MESSAGE(b.code == 0, b.out);
  const fs::path ra = root() + "/runs/own", rb = root() + "/runs/as_cifar";
  CHECK(slurp(ra / "steps.jsonl") == slurp(rb / "steps.jsonl"));
  CHECK(slurp(ra / "checkpoints/stage1_last.safetensors") == slurp(rb / "checkpoints/stage1_last.safetensors"));
  CHECK(summary("own")["top1"] == summary("as_cifar")["top1"]);
  // the checkpoint evaluated through the other path's config
  Run e = run("eval --checkpoint " + (ra / "checkpoints/stage1_last.safetensors").string() + " --config " +
              root() + "/as_cifar.json --out " + root() + "/e.json");
  REQUIRE_MESSAGE(e.code == 0, e.out);
  CHECK(Json::parse(slurp(root() + "/e.json"))["top1"] == summary("own")["top1"]);
  CHECK(b.out.find("data: CIFAR-10 from the image folders " + data_dir() + "/train and " + data_dir() + "/test") !=
        std::string::npos);  // the log says which layout was read
  // a config naming another architecture than the tailor checkpoint's: the checkpoint's is evaluated, and said
  std::ofstream(root() + "/r10.json") << std::regex_replace(slurp(root() + "/as_cifar.json"), std::regex("resnet32"),
                                                             "resnet10");
  e = run("eval --checkpoint " + (ra / "checkpoints/stage1_last.safetensors").string() + " --config " + root() +
          "/r10.json --out " + root() + "/e10.json");
  REQUIRE_MESSAGE(e.code == 0, e.out);
  CHECK(e.out.find("r10.json: model.arch resnet10, but " + (ra / "checkpoints/stage1_last.safetensors").string() +
                   " is a tailor checkpoint of a resnet32, which is the model evaluated") != std::string::npos);
  CHECK(Json::parse(slurp(root() + "/e10.json"))["top1"] == summary("own")["top1"]);
  {  // cifar10 from a folder: 10 class folders, and never picked silently beside the binary batches
    const std::string three = root() + "/three", both = root() + "/both";
    for (const char* split : {"train", "test"})
      for (const char* c : {"c0", "c1", "c2"}) {
        fs::create_directories(three + "/" + split);
        fs::copy(data_dir() + "/" + split + "/" + c, three + "/" + split + "/" + c, fs::copy_options::recursive);
      }
    const std::string three_cfg = config("three", R"({"dataset": "cifar10", "root": ")" + three + R"("})");
    Run t = run("train --no-report --config " + three_cfg);
    CHECK(t.code == 2);
    CHECK(t.out.find(three + "/train: 3 class folders, data.dataset cifar10 has 10; a folder with its own classes is "
                     "data.dataset image_folder (data.imbalance.profile exp for an LT subset of it)") != std::string::npos);
    Run v = run("verify-data --train-config " + three_cfg);  // verify-data refuses what train refuses
    CHECK(v.code == 1);
    CHECK(v.out.find("verify-data: train: " + three + "/train: 3 class folders, expected 10 (--num-classes)") !=
          std::string::npos);
    fs::copy(data_dir(), both, fs::copy_options::recursive);
    std::ofstream(both + "/data_batch_1.bin") << "x";
    t = run("train --no-report --config " + config("both", R"({"dataset": "cifar10", "root": ")" + both + R"("})"));
    CHECK(t.code == 2);
    CHECK(t.out.find("data.root " + both + " holds both the CIFAR binary batches and an image folder (" + both +
                     "/train): set data.format bin or folder") != std::string::npos);
  }
  const double ma = summary("own")["peak_mem_mb"], mb = summary("as_cifar")["peak_mem_mb"];
  CHECK(ma < 2 * mb);
  CHECK(summary("own")["stage_img_per_s"].size() == 1);
  // the run evaluated on a copy whose class folders were renamed: refused (the labels would be permuted)
  const std::string renamed = root() + "/renamed";
  fs::copy(data_dir(), renamed, fs::copy_options::recursive);
  for (const char* split : {"/train/", "/test/"}) fs::rename(renamed + split + "c0", renamed + split + "z0");
  e = run("eval --run " + ra.string() + " --set data.root=" + renamed);
  CHECK(e.code == 2);
  CHECK(e.out.find("the data's class 0 is 'c1', the run's was 'c0' (" + ra.string() + "/eval.json): the labels would "
                   "not be the model's") != std::string::npos);
  fs::remove_all(renamed);
  // a subset is opt-in, and logged with its counts
  Run s = run("train --no-report --config " +
              config("own_subset", folder_data(R"(, "imbalance": {"profile": "exp", "ratio": 10})")) +
              " --set stage1.max_steps_per_epoch=1");
  REQUIRE_MESSAGE(s.code == 0, s.out);
  CHECK(s.out.find("image folder " + data_dir() + "-LT: LT subset (exp, imbalance_ratio 10, seed 0)") !=
        std::string::npos);
}

TEST_CASE("the geometry: a preset that keeps images as they are refuses another size; a resizing preset resizes") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  Run r = run("train --no-report --config " + config("bad_size", folder_data(R"(, "augment": "cifar", "image_size": 32)")));
  CHECK(r.code == 2);
  CHECK(r.out.find("data.image_size 32 with data.augment cifar, but the training images are 28x28: cifar keeps images "
                   "as they are (no resize); set data.image_size 28") != std::string::npos);
  CHECK_FALSE(fs::exists(root() + "/runs/bad_size/steps.jsonl"));
  Run v = run("verify-data --train-config " + config("bad_size", folder_data(R"(, "augment": "cifar", "image_size": 32)")));
  CHECK(v.code == 1);  // verify-data applies the config's preset as train does
  CHECK(v.out.find("verify-data: train: data.image_size 32 with data.augment cifar, but the training images are 28x28") !=
        std::string::npos);
  v = run("verify-data --train-config " + config("resized", folder_data(R"(, "augment": "imagenet", "image_size": 32)")));
  CHECK_MESSAGE(v.code == 0, v.out);
  CHECK(v.out.find("  augment imagenet at 32x32 (resized)\n") != std::string::npos);
  r = run("train --no-report --config " + config("resized", folder_data(R"(, "augment": "imagenet", "image_size": 32)")) +
          " --set stage1.max_steps_per_epoch=2");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("data: augment imagenet at 32x32 (resized)") != std::string::npos);
}

TEST_CASE("lists are relative to data.root, in train and verify-data; label errors name file:line before training") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string lists = R"({"dataset": "list", "root": ")" + data_dir() +
                            R"(", "train_list": "train.txt", "test_list": "test.txt"})";
  Run r = run("train --no-report --config " + config("lists", lists) + " --set stage1.max_steps_per_epoch=2");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("data: augment cifar at 28x28 (images as they are)") != std::string::npos);
  CHECK(r.out.find("warning") == std::string::npos);  // no repeated file, no test image among the training ones
  Run v = run("verify-data --format list --root " + data_dir() + " --list train.txt");
  CHECK_MESSAGE(v.code == 0, v.out);
  // the data of the training config: its lists and shot groups become verify-data's flags; flags after it win
  const std::string cfg = config("lists", lists);
  v = run("verify-data --train-config " + cfg + " --groups thirds");
  CHECK_MESSAGE(v.code == 0, v.out);
  CHECK(v.out.find("verify-data: the data of " + cfg + "\nverify-data: format list, root " + data_dir() + "\n") !=
        std::string::npos);
  CHECK(v.out.find("train: 971 images, 10 classes (" + data_dir() + "/train.txt)") != std::string::npos);
  CHECK(v.out.find("test: 265 images, 10 classes (" + data_dir() + "/test.txt)") != std::string::npos);
  CHECK(v.out.find("thirds of the classes") != std::string::npos);
  CHECK(v.out.find("note: data.test_per_class") == std::string::npos);
  // the run would evaluate on fewer test images than the files counted: said
  v = run("verify-data --train-config " + cfg + " --set data.test_per_class=5");
  CHECK_MESSAGE(v.code == 0, v.out);
  CHECK(v.out.find("note: data.test_per_class 5: the run evaluates on the first 5 images of each class of its test "
                   "split, not on all the test images counted below") != std::string::npos);
  // the weights the run would start from, missing: said (the data is fine)
  v = run("verify-data --train-config " + cfg + " --set model.init_from=nowhere/weights.safetensors");
  CHECK_MESSAGE(v.code == 0, v.out);
  CHECK(v.out.find("note: model.init_from nowhere/weights.safetensors: not found (relative to this folder); the run "
                   "would stop at its start") != std::string::npos);
  v = run("verify-data --train-config " + cfg + " --set data.test_list=nope.txt");
  CHECK(v.code == 1);
  CHECK(v.out.find("verify-data: test: " + data_dir() + "/nope.txt: cannot open") != std::string::npos);
  v = run("verify-data --train-config " + cfg + " --set data.rot=x");
  CHECK(v.code == 2);
  CHECK(v.out.find("unknown key 'data.rot' (did you mean 'data.root'?)") != std::string::npos);
  v = run("verify-data --format idx --set data.root=x");
  CHECK(v.code == 2);
  CHECK(v.out.find("--set changes a --train-config") != std::string::npos);
  // a test list naming a training file, and a training list naming a file twice: said before training
  {
    const std::string train_text = slurp(data_dir() + "/train.txt");
    const std::string first = train_text.substr(0, train_text.find('\n') + 1);
    const std::string test_text = slurp(data_dir() + "/test.txt");
    std::ofstream(data_dir() + "/leak_test.txt") << test_text << first << test_text.substr(0, test_text.find('\n') + 1);
    std::ofstream(data_dir() + "/twice_train.txt") << train_text << first;
  }
  const std::string leaky = R"({"dataset": "list", "root": ")" + data_dir() +
                            R"(", "train_list": "twice_train.txt", "test_list": "leak_test.txt"})";
  r = run("train --no-report --config " + config("leaky", leaky) + " --set stage1.max_steps_per_epoch=1");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  const std::string first_line = slurp(data_dir() + "/train.txt").substr(0, slurp(data_dir() + "/train.txt").find(' '));
  const std::string file0 = data_dir() + "/" + first_line;
  CHECK(r.out.find("data: training split: warning: 1 file listed again in this split:\n  " + file0 + "\n") !=
        std::string::npos);
  CHECK(r.out.find("data: warning: 1 test image is a training image (the same file 1, a byte-identical copy 0): the "
                   "test accuracy counts images the model was trained on\n  " + file0 + "\n") != std::string::npos);
  const std::string test0 = slurp(data_dir() + "/test.txt").substr(0, slurp(data_dir() + "/test.txt").find(' '));
  CHECK(r.out.find("data: test split: warning: 1 file listed again in this split:\n  " + data_dir() + "/" + test0 +
                   "\n") != std::string::npos);
  // a test label outside the training classes, at line 7
  std::string text = slurp(data_dir() + "/test.txt");
  size_t at = 0;
  for (int i = 0; i < 6; ++i) at = text.find('\n', at) + 1;
  const size_t sp = text.find(' ', at);
  std::string bad = text.substr(0, sp + 1) + "10" + text.substr(text.find('\n', sp));
  std::ofstream(data_dir() + "/bad_test.txt") << bad;
  const std::string bad_lists = R"({"dataset": "list", "root": ")" + data_dir() +
                                R"(", "train_list": "train.txt", "test_list": "bad_test.txt"})";
  r = run("train --no-report --config " + config("bad_label", bad_lists));
  CHECK(r.code == 1);
  CHECK(r.out.find(data_dir() + "/bad_test.txt:7: label 10 out of range [0, 10) (the classes of the training split)") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(root() + "/runs/bad_label/steps.jsonl"));
  // a stray label 10 on the training list's last line: an 11th class, which the test split lacks: said
  {
    std::string t = slurp(data_dir() + "/train.txt");
    const size_t last = t.rfind('\n', t.size() - 2) + 1, space = t.find(' ', last);
    std::ofstream(data_dir() + "/stray_labels.txt") << t.substr(0, space + 1) << "10\n";
  }
  const std::string stray = R"({"dataset": "list", "root": ")" + data_dir() +
                            R"(", "train_list": "stray_labels.txt", "test_list": "test.txt"})";
  r = run("train --no-report --config " + config("stray", stray) + " --set stage1.max_steps_per_epoch=1");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK_MESSAGE(r.out.find("warning: the test split has no image of 1 class (10 '10' with 1 training image): their "
                           "accuracy is n/a and the balanced accuracy leaves them out\n") != std::string::npos, r.out);
  v = run("verify-data --format list --root " + data_dir() + " --train-list stray_labels.txt --test-list test.txt");
  CHECK_MESSAGE(v.out.find("  warning: no image of 1 class (10 '10' with 1 training image) of the training split: "
                           "their accuracy would be n/a\n") != std::string::npos, v.out);
  v = run("verify-data --format list --root " + data_dir() + " --list stray_labels.txt");  // a lone list: no
  CHECK_MESSAGE(v.out.find("no image of") == std::string::npos, v.out);                   // other split to miss
  v = run("verify-data --format list --root " + data_dir());  // several train and test lists: not guessed
  CHECK(v.code == 1);
  CHECK_MESSAGE(v.out.find(data_dir() + ": 2 train files (train.txt, twice_train.txt): name the one to check with "
                           "--train-list FILE; 3 test files (test.txt, ") != std::string::npos, v.out);
  const std::string both = " --train-list train.txt --test-list test.txt";
  v = run("verify-data --format list --root " + data_dir() + both);  // train.txt, then test.txt against its classes
  CHECK(v.code == 0);
  fs::copy_file(data_dir() + "/bad_test.txt", data_dir() + "/test.txt", fs::copy_options::overwrite_existing);
  v = run("verify-data --format list --root " + data_dir() + both);
  CHECK(v.code == 1);
  CHECK(v.out.find("test.txt:7: label 10 out of range [0, 10)") != std::string::npos);
  fs::remove(data_dir() + "/test.txt");
  // a training list with a gap in its labels (no class 9, one label 10)
  std::string tr = slurp(data_dir() + "/train.txt"), gap;
  size_t pos = 0;
  int line = 0, line_of_10 = 0;
  for (std::string l; pos < tr.size(); pos = tr.find('\n', pos) + 1) {
    l = tr.substr(pos, tr.find('\n', pos) - pos);
    ++line;
    if (l.substr(l.rfind(' ') + 1) == "9") {
      if (!line_of_10) {
        line_of_10 = line;
        l = l.substr(0, l.rfind(' ')) + " 10";
      } else {
        continue;
      }
    }
    gap += l + "\n";
  }
  std::ofstream(data_dir() + "/gap_train.txt") << gap;
  v = run("verify-data --format list --root " + data_dir() + " --list gap_train.txt");
  CHECK(v.code == 1);
  CHECK(v.out.find("gap_train.txt: no sample of class 9: labels must run 0..10 without a gap (the largest, 10, first "
                   "at " + data_dir() + "/gap_train.txt:" + std::to_string(line_of_10) + ")") != std::string::npos);
  // a test folder with a class the training folder does not have
  fs::create_directories(data_dir() + "/test/zebra");
  fs::copy_file(data_dir() + "/test/c8/0000.ppm", data_dir() + "/test/zebra/0000.ppm");
  r = run("train --no-report --config " + config("extra_class", folder_data()));
  CHECK(r.code == 2);
  CHECK(r.out.find(data_dir() + "/test/zebra: a class the training split does not have") != std::string::npos);
  r = run("train --no-report --config " +  // the same folder read as CIFAR-10: the same refusal, the same status
          config("extra_class_cifar", R"({"dataset": "cifar10", "root": ")" + data_dir() + R"("})"));
  CHECK(r.code == 2);
  CHECK(r.out.find(data_dir() + "/test/zebra: a class the training split does not have") != std::string::npos);
  v = run("verify-data --format imagefolder --root " + data_dir());
  CHECK(v.code == 1);
  CHECK(v.out.find(data_dir() + "/test/zebra: a class the training split does not have") != std::string::npos);
  fs::remove_all(data_dir() + "/test/zebra");
}

TEST_CASE("a skipped image is named in the log; no test split: no final evaluation; eval.select val takes val/") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string d = root() + "/train_only";
  fs::create_directories(d);
  fs::copy(data_dir() + "/train", d + "/train", fs::copy_options::recursive);
  std::ofstream(d + "/train/c3/broken.ppm", std::ios::binary) << "P6\n28 28\n255\n" << std::string(100, 'x');
  std::ofstream(d + "/train/c0/!first.ppm", std::ios::binary) << "P6\n28 28\n255\n";  // the first image: bad too
  std::ofstream(d + "/train/c5/notes.txt") << "not an image";  // not read, and said
  std::ofstream(d + "/train/.DS_Store") << "hidden";
  fs::create_directories(d + "/train/.ipynb_checkpoints");  // not a class
  const std::string data = R"({"dataset": "image_folder", "root": ")" + d + R"(", "on_bad_image": "skip"})";
  Run r = run("train --config " + config("train_only", data) + " --set stage1.max_steps_per_epoch=1");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("data: 2 training images left out (data.on_bad_image skip):\n  " + d + "/train/c0/!first.ppm: "
                   "truncated PPM (0 of 2352 raster bytes)\n  " + d + "/train/c3/broken.ppm") != std::string::npos);
  CHECK(r.out.find("data: the training folder: 1 file not read (an image folder reads only files ending .jpg, .jpeg, "
                   ".png, .ppm or .pgm, in any letter case, inside class folders):\n  " + d + "/train/c5/notes.txt\n"
                   "data: the training folder: 2 hidden files or folders not read (names starting with '.')\n") !=
        std::string::npos);
  CHECK(r.out.find("no test or validation split: no final evaluation, eval.json or report") != std::string::npos);
  CHECK_FALSE(fs::exists(root() + "/runs/train_only/eval.json"));
  CHECK_FALSE(fs::exists(root() + "/runs/train_only/report.html"));
  // under the default policy the broken file stops the run, naming it (a data error: exit status 1)
  r = run("train --no-report --config " + config("broken", R"({"dataset": "image_folder", "root": ")" + d + "\"}"));
  CHECK(r.code == 1);
  CHECK(r.out.find("error: " + d + "/train/c0/!first.ppm: truncated PPM") != std::string::npos);
  CHECK_FALSE(fs::exists(root() + "/runs/broken"));
  // a class whose every image is left out under skip: the run stops, after listing them
  {
    const std::string e = root() + "/emptied";
    fs::create_directories(e + "/train/a");
    fs::create_directories(e + "/train/b");
    for (int i = 0; i < 2; ++i)
      std::ofstream(e + "/train/a/" + std::to_string(i) + ".ppm", std::ios::binary)
          << "P6\n28 28\n255\n" << std::string(28 * 28 * 3, (char)(40 * i));
    std::ofstream(e + "/train/b/0.ppm", std::ios::binary) << "P6\n28 28\n255\n";
    r = run("train --no-report --config " +
            config("emptied", R"({"dataset": "image_folder", "root": ")" + e + R"(", "on_bad_image": "skip"})"));
    CHECK(r.code == 1);  // a data error: the bad images emptied it
    CHECK(r.out.find("data: 1 training image left out (data.on_bad_image skip):\n  " + e + "/train/b/0.ppm") <
          r.out.find("data: class 1 (b) has no training image in " + e + "/train (images left out under "
                     "on_bad_image skip are listed above)"));
    CHECK(r.out.find("data: class 1 (b) has no training image in " + e + "/train (images left out") !=
          std::string::npos);
  }
  fs::remove(d + "/train/c0/!first.ppm");
  r = run("train --no-report --config " + config("broken", R"({"dataset": "image_folder", "root": ")" + d + "\"}"));
  CHECK(r.code == 1);
  CHECK(r.out.find(d + "/train/c3/broken.ppm") != std::string::npos);
  // eval.select val: refused without DATA/val/, taken with it
  r = run("train --no-report --config " + config("val_missing", data) + " --set eval.select=val");
  CHECK(r.code == 2);
  CHECK(r.out.find("eval.select val: the data has no validation split (an image folder's is " + d +
                   "/val/<class>/...)") != std::string::npos);
  CHECK_FALSE(fs::exists(root() + "/runs/val_missing"));
  fs::copy(data_dir() + "/test", d + "/val", fs::copy_options::recursive);
  r = run("train --no-report --config " + config("val_present", data) +
          " --set eval.select=val --set stage1.max_steps_per_epoch=1");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("data: val 265 images") != std::string::npos);
  CHECK(r.out.find("final val accuracy of") != std::string::npos);
  Run e = run("eval --run " + root() + "/runs/val_present");
  CHECK(e.code == 0);
  CHECK(e.out.find("the run's data has no test split: evaluating its val split (--split chooses)") != std::string::npos);
  CHECK(e.out.find("val (265 images):") != std::string::npos);
  e = run("eval --run " + root() + "/runs/val_present --split test");
  CHECK(e.code == 2);
  CHECK(e.out.find("the run's data has no 'test' split (it has: train, val)") != std::string::npos);
}

TEST_CASE("a resizing preset reads the evaluation images as it evaluates: one that fails is left out under skip") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string d = root() + "/bad_test";
  fs::create_directories(d);
  for (const char* split : {"train", "test"}) fs::copy(data_dir() + "/" + split, d + "/" + split, fs::copy_options::recursive);
  std::ofstream(d + "/test/c3/broken.ppm", std::ios::binary) << "P6\n28 28\n255\n" << std::string(100, 'x');
  const std::string data = R"({"dataset": "image_folder", "root": ")" + d + R"(", "augment": "imagenet", "image_size": 16)";
  const std::string one_step = " --set stage1.max_steps_per_epoch=1 --set eval.every_epochs=0";
  Run r = run("train --no-report --config " + config("bad_test_skip", data + R"(, "on_bad_image": "skip"})") + one_step);
  REQUIRE_MESSAGE(r.code == 0, r.out);  // it stopped at the final evaluation, naming the file
  CHECK(r.out.find("265 test images)\n         1 test image could not be decoded and was left out "
                   "(data.on_bad_image skip; tailor verify-data names them)") != std::string::npos);
  const Json ev = Json::parse(train_cli::slurp(root() + "/runs/bad_test_skip/eval.json"));
  CHECK(ev.at("samples") == 265);
  CHECK(ev.at("skipped_images") == 1);
  Run e = run("eval --run " + root() + "/runs/bad_test_skip");
  CHECK_MESSAGE(e.code == 0, e.out);
  CHECK(e.out.find("1 test image could not be decoded and was left out") != std::string::npos);
  // the default policy: the run stops at the evaluation, naming the file
  r = run("train --no-report --config " + config("bad_test_error", data + "}") + one_step);
  CHECK(r.code == 1);
  CHECK(r.out.find("error: " + d + "/test/c3/broken.ppm: truncated PPM") != std::string::npos);
}

TEST_CASE("with the output in a file, a progress line appears within the first tenth of the epoch") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string log = root() + "/progress.log";
  REQUIRE(std::system((std::string(TAILOR_BIN) + " train --no-report --config " + config("progress", folder_data()) +
                       " > " + log + " 2>&1")
                          .c_str()) == 0);
  const std::string out = slurp(log);
  const size_t first = out.find("stage 1 epoch 1/1  4/31 steps  loss ");  // ceil(31 / 10) = 4
  CHECK(first != std::string::npos);
  CHECK(first < out.find("stage 1 epoch 1/1  lr"));  // before the epoch's summary line
}

TEST_CASE("the docs/data.md walkthrough runs as written") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string script = std::string(TAILOR_SOURCE_DIR) + "/scripts/example_own_dataset.sh";
  Run r = shell("bash " + script + " " + data_dir() + " " + root() + "/walk " + std::string(TAILOR_BIN));
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("OK") != std::string::npos);  // verify-data
  CHECK(fs::exists(root() + "/walk/runs/my_data/report.html"));
  CHECK(r.out.find("thirds of the classes") != std::string::npos);
  // every command of the script is in the document
  const std::string doc = slurp(std::string(TAILOR_SOURCE_DIR) + "/docs/data.md");
  std::istringstream lines(slurp(script));
  int commands = 0;
  for (std::string l; std::getline(lines, l);)
    if (l.rfind("tailor ", 0) == 0) {
      CHECK_MESSAGE(doc.find(l) != std::string::npos, "docs/data.md lacks: " << l);
      ++commands;
    }
  CHECK(commands == 4);
}

TEST_CASE("a training split of one class is refused (nothing to classify), by train and by verify-data") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string d = root() + "/one_class";
  fs::create_directories(d + "/train");
  fs::copy(data_dir() + "/train/c7", d + "/train/c7", fs::copy_options::recursive);
  Run r = run("train --no-report --config " + config("one_class", R"({"dataset": "image_folder", "root": ")" + d + "\"}"));
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.out.find("data: the training split has 1 class (c7): a classifier needs at least 2") !=
                    std::string::npos,
                r.out);
  CHECK(r.out.find("25 training images, 1 class, counts [25]") != std::string::npos);
  Run v = run("verify-data --format imagefolder --root " + d);
  CHECK(v.code == 1);
  CHECK(v.out.find("verify-data: train: 1 class (c7): a classifier needs at least 2") != std::string::npos);
}
