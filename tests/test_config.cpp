// The run configuration: schema defaults, file + --set resolution, every kind of bad input named
// precisely, the embedded default and every shipped recipe resolve.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "error_of.h"
#include "train/config.h"
#include "train/method.h"
#include "train/run_config.h"
#include "train/stage_plan.h"

using namespace tailor;
namespace fs = std::filesystem;


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
  CHECK(s.kind == ScheduleKind::MultiStep);
  LossConfig l = loss_config(cfg["stage1"]);
  CHECK(l.s == 30.0);
  CHECK(cfg["stage1"]["method"] == "joint");
  CHECK_FALSE(cfg.contains("stage2"));
  RunConfig rc = parse_run_config(cfg);
  REQUIRE(rc.stages.size() == 1);
  CHECK(rc.stages[0].method == "joint");
  CHECK(rc.stages[0].sampler.kind == data::SamplerKind::Instance);
  CHECK(rc.eval_select == EvalSelect::Test);
}

TEST_CASE("every key a loss reads is in the schema, and loss_config reads every key it is given") {
  for (const std::string& n : loss_names())
    for (const char* rule : {"None", "DRW"})
      for (bool cls : {false, true})
        for (const char* shape : {"concave", "exp"}) {
          LossConfig c;
          c.train_rule = rule, c.train_cls = cls, c.shape = shape;
          for (const std::string& k : loss_keys(n, c))
            CHECK_MESSAGE(find_config_key("stage1.loss." + k) != nullptr, n << " reads loss." << k << ", not in the schema");
        }
  // a key in a resolved loss section that loss_config does not read into LossConfig: refused, named
  const Json st = {{"loss", {{"name", "ce"}, {"bogus", 1}}}};
  CHECK(error_of([&] { loss_config(st); }) ==
        "loss.bogus is a key of loss 'ce' that train/run_config.cpp's loss_config does not read into LossConfig");
}

TEST_CASE("every schema key is declared once, each default once") {
  std::set<std::string> seen;
  for (const ConfigKey& k : config_schema()) CHECK_MESSAGE(seen.insert(k.path).second, "declared twice: " << k.path);
  CHECK(seen.size() > 30);
  std::set<std::string> stage;
  for (const ConfigKey& k : stage_schema()) CHECK_MESSAGE(stage.insert(k.path).second, "declared twice: " << k.path);
  CHECK(stage.size() > 45);
  // the defaults are the structs' own
  CHECK(find_config_key("stage3.loss.s")->def == LossConfig{}.s);
  CHECK(find_config_key("stage1.optim.lr")->def == 0.1);  // SgdOptions{}.lr, written as the shortest decimal
  CHECK(find_config_key("stage1.sampler.samples_per_class")->def == data::SamplerConfig{}.samples_per_class);
  // a method key is found in any stage; nothing outside stageN sections is
  CHECK(find_config_key("stage2.taus") != nullptr);
  CHECK(find_config_key("stage0.epochs") == nullptr);
  CHECK(stage_number("stage12") == 12);
  CHECK(stage_number("stage") == 0);
  CHECK(stage_number("stage01") == 0);
}

