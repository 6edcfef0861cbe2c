// What `tailor train` does with its run directory and its config before training, on a small Fashion-MNIST-LT
// subset: a run name is one folder name; a folder that holds something other than a run is never written into
// (not even with --overwrite); --overwrite replaces the old run only after the new one got past its checks; a
// fresh run that fails early leaves nothing; a resume on an edited config.json names the changed keys; settings
// that cannot do what they say are warned about; --threads; keys the dataset would ignore are refused.
// Skipped (exit 77) when the Fashion-MNIST package is not installed.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_run.h"
#include "engine/version.h"
#include "train_cli.h"
#include "rundir/state.h"
#include "train/checkpoint.h"
#include "train/config.h"

namespace fs = std::filesystem;
using train_cli::slurp;

namespace {

const std::string& root() {
  static std::string r = train_cli::temp_folder("tailor_run_dir_");
  return r;
}

// One stage of a step or two: what these tests look at happens before and after training.
std::string quick(const std::string& name) {
  return train_cli::small_data(root() + "/runs", name) +
         " --set stage2.method=none --set stage1.epochs=1 --set stage1.max_steps_per_epoch=1 --set eval.every_epochs=0"
         " --no-report";
}

bool has(const Run& r, const std::string& text) { return r.out.find(text) != std::string::npos; }

// The run's training state document (the "state" metadata of its train_state.safetensors) changed by `edit`.
template <class Edit>
void edit_state(const fs::path& dir, Edit edit) {
  const std::string path = (dir / "checkpoints" / "train_state.safetensors").string();
  std::map<std::string, std::string> meta;
  const auto tensors = tailor::read_weights(path, &meta);
  tailor::Json state = tailor::Json::parse(meta.at("state"));
  edit(state);
  meta["state"] = state.dump();
  meta.erase("crc32");  // (save_tensors writes the new one)
  tailor::save_tensors(path, tensors, meta);
}

// The run's training state of another steps revision (0: without the key, as tailors before it wrote it); a
// train_images >= 0 replaces the state's.
void set_steps_revision(const fs::path& dir, int revision, int64_t train_images = -1) {
  edit_state(dir, [&](tailor::Json& state) {
    if (revision == 0)
      state.erase("steps_revision");
    else
      state["steps_revision"] = revision;
    if (train_images >= 0) state["train_images"] = train_images;
  });
}

}  // namespace

TEST_CASE("a run name is one folder name; a folder holding no run is never written into, --overwrite or not") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  for (const char* bad : {"../escape", "a/b", "..", "."}) {
    Run r = run("train " + quick(bad));
    CAPTURE(bad);
    CHECK(r.code == 2);
    CHECK_MESSAGE(has(r, "a run name is one folder name inside runs_dir"), r.out);
  }
  CHECK_FALSE(fs::exists(root() + "/escape"));
  const fs::path notes = root() + "/runs/my_notes";
  fs::create_directories(notes);
  std::ofstream(notes / "thesis.txt") << "three years of work\n";
  for (const char* flag : {"", " --overwrite"}) {
    Run r = run("train " + quick("my_notes") + flag);
    CHECK(r.code == 1);
    CHECK_MESSAGE(has(r, "run directory " + notes.string() + " is not empty and holds no tailor run (it has "
                         "'thesis.txt')"), r.out);
  }
  CHECK(slurp(notes / "thesis.txt") == "three years of work\n");
  CHECK(std::distance(fs::directory_iterator(notes), fs::directory_iterator()) == 1);
}

