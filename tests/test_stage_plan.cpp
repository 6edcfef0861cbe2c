// The run's stages checked before any trains (train/stage_plan.h): what a stage's setup would refuse only
// when it starts — after the stages before it trained — is refused at the start instead, naming the stage:
// the classifier head a method cannot start from (followed through the stages, from the config and from the
// load files), a load file or a teacher of other classes, an augmentation the data cannot take, a balms meta
// batch the ranks or the meta set cannot give, an EQL threshold that marks no class (or every class) rare.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "error_of.h"
#include "engine/rng.h"
#include "layers/basic.h"
#include "layers/heads.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/run_data.h"
#include "train/run_model.h"
#include "train/stage_plan.h"
#include "train/trainer.h"
#include "train_cli.h"

using namespace tailor;
namespace fs = std::filesystem;

namespace {

const fs::path& root() {
  static fs::path r = train_cli::temp_folder("tailor_test_stage_plan_");
  return r;
}

// Fashion-MNIST-LT, 10 classes, a few images each; stage 1 joint CE (one epoch of 2 steps), `extra` adds the
// stages under test.
Json config(const std::string& name, std::vector<std::string> extra) {
  std::vector<std::string> sets = {"name=" + name,
                                   "runs_dir=" + root().string(),
                                   "threads=1",
                                   "data.workers=0",
                                   "data.imbalance.n_max=20",
                                   "data.imbalance.ratio=10",
                                   "data.test_per_class=2",
                                   "stage1.epochs=1",
                                   "stage1.batch_size=16",
                                   "stage1.max_steps_per_epoch=2",
                                   "stage1.loss.name=ce",
                                   "eval.every_epochs=0",
                                   "model.head=linear"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return resolve_config("", sets, false);
}


bool is_config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError&) {
    return true;
  } catch (const std::exception&) {
  }
  return false;
}

// Trains `cfg` (its own data) and returns the error; the run must have failed before anything trained: no run
// directory left.
std::string refused_at_start(const Json& cfg, bool* config_error = nullptr) {
  const fs::path dir = root() / cfg.at("name").get<std::string>();
  std::ostringstream log;
  TrainFlags f;
  f.report = false;
  auto run = [&] { train_run(cfg, dir.string(), f, log); };
  const std::string e = error_of(run);
  if (config_error) *config_error = is_config_error(run);
  const std::string left = "a refused start leaves no run directory: " + dir.string(), out = log.str();
  CHECK_MESSAGE(!fs::exists(dir), left);
  CHECK_MESSAGE(out.find("epoch") == std::string::npos, out);  // nothing trained
  return e;
}

// A tailor checkpoint of a resnet32 with `classes` classes and `head`, on 1-channel images.
std::string checkpoint(const std::string& name, int classes, const std::string& head = "linear") {
  Rng rng(5);
  ModelConfig m;
  m.arch = "resnet32";
  m.head = head;
  auto net = build_model(m, classes, 1, rng);
  const std::string p = (root() / (name + ".safetensors")).string();
  save_model(p, *net);
  return p;
}

}  // namespace