TEST_CASE("a stage's keys are the ones its method, loss, sampler and schedule read; others are refused") {
  auto resolve = [](std::vector<std::string> sets) { return resolve_config("", sets, false); };
  auto err = [&](std::vector<std::string> sets) { return error_of([&] { resolve(sets); }); };
  // gcl_retrain with loss keys but no loss name: the method's loss (gcl) reads them, so they are honoured
  Json c = resolve({"model.head=normed", "stage2.method=gcl_retrain", "stage2.loss.s=25", "stage2.loss.noise_mul=0.7"});
  CHECK(c["stage2"]["loss"]["name"] == "gcl");
  CHECK(c["stage2"]["loss"]["s"] == 25.0);
  CHECK(c["stage2"]["loss"]["noise_mul"] == 0.7);
  CHECK(c["stage2"]["loss"]["m"] == 0.1);            // the method's default (gcl_cifar_stage2)
  CHECK(c["stage2"]["loss"]["train_cls"] == true);
  CHECK(c["stage2"]["sampler"]["name"] == "cben");
  // the rest of the method's defaults: the reference's CIFAR stage 2 (cosine from 0.002, 30 epochs, batch 64,
  // wd 2e-4, mixup alpha 1); LWS's 5 epochs
  CHECK(c["stage2"]["epochs"] == 30);
  CHECK(c["stage2"]["batch_size"] == 64);
  CHECK(c["stage2"]["mixup_alpha"] == 1.0);
  CHECK(c["stage2"]["optim"]["lr"] == 0.002);
  CHECK(c["stage2"]["optim"]["weight_decay"] == 2e-4);
  CHECK(c["stage2"]["optim"]["momentum"] == 0.9);
  CHECK(c["stage2"]["schedule"]["kind"] == "cosine");
  CHECK(resolve({"stage2.method=lws"})["stage2"]["epochs"] == 5);
  // the linear head's prior bias: read with that head only; off by default and then not in a run's identity
  // (a run of an older tailor resumes), likewise optim.decay_head_bias true
  Json lin = resolve({"model.head=linear", "model.head_bias_prior=0.01", "stage1.optim.decay_head_bias=false"});
  CHECK(parse_run_config(lin).model.head_bias_prior == 0.01);
  CHECK_FALSE(parse_run_config(lin).stages[0].decay_head_bias);
  CHECK(config_identity(lin)["model"]["head_bias_prior"] == 0.01);
  CHECK(config_identity(lin)["stage1"]["optim"]["decay_head_bias"] == false);
  Json plain = resolve({"model.head=linear"});
  CHECK(plain["model"]["head_bias_prior"] == 0.0);
  CHECK(plain["stage1"]["optim"]["decay_head_bias"] == true);
  CHECK_FALSE(config_identity(plain)["model"].contains("head_bias_prior"));
  CHECK_FALSE(config_identity(plain)["stage1"]["optim"].contains("decay_head_bias"));
  CHECK(err({"model.head=normed", "model.head_bias_prior=0.1"}).rfind(
            "model.head_bias_prior: read by model.head linear only (this run's is normed)", 0) == 0);
  CHECK(parse_run_config(c).stages[1].loss.s == 25.0);
  // another loss: the method's gcl values no longer apply
  Json c2 = resolve({"model.head=normed", "stage2.method=gcl_retrain", "stage2.loss.name=ldam"});
  CHECK(c2["stage2"]["loss"]["s"] == 30.0);
  CHECK_FALSE(c2["stage2"]["loss"].contains("m"));
  // keys nobody reads
  CHECK(err({"stage2.method=crt", "stage2.loss.s=20"}) ==
        "stage2.loss.s: the loss ce does not read it (it reads weight, train_rule); to change a section on the "
        "command line, replace it whole: --set 'stage2.loss={...}'");
  auto starts = [&](std::vector<std::string> sets, const std::string& want) {
    std::string e = err(sets);
    CHECK_MESSAGE(e.rfind(want, 0) == 0, e);
  };
  starts({"stage2.method=crt", "stage2.loss.gamma=2", "stage2.loss.name=gcl"},
         "stage2.loss.gamma: the loss gcl does not read it (it reads s, m, noise_mul, train_cls, weight, train_rule)");
  CHECK(err({"stage2.method=tau_norm", "stage2.epochs=3"}) ==
        "stage2.epochs: method tau_norm trains nothing (it runs once on the previous stage's model); to change a "
        "stage on the command line, replace it whole: --set 'stage2={...}'");
  starts({"stage2.method=crt", "stage2.sampler.name=cben", "stage2.sampler.samples_per_class=2"},
         "stage2.sampler.samples_per_class: read by the class_aware sampler only (this stage's is cben)");
  starts({"stage1.schedule.kind=cosine", "stage1.schedule.milestones=[3]"},
         "stage1.schedule.milestones: read by the multistep schedule only (this stage's is cosine)");
  starts({"stage1.schedule.warmup_epochs=0", "stage1.schedule.per_step=true"},
         "stage1.schedule.per_step: read by the cosine schedule or a warm-up only (this stage's schedule is "
         "multistep, no warm-up)");
  CHECK(err({"stage1.schedule.warmup_epochs=2", "stage1.schedule.per_step=true"}).empty());  // a per-step warm-up
  starts({"stage1.bn_mode=train"}, "stage1.bn_mode: method joint does not freeze the backbone (bn_mode is for those "
                                   "that do)");
  starts({"stage2.method=crt", "stage2.taus=[1]"}, "stage2.taus: a key of method tau_norm, not of crt");
  starts({"stage2.method=tau_norm", "stage2.loss.name=ce"}, "stage2.loss.name: method tau_norm takes no loss");
  starts({"stage1.load=last"}, "stage1.load: the first stage starts from the built model (use model.init_from)");
  starts({"stage1.loss.beta=0.99"}, "stage1.loss.beta: the loss ce does not read it (it reads weight, train_rule)");
  CHECK_NOTHROW(resolve({"stage1.loss.train_rule=Reweight", "stage1.loss.beta=0.99"}));
  // stages: a method for every stage after the first, no gaps, none ends them
  CHECK(err({"stage2.epochs=3"}).find("stage2: no method") == 0);
  CHECK(err({"stage1.method=crt"}) ==
        "stage1.method crt starts from trained weights: give model.init_from (a checkpoint), or put a training stage "
        "before it");
  CHECK_NOTHROW(resolve({"stage1.method=crt", "model.init_from=pretrained.safetensors"}));
  CHECK(err({"stage3.method=crt"}) == "stage2 is missing: stages are numbered stage1, stage2, ... without a gap");
  CHECK(err({"stage2.method=none", "stage3.method=crt"}).find("stage3: an earlier stage has method none") == 0);
  std::string p = write_tmp("two_stage.json", R"({"stage2": {"method": "crt", "epochs": 4, "loss": {"name": "ce"}}})");
  Json one = resolve_config(p, {"stage2.method=none"}, false);
  CHECK_FALSE(one.contains("stage2"));
  CHECK(error_of([&] { resolve_config("", {"stage2.method=bogus"}, false); }).find("'bogus' is not one of joint") !=
        std::string::npos);
  // a section replaced whole on the command line: the file's gcl keys go with the old section
  std::string g = write_tmp("gcl.json", R"({"stage1": {"loss": {"name": "gcl", "s": 30, "noise_mul": 0.5}}})");
  CHECK(error_of([&] { resolve_config(g, {"stage1.loss.name=ce"}, false); }).find(g + ": stage1.loss.s: the loss ce") == 0);
  // a key the --set gave is the --set's: no file named
  // a section the --set replaced whole: its keys are the --set's
  CHECK(error_of([&] { resolve_config(g, {"stage1.loss={\"name\": \"ce\", \"s\": 30}"}, false); })
            .find("stage1.loss.s: the loss ce") == 0);
  std::string g2 = write_tmp("gcl2.json", R"({"stage1": {"loss": {"name": "gcl"}}})");
  CHECK(error_of([&] { resolve_config(g2, {"stage1.loss.name=ce", "stage1.loss.noise_mul=1"}, false); })
            .find("stage1.loss.noise_mul: the loss ce") == 0);
  // a check across keys names the file when the file gave one of them and no --set touched any
  std::string w = write_tmp("warm.json", R"({"stage1": {"epochs": 4, "schedule": {"warmup_epochs": 5}}})");
  CHECK(error_of([&] { resolve_config(w, {}, false); }) ==
        w + ": stage1.schedule.warmup_epochs (5) exceeds stage1.epochs (4)");
  CHECK(error_of([&] { resolve_config(w, {"stage1.epochs=3"}, false); }) ==
        "stage1.schedule.warmup_epochs (5) exceeds stage1.epochs (3)");
  std::string mo = write_tmp("momentum.json", R"({"stage1": {"optim": {"momentum": 1}}})");
  CHECK(error_of([&] { resolve_config(mo, {}, false); }).find(mo + ": stage1.optim.momentum 1.0 must be below 1") == 0);
  CHECK(error_of([&] { resolve_config("", {"stage1.optim.momentum=1"}, false); })
            .find("stage1.optim.momentum 1.0 must be below 1") == 0);
  CHECK(error_of([&] { resolve_config(mo, {"stage1.optim={\"momentum\": 1}"}, false); })
            .find("stage1.optim.momentum 1.0 must be below 1") == 0);
  // a --set touched one of the keys: no file named, though the file gave the other
  std::string ep = write_tmp("epochs.json", R"({"stage1": {"epochs": 4}})");
  CHECK(error_of([&] { resolve_config(ep, {"stage1.schedule.warmup_epochs=5"}, false); }) ==
        "stage1.schedule.warmup_epochs (5) exceeds stage1.epochs (4)");
  // the heads across stages: the file's method against a --set model.head is the --set's; the file's alone, its
  std::string lws = write_tmp("lws.json", R"({"model": {"head": "cosine"}, "stage2": {"method": "lws"}})");
  CHECK(error_of([&] { resolve_config(lws, {}, false); })
            .find(lws + ": stage2.method lws: starts from a classifier head") == 0);
  std::string lws2 = write_tmp("lws2.json", R"({"stage2": {"method": "lws"}})");
  CHECK(error_of([&] { resolve_config(lws2, {"model.head=cosine"}, false); })
            .find("stage2.method lws: starts from a classifier head") == 0);
  std::string dhb = write_tmp("dhb.json", R"({"stage1": {"optim": {"decay_head_bias": false}}})");
  CHECK(error_of([&] { resolve_config(dhb, {"model.head=cosine"}, false); })
            .find("stage1.optim.decay_head_bias false: the stage trains head cosine") == 0);
  Json ce = resolve_config(g, {"stage1.loss={\"name\": \"ce\"}"}, false);
  CHECK(ce["stage1"]["loss"] == Json::parse(R"({"name": "ce", "weight": [], "train_rule": "None"})"));
  Json st2 = resolve_config(p, {"stage2={\"method\": \"lws\"}"}, false);
  CHECK(st2["stage2"]["epochs"] == 5);  // lws's default: crt's epochs 4 went with the old section
  CHECK(error_of([&] { resolve_config("", {"stage1.loss=3"}, false); }) ==
        "--set stage1.loss: a section takes a JSON object, got 3");
  // an object with a syntax error: the parser's error and its column, not "takes a JSON object"
  CHECK(error_of([&] { resolve_config("", {"stage1={\"method\": \"joint\",}"}, false); })
            .find("--set stage1:1:20: invalid JSON (syntax error") == 0);
  CHECK(error_of([&] { resolve_config("", {"stage1.loss={\"sx\": 1}"}, false); }) ==
        "--set: unknown key 'stage1.loss.sx' (did you mean 'stage1.loss.s'?)");
}