TEST_CASE("--overwrite replaces the old run only once the new one is past its checks; a failed start leaves nothing") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const fs::path keep = root() + "/runs/keep";
  Run r = run("train " + quick("keep"));
  REQUIRE_MESSAGE(r.code == 0, r.out);
  const std::string summary = slurp(keep / "summary.json");
  // a mistyped weights file: the new run fails, the old one is intact
  r = run("train " + quick("keep") + " --overwrite --init-from " + root() + "/no_such.safetensors");
  CHECK(r.code == 1);
  CHECK_MESSAGE(has(r, "model.init_from: file not found: " + root() + "/no_such.safetensors"), r.out);
  CHECK(slurp(keep / "summary.json") == summary);
  CHECK(fs::exists(keep / "checkpoints/stage1_last.safetensors"));
  // the same when the new run fails the check of its stages against the data (after the data is loaded)
  r = run("train " + quick("keep") + " --overwrite --set stage1.augment=cifar_simclr");
  CHECK(r.code == 2);
  CHECK_MESSAGE(has(r, "stage1.augment cifar_simclr: does not fit 1-channel"), r.out);
  CHECK(slurp(keep / "summary.json") == summary);
  CHECK(fs::exists(keep / "checkpoints/stage1_last.safetensors"));
  // a fresh run that fails the same way leaves no folder behind, so the same command can be run again
  r = run("train " + quick("fresh") + " --init-from " + root() + "/no_such.safetensors");
  CHECK(r.code == 1);
  CHECK_FALSE(fs::exists(root() + "/runs/fresh"));
  // a folder with only a run's config.json (stopped before its first state): named as such, --overwrite takes it
  const fs::path half = root() + "/runs/half";
  fs::create_directories(half);
  fs::copy_file(keep / "config.json", half / "config.json");
  r = run("train " + quick("half"));
  CHECK(r.code == 1);
  CHECK_MESSAGE(has(r, "holds a run that stopped before its first training state: start it again with --overwrite"),
                r.out);
  r = run("train " + quick("half") + " --overwrite");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(fs::exists(half / "summary.json"));
  // and --overwrite of a finished run replaces it
  r = run("train " + quick("keep") + " --overwrite --set seed=5");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(slurp(keep / "config.json").find("\"seed\": 5") != std::string::npos);
  // the tools refuse an output file in a missing folder and a bad t-SNE value before loading the model
  for (const char* cmd : {"eval", "extract-features", "tau-sweep"}) {
    CAPTURE(cmd);
    r = run(std::string(cmd) + " --run " + keep.string() + " --out " + root() + "/no_folder/x.json");
    CHECK(r.code == 2);
    CHECK(has(r, "--out " + root() + "/no_folder/x.json: the folder " + root() + "/no_folder does not exist"));
    CHECK_FALSE(has(r, "model: "));
  }
  r = run("eval --run " + keep.string() + " --out " + root());
  CHECK(r.code == 2);
  CHECK(has(r, "--out " + root() + " is a folder; give a file name in it"));
  r = run("report --run " + keep.string() + " --tsne --tsne-iters 5");
  CHECK(r.code == 2);
  CHECK(has(r, "--tsne-iters"));
  CHECK_FALSE(has(r, "model: "));
}