TEST_CASE("the heads are followed through the stages: a method that cannot start from the head it gets is refused") {
  // LWS after CBD: the student's head is a projected cosine classifier, no Linear to scale
  std::string e = error_of([] { config("h1", {"stage2.method=cbd", "stage3.method=lws"}); });
  CHECK(e == "stage3.method lws: starts from a classifier head linear, and the model it would get has head "
             "projected_cosine (left by stage2, cbd); change stage2 or choose another method");
  e = error_of([] { config("h2", {"stage2.method=lws", "stage3.method=tau_norm"}); });
  CHECK(e == "stage3.method tau_norm: starts from a classifier head linear or tau_norm, and the model it would get "
             "has head lws (left by stage2, lws); change stage2 or choose another method");
  e = error_of([] { config("h3", {"stage1.method=camc"}); });
  CHECK(e == "stage1.method camc: starts from a classifier head camc, and the model it would get has head linear "
             "(model.head); set model.head or choose another method");
  e = error_of([] { config("h4", {"stage2.method=ssd_contrastive", "stage2.load=fresh", "model.head=normed"}); });
  CHECK(e.find("stage2.method ssd_contrastive: starts from a classifier head linear or tau_norm, and the model it "
               "would get has head normed (stage2.load fresh: model.head)") == 0);
  CHECK(is_config_error([] { config("h5", {"stage2.method=ncm", "stage3.method=tau_norm"}); }));
  CHECK(is_config_error([] { config("h6", {"stage2.method=mislas", "stage3.method=lws"}); }));
  CHECK(is_config_error([] { config("h7", {"stage2.method=tau_norm", "stage3.method=lws"}); }));  // no bias left
  // a method training the head it gets cannot train NCM's class means (no parameters)
  e = error_of([] { config("h8", {"stage2.method=ncm", "stage3.method=joint"}); });
  CHECK(e.find("stage3.method joint: starts from a classifier head linear, normed, cosine, camc, lws, tau_norm, "
               "projected_cosine or two_heads, and the model it would get has head ncm (left by stage2, ncm)") == 0);
  CHECK(is_config_error([] { config("h9", {"stage2.method=ncm", "stage3.method=gcl_retrain"}); }));

  // what works: cRT, tau-norm and balms leave Linear heads; a fresh stage starts from model.head again
  CHECK_NOTHROW(config("ok1", {"stage2.method=crt", "stage3.method=lws", "stage4.method=crt", "stage5.method=tau_norm"}));
  CHECK_NOTHROW(config("ok2", {"stage2.method=lws", "stage3.method=crt", "stage4.method=mislas"}));
  CHECK_NOTHROW(config("ok3", {"stage2.method=cbd", "stage3.method=balms", "stage4.method=tau_norm"}));
  CHECK_NOTHROW(config("ok4", {"stage2.method=lws", "stage3.method=joint", "stage3.load=fresh", "stage4.method=lws"}));
  CHECK_NOTHROW(config("ok5", {"stage1.method=camc", "model.head=camc", "stage2.method=joint"}));
  // what the stages leave counts, not model.head: balms leaves a linear head; cRT works on any backbone
  CHECK_NOTHROW(config("ok7", {"model.head=normed", "stage2.method=balms", "stage3.method=lws"}));
  CHECK_NOTHROW(config("ok8", {"model.head=camc", "stage1.method=camc", "stage2.method=crt", "stage3.method=tau_norm"}));
  CHECK_NOTHROW(config("ok9", {"stage2.method=ncm", "stage3.method=crt", "stage4.method=mislas"}));
  // a load file's head is not known from the config: nothing is checked until a stage sets a known one
  CHECK_NOTHROW(config("ok6", {"stage2.method=lws", "stage2.load=/nonexistent.safetensors", "stage3.method=crt"}));
}

TEST_CASE("check_stage_heads asks for a load file's head and checks the stages after it") {
  Json cfg = config("f1", {"stage2.method=joint", "stage2.load=some.safetensors", "stage3.method=tau_norm"});
  std::vector<std::string> asked;
  auto file_head = [&](const std::string& head) {
    return [&, head](const std::string& key, const std::string& path, const std::string& before) {
      asked.push_back(key + " " + path + " " + before);
      return head;
    };
  };
  CHECK_NOTHROW(check_stage_heads(cfg, file_head("linear")));
  CHECK(asked == std::vector<std::string>{"stage2 some.safetensors linear"});
  const std::string e = error_of([&] { check_stage_heads(cfg, file_head("ncm")); });
  CHECK(e == "stage2.method joint: starts from a classifier head linear, normed, cosine, camc, lws, tau_norm, "
             "projected_cosine or two_heads, and the model it would get has head ncm (the checkpoint stage2.load names); "
             "load another checkpoint or choose another method");
  const std::string e3 = error_of([&] { check_stage_heads(cfg, file_head("lws")); });
  CHECK(e3 == "stage3.method tau_norm: starts from a classifier head linear or tau_norm, and the model it would get "
              "has head lws (the checkpoint stage2.load names); load another checkpoint or choose another method");
}