TEST_CASE("three stages, each with its own sampler and schedule; resolving twice changes nothing") {
  Json c = resolve_config("", {"stage1.epochs=3", "stage2.method=crt", "stage2.sampler.name=sqrt",
                               "stage3.method=lws", "stage3.schedule.kind=constant", "stage3.load=last"},
                          false);
  RunConfig rc = parse_run_config(c);
  REQUIRE(rc.stages.size() == 3);
  CHECK(rc.stages[1].sampler.kind == data::SamplerKind::SquareRoot);
  CHECK(rc.stages[2].sampler.kind == data::SamplerKind::ClassAware);
  CHECK(rc.stages[2].schedule.kind == ScheduleKind::Constant);
  CHECK(rc.stages[2].load.kind == LoadFrom::Last);
  CHECK(rc.stages[1].load.kind == LoadFrom::Best);
  Json doc = Json::object();
  merge_config(doc, c, "config.json");
  CHECK(expand_config(doc) == c);
  // the stages sit after the model section
  std::vector<std::string> keys;
  for (auto it = c.begin(); it != c.end(); ++it) keys.push_back(it.key());
  auto at = [&](const std::string& k) { return std::find(keys.begin(), keys.end(), k) - keys.begin(); };
  CHECK(at("stage1") == at("model") + 1);
  CHECK(at("stage3") == at("model") + 3);
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
  CHECK(resolve_config(p, {"name=run_a"}, false)["name"] == "run_a");
  // a string in double quotes is a JSON string (its escapes read); other text is taken as it is
  CHECK(resolve_config(p, {"data.root=\"/d/a\\\"b\""}, false)["data"]["root"] == "/d/a\"b");
  CHECK(resolve_config(p, {"data.root=\"/d/x\\y\""}, false)["data"]["root"] == "/d/x\\y");   // (\y: no JSON escape)
  CHECK(resolve_config(p, {"data.root=/d/a\\\"b"}, false)["data"]["root"] == "/d/a\\\"b");
  CHECK(resolve_config(p, {"name=run_a", "name="}, false)["name"] == "tailor_cfg_order");  // "": the stem again
  CHECK(resolve_config("", {"name="}, false)["name"] == "default");
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
  // a key twice in one object (JSON parsers keep the last silently), a number beyond double's range
  p = write_tmp("twice.json", R"({"stage1": {"optim": {"lr": 0.1, "momentum": 0.9, "lr": 0.2}}, "seed": 1})");
  CHECK(error_of([&] { load_config_file(p); }) ==
        p + ": key stage1.optim.lr is given twice (JSON would keep only the last); remove one");
  p = write_tmp("twice_top.json", R"({"seed": 1, "stage1": {"epochs": 2}, "stage2": {"epochs": 2}, "seed": 2})");
  CHECK(error_of([&] { load_config_file(p); }) == p + ": key seed is given twice (JSON would keep only the last); "
                                                      "remove one");
  p = write_tmp("same_key_apart.json", R"({"stage1": {"epochs": 2}, "stage2": {"epochs": 2}})");
  CHECK(load_config_file(p)["stage2"]["epochs"] == 2);  // the same key in two objects is fine
  p = write_tmp("huge.json", R"({"stage1": {"optim": {"lr": 1e400}}})");
  e = error_of([&] { load_config_file(p); });
  CHECK(e.find(p + ": invalid JSON (number overflow") == 0);
}