TEST_CASE("a resume on an edited config.json names what changed; --threads; warnings; keys a dataset ignores") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const fs::path dir = root() + "/runs/edited";
  Run r = run("train " + train_cli::small_data(root() + "/runs", "edited") +
              " --set stage1.epochs=2 --set stage1.max_steps_per_epoch=2 --no-report --stop-after 0.001");
  REQUIRE_MESSAGE(r.code == 75, r.out);
  // the run stopped in stage 1 of 2 has no final checkpoint yet: eval says so, and which checkpoints it has
  r = run("eval --run " + dir.string());
  CHECK(r.code == 2);
  CHECK_MESSAGE(has(r, "(the run has not finished: continue it with `tailor train --resume " + dir.string() +
                       "`; or give one of its checkpoints with --checkpoint: stage1_"), r.out);
  std::string cfg = slurp(dir / "config.json");
  const size_t at = cfg.find("\"threads\": 1");
  REQUIRE(at != std::string::npos);
  cfg.replace(at, 12, "\"threads\": 2");
  std::ofstream(dir / "config.json") << cfg;
  r = run("train --resume " + dir.string());
  CHECK(r.code == 1);
  CHECK_MESSAGE(has(r, "the state was written with a different config than " + (dir / "config.json").string() +
                       " (threads 1 -> 2); restore the original config.json"), r.out);
  r = run("train --resume " + dir.string() + " --threads 2");
  CHECK(r.code == 2);
  CHECK(has(r, "cannot be combined with --config, --init-from, --overwrite, --device, --threads or --deterministic"));
  r = run("train --threads 3 --print-config");
  REQUIRE(r.code == 0);
  CHECK(has(r, "\"threads\": 3"));

  // a milestone at or past the stage's end, and a DRW epoch likewise: the run goes on, warned
  r = run("train " + quick("warned") + " --set stage1.schedule.kind=multistep --set stage1.schedule.milestones=[1]" +
          " --set 'stage1.loss={\"name\": \"ldam\", \"train_rule\": \"DRW\", \"drw_epoch\": 1}'");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  const size_t run_line = r.out.find("run: ");
  const size_t w1 = r.out.find("warning: stage1.schedule.milestones: 1 is not before the stage's end (1 epoch): the "
                               "learning rate never drops there");
  CHECK_MESSAGE(w1 != std::string::npos, r.out);
  CHECK(w1 > run_line);
  CHECK(has(r, "warning: stage1.loss.drw_epoch 1 is not before the stage's end (1 epoch): the deferred re-weighting "
               "never starts"));
  // an LT subset's ratio / n_max under profile none (the dataset's own counts): warned, never applied
  r = run("train " + quick("own_counts") + " --set data.imbalance.profile=none --set data.test_per_class=2");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(has(r, "warning: data.imbalance.ratio / n_max are read by data.imbalance.profile exp or step only; this "
               "run's profile is none"));
  CHECK(has(r, "(its own counts): 60000 training images"));

  // keys the dataset would not read are refused, not ignored
  r = run("train " + quick("lists") + " --set data.test_list=test.txt");
  CHECK(r.code == 2);
  CHECK(has(r, "data.test_list: read by data.dataset list / inat only (this run's is fashion_mnist)"));
  r = run("train " + quick("no_val") + " --set eval.select=val");
  CHECK(r.code == 2);
  CHECK(has(r, "eval.select val: data.dataset fashion_mnist has no validation split"));
  CHECK_FALSE(fs::exists(root() + "/runs/lists"));
  CHECK_FALSE(fs::exists(root() + "/runs/no_val"));
}

TEST_CASE("the logs a training state counts: a resume refuses a log cut short; a damaged log line is named") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const fs::path dir = root() + "/runs/logs";
  const std::string two = quick("logs") + " --set stage1.epochs=2 --set log.step_losses=true";
  Run r = run("train " + two + " --stop-after 0.001");
  REQUIRE_MESSAGE(r.code == 75, r.out);
  const std::string metrics = slurp(dir / "metrics.jsonl"), steps = slurp(dir / "steps.jsonl");
  REQUIRE(!metrics.empty());
  REQUIRE(!steps.empty());
  // metrics.jsonl shorter than the state says (lines lost after the state was saved): refused, nothing written
  std::ofstream(dir / "metrics.jsonl", std::ios::trunc) << metrics.substr(0, 10);
  r = run("train --resume " + dir.string());
  CHECK(r.code == 1);
  CHECK_MESSAGE(has(r, (dir / "metrics.jsonl").string() + ": 10 bytes, but the training state was saved after " +
                           std::to_string(metrics.size())), r.out);
  CHECK(slurp(dir / "metrics.jsonl") == metrics.substr(0, 10));
  fs::remove(dir / "steps.jsonl");
  std::ofstream(dir / "metrics.jsonl", std::ios::trunc) << metrics;
  r = run("train --resume " + dir.string());
  CHECK(r.code == 1);
  CHECK_MESSAGE(has(r, (dir / "steps.jsonl").string() + ": 0 bytes, but the training state was saved after"), r.out);
  // restored, the run finishes; a tail written after the state (a crash between them) is cut as before
  std::ofstream(dir / "steps.jsonl", std::ios::trunc) << steps;
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "{\"stage\": 1, \"epo";
  r = run("train --resume " + dir.string());
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(slurp(dir / "metrics.jsonl").rfind(metrics, 0) == 0);
  CHECK(slurp(dir / "metrics.jsonl").find("\"epo\n") == std::string::npos);
  // a checkpoint that is a folder is named as such (was an allocation failure)
  const fs::path folder = root() + "/runs/not_a_file.safetensors";
  fs::create_directories(folder);
  r = run("eval --run " + dir.string() + " --checkpoint " + folder.string());
  CHECK(r.code != 0);
  CHECK_MESSAGE(has(r, folder.string() + ": a folder, not a safetensors file"), r.out);
}