TEST_CASE("load and teacher files are read and checked against the run before stage 1 trains") {
  if (!train_cli::have_fashion_mnist()) return;  // (the data: Debian's fashion-mnist package)
  const std::string c4 = checkpoint("c4", 4), lws = checkpoint("lws10", 10);
  {  // a load file of another class count: a config error, before stage 1 (it was found after stage 1 trained)
    bool config_error = false;
    CHECK(refused_at_start(config("load4", {"stage2.method=crt", "stage2.load=" + c4}), &config_error) ==
          "stage2.load: " + c4 + ": a checkpoint of resnet32, 4 classes, 1 input channels; "
                                   "this run's model is resnet32, 10 classes, 1 input channels");
    CHECK(config_error);  // (exit 2)
  }
  {  // weights without metadata of another shape: the load itself is tried, naming the file and the tensor
    Rng rng(1);
    auto net = make_resnet("resnet32", 4, 1, HeadKind::Linear, rng);
    const std::string bare = (root() / "bare.safetensors").string();
    save_weights(bare, *net);
    const std::string e = refused_at_start(config("bare", {"stage2.method=crt", "stage2.load=" + bare}));
    CHECK(e.find("stage2.load: " + bare + " does not match the model") == 0);
    CHECK(e.find("linear.weight") != std::string::npos);
  }
  {  // a damaged load file: the reader's error, before stage 1
    const std::string damaged = (root() / "damaged.safetensors").string();
    std::ofstream(damaged) << "not a checkpoint";
    CHECK(refused_at_start(config("damaged", {"stage2.method=crt", "stage2.load=" + damaged}))
              .find("stage2.load: " + damaged + ": ") == 0);
  }
  // a file's head: an LWS after a file with an LWS head is refused (a Linear head file is accepted, below)
  {
    Rng rng(2);
    ModelConfig m;
    m.arch = "resnet32";
    m.head = "linear";
    auto net = build_model(m, 10, 1, rng);
    auto lin = std::dynamic_pointer_cast<Linear>(net->head());
    net->set_head(std::make_shared<LWSClassifier>(*lin));
    save_model(lws, *net);
    CHECK(refused_at_start(config("lwsfile", {"stage2.method=lws", "stage2.load=" + lws})) ==
          "stage2.method lws: starts from a classifier head linear, and the model it would get has head lws (the "
          "checkpoint stage2.load names); load another checkpoint or choose another method");
  }
  // teachers of another class count: kd, cbd (one of its teachers), ssd_distill
  CHECK(refused_at_start(config("kd4", {"stage2.method=kd", "stage2.kd.teacher=" + c4})) ==
        "stage2.kd.teacher " + c4 + ": a model of 4 classes and 1 input channels; the run's data has 10 classes and 1 "
        "channels");
  CHECK(refused_at_start(config("cbd4", {"stage2.method=cbd", "stage2.cbd.teachers=[\"stage1\", \"" + c4 + "\"]"}))
            .find("stage2.cbd.teachers " + c4 + ": a model of 4 classes") == 0);
  CHECK(refused_at_start(config("ssd4", {"stage2.method=ssd_distill", "stage2.ssd.teacher=" + c4}))
            .find("stage2.ssd.teacher " + c4 + ": a model of 4 classes") == 0);
  // weights without tailor's metadata are no teacher (its architecture and head come from the file)
  Rng rng(3);
  auto net = make_resnet("resnet32", 10, 1, HeadKind::Linear, rng);
  const std::string bare10 = (root() / "bare10.safetensors").string();
  save_weights(bare10, *net);
  CHECK(refused_at_start(config("kdbare", {"stage2.method=kd", "stage2.kd.teacher=" + bare10})) ==
        "stage2.kd.teacher " + bare10 + ": no 'arch' in the metadata: a teacher is a checkpoint tailor wrote");
}

TEST_CASE("a stage's augmentation and a balms meta batch that the data cannot take are refused before stage 1") {
  if (!train_cli::have_fashion_mnist()) return;
  // cifar_simclr's colour distortion on 1-channel images (found when stage 3 of cbd_ens started)
  std::string e = refused_at_start(config("aug", {"stage2.method=joint", "stage2.augment=cifar_simclr"}));
  CHECK(e == "stage2.augment cifar_simclr: does not fit 1-channel 28x28 fashion_mnist images (use mnist or none)");
  // balms: the validation split it was told to draw from is missing; the meta batch exceeds its draws
  e = refused_at_start(config("balmsval", {"stage2.method=balms", "stage2.balms.meta_set=val"}));
  CHECK(e == "stage2.balms.meta_set val: the data has no validation split");
  e = refused_at_start(config("balmsloss", {"stage2.method=balms", "stage2.loss.name=focal"}));
  CHECK(e.find("stage2 (balms): the loss focal takes no per-sample weights") == 0);
  // class weights of another count than the data's classes
  e = refused_at_start(config("weights", {"stage1.loss={\"name\": \"ce\", \"weight\": [1, 2]}"}));
  CHECK(e == "stage1.loss.weight: 2 class weights for 10 classes (one per class of the training data)");
  // softmax EQL whose threshold, with gamma 1, marks every class rare (loss 0): refused; no class rare (plain
  // CE, as on balanced data): said in the log, the run goes on
  bool config_error = false;
  e = refused_at_start(config("eql1", {"stage1.loss={\"name\": \"eql\", \"eql_lambda\": 0.5, \"eql_gamma\": 1}"}),
                       &config_error);
  CHECK(config_error);
  CHECK(e.rfind("stage1.loss.eql_lambda 0.5 marks every class rare (the commonest holds 0.", 0) == 0);
  CHECK(e.find("the loss would be 0; lower it to 0.") != std::string::npos);
  CHECK(e.find(" or below, or eql_gamma below 1") != std::string::npos);
  const Json eql0 = config("eql0", {"stage1.loss={\"name\": \"eql\"}"});
  RunData data = load_run_data(parse_data_config(eql0.at("data")), std::cout);
  std::ostringstream warnings;
  check_stage_plan(parse_run_config(eql0), data, 1, 1, &warnings);
  CHECK(warnings.str().rfind("warning: stage1.loss.eql_lambda 0.00177 marks no class rare (the rarest holds 0.0", 0) ==
        0);
  CHECK(warnings.str().find("the loss is plain cross-entropy") != std::string::npos);
}