TEST_CASE("what changed between two configs, named for a refused resume") {
  Json a = resolve_config("", {}, true);
  Json b = resolve_config("", {"threads=2", "stage1.batch_size=32"}, true);
  CHECK(config_differences(a, b) == "threads 0 -> 2, stage1.batch_size 128 -> 32");
  CHECK(config_differences(a, a).empty());
  Json root_moved = resolve_config("", {"data.root=/elsewhere"}, true);  // not part of the identity
  CHECK(config_differences(a, root_moved).empty());
}

TEST_CASE("unknown keys are errors with a suggestion") {
  Json cfg = Json::object();
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
  Json cfg = Json::object();
  auto bad = [&](const char* text) { return error_of([&] { merge_config(cfg, Json::parse(text), "f.json"); }); };
  CHECK(bad(R"({"stage1": {"epochs": 0}})") == "f.json: stage1.epochs: value 0 out of range [1, 100000]");
  CHECK(bad(R"({"stage1": {"epochs": 1000000}})") == "f.json: stage1.epochs: value 1000000 out of range [1, 100000]");
  CHECK(bad(R"({"stage1": {"epochs": 2.5}})") == "f.json: stage1.epochs: expects an integer, got 2.5");
  CHECK(bad(R"({"stage1": {"optim": {"lr": "fast"}}})") == "f.json: stage1.optim.lr: expects a number, got \"fast\"");
  CHECK(bad(R"({"stage1": {"optim": {"momentum": 1.5}}})") ==
        "f.json: stage1.optim.momentum: value 1.5 out of range [0, 1]");
  CHECK(bad(R"({"model": {"arch": "resnet18"}})") ==
        "f.json: model.arch: 'resnet18' is not one of resnet10 | resnet32 | resnet50 | resnet152 | resnext50_32x4d");
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
  e = error_of([] { resolve_config("", {"model.head=normed", "stage2.method=lws"}, false); });
  CHECK(e.find("stage2.method lws: starts from a classifier head linear, and the model it would get has head "
               "normed (model.head)") != std::string::npos);
  e = error_of([] { resolve_config("", {"data.dataset=cifar10"}, false); });
  CHECK(e.find("data.root is required for data.dataset cifar10") != std::string::npos);
  e = error_of([] { resolve_config("", {"stage1.schedule.milestones=[1,2]", "stage1.schedule.factors=[0.1]"}, false); });
  CHECK(e.find("one factor per milestone") != std::string::npos);
  e = error_of([] { resolve_config("", {"stage1.epochs=3", "stage1.schedule.warmup_epochs=5"}, false); });
  CHECK(e == "stage1.schedule.warmup_epochs (5) exceeds stage1.epochs (3)");
  e = error_of([] { resolve_config("", {"stage1.max_steps_per_epoch=0"}, false); });
  CHECK(e == "stage1.max_steps_per_epoch 0 would train no step: -1 (the whole epoch) or a cap of 1 or more");
  CHECK(resolve_config("", {"stage1.max_steps_per_epoch=1"}, false)["stage1"]["max_steps_per_epoch"] == 1);
  // values each key's range admits but that cannot work together or at their end of it
  e = error_of([] { resolve_config("", {"stage1.sampler.name=cben", "stage1.sampler.cben_beta_b=0.0001"}, false); });
  CHECK(e.find("stage1.sampler.cben_beta_a + cben_beta_b = 1.000000: the rarest class's beta would be 1 or more") == 0);
  e = error_of([] { resolve_config("", {"stage1.loss={\"name\": \"ce\", \"weight\": [1, 0, 2]}"}, false); });
  CHECK(e.find("stage1.loss.weight[1] = 0: every class needs a weight above 0") == 0);
  e = error_of([] { resolve_config("", {"data.test_per_class=0"}, false); });
  CHECK(e == "data.test_per_class 0 would evaluate on no image: -1 (all) or 1 or more");
  e = error_of([] { resolve_config("", {"data.imbalance.n_max=0"}, false); });
  CHECK(e == "data.imbalance.n_max 0 keeps no image: -1 (the data's own per-class count) or 1 or more");
  // --help-config shows a range's end as it is (0.999999999, not "1", which is refused)
  CHECK(describe_schema().find("effective_number sampler beta  [0, 0.999999999]") != std::string::npos);
}