TEST_CASE("a state of an older steps revision: refused when its stage in progress trains otherwise, else noted") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  // revision 1 -> 2: a class_aware stage's epoch is int(N / B) full batches, was ceil(N / B) with a short last one;
  // here N = 159 (10 classes, n_max 40, ratio 10) and B = 128: 2 batches (128 + 31) then, 1 now
  const std::string two = train_cli::small_data(root() + "/runs", "revision") +
                          " --set stage1.epochs=2 --set stage2.epochs=1 --set eval.every_epochs=0 --no-report";
  const fs::path dir = root() + "/runs/revision";
  Run r = run("train " + two + " --set stage1.sampler.name=class_aware --stop-after 0.001");
  REQUIRE_MESSAGE(r.code == 75, r.out);
  set_steps_revision(dir, 1);
  r = run("train --resume " + dir.string());
  CHECK(r.code == 1);
  CHECK_MESSAGE(has(r, "train_state.safetensors: written by a tailor that trains the run's stage in progress "
                       "otherwise: stage1 (class_aware sampler, 159 training images, batch 128) ran 2 batches an "
                       "epoch, the last of 31 images; this tailor runs 1 full batch; finish the run with the "
                       "tailor that started it, or start it again"), r.out);
  // without the key (revision 1 or 2): the stage's finished epoch trained 159 images under 1, 128 under 2
  const int64_t images = tailor::Json::parse(
      [&] {
        std::map<std::string, std::string> meta;
        tailor::read_weights((dir / "checkpoints" / "train_state.safetensors").string(), &meta);
        return meta.at("state");
      }()).at("train_images");
  CHECK(images == 128);
  set_steps_revision(dir, 0, 159);
  r = run("train --resume " + dir.string());
  CHECK(r.code == 1);
  CHECK_MESSAGE(has(r, "stage in progress otherwise: stage1 (class_aware sampler, 159 training images, batch 128)"),
                r.out);
  set_steps_revision(dir, 3, images);  // a newer tailor's state: refused whatever its stages
  r = run("train --resume " + dir.string());
  CHECK(r.code == 1);
  CHECK_MESSAGE(has(r, "train_state.safetensors: a state of steps revision 3, written by a newer tailor (this "
                       "one's: 2), whose steps may differ; finish the run with that tailor"), r.out);
  set_steps_revision(dir, 0);  // this tailor's own images: revision 2, resumed without a word
  r = run("train --resume " + dir.string());
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK_FALSE(has(r, "steps revision"));
  CHECK_FALSE(has(r, "otherwise:"));
  // the class-aware stage not started yet: the resume goes on, saying that stage trains as this tailor does
  r = run("train " + two + " --overwrite --set stage2.sampler.name=class_aware --stop-after 0.001");
  REQUIRE_MESSAGE(r.code == 75, r.out);
  set_steps_revision(dir, 1);
  r = run("train --resume " + dir.string());
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK_MESSAGE(has(r, "note: the tailor that started this run trains stage2 otherwise: stage2 (class_aware sampler, "
                       "159 training images, batch 128) ran 2 batches an epoch, the last of 31 images; this tailor "
                       "runs 1 full batch; stage2 has not started and trains as this tailor does"), r.out);
  // a stage with the instance sampler is the same in both: no note
  r = run("train " + two + " --overwrite --stop-after 0.001");
  REQUIRE_MESSAGE(r.code == 75, r.out);
  set_steps_revision(dir, 1);
  r = run("train --resume " + dir.string());
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK_FALSE(has(r, "otherwise:"));
}