TEST_CASE("teachers by stage or file (kd too), checked whole; a finished stage's files are not needed to resume") {
  if (!train_cli::have_fashion_mnist()) return;
  std::ostringstream log;
  TrainFlags f;
  f.report = false;
  // kd from an earlier stage, as cbd and ssd take theirs
  Json cfg = config("kd_stage", {"stage2.method=kd", "stage2.kd.teacher=stage1", "stage2.epochs=1", "stage2.max_steps_per_epoch=2"});
  CHECK(train_run(cfg, (root() / "kd_stage").string(), f, log).contains("top1"));
  CHECK(log.str().find("stage2 (kd): teacher stage1 = " + (root() / "kd_stage/checkpoints/stage1_last.safetensors").string() +
                       " (resnet32, head linear)") != std::string::npos);
  CHECK(refused_at_start(config("cbd_dup", {"stage2.method=cbd", "stage2.cbd.teachers=[\"stage1\", \"stage1\"]"})) ==
        "stage2.cbd.teachers: stage1 named twice");
  // a teacher whose metadata says 10 classes over a 4-class model's tensors: loaded whole before stage 1
  const std::string lie = (root() / "lie.safetensors").string();
  {
    Rng rng(4);
    auto net = make_resnet("resnet32", 4, 1, HeadKind::Linear, rng);
    save_weights(lie, *net, {{"arch", "resnet32"}, {"num_classes", "10"}, {"in_channels", "1"}, {"head", "linear"}});
  }
  const std::string e = refused_at_start(config("kd_lie", {"stage2.method=kd", "stage2.kd.teacher=" + lie}));
  CHECK(e.find("stage2.kd.teacher " + lie + ": " + lie + ": load_state_dict: shape mismatch") == 0);
  // model.init_from of another head: said as such (a config error), not as tensor names
  bool config_error = false;
  const std::string ncm_file = checkpoint("init_ncm", 10, "linear");
  {
    Rng rng(6);
    ModelConfig m;
    m.arch = "resnet32";
    m.head = "linear";
    auto net = build_model(m, 10, 1, rng);
    net->set_head(std::make_shared<NCMClassifier>(net->feature_dim(), 10, "cl2n", "l2"));
    save_model(ncm_file, *net);
  }
  CHECK(refused_at_start(config("init_ncm", {"model.init_from=" + ncm_file}), &config_error) ==
        "model.init_from " + ncm_file + ": a checkpoint with head ncm, and model.head is linear (model.init_allow_partial "
        "true takes the tensors that match, e.g. the backbone's; or start from it with a stage's load)");
  CHECK(config_error);

  // stage 2 distils from a file; stopped in stage 3, the file deleted: stage 2 has finished, the resume goes on
  const std::string teacher = (root() / "teacher_copy.safetensors").string();
  fs::copy_file(root() / "kd_stage/checkpoints/stage1_last.safetensors", teacher);
  cfg = config("resume_gone", {"stage2.method=kd", "stage2.kd.teacher=" + teacher, "stage2.epochs=1", "stage2.max_steps_per_epoch=2",
                               "stage3.method=joint", "stage3.epochs=2", "stage3.max_steps_per_epoch=2"});
  const std::string dir = (root() / "resume_gone").string();
  f.stop_after_s = 1e-9;  // stops at the first epoch end that is not a stage's last: stage 3's first
  Json stop = train_run(cfg, dir, f, log);
  REQUIRE(stop.value("stopped", false));
  CHECK(stop.at("stage") == 3);
  f.resume = true;
  fs::remove(teacher);
  f.stop_after_s = 0;
  CHECK(train_run(cfg, dir, f, log).contains("top1"));
}