TEST_CASE("shot groups: eval.groups counts (thresholds) or thirds (none); bad thresholds and unread keys refused") {
  Json cfg = resolve_config("", {}, false);
  CHECK(cfg["eval"]["groups"] == "counts");
  CHECK(cfg["eval"]["many_above"] == 100);
  CHECK(cfg["eval"]["few_below"] == 20);
  RunConfig rc = parse_run_config(resolve_config("", {"eval.many_above=500", "eval.few_below=100"}, false));
  CHECK(rc.shot_rule.kind == data::ShotRule::Kind::Counts);
  CHECK(rc.shot_rule.many_above == 500);
  CHECK(rc.shot_rule.few_below == 100);
  Json thirds = resolve_config("", {"eval.groups=thirds"}, false);
  CHECK_FALSE(thirds["eval"].contains("many_above"));
  CHECK_FALSE(thirds["eval"].contains("few_below"));
  CHECK(parse_run_config(thirds).shot_rule.kind == data::ShotRule::Kind::Thirds);
  Json doc = Json::object();  // config.json of a thirds run resolves to itself
  merge_config(doc, thirds, "config.json");
  CHECK(expand_config(doc) == thirds);
  auto e = error_of([] { resolve_config("", {"eval.groups=thirds", "eval.many_above=200"}, false); });
  CHECK(e.find("eval.many_above: read by eval.groups counts only (this run's is thirds)") == 0);
  e = error_of([] { resolve_config("", {"eval.many_above=50", "eval.few_below=52"}, false); });
  CHECK(e == "eval.few_below (52) must be <= eval.many_above + 1 (51): a class would be both many and few");
  CHECK_NOTHROW(resolve_config("", {"eval.many_above=50", "eval.few_below=51"}, false));  // no medium class
  e = error_of([] { resolve_config("", {"eval.groups=halves"}, false); });
  CHECK(e.find("'halves' is not one of counts | thirds") != std::string::npos);
  CHECK(describe_schema().find("eval.groups") != std::string::npos);
  // how the accuracy is grouped is not what is trained: the hash (a resume's check) leaves it out
  CHECK(config_hash(thirds) == config_hash(cfg));
}