TEST_CASE("steps revisions: which stages a change touches, and a state without the record told apart by its images") {
  using tailor::RunState;
  using tailor::StageConfig;
  StageConfig ca;  // a class-aware stage of 3 epochs, batch 128, on N = 159: 2 batches an epoch then, 1 now
  ca.index = 1;
  ca.epochs = 3;
  ca.sampler.kind = tailor::data::SamplerKind::ClassAware;
  CHECK(tailor::steps_revision_change(1, ca, 256).empty());  // B divides N: the same batches
  CHECK(tailor::steps_revision_change(2, ca, 159).empty());
  CHECK(!tailor::steps_revision_change(1, ca, 159).empty());
  ca.max_steps_per_epoch = 1;  // the epoch stopped before its short batch: the same steps
  CHECK(tailor::steps_revision_change(1, ca, 159).empty());
  ca.max_steps_per_epoch = 2;
  CHECK(!tailor::steps_revision_change(1, ca, 159).empty());
  ca.max_steps_per_epoch = -1;
  CHECK(tailor::steps_revision_change(1, ca, 100) ==  // N < B: one batch of N, now one of B
        "stage1 (class_aware sampler, 100 training images, batch 128) ran one batch of 100 images an epoch; this "
        "tailor runs 1 full batch");
  StageConfig inst = ca;
  inst.sampler.kind = tailor::data::SamplerKind::Instance;
  CHECK(tailor::steps_revision_change(1, inst, 159).empty());

  RunState s;  // without the record, in the class-aware stage's third epoch
  s.steps_revision = 0;
  s.stage = 1;
  s.stage_started = true;
  s.epoch = 2;
  s.train_images = 2 * 128;  // revision 2's epochs
  CHECK(tailor::check_steps_revision(s, {ca}, 159).refusal.empty());
  CHECK(tailor::check_steps_revision(s, {ca}, 159).notes.empty());
  s.train_images = 2 * 159;  // revision 1's
  CHECK(tailor::check_steps_revision(s, {ca}, 159).refusal.find("stage in progress otherwise") != std::string::npos);
  s.epoch = 0;  // its first epoch: cannot be told; goes on, noted
  const auto first = tailor::check_steps_revision(s, {ca}, 159);
  CHECK(first.refusal.empty());
  REQUIRE(first.notes.size() == 1);
  CHECK(first.notes[0].find("this state does not record its steps revision") == 0);
  s.steps_revision = 1;  // recorded 1, every epoch done (killed before the stage was closed): nothing left
  s.epoch = 3;
  CHECK(tailor::check_steps_revision(s, {ca}, 159).refusal.empty());
  s.stage = 2;  // a finished run of a newer tailor: nothing to train, nothing refused
  s.steps_revision = 3;
  CHECK(tailor::check_steps_revision(s, {ca}, 159).refusal.empty());
  s.stage = 1;
  CHECK(!tailor::check_steps_revision(s, {ca}, 159).refusal.empty());
}

