// Readers of image files: image folders, list files, iNat JSON, image decoding (modes, truncation) and the
// error messages (each names the file, and the line). Binary datasets (CIFAR, IDX): test_data_binary.cpp.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "data/decode.h"
#include "data/folder.h"
#include "data_files.h"

using namespace tailor::data;
namespace fs = std::filesystem;
using namespace data_files;

TEST_CASE("decoding unusual modes to RGB (PIL reference)") {
  const std::string dir = std::string(TAILOR_FIXTURES) + "/data_images";
  std::ifstream f(dir + "/pil_rgb.json");
  REQUIRE_MESSAGE(f.good(), "missing fixture data_images/pil_rgb.json");
  nlohmann::json j;
  f >> j;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string name = it.key();
    CAPTURE(name);
    ImageU8 im = decode_image_file(dir + "/" + name);
    CHECK(im.channels == 3);
    CHECK(im.width == it.value()["w"].get<int>());
    CHECK(im.height == it.value()["h"].get<int>());
    auto want = unhex(it.value()["rgb"]);
    REQUIRE(im.data.size() == want.size());
    int md = 0;
    for (size_t i = 0; i < want.size(); ++i) md = std::max(md, std::abs((int)im.data[i] - (int)want[i]));
    const bool jpeg = name.find(".jpg") != std::string::npos;
    if (name == "gray16.png") {
      // stb keeps the high byte, PIL clips I;16 to 255: only the shape is comparable.
    } else if (name == "cmyk.jpg") {
      CHECK(md <= 40);  // Adobe CMYK -> RGB conversions differ between decoders (documented)
    } else if (jpeg) {
      CHECK(md <= (have_libjpeg() ? 0 : 4));
    } else {
      CHECK(md == 0);  // PNG / PPM: lossless
    }
  }
  // luma output
  ImageU8 g = decode_image_file(dir + "/rgb.png", 1);
  CHECK(g.channels == 1);
}