TEST_CASE("the config hash is stable and tracks changes") {
  Json a = resolve_config("", {}, true), b = resolve_config("", {}, true);
  CHECK(config_hash(a) == config_hash(b));
  CHECK(config_hash(a).size() == 16);
  Json c = resolve_config("", {"seed=1"}, true);
  CHECK(config_hash(a) != config_hash(c));
  // a key added to the schema later, at its default, leaves the hash of an older run's config.json alone
  Json older = a;
  older["stage1"].erase("augment");
  CHECK(config_hash(older) == config_hash(a));
  CHECK(config_hash(resolve_config("", {"stage1.augment=mnist"}, true)) != config_hash(a));
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
    for (const std::string& w : schedule_warnings(parse_run_config(cfg))) CHECK_MESSAGE(false, w);  // none warns
    for (const std::string& w : head_loss_warnings(parse_run_config(cfg))) CHECK_MESSAGE(false, w);
    ++n;
  }
  CHECK(n >= 25);
}

TEST_CASE("a resolved config resolves to itself (config.json of every recipe)") {
  for (auto& e : fs::recursive_directory_iterator(std::string(TAILOR_SOURCE_DIR) + "/recipes")) {
    if (e.path().extension() != ".json") continue;
    CAPTURE(e.path().string());
    Json cfg = resolve_config(e.path().string(), {}, false), doc = Json::object();
    merge_config(doc, cfg, "config.json");
    CHECK(expand_config(doc) == cfg);
    CHECK(config_hash(expand_config(doc)) == config_hash(cfg));
  }
}

TEST_CASE("the method registry: unique names, consistent specs, a factory for each") {
  std::set<std::string> names;
  for (auto& m : method_specs()) {
    CAPTURE(m.name);
    CHECK(names.insert(m.name).second);
    CHECK(!m.summary.empty());
    CHECK(m.make != nullptr);
    CHECK((m.trains || (!m.frozen_backbone && !m.takes_loss)));  // registry.cpp refuses it at start-up too
    for (auto& k : m.keys) CHECK(find_config_key("stage2." + k.path) != nullptr);
  }
  CHECK(names.count("joint"));
  CHECK(error_of([] { method_spec("cRT"); }).find("unknown method 'cRT' (known: joint, crt") == 0);
}

TEST_CASE("method checks run before any stage trains: balms and ssd_contrastive refuse mixup, a MoCo queue below the batch") {
  auto check_stage2 = [](const std::string& stage2) {
    return error_of([&] {
      const RunConfig rc = parse_run_config(resolve_config("", {"model.head=linear", "stage2=" + stage2}, false));
      for (const StageConfig& s : rc.stages)
        if (auto& check = method_spec(s.method).check) check(s);
    });
  };
  CHECK(check_stage2(R"({"method": "balms", "mixup_alpha": 1})") ==
        "stage2.mixup_alpha: balms's meta step differentiates the loss of the batch's own labels: no mixup");
  CHECK(check_stage2(R"({"method": "ssd_contrastive", "mixup_alpha": 0.5})") ==
        "stage2.mixup_alpha: ssd_contrastive compares two views of each image: no mixup");
  CHECK(check_stage2(R"({"method": "ssd_contrastive", "batch_size": 32, "moco": {"queue_size": 16}})") ==
        "stage2.moco.queue_size 16 is smaller than the batch (32): each step enqueues a whole batch of keys");
  CHECK(check_stage2(R"({"method": "ssd_contrastive", "batch_size": 32, "moco": {"queue_size": 32}})").empty());
  CHECK(check_stage2(R"({"method": "balms"})").empty());
}