TEST_CASE("a run continued by another tailor build: noted in the log, both builds in summary.json's engine_history") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string two = train_cli::small_data(root() + "/runs", "engines") +
                          " --set stage1.epochs=2 --set stage2.epochs=1 --set eval.every_epochs=0 --no-report";
  const fs::path dir = root() + "/runs/engines";
  const std::string me = tailor::version_commit(), build = tailor::version_build();
  // uninterrupted: one entry, this build from the start
  Run r = run("train " + two);
  REQUIRE_MESSAGE(r.code == 0, r.out);
  tailor::Json sum = tailor::Json::parse(slurp(dir / "summary.json"));
  CHECK(sum["engine_history"] == tailor::Json::parse(R"([{"version": ")" + me + R"(", "build": ")" + build +
                                                     R"(", "from_stage": 1, "from_epoch": 0, "from_global_step": 0}])"));
  std::map<std::string, std::string> meta;  // the weights files name their tailor too
  tailor::read_weights((dir / "checkpoints" / "stage2_last.safetensors").string(), &meta);
  CHECK(meta["engine_version"] == me);
  CHECK(meta["engine_build"] == build);
  // stopped after its first step, its state rewritten as another commit's: the resume says so and records both
  r = run("train " + two + " --overwrite --stop-after 0.001");
  REQUIRE_MESSAGE(r.code == 75, r.out);
  int64_t step = -1;
  edit_state(dir, [&](tailor::Json& state) {
    REQUIRE(state["engines"].size() == 1);
    CHECK(state["engines"][0]["version"] == me);
    state["engines"][0]["version"] = "0123456789ab";
    step = state["global_step"];
  });
  r = run("train --resume " + dir.string());
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK_MESSAGE(has(r, "note: this run was trained up to global step " + std::to_string(step) + " by tailor "
                       "0123456789ab (" + build + "); tailor " + me + " (" + build + ") continues it from stage 1 "
                       "epoch 2 (other code may train other steps; summary.json's engine_history keeps both)"), r.out);
  sum = tailor::Json::parse(slurp(dir / "summary.json"));
  REQUIRE(sum["engine_history"].size() == 2);
  CHECK(sum["engine_history"][0]["version"] == "0123456789ab");
  CHECK(sum["engine_history"][1] == tailor::Json{{"version", me}, {"build", build}, {"from_stage", 1},
                                                 {"from_epoch", 1}, {"from_global_step", step}});
  CHECK(sum["engine_version"] == me);
  // `tailor compare` names both
  r = run("compare " + dir.string() + " " + dir.string());
  CHECK_MESSAGE(has(r, "Engine: tailor 0123456789ab (" + build + ") to global step " + std::to_string(step) +
                       ", then tailor " + me + " (" + build + "), every run."), r.out);
  // a state written before the builds were kept: the first entry says so
  r = run("train " + two + " --overwrite --stop-after 0.001");
  REQUIRE_MESSAGE(r.code == 75, r.out);
  edit_state(dir, [](tailor::Json& state) { state.erase("engines"); });
  r = run("train --resume " + dir.string());
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK_MESSAGE(has(r, "by a tailor that did not record its version; tailor " + me), r.out);
  sum = tailor::Json::parse(slurp(dir / "summary.json"));
  REQUIRE(sum["engine_history"].size() == 2);
  CHECK(sum["engine_history"][0]["version"] == "");
  // the same build resuming its own run: no note, one entry
  r = run("train " + two + " --overwrite --stop-after 0.001");
  REQUIRE_MESSAGE(r.code == 75, r.out);
  r = run("train --resume " + dir.string());
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK_FALSE(has(r, "continues it from"));
  CHECK(tailor::Json::parse(slurp(dir / "summary.json"))["engine_history"].size() == 1);
}

TEST_CASE("an LT subset the data cannot give is a config error naming data.imbalance and what to change") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  Run r = run("train " + quick("subset_big") + " --set data.imbalance.n_max=100000 --set data.imbalance.ratio=1");
  CHECK(r.code == 2);
  CHECK_MESSAGE(has(r, "config error: data.imbalance (profile exp, ratio 1, n_max 100000): make_lt_subset: class 0 has "
                       "6000 samples, the profile asks for 100000; lower data.imbalance.n_max"), r.out);
  r = run("train " + quick("subset_empty") + " --set data.imbalance.ratio=1000");
  CHECK(r.code == 2);
  CHECK_MESSAGE(has(r, "classes 5 (Sandal), 6 (Shirt), 7 (Sneaker), 8 (Bag), 9 (Ankle boot) have no training image "
                       "after the LT subset (raise data.imbalance.n_max or lower "
                       "data.imbalance.ratio: the rarest class keeps n_max / ratio; data.imbalance.profile none "
                       "keeps the data's own counts)"), r.out);
  CHECK_FALSE(fs::exists(root() + "/runs/subset_big"));
  CHECK_FALSE(fs::exists(root() + "/runs/subset_empty"));
}
