// The run configuration: schema defaults, file + --set resolution, every kind of bad input named
// precisely, the embedded default and every shipped recipe resolve.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "train/config.h"

using namespace tailor;
namespace fs = std::filesystem;

static std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

static std::string write_tmp(const std::string& name, const std::string& text) {
  std::string p = (fs::temp_directory_path() / ("tailor_cfg_" + name)).string();
  std::ofstream(p) << text;
  return p;
}

TEST_CASE("defaults resolve and the typed views read them") {
  Json cfg = resolve_config("", {}, false);
  CHECK(cfg["name"] == "default");
  CHECK(cfg["stage1"]["optim"]["lr"] == 0.1);
  SgdOptions o = sgd_options(cfg["stage1"]);
  CHECK(o.lr == doctest::Approx(0.1f));
  CHECK(o.weight_decay == doctest::Approx(5e-4f));
  LrSchedule s = lr_schedule(cfg["stage1"]);
  CHECK(s.total_epochs == 200);
  CHECK(s.kind == "multistep");
  LossConfig l = loss_config(cfg["stage1"]);
  CHECK(l.s == 30.0);
  CHECK(cfg["stage2"]["method"] == "none");
}

TEST_CASE("every schema key is declared once") {
  std::set<std::string> seen;
  for (const ConfigKey& k : config_schema()) CHECK_MESSAGE(seen.insert(k.path).second, "declared twice: " << k.path);
  CHECK(seen.size() > 50);
}

TEST_CASE("file then --set, left to right; the resolved name defaults to the file stem") {
  std::string p = write_tmp("order.json", R"({"seed": 3, "stage1": {"optim": {"lr": 0.05}, "epochs": 7}})");
  Json cfg = resolve_config(p, {"stage1.optim.lr=0.2", "stage1.schedule.milestones=[3,5]", "stage1.loss.name=gcl",
                                "stage1.loss.name=\"focal\"", "seed=9"},
                            false);
  CHECK(cfg["seed"] == 9);
  CHECK(cfg["stage1"]["epochs"] == 7);
  CHECK(cfg["stage1"]["optim"]["lr"] == 0.2);
  CHECK(cfg["stage1"]["loss"]["name"] == "focal");
  CHECK(cfg["stage1"]["schedule"]["milestones"] == Json::array({3, 5}));
  CHECK(cfg["name"] == "tailor_cfg_order");
  // an integer is a fine number
  Json c2 = resolve_config("", {"stage1.optim.lr=1"}, false);
  CHECK(c2["stage1"]["optim"]["lr"].is_number_float());
}

TEST_CASE("bad JSON names the file, line and column") {
  std::string p = write_tmp("bad.json", "{\n  \"seed\": 1,\n  \"name\" \"x\"\n}\n");
  std::string e = error_of([&] { load_config_file(p); });
  CHECK(e.find(p + ":3:12: invalid JSON (syntax error") != std::string::npos);
  e = error_of([&] { load_config_file("/nonexistent/cfg.json"); });
  CHECK(e.find("/nonexistent/cfg.json: cannot open") != std::string::npos);
}

TEST_CASE("unknown keys are errors with a suggestion") {
  Json cfg = default_config();
  std::string e = error_of([&] { merge_config(cfg, Json::parse(R"({"stage1": {"optim": {"lrr": 0.1}}})"), "c.json"); });
  CHECK(e == "c.json: unknown key 'stage1.optim.lrr' (did you mean 'stage1.optim.lr'?)");
  e = error_of([&] { merge_config(cfg, Json::parse(R"({"stage1": {"lr": 0.1}})"), "c.json"); });
  CHECK(e == "c.json: unknown key 'stage1.lr' (did you mean 'stage1.optim.lr'?)");
  e = error_of([&] { merge_config(cfg, Json::parse(R"({"zzzzzzzzzzzz": 1})"), "c.json"); });
  CHECK(e == "c.json: unknown key 'zzzzzzzzzzzz'");
  e = error_of([&] { apply_set(cfg, "data.imbalance.ration=50"); });
  CHECK(e == "--set: unknown key 'data.imbalance.ration' (did you mean 'data.imbalance.ratio'?)");
  e = error_of([&] { merge_config(cfg, Json::parse(R"({"stage1": 3})"), "c.json"); });
  CHECK(e.find("c.json: stage1: expects an object") != std::string::npos);
}