TEST_CASE("a loss on a head it does not expect is warned of (the head followed through the stages)") {
  auto warnings = [](std::vector<std::string> sets) {
    return head_loss_warnings(parse_run_config(resolve_config("", sets, false)));
  };
  std::vector<std::string> w = warnings({"model.head=linear", "stage1.loss={\"name\": \"ldam\"}"});
  REQUIRE(w.size() == 1);
  CHECK(w[0] == "stage1.loss ldam: the stage trains head linear, whose logits are not cosines; this loss takes the "
                "cosines of a normed head (the recipes use model.head normed)");
  // a head with its own scale: loss.s would scale it twice
  w = warnings({"model.head=camc", "stage1.method=camc", "stage1.loss={\"name\": \"gcl\"}"});
  REQUIRE(w.size() == 1);
  CHECK(w[0] == "stage1.loss gcl: the stage trains head camc, whose logits are cosines already times its own scale: "
                "loss.s scales them again; this loss takes the cosines of a normed head (the recipes use model.head "
                "normed)");
  // plain cross-entropy on raw cosines
  w = warnings({"model.head=normed", "stage1.loss={\"name\": \"ce\"}"});
  REQUIRE(w.size() == 1);
  CHECK(w[0].find("stage1.loss ce: the stage trains head normed, whose logits are cosines in [-1, 1] with no scale") ==
        0);
  // stage 2's cRT trains the linear head it makes: CE there is what the recipes do
  CHECK(warnings({"model.head=normed", "stage1.loss={\"name\": \"ldam\"}", "stage2={\"method\": \"crt\"}"}).empty());
  CHECK(warnings({"model.head=linear", "stage1.loss={\"name\": \"ce\"}", "stage2={\"method\": \"none\"}"}).empty());
}

