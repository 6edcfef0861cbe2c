// The run report (report/report.h) on synthetic run directories: every plot is a decodable, non-blank PNG
// of the expected size, the HTML refers to them and carries the numbers, a 1000-class run renders fast,
// missing or malformed inputs fail with the file (and line); plus a few plotting primitives (report/plot.h).
#include <doctest/doctest.h>
#include <stb_image.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "report/plot.h"
#include "report/report.h"

using namespace tailor;
using nlohmann::json;
namespace fs = std::filesystem;

// All run directories live under one temp folder, removed at exit unless TAILOR_KEEP_TEST_OUTPUT is set
// (then the reports can be opened in a browser).
static const fs::path kRoot = fs::temp_directory_path() / ("tailor_test_report_" + std::to_string(getpid()));
static struct RemoveRoot {
  ~RemoveRoot() {
    std::error_code ec;
    if (!std::getenv("TAILOR_KEEP_TEST_OUTPUT")) fs::remove_all(kRoot, ec);
  }
} remove_root;

static fs::path fresh_dir(const std::string& name) {
  fs::path d = kRoot / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

static void write_file(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

static std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// eval.json of a C-class long-tailed run: train counts 500 * 0.01^(i/(C-1)), 100 test images per class,
// accuracy falling with the class index, errors going to the first (head) classes.
static json make_eval(int C, bool names) {
  json e;
  std::vector<int> train, test;
  std::vector<json> acc;
  std::vector<double> norms;
  std::vector<std::vector<int>> conf(C, std::vector<int>(C, 0));
  for (int i = 0; i < C; ++i) {
    train.push_back((int)std::lround(500 * std::pow(0.01, (double)i / (C - 1))));
    test.push_back(100);
    int right = 95 - 80 * i / (C - 1);
    conf[i][i] = right;
    for (int k = 0; k < 100 - right; ++k) conf[i][k % 3 == 0 ? 0 : k % 3 == 1 ? 1 : (i + 1) % C] += 1;
    acc.push_back(conf[i][i]);
    norms.push_back(1.0 + 0.5 * std::log((double)train.back()));
  }
  acc[C / 2] = nullptr;  // a class whose accuracy is n/a
  e = {{"split", "test"},     {"checkpoint", "best.safetensors"},
       {"samples", 100 * C},  {"top1", 55.31},
       {"top5", 90.12},       {"many", 80.25},
       {"medium", 50.5},      {"few", 20.75},
       {"many_classes", 4},   {"medium_classes", 3},
       {"few_classes", 3},    {"ece", 10.34},
       {"mce", 25.67},        {"train_counts", train},
       {"test_counts", test}, {"per_class_acc", acc},
       {"confusion", conf},   {"weight_norms", norms}};
  if (names) {
    std::vector<std::string> n{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    n.resize(C, "class");
    e["class_names"] = n;
  }
  json rel = {{"bins", 15}};
  for (int b = 0; b < 15; ++b) {
    bool empty = b < 3;
    double c = (b + 0.5) / 15;
    rel["confidence"].push_back(empty ? json(nullptr) : json(c));
    rel["accuracy"].push_back(empty ? json(nullptr) : json(c * 0.85));
    rel["count"].push_back(empty ? 0 : 10 * b);
  }
  e["reliability"] = rel;
  return e;
}

// A two-stage run: 4 + 2 epochs, stage-1 epoch 2 not evaluated, one `few` null.
static fs::path make_run(const std::string& name, int C, bool tau) {
  fs::path d = fresh_dir(name);
  json cfg = {{"name", "fmnist_lt_test"},
              {"model", {{"arch", "resnet32"}}},
              {"stage1", {{"loss", {{"name", "balanced_softmax"}}}, {"epochs", 4}}},
              {"stage2", {{"method", "crt"}, {"epochs", 2}}}};
  write_file(d / "config.json", cfg.dump());
  std::ostringstream m;
  int step = 0;
  for (int stage = 1; stage <= 2; ++stage)
    for (int ep = 1; ep <= (stage == 1 ? 4 : 2); ++ep) {
      step += 100;
      json r = {{"stage", stage},
                {"epoch", ep},
                {"epochs", stage == 1 ? 4 : 2},
                {"step", step},
                {"lr", 0.1 / (ep + stage)},
                {"loss", 2.0 / (ep + 2 * stage)},
                {"train_images", 12406},
                {"seconds", 75.2},
                {"img_per_s", 165.0},
                {"skipped_steps", 0}};
      if (!(stage == 1 && ep == 2)) {
        r.update({{"eval_split", "test"},
                  {"top1", 40.0 + 3 * ep + 5 * stage},
                  {"top5", 90.1},
                  {"many", 70.2},
                  {"medium", 30.5},
                  {"few", 10.0 + ep},
                  {"ece", 10.3}});
        if (stage == 1 && ep == 3) r["few"] = nullptr;
      }
      if (stage == 1 && ep == 4) r["top1"] = 47.77;
      m << r.dump() << "\n";
    }
  write_file(d / "metrics.jsonl", m.str());
  write_file(d / "eval.json", make_eval(C, true).dump());
  if (tau) {
    json t = {{"split", "val"}, {"chosen", 1.0}};
    for (int i = 0; i <= 20; ++i) {
      double x = 0.1 * i;
      t["taus"].push_back(x);
      t["top1"].push_back(50 + 8 * x - 4 * x * x);
    }
    write_file(d / "tau_sweep.json", t.dump());
  }
  return d;
}

// The message of the std::runtime_error write_report throws ("" if none).
static std::string report_error(const fs::path& d) {
  try {
    write_report(d.string());
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

struct Png {
  int w = 0, h = 0;
  size_t colours = 0;
  std::vector<unsigned char> rgb;  // row-major, 3 bytes per pixel
};

static Png load_png(const fs::path& p) {
  Png r;
  int n = 0;
  unsigned char* px = stbi_load(p.string().c_str(), &r.w, &r.h, &n, 3);
  REQUIRE_MESSAGE(px != nullptr, "cannot decode " << p);
  std::set<uint32_t> cols;
  for (int i = 0; i < r.w * r.h && cols.size() < 1000; ++i)
    cols.insert(px[3 * i] << 16 | px[3 * i + 1] << 8 | px[3 * i + 2]);
  r.rgb.assign(px, px + (size_t)3 * r.w * r.h);
  stbi_image_free(px);
  r.colours = cols.size();
  return r;
}

TEST_CASE("report of a 10-class two-stage run: plots and HTML") {
  fs::path d = make_run("run10", 10, true);
  std::ostringstream log;
  ReportFiles f = write_report(d.string(), &log);
  CHECK(f.html == (d / "report.html").string());
  CHECK(fs::exists(f.html));
  CHECK_FALSE(fs::exists(f.html + ".tmp"));
  REQUIRE(f.plots.size() == 7);

  const std::vector<std::tuple<std::string, int, int>> expected{
      {"loss_lr.png", 1200, 440},      {"accuracy.png", 1200, 520}, {"per_class_acc.png", 1200, 560},
      {"weight_norms.png", 1200, 600}, {"confusion.png", -1, -1},   {"reliability.png", 720, 720},
      {"tau_sweep.png", 1000, 480}};
  std::string html = read_file(f.html);
  for (auto& [name, w, h] : expected) {
    INFO(name);
    fs::path p = d / "plots" / name;
    REQUIRE(fs::exists(p));
    Png png = load_png(p);
    if (w > 0) {
      CHECK(png.w == w);
      CHECK(png.h == h);
    } else {
      CHECK(png.w >= 600);  // 10 x 60 px cells plus labels and colour bar
      CHECK(png.h >= 600);
    }
    CHECK(png.colours >= 5);
    CHECK(html.find("<img src=\"plots/" + name + "\"") != std::string::npos);
    CHECK(log.str().find(name) != std::string::npos);
  }
  // Summary, per-epoch and per-class numbers, n/a for nulls, the config, the title fields.
  for (const char* s :
       {"55.31", "90.12", "80.25", "50.50", "20.75", "10.34", "25.67", "47.77", "n/a", "T-shirt/top", "Ankle boot",
        "fmnist_lt_test", "resnet32", "balanced_softmax", "crt", "4 classes", "&quot;arch&quot;", "<details>"})
    CHECK_MESSAGE(html.find(s) != std::string::npos, "missing " << s);
}

TEST_CASE("balanced accuracy and the shot-group rule from eval.json; an older eval.json without them") {
  fs::path d = make_run("balanced", 10, false);
  std::string old = read_file(write_report(d.string()).html);  // make_eval writes the older format
  CHECK(old.find("balanced accuracy") == std::string::npos);
  CHECK(old.find("many &gt; 100, medium 20-100, few &lt; 20 training images") != std::string::npos);
  CHECK(old.find("<tr><td>3</td><td class=\"l\">Dress</td><td class=\"l\"><span class=\"g0\">many</span>") !=
        std::string::npos);  // 108 training images
  json e = json::parse(read_file(d / "eval.json"));
  e["balanced_acc"] = 61.23;
  e["shot_groups"] = {{"rule", "thirds"}, {"description", "ignored: the report describes the rule itself"}};
  write_file(d / "eval.json", e.dump());
  std::string lines, line;
  std::istringstream in(read_file(d / "metrics.jsonl"));
  while (std::getline(in, line)) {
    json r = json::parse(line);
    if (r.contains("top1")) r["balanced_acc"] = 33.3;
    lines += r.dump() + "\n";
  }
  write_file(d / "metrics.jsonl", lines);
  std::string html = read_file(write_report(d.string()).html);
  CHECK(html.find("<tr><td>balanced accuracy (%) &mdash; per class</td><td>61.23</td></tr>") != std::string::npos);
  CHECK(html.find("<tr><td>top-1 (%) &mdash; per image</td><td>55.31</td></tr>") != std::string::npos);
  CHECK(html.find("on a balanced test set") != std::string::npos);
  CHECK(html.find("<td>33.30</td>") != std::string::npos);  // the epochs table
  CHECK(html.find("thirds of the classes by training count: many 3 classes (500-180 images), medium 4") !=
        std::string::npos);
  CHECK(html.find("<tr><td>3</td><td class=\"l\">Dress</td><td class=\"l\"><span class=\"g1\">medium</span>") !=
        std::string::npos);
  CHECK(load_png(d / "plots" / "accuracy.png").colours >= 5);
  CHECK(html.find("<dt>balanced accuracy</dt>") != std::string::npos);  // the terms, under the summary
  CHECK(html.find("<dt>ECE / MCE</dt>") != std::string::npos);
  // The classifier's kind (eval.json "head") reads the weight-norm and reliability figures: a normed head's
  // norms do not change its logits, and its raw cosines cap the confidence at 1 / (1 + (C - 1) / e^2)
  e["head"] = "normed";
  write_file(d / "eval.json", e.dump());
  html = read_file(write_report(d.string()).html);
  CHECK(html.find("these norms do not change its logits") != std::string::npos);
  CHECK(html.find("its confidence is at most 1 / (1 + (C - 1) / e^2), 45.1% with 10 classes") != std::string::npos);
  CHECK(html.find("<dt>classifier</dt><dd>normed (LDAM's NormedLinear)") != std::string::npos);
  e["head"] = "linear";
  write_file(d / "eval.json", e.dump());
  html = read_file(write_report(d.string()).html);
  CHECK(html.find("a class with a larger norm gets larger logits") != std::string::npos);
  CHECK(html.find("its confidence is at most") == std::string::npos);
  e["shot_groups"] = {{"rule", "counts"}, {"many_above", 10}, {"few_below", 20}};
  write_file(d / "eval.json", e.dump());
  CHECK(report_error(d).find("'shot_groups': shot groups: few_below (20) must be <= many_above + 1") !=
        std::string::npos);
}

TEST_CASE("report of a run with post-hoc logit adjustment: its tau sweep beside tau-normalisation's") {
  fs::path d = make_run("posthoc_la", 10, true);
  json t = {{"split", "test"}, {"chosen", 1.0}, {"selected_on", nullptr}, {"taus", {0.0, 0.5, 1.0, 1.5}},
            {"top1", {60.0, 70.0, 72.5, 71.0}}, {"few", {20.0, 50.0, 60.0, 65.0}}};
  write_file(d / "logit_adjust_sweep.json", t.dump());
  ReportFiles f = write_report(d.string());
  CHECK(f.plots.size() == 8);
  const Png png = load_png(d / "plots" / "logit_adjust_sweep.png");
  CHECK(png.w == 1000);
  CHECK(png.h == 480);
  const std::string html = read_file(f.html);
  CHECK(html.find("<img src=\"plots/logit_adjust_sweep.png\"") != std::string::npos);
  CHECK(html.find("<img src=\"plots/tau_sweep.png\"") != std::string::npos);
  CHECK(html.find("against the tau of post-hoc logit adjustment (logits z_j - log(pi_j^tau + 1e-12)") !=
        std::string::npos);
  CHECK(html.find("tau 1 was kept: no split to choose it on.") != std::string::npos);
  // a broken sweep is an error naming its file
  t["top1"] = {60.0};
  write_file(d / "logit_adjust_sweep.json", t.dump());
  CHECK(report_error(d).find("logit_adjust_sweep.json") != std::string::npos);
}

TEST_CASE("report without optional inputs: no tau sweep, no weight norms, no config") {
  fs::path d = make_run("minimal", 10, false);
  fs::remove(d / "config.json");
  json e = json::parse(read_file(d / "eval.json"));
  e.erase("weight_norms");
  e.erase("class_names");
  write_file(d / "eval.json", e.dump());
  ReportFiles f = write_report(d.string());
  CHECK(f.plots.size() == 5);
  CHECK_FALSE(fs::exists(d / "plots" / "tau_sweep.png"));
  CHECK(read_file(f.html).find("config.json not found") != std::string::npos);
  CHECK(read_file(f.html).find("trained by") == std::string::npos);  // no summary.json: no engine row
}

TEST_CASE("the summary names the tailor that trained the run (summary.json's engine_version, engine_build)") {
  fs::path d = make_run("engine", 10, false);
  write_file(d / "summary.json", json{{"top1", 55.31}, {"engine_version", "0123456789ab-dirty"},
                                      {"engine_build", "CUDA off, MPI off, NCCL off, portable"}}.dump());
  const std::string html = read_file(write_report(d.string()).html);
  CHECK_MESSAGE(html.find("<tr><td>trained by</td><td>tailor 0123456789ab-dirty (CUDA off, MPI off, NCCL off, "
                          "portable)</td></tr>") != std::string::npos, html);
  write_file(d / "summary.json", json{{"top1", 55.31}}.dump());  // a run written before engine_version: no row
  CHECK(read_file(write_report(d.string()).html).find("trained by") == std::string::npos);
}

// (its time is printed, not asserted: timings belong to benchmarks, and a loaded CI machine varies)
TEST_CASE("a 1000-class report renders: one pixel per confusion cell") {
  fs::path d = make_run("run1000", 1000, false);
  auto t0 = std::chrono::steady_clock::now();
  ReportFiles f = write_report(d.string());
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("1000-class report: " << s << " s");
  Png conf = load_png(d / "plots" / "confusion.png");
  CHECK(conf.w >= 1000);  // one pixel per cell
  CHECK(conf.h >= 1000);
  CHECK(conf.colours >= 5);
  CHECK(read_file(f.html).find("1000 classes (click to expand)") != std::string::npos);
  // per-class accuracy: above 200 classes a black line of binned means over the dots (none at 10 classes)
  auto black_pixels = [](const Png& png) {
    size_t n = 0;
    for (size_t i = 0; i < png.rgb.size(); i += 3) n += png.rgb[i] == 0 && png.rgb[i + 1] == 0 && png.rgb[i + 2] == 0;
    return n;
  };
  const size_t many = black_pixels(load_png(d / "plots" / "per_class_acc.png"));
  fs::path d10 = make_run("run10_black", 10, false);
  write_report(d10.string());
  const size_t few = black_pixels(load_png(d10 / "plots" / "per_class_acc.png"));
  MESSAGE("black pixels of per_class_acc.png: " << many << " (1000 classes), " << few << " (10)");
  CHECK(many > few + 500);
  CHECK(read_file(f.html).find("mean accuracy of the classes in each quarter decade") != std::string::npos);
}

// A run with any number of stages: metrics.jsonl has epochs[k-1] lines for stage k (none for a stage that
// trains nothing), config.json the section "stage<k>" = sections[k-1].
static fs::path make_staged_run(const std::string& name, const std::vector<int>& epochs,
                                const std::vector<json>& sections) {
  fs::path d = fresh_dir(name);
  json cfg = {{"name", name}, {"model", {{"arch", "resnet32"}}}};
  for (size_t k = 0; k < sections.size(); ++k) cfg["stage" + std::to_string(k + 1)] = sections[k];
  write_file(d / "config.json", cfg.dump());
  std::ostringstream m;
  int step = 0;
  for (size_t k = 0; k < epochs.size(); ++k)
    for (int ep = 1; ep <= epochs[k]; ++ep) {
      step += 100;
      int stage = (int)k + 1;
      json r = {{"stage", stage},      {"epoch", ep},           {"epochs", epochs[k]}, {"step", step},
                {"lr", 0.1 / ep},      {"loss", 2.0 / (ep + stage)}, {"seconds", 60.0},     {"skipped_steps", 0},
                {"eval_split", "test"}, {"top1", 40.0 + 3 * ep + 5 * stage}, {"many", 70.0}, {"medium", 30.0},
                {"few", 10.0 + ep}};
      m << r.dump() << "\n";
    }
  write_file(d / "metrics.jsonl", m.str());
  write_file(d / "eval.json", make_eval(10, true).dump());
  return d;
}

// How many vertical lines of colour `col` the image has: runs of adjacent pixel columns in each of which
// at least `min_pixels` pixels have that colour (a dashed stage boundary covers about half its height).
static int vertical_lines(const Png& png, plot::Color col, int min_pixels) {
  int lines = 0;
  bool in_line = false;
  for (int x = 0; x < png.w; ++x) {
    int n = 0;
    for (int y = 0; y < png.h; ++y) {
      const unsigned char* p = &png.rgb[3 * ((size_t)y * png.w + x)];
      n += p[0] == col.r && p[1] == col.g && p[2] == col.b;
    }
    lines += n >= min_pixels && !in_line;
    in_line = n >= min_pixels;
  }
  return lines;
}

// The curves of a run: size, not blank, and the number of dashed stage boundaries in both figures.
static void check_curves(const fs::path& d, int boundaries) {
  const std::vector<std::tuple<std::string, int, int>> expected{{"loss_lr.png", 1200, 440},
                                                                {"accuracy.png", 1200, 520}};
  for (auto& [name, w, h] : expected) {
    INFO(name);
    REQUIRE(fs::exists(d / "plots" / name));
    Png png = load_png(d / "plots" / name);
    CHECK(png.w == w);
    CHECK(png.h == h);
    CHECK(png.colours >= 5);
    // loss_lr.png: two panels, each with its own boundary lines.
    CHECK(vertical_lines(png, plot::colors::gray, 100) == boundaries * (name == "loss_lr.png" ? 2 : 1));
  }
}

static const json kCe = {{"name", "ce"}};

TEST_CASE("report of a three-stage run: the x axis continues, one boundary per later stage") {
  fs::path d = make_staged_run("three_stages", {4, 2, 3},
                               {{{"method", "joint"}, {"loss", kCe}},
                                {{"method", "crt"}, {"loss", kCe}},
                                {{"method", "lws"}, {"loss", kCe}}});
  ReportFiles f = write_report(d.string());
  REQUIRE(fs::exists(f.html));
  check_curves(d, 2);
  std::string html = read_file(f.html);
  for (const char* s : {"model: <b>resnet32</b>", "stage 1: joint (ce)", "stage 2: crt (ce)", "stage 3: lws (ce)"})
    CHECK_MESSAGE(html.find(s) != std::string::npos, "missing " << s);
  CHECK(html.find("<tr><td>3</td><td>3 / 3</td>") != std::string::npos);  // stage 3's last epoch in the table
  CHECK(html.find("class=\"warn\"") == std::string::npos);  // stage 3 (64 %) is the best: no drop to flag
}

TEST_CASE("a stage 2 whose best top-1 is below stage 1's is flagged under the summary") {
  // top-1 = 40 + 3 epoch + 5 stage: stage 1's best 57 (epoch 4), stage 2's 53 (its one epoch)
  fs::path d = make_staged_run("stage_drop", {4, 1}, {{{"method", "joint"}, {"loss", kCe}}, {{"method", "crt"}}});
  std::string html = read_file(write_report(d.string()).html);
  CHECK(html.find("<p class=\"warn\">stage 2's best evaluated top-1 (53.00 %) is below stage 1's (57.00 %)") !=
        std::string::npos);
}

TEST_CASE("report of a run whose stage 2 has no metrics line (post-hoc), then stage 3") {
  fs::path d = make_staged_run("post_hoc_stage", {4, 0, 3},
                               {{{"method", "joint"}, {"loss", kCe}},
                                {{"method", "tau_norm"}},
                                {{"method", "lws"}, {"loss", kCe}}});
  ReportFiles f = write_report(d.string());
  check_curves(d, 1);  // one boundary, labelled stage 3
  std::string html = read_file(f.html);
  CHECK(html.find("stage 2: tau_norm &middot;") != std::string::npos);  // a method without a loss
  CHECK(html.find("stage 3: lws (ce)") != std::string::npos);
}

TEST_CASE("report of a long stage 1 and two short stages: both boundaries drawn") {
  fs::path d = make_staged_run("short_stages", {200, 10, 10},
                               {{{"method", "joint"}, {"loss", kCe}},
                                {{"method", "crt"}, {"loss", kCe}},
                                {{"method", "lws"}, {"loss", kCe}}});
  write_report(d.string());
  check_curves(d, 2);
}

TEST_CASE("report of a single-stage run: no stage boundary") {
  fs::path d = make_staged_run("one_stage", {5}, {{{"method", "joint"}, {"loss", kCe}}});
  write_report(d.string());
  check_curves(d, 0);
}

TEST_CASE("report of an older config: stage1 without a method, stage2.method none") {
  fs::path d = make_run("old_config", 10, false);
  json cfg = json::parse(read_file(d / "config.json"));
  cfg["stage2"]["method"] = "none";
  write_file(d / "config.json", cfg.dump());
  std::string html = read_file(write_report(d.string()).html);
  CHECK(html.find("stage 1: joint (balanced_softmax)") != std::string::npos);
  CHECK(html.find("stage 2:") == std::string::npos);
  check_curves(d, 1);  // metrics.jsonl still has stage-2 lines
}


TEST_CASE("missing or malformed inputs name the file") {
  fs::path d = make_run("broken", 10, false);
  fs::remove(d / "eval.json");
  std::string eval_path = (d / "eval.json").string();
  CHECK(report_error(d).find("missing file " + eval_path) != std::string::npos);

  fs::remove(d / "metrics.jsonl");
  CHECK(report_error(d).find("missing file " + (d / "metrics.jsonl").string()) != std::string::npos);

  d = make_run("badline", 10, false);
  std::string lines = read_file(d / "metrics.jsonl");
  size_t second = lines.find('\n') + 1, third = lines.find('\n', second) + 1;
  write_file(d / "metrics.jsonl", lines.substr(0, third) + "{\"stage\":1,\"epoch\":3,\n" + lines.substr(third));
  std::string msg = report_error(d);
  CHECK(msg.find((d / "metrics.jsonl").string() + ":3:") != std::string::npos);

  d = make_run("badsize", 10, false);
  json e = json::parse(read_file(d / "eval.json"));
  e["test_counts"].erase(0);
  write_file(d / "eval.json", e.dump());
  msg = report_error(d);
  CHECK(msg.find("test_counts") != std::string::npos);
  CHECK(msg.find("eval.json") != std::string::npos);
}

TEST_CASE("plot primitives: lines, ticks, log axis, text, heatmap") {
  using namespace plot;
  Canvas c(20, 20);
  c.line(0, 0, 10, 10, colors::red);
  for (int i = 0; i <= 10; ++i) CHECK(c.get(i, i) == colors::red);
  CHECK(c.get(11, 11) == colors::white);
  CHECK(c.get(1, 0) == colors::white);
  CHECK(c.get(0, 1) == colors::white);
  c.line(0, 15, 19, 15, colors::blue, 1, 2);  // dashed: 2 on, 2 off
  CHECK(c.get(0, 15) == colors::blue);
  CHECK(c.get(1, 15) == colors::blue);
  CHECK(c.get(2, 15) == colors::white);
  CHECK(c.get(4, 15) == colors::blue);

  CHECK(linear_ticks(0, 100, 6) == std::vector<double>{0, 20, 40, 60, 80, 100});
  CHECK(linear_ticks(0.5, 4.5, 10, true) == std::vector<double>{1, 2, 3, 4});
  CHECK(log_ticks(1, 5000) == std::vector<double>{1, 10, 100, 1000});
  CHECK(log_ticks(3, 80) == std::vector<double>{5, 10, 20, 50});
  CHECK(tick_label(0.25, 0.05) == "0.25");
  CHECK(tick_label(2.5, 2.5) == "2.5");
  CHECK(tick_label(40, 20) == "40");
  CHECK(tick_label(1e-5, 1e-5) == "1e-5");
  CHECK(tick_label(1e-4, 2e-5) == "1e-4");
  CHECK(tick_label(0, 0.25) == "0.00");
  CHECK(tick_label(2.5e6, 5e5 * 2) == "2.5e6");
  double lo = 0.3, hi = 9.2;
  nice_range(lo, hi);
  CHECK(lo == 0);
  CHECK(hi == 10);

  Axes a;
  a.area = {100, 0, 301, 101};
  a.x.lo = 1, a.x.hi = 1000, a.x.log = true;
  a.y.lo = 0, a.y.hi = 50;
  CHECK(a.px(1) == doctest::Approx(100));
  CHECK(a.px(10) == doctest::Approx(200));
  CHECK(a.px(1000) == doctest::Approx(400));
  CHECK(a.py(0) == doctest::Approx(100));
  CHECK(a.py(50) == doctest::Approx(0));
  a.y.flip = true;
  CHECK(a.py(0) == doctest::Approx(0));

  CHECK(text_width("ab") == 11);
  CHECK(text_width("ab", 2) == 22);
  Canvas t(40, 20);
  draw_text(t, 1, 1, "1", colors::black);
  int set = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 40; ++x)
      if (t.get(x, y) == colors::black) {
        ++set;
        CHECK((x >= 1 && x < 6 && y >= 1 && y < 9));
      }
  CHECK(set == 10);  // the glyph "1": 2 + 7 + 1 pixels

  // plot_vline's label: right of the line at the top of the area; label_row 1 one text line (16 + 6 px) lower.
  int label_top[2] = {-1, -1};
  for (int row : {0, 1}) {
    Canvas v(200, 100);
    Axes va;
    va.c = &v, va.area = {0, 0, 200, 100}, va.x.lo = 0, va.x.hi = 200;
    plot_vline(va, 50, colors::red, 0, "1", row);
    for (int y = 99; y >= 0; --y)
      for (int x = 56; x < 100; ++x)
        if (v.get(x, y) == colors::red) label_top[row] = y;
  }
  CHECK(label_top[0] >= 6);
  CHECK(label_top[1] == label_top[0] + 22);

  Canvas h(4, 4);  // a 2x2 matrix on 4x4 pixels: 2x2 blocks; a 4x4 matrix on 2x2 pixels: means
  draw_heatmap(h, {0, 0, 4, 4}, 2, 2, {0.f, 1.f, 0.5f, 0.25f});
  CHECK(h.get(0, 0) == viridis(0));
  CHECK(h.get(3, 1) == viridis(1));
  CHECK(h.get(1, 2) == viridis(0.5));
  CHECK(h.get(3, 3) == viridis(0.25));
  Canvas h2(2, 2);
  std::vector<float> m(16, 0.f);
  m[0] = m[1] = m[4] = m[5] = 1.f;  // top-left 2x2 block
  draw_heatmap(h2, {0, 0, 2, 2}, 4, 4, m);
  CHECK(h2.get(0, 0) == viridis(1));
  CHECK(h2.get(1, 0) == viridis(0));
  CHECK_THROWS_AS(draw_heatmap(h2, {0, 0, 2, 2}, 3, 3, m), std::invalid_argument);
}

TEST_CASE("a report of more classes than pixels reads eval.json's non-zero confusion cells") {
  fs::path d = make_run("run3000", 3000, false);
  json e = json::parse(read_file(d / "eval.json"));
  json cells = json::array();
  const json& dense = e["confusion"];
  for (size_t r = 0; r < dense.size(); ++r)
    for (size_t q = 0; q < dense[r].size(); ++q)
      if (dense[r][q].get<int>() != 0) cells.push_back({r, q, dense[r][q]});
  e.erase("confusion");
  e["confusion_cells"] = cells;
  write_file(d / "eval.json", e.dump());
  ReportFiles f = write_report(d.string());
  Png conf = load_png(d / "plots" / "confusion.png");
  CHECK(conf.w >= 1000);  // 1000 x 1000 pixels, each a block of 3 classes
  CHECK(conf.h >= 1000);
  CHECK(conf.colours >= 5);
  CHECK(read_file(f.html).find("each pixel a block of about 3 classes") != std::string::npos);
  e["confusion_cells"].push_back({3000, 0, 1});  // a class out of range: named
  write_file(d / "eval.json", e.dump());
  CHECK_THROWS_WITH(write_report(d.string()), doctest::Contains("'confusion_cells' entry [3000,0,1]"));
}