TEST_CASE("types, ranges and choices are checked with the key named") {
  Json cfg = default_config();
  auto bad = [&](const char* text) { return error_of([&] { merge_config(cfg, Json::parse(text), "f.json"); }); };
  CHECK(bad(R"({"stage1": {"epochs": 0}})") == "f.json: stage1.epochs: value 0 out of range [1, 100000]");
  CHECK(bad(R"({"stage1": {"epochs": 2.5}})") == "f.json: stage1.epochs: expects an integer, got 2.5");
  CHECK(bad(R"({"stage1": {"optim": {"lr": "fast"}}})") == "f.json: stage1.optim.lr: expects a number, got \"fast\"");
  CHECK(bad(R"({"stage1": {"optim": {"momentum": 1.5}}})") ==
        "f.json: stage1.optim.momentum: value 1.5 out of range [0, 1]");
  CHECK(bad(R"({"model": {"arch": "resnet18"}})") ==
        "f.json: model.arch: 'resnet18' is not one of resnet32 | resnet50 | resnet152");
  CHECK(bad(R"({"stage1": {"loss": {"name": "cee"}}})").find("'cee' is not one of ce | focal") != std::string::npos);
  CHECK(bad(R"({"stage1": {"schedule": {"milestones": [1, "x"]}}})").find("expects a list of integers") !=
        std::string::npos);
  CHECK(bad(R"({"deterministic": 1})") == "f.json: deterministic: expects true or false, got 1");
  std::string e = error_of([&] { apply_set(cfg, "seed=abc"); });
  CHECK(e == "--set seed: cannot parse 'abc' as int");
  e = error_of([&] { apply_set(cfg, "seed"); });
  CHECK(e.find("expected key.path=value") != std::string::npos);
}

TEST_CASE("cross-key checks") {
  auto e = error_of([] { resolve_config("", {"stage1.schedule.milestones=[5,3]"}, false); });
  CHECK(e.find("stage1.schedule.milestones must be strictly ascending") != std::string::npos);
  e = error_of([] { resolve_config("", {"model.head=normed", "stage2.method=crt"}, false); });
  CHECK(e.find("stage2.method crt needs model.head linear") != std::string::npos);
  e = error_of([] { resolve_config("", {"data.dataset=cifar10"}, false); });
  CHECK(e.find("data.root is required for data.dataset cifar10") != std::string::npos);
  e = error_of([] { resolve_config("", {"stage1.schedule.milestones=[1,2]", "stage1.schedule.factors=[0.1]"}, false); });
  CHECK(e.find("one factor per milestone") != std::string::npos);
}

TEST_CASE("the config hash is stable and tracks changes") {
  Json a = resolve_config("", {}, true), b = resolve_config("", {}, true);
  CHECK(config_hash(a) == config_hash(b));
  CHECK(config_hash(a).size() == 16);
  Json c = resolve_config("", {"seed=1"}, true);
  CHECK(config_hash(a) != config_hash(c));
}

TEST_CASE("the embedded default equals recipes/fashion_mnist_lt/gcl_default.json") {
  Json embedded = parse_config_text(embedded_default_overrides(), "embedded");
  Json file = load_config_file(std::string(TAILOR_SOURCE_DIR) + "/recipes/fashion_mnist_lt/gcl_default.json");
  CHECK(embedded == file);
  Json cfg = resolve_config("", {}, true);
  CHECK(cfg["stage2"]["method"] == "gcl_retrain");
  CHECK(cfg["data"]["dataset"] == "fashion_mnist");
}

TEST_CASE("every shipped recipe resolves against the schema") {
  int n = 0;
  for (auto& e : fs::recursive_directory_iterator(std::string(TAILOR_SOURCE_DIR) + "/recipes")) {
    if (e.path().extension() != ".json") continue;
    CAPTURE(e.path().string());
    Json cfg;
    CHECK_NOTHROW(cfg = resolve_config(e.path().string(), {}, false));
    const bool described = !cfg["description"].get<std::string>().empty() || e.path().filename() == "gcl_default.json";
    CHECK(described);
    ++n;
  }
  CHECK(n >= 25);
}