TEST_CASE("adversarial values: integers beyond int64, deep nesting, duplicate keys in --set, names, unread keys") {
  auto err = [](std::vector<std::string> sets) { return error_of([&] { resolve_config("", sets, false); }); };
  // an unsigned integer beyond int64 is out of range, shown as given (it wrapped to -1 when read)
  CHECK(err({"data.imbalance.n_max=18446744073709551615"}) ==
        "--set: data.imbalance.n_max: value 18446744073709551615 out of range [-1, 1000000000]");
  CHECK(err({"seed=18446744073709551615"}).find("value 18446744073709551615 out of range") != std::string::npos);
  // a recursive JSON parser would overflow the stack: refused at a depth no config has
  CHECK(err({"stage1.epochs=" + std::string(100000, '[') + std::string(100000, ']')}) ==
        "--set stage1.epochs: JSON nested deeper than 64 levels (a config has a few)");
  CHECK(error_of([] { resolve_config(write_tmp("deep.json", "{\"data\": " + std::string(5000, '[') +
                                                                 std::string(5000, ']') + "}"),
                                     {}, false); })
            .find("deep.json: JSON nested deeper than 64 levels") != std::string::npos);
  // a key twice inside a --set section, as in a file: refused; an empty section is the defaults
  CHECK(err({"stage1.optim={\"lr\": 0.1, \"lr\": 0.2}"}) ==
        "--set stage1.optim: key lr is given twice (JSON would keep only the last); remove one");
  CHECK(resolve_config("", {"stage1.loss={}"}, false)["stage1"]["loss"]["name"] == "ce");
  // a value in a message is cut to 80 characters
  CHECK(err({"stage1.epochs=\"" + std::string(500, 'x') + "\""}).size() < 200);
  // the run's name: one folder name, from the file's name only when that gives one
  const fs::path dot = fs::temp_directory_path() / "tailor_cfg_dir";
  fs::create_directories(dot);
  std::ofstream((dot / ".json").string()) << "{}";
  CHECK(error_of([&] { resolve_config((dot / ".json").string(), {}, false); })
            .find(".json: the run's name comes from the config file's name, and '.json' gives none") !=
        std::string::npos);
  CHECK(err({"name=a\tb"}).find("a run name is one folder name") != std::string::npos);
  CHECK(err({"name=" + std::string(201, 'n')}).find("at most 200 bytes") != std::string::npos);
  // keys that nothing would read with the values around them: refused, naming the reason
  CHECK(err({"data.format=bin"}) == "data.format: read by data.dataset cifar10 / cifar100 only (this run's is fashion_mnist)");
  CHECK(err({"guard.max_skips=5"}).rfind("guard.max_skips: read under guard.nonfinite skip only", 0) == 0);
  CHECK_NOTHROW(resolve_config("", {"guard.nonfinite=skip", "guard.max_skips=5"}, false));
  CHECK(err({"stage1.schedule.warmup_epochs=0", "stage1.schedule.warmup_from=0.5"})
            .rfind("stage1.schedule.warmup_from: read with schedule.warmup_epochs > 0 only", 0) == 0);
  CHECK(err({"stage1.schedule.kind=multistep", "stage1.schedule.milestones=[1]", "stage1.schedule.factors=[0.5]",
             "stage1.schedule.gamma=0.5"})
            .rfind("stage1.schedule.gamma: not read when schedule.factors are given", 0) == 0);
  CHECK_NOTHROW(resolve_config("", {"stage1.schedule.kind=multistep", "stage1.schedule.milestones=[1, 2]",
                                    "stage1.schedule.factors=[0.01, 0.0001]"},
                               false));  // factors alone (the default gamma): fine
  // a bias kept out of weight decay needs the stage to train a Linear head: refused before stage 1 trains
  CHECK(err({"model.head=linear", "stage2.method=lws", "stage2.optim.decay_head_bias=false"}) ==
        "stage2.optim.decay_head_bias false: the stage trains head lws (made by lws), not a Linear with bias");
  CHECK(err({"model.head=normed", "stage2.method=gcl_retrain", "stage2.optim.decay_head_bias=false"})
            .rfind("stage2.optim.decay_head_bias false: the stage trains head normed (", 0) == 0);
  CHECK_NOTHROW(resolve_config("", {"model.head=normed", "stage2.method=crt", "stage2.optim.decay_head_bias=false"},
                               false));  // cRT's new classifier is a Linear
  CHECK(err({"stage1.optim.nesterov=true", "stage1.optim.dampening=0.5"})
            .rfind("stage1.optim.nesterov true needs a momentum above 0 and dampening 0", 0) == 0);
  CHECK(err({"cuda_graphs=true"}) == "cuda_graphs true: CUDA graphs need device cuda, got cpu");
  // SGD settings that cannot train: momentum 1 (the buffer sums every gradient), dampening 1 (none after the first
  // enters), dampening without momentum (not read)
  CHECK(err({"stage1.optim.momentum=1"}).rfind("stage1.optim.momentum 1.0 must be below 1", 0) == 0);
  CHECK(err({"stage1.optim.momentum=0.99999999"}).rfind("stage1.optim.momentum 0.99999999 must be below 1", 0) == 0);
  CHECK(err({"stage1.optim.dampening=1"}).rfind("stage1.optim.dampening 1.0 lets no gradient after the first", 0) == 0);
  CHECK(err({"stage1.optim.momentum=0", "stage1.optim.dampening=0.1"}) ==
        "stage1.optim.dampening: read with a momentum above 0 only (this stage's momentum is 0)");
  CHECK_NOTHROW(resolve_config("", {"stage1.optim.momentum=0.99", "stage1.optim.dampening=0.5"}, false));
  CHECK_NOTHROW(resolve_config("", {"stage1.optim.momentum=0"}, false));
  // a number a double cannot hold: 1e400 fails in the parser; 1e-400 would read as 0 (refused, as in files)
  CHECK(err({"stage1.optim.lr=1e-400"}) ==
        "--set stage1.optim.lr: the number 1e-400 is below float32's normal range (1.2e-38), which most settings "
        "are read in: it would be 0");
  CHECK(err({"stage1.optim.lr=1e-50"}).find("it would be 0") != std::string::npos);
  CHECK(err({"stage1.optim.lr=1e-40"}).find("it would be a rounded subnormal") != std::string::npos);
  CHECK(err({"stage1={\"optim\": {\"lr\": -5e-999}}"}).find("the number -5e-999 is below") != std::string::npos);
  CHECK_NOTHROW(resolve_config("", {"stage1.optim.lr=0.0e-400", "stage1.optim.weight_decay=1e-30"}, false));
  // a comma list with an empty item (a trailing comma) is refused; an empty text is the empty list
  CHECK(err({"stage2.method=cbd", "stage2.cbd.teachers=stage1,"}) ==
        "--set stage2.cbd.teachers: an empty item in 'stage1,' (items are separated by commas; the empty list is "
        "'stage2.cbd.teachers=')");
}

TEST_CASE("an imbalance ratio below 1 is named as the references' imb_factor, with the ratio it stands for") {
  CHECK(error_of([] { resolve_config("", {"data.imbalance.ratio=0.01"}, false); }) ==
        "--set: data.imbalance.ratio: value 0.01 out of range [1, 1000000]: this looks like imb_factor = 1 / ratio; "
        "the ratio is n_max / n_min, here 100");
  CHECK(error_of([] { resolve_config("", {"data.imbalance.ratio=-1"}, false); }) ==
        "--set: data.imbalance.ratio: value -1 out of range [1, 1000000]");
}