TEST_CASE("truncated, empty and non-image files are errors naming the file") {
  TempDir d;
  auto px = pattern(40, 30, 3, 1);
  auto jpg = encode_jpg(40, 30, 3, px);
  auto png = encode_png(40, 30, 3, px);
  REQUIRE(jpg.size() > 100);
  CHECK_NOTHROW(decode_image(jpg.data(), jpg.size(), "ok.jpg"));
  CHECK_NOTHROW(decode_image(png.data(), png.size(), "ok.png"));
  for (size_t cut : {jpg.size() - 1, jpg.size() - 2, jpg.size() / 2, (size_t)200, (size_t)20, (size_t)4}) {
    CAPTURE(cut);
    CHECK_THROWS_WITH_AS(decode_image(jpg.data(), cut, "cut.jpg"), has("cut.jpg: "), std::runtime_error);
  }
  for (size_t cut : {png.size() - 1, png.size() - 12, png.size() / 2, (size_t)30, (size_t)9}) {
    CAPTURE(cut);
    CHECK_THROWS_WITH_AS(decode_image(png.data(), cut, "cut.png"), has("cut.png: "), std::runtime_error);
  }
  auto bad_crc = png;
  bad_crc[40] ^= 0x55;
  CHECK_THROWS_WITH_AS(decode_image(bad_crc.data(), bad_crc.size(), "crc.png"), has("CRC"),
                       std::runtime_error);
  write_bytes(d / "zero.jpg", {});
  CHECK_THROWS_WITH_AS(decode_image_file(d / "zero.jpg"), has(d / "zero.jpg" + ": empty file"),
                       std::runtime_error);
  write_text(d / "text.jpg", "this is not an image");
  CHECK_THROWS_WITH_AS(decode_image_file(d / "text.jpg"), has("text.jpg: not a JPEG, PNG"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(decode_image_file(d / "missing.jpg"), has("missing.jpg: cannot open"),
                       std::runtime_error);
  // trailing bytes after EOI are fine (cameras append data)
  auto trail = jpg;
  trail.insert(trail.end(), {1, 2, 3});
  CHECK_NOTHROW(decode_image(trail.data(), trail.size(), "trail.jpg"));
  // a PPM cut short
  std::string ppm = "P6\n4 4\n255\n" + std::string(48, 'x');
  CHECK_NOTHROW(decode_image((const uint8_t*)ppm.data(), ppm.size(), "ok.ppm"));
  CHECK_THROWS_AS(decode_image((const uint8_t*)ppm.data(), ppm.size() - 5, "cut.ppm"), std::runtime_error);
}

namespace {
// root/<split>/<class>/*.png|jpg with 3 classes (names unsorted on purpose), 8x6 images
void make_folder(const TempDir& d, const std::string& split) {
  const char* classes[] = {"zebra", "ant", "Mole"};
  int k = 0;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 2 + c; ++i, ++k) {
      auto px = pattern(8, 6, 3, k);
      std::string base = d / (split + "/" + classes[c] + "/img" + std::to_string(i));
      write_bytes(base + (i % 2 ? ".JPG" : ".png"), i % 2 ? encode_jpg(8, 6, 3, px) : encode_png(8, 6, 3, px));
    }
  write_text(d / (split + "/ant/notes.txt"), "ignored");
  auto gray = pattern(8, 6, 1, 99);
  write_bytes(d / (split + "/ant/sub/gray.png"), encode_png(8, 6, 1, gray));  // nested + grayscale
}
}  // namespace

TEST_CASE("image folder: classes sorted by name, nested files, eager and lazy") {
  TempDir d;
  make_folder(d, "train");
  Dataset ds = load_image_folder(d.path.string(), "train");
  CHECK(ds.class_names == std::vector<std::string>{"Mole", "ant", "zebra"});
  CHECK(ds.num_classes == 3);
  CHECK(ds.size() == 2 + 3 + 1 + 4);
  CHECK(ds.height == 6);
  CHECK(ds.width == 8);
  CHECK(ds.pixels.size() == (size_t)ds.size() * 8 * 6 * 3);
  auto counts = class_counts(ds.labels, 3);
  CHECK(counts == std::vector<int64_t>{4, 4, 2});
  // the PNG of ant/img0 decodes exactly
  size_t i0 = 0;
  while (ds.paths[i0].find("ant/img0.png") == std::string::npos) ++i0;
  auto want = pattern(8, 6, 3, 2);  // zebra/img0 and img1 were patterns 0 and 1
  CHECK(std::equal(want.begin(), want.end(), ds.pixels.begin() + (int64_t)i0 * 144));
  // the nested grayscale file is last in "ant" (sub-directory after the class directory) and became RGB
  size_t ig = 0;
  while (ds.paths[ig].find("gray.png") == std::string::npos) ++ig;
  CHECK(ds.labels[ig] == 1);
  CHECK(ds.paths[ig - 1].find("ant/img") != std::string::npos);
  const uint8_t* g = ds.pixels.data() + ig * 144;
  CHECK(g[0] == g[1]);
  CHECK(g[1] == g[2]);
  LoadOptions lazy;
  lazy.lazy = true;
  Dataset lz = load_image_folder(d.path.string(), "train", lazy);
  CHECK(lz.pixels.empty());
  CHECK(lz.size() == ds.size());
  ImageU8 scratch;
  ImageView v = dataset_image(lz, (int64_t)i0, scratch);
  CHECK(std::equal(want.begin(), want.end(), v.data));
  CHECK_THROWS_WITH_AS(load_image_folder(d.path.string(), "val"), has("val: no such folder"),
                       std::runtime_error);
}

TEST_CASE("image folder: other files are listed as not read, hidden ones counted, .pgm read") {
  TempDir d;
  make_folder(d, "train");  // ant/notes.txt is not an image
  write_text(d / "train/README.md", "beside the class folders");
  write_text(d / "train/zebra/img9.webp", "not a format tailor decodes");
  write_text(d / "train/.DS_Store", "x");
  write_text(d / "train/ant/._img0.png", "a macOS resource fork, not a PNG");
  write_bytes(d / "train/.ipynb_checkpoints/img.png", encode_png(8, 6, 3, pattern(8, 6, 3, 0)));  // not a class
  write_bytes(d / "train/Mole/.cache/img.png", encode_png(8, 6, 3, pattern(8, 6, 3, 0)));        // not read
  write_bytes(d / "train/Mole/p.PGM", {'P', '5', ' ', '8', ' ', '6', ' ', '2', '5', '5', '\n'});
  {
    std::vector<uint8_t> pgm = read_bytes(d / "train/Mole/p.PGM");
    pgm.resize(pgm.size() + 48, 77);
    write_bytes(d / "train/Mole/p.PGM", pgm);
  }
  Dataset ds = load_image_folder(d.path.string(), "train");
  CHECK(ds.class_names == std::vector<std::string>{"Mole", "ant", "zebra"});
  CHECK(ds.size() == 11);  // the 10 of make_folder and p.PGM
  const uint8_t* p = ds.pixels.data() + 4 * 144;  // Mole: img0..img3, then p.PGM
  CHECK(ds.paths[4].find("Mole/p.PGM") != std::string::npos);
  CHECK(p[0] == 77);
  CHECK(p[143] == 77);
  REQUIRE(ds.ignored.size() == 3);
  CHECK(ds.ignored[0] == (d / "train/README.md"));
  CHECK(ds.ignored[1] == (d / "train/ant/notes.txt"));
  CHECK(ds.ignored[2] == (d / "train/zebra/img9.webp"));
  CHECK(ds.hidden_ignored == 4);  // .DS_Store, .ipynb_checkpoints, ._img0.png, .cache (its file not visited)
  std::ostringstream os;
  write_ignored(os, ds, "data: ", "  ", 2);
  CHECK(os.str() == "data: 3 files not read (an image folder reads only files ending .jpg, .jpeg, .png, .ppm or .pgm, "
                    "in any letter case, inside class folders):\n  " + (d / "train/README.md") + "\n  " +
                    (d / "train/ant/notes.txt") + "\n  ... and 1 more\n"
                    "data: 4 hidden files or folders not read (names starting with '.')\n");
  Dataset sub = subset(ds, {0, 1});
  CHECK(sub.ignored == ds.ignored);
  CHECK(sub.hidden_ignored == 4);
  std::ostringstream none;
  write_ignored(none, Dataset{}, "data: ", "  ");
  CHECK(none.str().empty());
  // a broken link with an image name is read (and fails by name); one with another name is listed as not read
  fs::create_symlink(d / "nowhere.png", d / "train/zebra/gone.png");
  fs::create_symlink(d / "nowhere.txt", d / "train/zebra/gone.txt");
  CHECK_THROWS_WITH_AS(load_image_folder(d.path.string(), "train"), has("train/zebra/gone.png: cannot open"),
                       std::runtime_error);
  LoadOptions skip;
  skip.on_bad_image = BadImagePolicy::Skip;
  Dataset sk = load_image_folder(d.path.string(), "train", skip);
  REQUIRE(sk.skipped.size() == 1);
  CHECK(sk.skipped[0].find("train/zebra/gone.png: cannot open") != std::string::npos);
  CHECK(std::find(sk.ignored.begin(), sk.ignored.end(), d / "train/zebra/gone.txt") != sk.ignored.end());
  CHECK_THROWS_WITH_AS(load_image_folder(d.path.string(), "nope"), has("/nope: no such folder"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_image_folder(d / "train/README.md", "train"), has("README.md: not a folder"),
                       std::runtime_error);
  fs::create_directories(d / "val/ant");
  write_text(d / "val/ant/a.gif", "x");
  CHECK_THROWS_WITH_AS(load_image_folder(d.path.string(), "val"),
                       has("val/ant: class folder without images (files ending .jpg, .jpeg, .png, .ppm or .pgm"),
                       std::runtime_error);
  // a link to a folder that holds it: named, not followed round and round (a symlinked class folder is read)
  fs::create_directories(d / "loop/train/ant");
  write_bytes(d / "loop/train/ant/a.png", encode_png(8, 6, 3, pattern(8, 6, 3, 1)));
  fs::create_directory_symlink("..", d / "loop/train/ant/back");
  CHECK_THROWS_WITH_AS(load_image_folder(d / "loop", "train"),
                       has("loop/train/ant/back: a link to " + fs::canonical(d / "loop/train").string() +
                           ", a folder that holds it: its images would be listed again and again; remove the link"),
                       std::runtime_error);
  // two links that point at each other (ELOOP): named as a link loop, in a folder and in a list
  fs::create_directories(d / "ring/train/ant");
  write_bytes(d / "ring/train/ant/a.png", encode_png(8, 6, 3, pattern(8, 6, 3, 1)));
  fs::create_symlink("l2.png", d / "ring/train/ant/l1.png");
  fs::create_symlink("l1.png", d / "ring/train/ant/l2.png");
  CHECK_THROWS_WITH_AS(load_image_folder(d / "ring", "train"),
                       has(".png: a symbolic-link loop ("),  // l1 or l2: the listing's order
                       std::runtime_error);
  write_text(d / "ring/list.txt", "train/ant/a.png 0\ntrain/ant/l2.png 0\n");
  CHECK_THROWS_WITH_AS(load_list_file(d / "ring", d / "ring/list.txt"),
                       has("list.txt:2: " + d / "ring/train/ant/l2.png" + ": a symbolic-link loop"), std::runtime_error);
  {  // under on_bad_image skip, in a folder as in a list: left out and listed
    LoadOptions skip_loops;
    skip_loops.on_bad_image = BadImagePolicy::Skip;
    Dataset f = load_image_folder(d / "ring", "train", skip_loops);
    CHECK(f.size() == 1);
    REQUIRE(f.skipped.size() == 2);
    CHECK(f.skipped[0].find(": a symbolic-link loop (") != std::string::npos);
    Dataset l = load_list_file(d / "ring", d / "ring/list.txt", skip_loops);
    CHECK(l.size() == 1);
    REQUIRE(l.skipped.size() == 1);
    CHECK(l.skipped[0].find("list.txt:2: " + d / "ring/train/ant/l2.png" + ": a symbolic-link loop") != std::string::npos);
  }
  fs::create_symlink("loop_class", d / "ring/train/loop_class");  // a class folder that is a loop itself
  CHECK_THROWS_WITH_AS(load_image_folder(d / "ring", "train"), has("ring/train/loop_class: a symbolic-link loop ("),
                       std::runtime_error);
  // an evaluation split may lack classes: its empty class folder is one it lacks, as a missing folder would be
  LoadOptions eval;
  eval.may_lack_classes = true;
  CHECK_THROWS_WITH_AS(load_image_folder(d.path.string(), "val", eval),
                       has("/val: no images in any class folder"), std::runtime_error);
  write_bytes(d / "val/bee/one.png", encode_png(8, 6, 3, pattern(8, 6, 3, 1)));
  write_bytes(d / "val/cat/two.png", encode_png(8, 6, 3, pattern(8, 6, 3, 2)));
  Dataset val = load_image_folder(d.path.string(), "val", eval);  // ant (empty) left out: bee 0, cat 1
  CHECK(val.class_names == std::vector<std::string>{"bee", "cat"});
  CHECK(val.labels == std::vector<int32_t>{0, 1});
}

TEST_CASE("image folder: bad images under error and skip policies") {
  TempDir d;
  make_folder(d, "train");
  auto jpg = encode_jpg(8, 6, 3, pattern(8, 6, 3, 5));
  jpg.resize(jpg.size() - 10);
  write_bytes(d / "train/zebra/broken.jpg", jpg);
  write_bytes(d / "train/ant/empty.jpeg", {});
  CHECK_THROWS_WITH_AS(load_image_folder(d.path.string(), "train"), has("empty.jpeg: empty file"),
                       std::runtime_error);
  LoadOptions skip;
  skip.on_bad_image = BadImagePolicy::Skip;
  Dataset ds = load_image_folder(d.path.string(), "train", skip);
  CHECK(ds.size() == 10);
  REQUIRE(ds.skipped.size() == 2);
  CHECK(ds.skipped[0].find("empty.jpeg") != std::string::npos);
  CHECK(ds.skipped[1].find("broken.jpg: truncated JPEG") != std::string::npos);
  validate_dataset(ds);
  // images of different sizes cannot be stacked eagerly
  write_bytes(d / "train/zebra/zz.png", encode_png(9, 6, 3, pattern(9, 6, 3, 1)));
  CHECK_THROWS_WITH_AS(load_image_folder(d.path.string(), "train", skip), has("zz.png: image is 9x6"),
                       std::runtime_error);
}

TEST_CASE("list files: ImageNet-LT style") {
  TempDir d;
  make_folder(d, "train");
  write_text(d / "lists/train.txt", "train/ant/img0.png 1\ntrain/zebra/img1.JPG 2\r\n\n  train/Mole/img0.png   0  \n");
  Dataset ds = load_list_file(d.path.string(), d / "lists/train.txt");
  CHECK(ds.size() == 3);
  CHECK(ds.num_classes == 3);
  CHECK(ds.labels == std::vector<int32_t>{1, 2, 0});
  CHECK(ds.paths[2] == d / "train/Mole/img0.png");
  CHECK(ds.pixels.empty());
  LoadOptions five;
  five.num_classes = 5;
  CHECK(load_list_file(d.path.string(), d / "lists/train.txt", five).class_names.size() == 5);
  // missing entry: names the list file and the line
  write_text(d / "lists/missing.txt", "train/ant/img0.png 1\ntrain/ant/nope.jpg 1\n");
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/missing.txt"),
                       has(d / "lists/missing.txt" + ":2: " + d / "train/ant/nope.jpg" + ": missing file"),
                       std::runtime_error);
  // a training list's labels run 0..C-1 without a gap (this one has no class 0)
  LoadOptions training;
  training.training_split = true;
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/missing.txt", training),
                       has(d / "lists/missing.txt" + ": no sample of class 0: labels must run 0..1 without a gap "
                           "(the largest, 1, first at " + d / "lists/missing.txt" + ":1)"),
                       std::runtime_error);
  LoadOptions skip;
  skip.on_bad_image = BadImagePolicy::Skip;
  Dataset sk = load_list_file(d.path.string(), d / "lists/missing.txt", skip);
  CHECK(sk.size() == 1);
  CHECK(sk.skipped.size() == 1);
  // malformed lines
  write_text(d / "lists/bad1.txt", "train/ant/img0.png 1\njustapath\n");
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/bad1.txt"), has("bad1.txt:2: expected"),
                       std::runtime_error);
  write_text(d / "lists/bad2.txt", "train/ant/img0.png one\n");
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/bad2.txt"), has("bad2.txt:1: label 'one'"),
                       std::runtime_error);
  write_text(d / "lists/bad3.txt", "train/ant/img0.png -1\n");
  CHECK_THROWS_AS(load_list_file(d.path.string(), d / "lists/bad3.txt"), std::runtime_error);
  // every malformed line in one error (the first, then how many more and up to 9 of them)
  std::string many = "train/ant/img0.png 0\n";
  for (int i = 0; i < 12; ++i) many += "train/ant/img0.png x" + std::to_string(i) + "\n";
  write_text(d / "lists/many.txt", many);
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/many.txt"),
                       has(d / "lists/many.txt:2: label 'x0' is not a non-negative integer\n  and 11 more malformed "
                           "lines:\n  " + d / "lists/many.txt:3: label 'x1' is not a non-negative integer"),
                       std::runtime_error);
  try {
    load_list_file(d.path.string(), d / "lists/many.txt");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    CHECK(m.find("many.txt:11: label 'x9'") != std::string::npos);
    CHECK(m.find("many.txt:12:") == std::string::npos);
    CHECK(m.substr(m.size() - 6) == "\n  ...");
  }
  LoadOptions one;  // labels out of range likewise
  one.num_classes = 1;
  write_text(d / "lists/range.txt", "train/ant/img0.png 0\ntrain/ant/img0.png 3\ntrain/ant/img0.png 4\n");
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/range.txt", one),
                       has("range.txt:2: label 3 out of range [0, 1) (the classes of the training split)\n  and 1 more "
                           "labels out of range:\n  " + d / "lists/range.txt:3: label 4 out of range [0, 1)"),
                       std::runtime_error);
  // malformed lines and labels out of range in one file: both kinds in one error (malformed lines first)
  write_text(d / "lists/both.txt", "train/ant/img0.png 0\ntrain/ant/img0.png 3\ntrain/ant/img0.png x\n");
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/both.txt", one),
                       has("both.txt:3: label 'x' is not a non-negative integer\n  and 1 more malformed lines and "
                           "labels out of range:\n  " + d / "lists/both.txt:2: label 3 out of range [0, 1)"),
                       std::runtime_error);
  write_text(d / "lists/huge.txt", "train/ant/img0.png 0\ntrain/ant/img0.png 12345678901\n");
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/huge.txt"),
                       has("huge.txt:2: label 12345678901 is too large: labels are class indices 0..C-1"),
                       std::runtime_error);
  // a stray large label in a training list: the gap is named (the check allocates nothing per class)
  write_text(d / "lists/stray.txt", "train/ant/img0.png 0\ntrain/ant/img0.png 1\ntrain/ant/img0.png 900000000\n");
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/stray.txt", training),
                       has("stray.txt: no sample of class 2: labels must run 0..900000000 without a gap (the largest, "
                           "900000000, first at " + d / "lists/stray.txt" + ":3)"),
                       std::runtime_error);
  LoadOptions two;
  two.num_classes = 2;
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/train.txt", two),
                       has("train.txt:2: label 2 out of range [0, 2) (the classes of the training split)"),
                       std::runtime_error);  // an evaluation split: its classes are the training split's
  two.training_split = true;  // a class count given for the training split itself
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/train.txt", two),
                       has("train.txt:2: label 2 out of range [0, 2) (the number of classes given)"), std::runtime_error);
  // decode check on a list entry pointing at a broken image
  write_bytes(d / "train/ant/broken.png", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0});
  write_text(d / "lists/broken.txt", "train/ant/broken.png 0\n");
  LoadOptions verify;
  verify.verify_decode = true;
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/broken.txt", verify),
                       has("broken.png: truncated PNG"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/none.txt"), has("none.txt: cannot open"),
                       std::runtime_error);
  write_text(d / "lists/folder.txt", "train/ant 0\n");
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/folder.txt"),
                       has("folder.txt:1: " + d / "train/ant" + ": a folder, not an image file"), std::runtime_error);
  // a listed file that is no image: its decode error names the list's line first (read lazily, or verified)
  write_text(d / "train/ant/notes.png", "not an image");
  write_text(d / "lists/notes.txt", "train/ant/img0.png 0\ntrain/ant/notes.png 0\n");
  {
    Dataset lazy = load_list_file(d.path.string(), d / "lists/notes.txt");
    REQUIRE(lazy.origins.size() == 2);
    ImageU8 scratch;
    CHECK_THROWS_WITH_AS(dataset_image(lazy, 1, scratch), has("notes.txt:2: " + d / "train/ant/notes.png" + ": "),
                         std::runtime_error);
    Dataset one = subset(lazy, {1});  // the record follows the sample
    CHECK_THROWS_WITH_AS(dataset_image(one, 0, scratch), has("notes.txt:2: "), std::runtime_error);
    LoadOptions verify;
    verify.verify_decode = true;
    CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/notes.txt", verify),
                         has("notes.txt:2: " + d / "train/ant/notes.png" + ": "), std::runtime_error);
  }
  fs::remove(d / "train/ant/notes.png");
  // Windows editors: a UTF-8 byte-order mark is skipped; UTF-16 text is named as such
  write_text(d / "lists/bom.txt", "\xEF\xBB\xBFtrain/ant/img0.png 0\r\ntrain/zebra/img1.JPG 1\r\n");
  Dataset bom = load_list_file(d.path.string(), d / "lists/bom.txt");
  CHECK(bom.paths[0] == d / "train/ant/img0.png");
  CHECK(bom.labels == std::vector<int32_t>{0, 1});
  write_bytes(d / "lists/utf16.txt", {0xFF, 0xFE, 't', 0, 'r', 0, ' ', 0, '0', 0, '\n', 0});
  CHECK_THROWS_WITH_AS(load_list_file(d.path.string(), d / "lists/utf16.txt"),
                       has("utf16.txt: UTF-16 text (as Windows PowerShell's '>' writes it): save the list as UTF-8"),
                       std::runtime_error);
}

