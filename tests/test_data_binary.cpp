// Readers of binary datasets: CIFAR binary (10 and 100), IDX (plain, gzip, both side by side, Fashion-MNIST), and
// the dataset helpers (subset, class counts, shot split); errors name the file and the record.
#include <doctest/doctest.h>

#include "data/cifar.h"
#include "data/idx.h"
#include "data/shots.h"
#include "data_files.h"

using namespace tailor::data;
using namespace data_files;

TEST_CASE("CIFAR-10 binary: synthetic test_batch.bin") {
  TempDir d;
  write_bytes(d / "test_batch.bin", cifar_bytes(10000, false, 10));
  Dataset ds = load_cifar_bin(d.path.string(), "test");
  CHECK(ds.size() == 10000);
  CHECK(ds.num_classes == 10);
  CHECK(ds.class_names[0] == "airplane");
  CHECK(ds.height == 32);
  CHECK(ds.channels == 3);
  CHECK(ds.labels[123] == 3);
  // CHW planes became HWC
  const uint8_t* im = ds.pixels.data() + 5 * 3072;
  for (int i : {0, 1, 500, 1023})
    for (int c = 0; c < 3; ++c) CHECK(im[i * 3 + c] == (uint8_t)((5 * 7 + i * 3 + c * 11) % 256));
  CHECK(ds.paths[7] == (d.path / "test_batch.bin").string() + "#7");
  validate_dataset(ds);
  // batches.meta.txt names
  write_text(d / "batches.meta.txt", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n");
  CHECK(load_cifar_bin(d.path.string(), "test").class_names[9] == "j");
  // the train split needs data_batch_1..5
  CHECK_THROWS_WITH_AS(load_cifar_bin(d.path.string(), "train"), has("data_batch_1.bin"), std::runtime_error);
  CHECK_THROWS_AS(load_cifar_bin(d.path.string(), "val"), std::runtime_error);
}

TEST_CASE("CIFAR-100 binary layout: coarse + fine label bytes") {
  TempDir d;
  fs::create_directories(d.path / "cifar-100-binary");
  write_bytes(d / "cifar-100-binary/test.bin", cifar_bytes(10000, true, 100));
  Dataset fine = load_cifar_bin(d.path.string(), "test");
  CHECK(fine.num_classes == 100);
  CHECK(fine.labels[99] == 99);
  CHECK(fine.labels[150] == 50);
  const uint8_t* im = fine.pixels.data() + 9 * 3072;
  CHECK(im[10 * 3 + 2] == (uint8_t)((9 * 7 + 10 * 3 + 2 * 11) % 256));
  Dataset coarse = load_cifar_bin(d.path.string(), "test", CifarKind::Cifar100, true);
  CHECK(coarse.num_classes == 20);
  CHECK(coarse.labels[45] == 5);
}

TEST_CASE("CIFAR binary errors name the file and record") {
  TempDir d;
  std::string p = d / "test_batch.bin";
  auto good = cifar_bytes(10000, false, 10);
  auto short_file = good;
  short_file.resize(good.size() - 100);
  write_bytes(p, short_file);
  CHECK_THROWS_WITH_AS(load_cifar_bin(d.path.string(), "test"), has(p + ": size"), std::runtime_error);
  auto bad_label = good;
  bad_label[3073 * 42] = 10;
  write_bytes(p, bad_label);
  CHECK_THROWS_WITH_AS(load_cifar_bin(d.path.string(), "test"), has(p + ": record 42: label 10"),
                       std::runtime_error);
  auto extra = good;
  extra.insert(extra.end(), good.begin(), good.begin() + 3073);
  write_bytes(p, extra);
  CHECK_THROWS_WITH_AS(load_cifar_bin(d.path.string(), "test"), has("10001 records, expected 10000"),
                       std::runtime_error);
  write_bytes(p, {});
  CHECK_THROWS_WITH_AS(load_cifar_bin(d.path.string(), "test"), has(p), std::runtime_error);
  Dataset ds;
  auto c100 = cifar_bytes(3, true, 100);
  c100[3074] = 25;  // coarse label of record 1
  CHECK_THROWS_WITH_AS(parse_cifar_records(c100.data(), c100.size(), "x.bin", true, false, -1, ds),
                       has("x.bin: record 1: coarse label 25"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_cifar_bin((d.path / "nowhere").string(), "test"), has("nowhere"),
                       std::runtime_error);
}

TEST_CASE("IDX: plain and gzip, validation") {
  TempDir d;
  auto imgs = idx_bytes(0x08, {5, 4, 3}, 251);
  auto labs = idx_bytes(0x08, {5}, 10);
  write_bytes(d / "train-images-idx3-ubyte", imgs);
  write_gz(d / "train-labels-idx1-ubyte.gz", labs);
  Dataset ds = load_idx_dataset(d.path.string(), "train");
  CHECK(ds.size() == 5);
  CHECK(ds.height == 4);
  CHECK(ds.width == 3);
  CHECK(ds.channels == 1);
  CHECK(ds.labels == std::vector<int32_t>{0, 1, 2, 3, 4});
  CHECK(ds.pixels[13] == 13);
  IdxArray a = read_idx(d / "train-labels-idx1-ubyte.gz");
  CHECK(a.dims == std::vector<int64_t>{5});
  // errors
  auto wrong_magic = imgs;
  wrong_magic[0] = 1;
  CHECK_THROWS_WITH_AS(parse_idx(wrong_magic.data(), wrong_magic.size(), "m.idx"), has("m.idx: wrong IDX magic"),
                       std::runtime_error);
  auto wrong_type = imgs;
  wrong_type[2] = 0x07;
  CHECK_THROWS_WITH_AS(parse_idx(wrong_type.data(), wrong_type.size(), "t.idx"), has("0x07"),
                       std::runtime_error);
  auto wrong_nd = imgs;
  wrong_nd[3] = 0;
  CHECK_THROWS_AS(parse_idx(wrong_nd.data(), wrong_nd.size(), "n.idx"), std::runtime_error);
  auto short_idx = imgs;
  short_idx.pop_back();
  CHECK_THROWS_WITH_AS(parse_idx(short_idx.data(), short_idx.size(), "s.idx"), has("s.idx: short IDX file"),
                       std::runtime_error);
  auto trailing = imgs;
  trailing.push_back(0);
  CHECK_THROWS_WITH_AS(parse_idx(trailing.data(), trailing.size(), "e.idx"), has("1 unexpected trailing"),
                       std::runtime_error);
  CHECK_THROWS_AS(parse_idx(imgs.data(), 3, "h.idx"), std::runtime_error);
  // truncated gzip
  write_gz(d / "cut.gz", imgs);
  auto gz = read_bytes(d / "cut.gz");
  gz.resize(gz.size() / 2);
  write_bytes(d / "cut.gz", gz);
  CHECK_THROWS_WITH_AS(read_idx(d / "cut.gz"), has("cut.gz: truncated gzip"), std::runtime_error);
  // label out of range, count mismatch, missing file
  auto bad_labels = labs;
  bad_labels[8 + 3] = 10;
  write_gz(d / "train-labels-idx1-ubyte.gz", bad_labels);
  CHECK_THROWS_WITH_AS(load_idx_dataset(d.path.string(), "train"), has("record 3: label 10"),
                       std::runtime_error);
  write_gz(d / "train-labels-idx1-ubyte.gz", idx_bytes(0x08, {6}, 10));
  CHECK_THROWS_WITH_AS(load_idx_dataset(d.path.string(), "train"), has("6 labels for 5 images"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_idx_dataset(d.path.string(), "test"), has("t10k-images-idx3-ubyte"),
                       std::runtime_error);
}

TEST_CASE("IDX: a file present plain and gzipped is read when both hold the same bytes, refused when they differ") {
  TempDir d;
  auto imgs = idx_bytes(0x08, {5, 4, 3}, 251);
  auto labs = idx_bytes(0x08, {5}, 10);
  write_bytes(d / "train-images-idx3-ubyte", imgs);  // as `gunzip -k` leaves them
  write_gz(d / "train-images-idx3-ubyte.gz", imgs);
  write_gz(d / "train-labels-idx1-ubyte.gz", labs);
  CHECK(load_idx_dataset(d.path.string(), "train").pixels[13] == 13);
  auto other = imgs;
  other.back() ^= 1;
  write_bytes(d / "train-images-idx3-ubyte", other);
  CHECK_THROWS_WITH_AS(load_idx_dataset(d.path.string(), "train"),
                       has(d / "train-images-idx3-ubyte" + " and " + d / "train-images-idx3-ubyte.gz" +
                           " differ (76 and 76 bytes unpacked): remove the one that is not the data"),
                       std::runtime_error);
}

TEST_CASE("Fashion-MNIST from the Debian package") {
  if (!fs::exists(std::string(kFashionMnistRoot) + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: dataset-fashion-mnist is not installed");
    return;
  }
  Dataset tr = load_idx_dataset(kFashionMnistRoot, "train");
  Dataset te = load_idx_dataset(kFashionMnistRoot, "test");
  CHECK(tr.size() == 60000);
  CHECK(te.size() == 10000);
  CHECK(tr.height == 28);
  CHECK(tr.width == 28);
  CHECK(tr.class_names[9] == "Ankle boot");
  auto c = class_counts(tr.labels, 10);
  for (auto n : c) CHECK(n == 6000);
  auto ct = class_counts(te.labels, 10);
  for (auto n : ct) CHECK(n == 1000);
}

TEST_CASE("subset, class counts and shot split") {
  Dataset ds;
  ds.name = "tiny";
  ds.height = ds.width = 1;
  ds.channels = 1;
  ds.num_classes = 3;
  ds.class_names = {"a", "b", "c"};
  ds.labels = {0, 1, 2, 1};
  ds.pixels = {10, 11, 12, 13};
  ds.paths = {"p0", "p1", "p2", "p3"};
  Dataset s = subset(ds, {3, 0});
  CHECK(s.labels == std::vector<int32_t>{1, 0});
  CHECK(s.pixels == std::vector<uint8_t>{13, 10});
  CHECK(s.paths == std::vector<std::string>{"p3", "p0"});
  CHECK_THROWS_AS(subset(ds, {4}), std::runtime_error);
  ShotSplit sh = shot_split({5000, 101, 100, 20, 19, 0});
  CHECK(sh.many == std::vector<int>{0, 1});
  CHECK(sh.medium == std::vector<int>{2, 3});
  CHECK(sh.few == std::vector<int>{4, 5});
  CHECK(sh.group_of_class(6) == std::vector<int>{0, 0, 1, 1, 2, 2});
  // thirds: ties go to the lower class index; round(C / 3) classes each for many and few
  sh = shot_split({50, 80, 80, 10, 80, 5, 7}, make_shot_rule("thirds"));
  CHECK(sh.many == std::vector<int>{1, 2});
  CHECK(sh.medium == std::vector<int>{0, 3, 4});
  CHECK(sh.few == std::vector<int>{5, 6});
  CHECK(shot_split(std::vector<int64_t>(10, 7), make_shot_rule("thirds")).medium.size() == 4);
  CHECK(shot_split(std::vector<int64_t>(100, 7), make_shot_rule("thirds")).few.size() == 33);
  CHECK(shot_split({9}, make_shot_rule("thirds")).medium == std::vector<int>{0});
  CHECK(describe_shot_rule(make_shot_rule("thirds"), {500, 40, 3}) ==
        "thirds of the classes by training count: many 1 class (500 images), medium 1 (40), few 1 (3)");
  CHECK(describe_shot_rule(make_shot_rule("counts", 50, 51), {}) == "many > 50, medium none, few < 51 training images");
  // six classes of 2 images straddle medium and few: said, not hidden
  CHECK(describe_shot_rule(make_shot_rule("thirds"), {60, 30, 2, 2, 2, 2}) ==
        "thirds of the classes by training count: many 2 classes (60-30 images), medium 2 (2), few 2 (2); medium and "
        "few share the classes of 2 images (a tie, cut by class index)");
  CHECK(describe_shot_rule(make_shot_rule("thirds"), {5, 5}) ==
        "thirds of the classes by training count: many 1 class (5 images), medium 0, few 1 (5); many and few share "
        "the classes of 5 images (a tie, cut by class index)");
  CHECK(shot_split({51, 50, 0}, make_shot_rule("counts", 50, 51)).medium.empty());
  CHECK_THROWS_WITH_AS(make_shot_rule("counts", 50, 52), has("few_below (52) must be <= many_above + 1 (51)"),
                       std::runtime_error);
  CHECK_THROWS_AS(make_shot_rule("halves"), std::runtime_error);
  ds.labels[2] = 3;
  CHECK_THROWS_WITH_AS(validate_dataset(ds), has("p2: label 3 out of range"), std::runtime_error);
  CHECK_THROWS_AS(parse_bad_image_policy("ignore"), std::runtime_error);
}