TEST_CASE("iNaturalist 2018 JSON") {
  TempDir d;
  make_folder(d, "train");
  const std::string good = R"({"images": [{"id": 10, "file_name": "train/ant/img0.png"},
                                          {"id": 11, "file_name": "train/zebra/img0.png"}],
                               "annotations": [{"image_id": 11, "category_id": 2}, {"image_id": 10, "category_id": 0}],
                               "categories": [{"id": 0, "name": "Ant"}, {"id": 1, "name": "Bee"}, {"id": 2, "name": "Zebra"}]})";
  write_text(d / "train2018.json", good);
  Dataset ds = load_inat_json(d.path.string(), d / "train2018.json");
  CHECK(ds.size() == 2);
  CHECK(ds.labels == std::vector<int32_t>{0, 2});
  CHECK(ds.num_classes == 3);
  CHECK(ds.class_names[2] == "Zebra");
  {  // an evaluation file takes the training file's names; one naming a category otherwise is another taxonomy's
    Dataset test = load_inat_json(d.path.string(), d / "train2018.json");
    test.class_names = {"Ant", "", "2"};  // names not given (empty, or the index): the training names
    adopt_training_class_names(test, ds.class_names, "test.json");
    CHECK(test.class_names == ds.class_names);
    test.class_names = {"Ant", "Wasp", "Zebra"};
    CHECK_THROWS_WITH_AS(adopt_training_class_names(test, ds.class_names, "test.json"),
                         "test.json: category 1 is named 'Wasp', the training file's 'Bee': an evaluation file must "
                         "share the training file's categories (its category ids are the class indices)",
                         std::runtime_error);
  }
  auto expect_error = [&](const std::string& text, const std::string& what) {
    write_text(d / "bad.json", text);
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(load_inat_json(d.path.string(), d / "bad.json"), has(what), std::runtime_error);
  };
  expect_error(R"({"images": [)", "bad.json: malformed JSON");
  expect_error(R"([1, 2])", "top level is not a JSON object");
  expect_error(R"({"annotations": []})", "missing 'images'");
  expect_error(R"({"images": [], "annotations": {}})", "missing 'annotations'");
  expect_error(R"({"images": [{"id": 1}], "annotations": [{"image_id": 1, "category_id": 0}]})",
               "bad.json: images[0]: missing string 'file_name'");
  expect_error(R"({"images": [{"id": 1, "file_name": "train/ant/img0.png"}], "annotations": [{"image_id": 1}]})",
               "bad.json: annotations[0]: missing key 'category_id'");
  expect_error(R"({"images": [{"id": 1, "file_name": "train/ant/img0.png"}], "annotations": [{"image_id": 2, "category_id": 0}]})",
               "images[0]: image id 1 has no annotation");
  expect_error(R"({"images": [{"id": 1, "file_name": "train/ant/img0.png"}, {"id": 1, "file_name": "train/ant/img0.png"}],
                   "annotations": [{"image_id": 1, "category_id": 0}]})",
               "images[1]: duplicate image id 1 (images[0] has it too)");
  expect_error(R"({"images": [{"id": 1, "file_name": "train/ant/img0.png"}], "annotations": [{"image_id": 1, "category_id": -3}]})",
               "annotations[0]: category_id -3 out of range");
  // category ids from 1 (COCO style) against a 'categories' array of C entries
  // (the annotation that holds the category is named, then its image; here in the other order than the images)
  expect_error(R"({"images": [{"id": 1, "file_name": "train/ant/img0.png"}, {"id": 2, "file_name": "train/zebra/img0.png"}],
                   "annotations": [{"image_id": 2, "category_id": 2}, {"image_id": 1, "category_id": 1}],
                   "categories": [{"id": 1, "name": "Ant"}, {"id": 2, "name": "Zebra"}]})",
               "bad.json: annotations[0]: category_id 2 out of range [0, 2): category ids are class indices 0..C-1, C = "
               "the 'categories' entries (2); these start at 1: renumber them from 0 (the image: images[1])");
  expect_error(R"({"images": [{"id": 1, "file_name": "train/ant/nope.png"}], "annotations": [{"image_id": 1, "category_id": 0}]})",
               "bad.json: images[0]: " + d / "train/ant/nope.png" + ": missing file");
  expect_error(R"({"images": [{"id": 1, "file_name": "train/ant/img0.png"}], "annotations": [{"image_id": 1, "category_id": 5}],
                   "categories": [{"id": 0}, {"id": 1}]})",
               "annotations[0]: category_id 5 out of range [0, 2): category ids are class indices 0..C-1");
  // the 'categories' entries themselves: each an object with an id 0..C-1, once, and a name (never skipped)
  const std::string one = R"({"images": [{"id": 1, "file_name": "train/ant/img0.png"}],
                              "annotations": [{"image_id": 1, "category_id": 0}], "categories": )";
  expect_error(one + R"([{"id": 0, "name": "Ant"}, {"id": 5, "name": "Zebra"}]})",
               "bad.json: categories[1]: id 5 out of range [0, 2): category ids are class indices 0..C-1");
  expect_error(one + R"([{"id": 1, "name": "Ant"}, {"id": 2, "name": "Zebra"}]})",
               "bad.json: categories[1]: id 2 out of range [0, 2): category ids are class indices 0..C-1, C = the "
               "'categories' entries (ids from 1? renumber them from 0)");
  expect_error(one + R"([{"id": 0, "name": "Ant"}, {"id": 0, "name": "Zebra"}]})",
               "bad.json: categories[1]: id 0 again (categories[0] has it)");
  expect_error(one + R"([{"id": 0, "name": "Ant"}, {"id": 1}]})", "bad.json: categories[1]: missing string 'name'");
  expect_error(one + R"([{"id": 0, "name": "Ant"}, 7]})", "bad.json: categories[1]: not an object");
  expect_error(one + R"([{"id": "0", "name": "Ant"}]})", "bad.json: categories[0]: 'id' is not an integer");
  expect_error(one + R"({"0": "Ant"}})", "bad.json: 'categories' is not an array");
}
