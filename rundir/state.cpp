#include "rundir/state.h"

#include <sys/resource.h>

#include <cmath>
#include <stdexcept>

namespace tailor {

namespace {

Json rng_json(const Rng::State& s) {
  return Json{{"s", {s.s[0], s.s[1], s.s[2], s.s[3]}}, {"has_spare", s.has_spare}, {"spare", s.spare}};
}

Rng::State rng_state(const Json& j) {
  Rng::State s;
  for (int i = 0; i < 4; ++i) s.s[i] = j.at("s").at(i).get<uint64_t>();
  s.has_spare = j.at("has_spare");
  s.spare = j.at("spare");
  return s;
}

}  // namespace

Json state_json(const RunState& s, const std::string& hash) {
  Json j{{"format", RunState::kFormat}, {"steps_revision", s.steps_revision}, {"stage", s.stage},
              {"stage_started", s.stage_started},
              {"epoch", s.epoch}, {"cursor", s.cursor}, {"step_in_epoch", s.step_in_epoch},
              {"global_step", s.global_step}, {"loss_sum", s.loss_sum}, {"epoch_seconds", s.epoch_seconds},
              {"epoch_images", s.epoch_images}, {"epoch_loss_images", s.epoch_loss_images}, {"skipped", s.skipped}, {"best_top1", s.best_top1},
              {"best_epoch", s.best_epoch}, {"stage_top1", s.stage_top1}, {"train_seconds", s.train_seconds},
              {"train_images", s.train_images}, {"stage_seconds", s.stage_seconds},
              {"stage_images", s.stage_images}, {"wall_before", s.wall_before},
              {"metrics_bytes", s.metrics_bytes}, {"steps_bytes", s.steps_bytes},
              {"loss_rng", rng_json(s.loss_rng)}, {"model_rng", rng_json(s.model_rng)}, {"config_hash", hash},
              {"data_fingerprint", s.data_fingerprint}, {"method", s.method}};
  j["engines"] = Json::array();
  for (const EngineEntry& e : s.engines)
    j["engines"].push_back(Json{{"version", e.version}, {"build", e.build}, {"stage", e.stage}, {"epoch", e.epoch},
                                {"global_step", e.global_step}});
  if (s.world > 1) {  // written only by a data-parallel job, so one process's state is as it always was
    j["world"] = s.world;
    j["rank_loss_rngs"] = Json::array();
    for (const Rng::State& r : s.rank_loss_rngs) j["rank_loss_rngs"].push_back(rng_json(r));
  }
  return j;
}

RunState state_from_json(const Json& j, const std::string& file) {
  if (j.value("format", 1) != RunState::kFormat)
    throw std::runtime_error(file + ": a training state of format " + std::to_string(j.value("format", 1)) +
                             " (this tailor reads format " + std::to_string(RunState::kFormat) +
                             "); it cannot be resumed by this version — start the run again");
  try {
    RunState s;
    s.steps_revision = j.value("steps_revision", 0);  // (states written before the key: 1 or 2)
    s.stage = j.at("stage");
    s.stage_started = j.at("stage_started");
    s.epoch = j.at("epoch");
    s.cursor = j.at("cursor");
    s.step_in_epoch = j.at("step_in_epoch");
    s.global_step = j.at("global_step");
    s.loss_sum = j.at("loss_sum");
    s.epoch_seconds = j.at("epoch_seconds");
    s.epoch_images = j.at("epoch_images");
    s.epoch_loss_images = j.value("epoch_loss_images", s.epoch_images);  // states written before the key
    s.skipped = j.at("skipped");
    s.best_top1 = j.at("best_top1");
    s.best_epoch = j.at("best_epoch");
    s.stage_top1 = j.at("stage_top1").get<std::vector<double>>();
    s.train_seconds = j.at("train_seconds");
    s.train_images = j.at("train_images");
    s.stage_seconds = j.at("stage_seconds").get<std::vector<double>>();
    s.stage_images = j.at("stage_images").get<std::vector<int64_t>>();
    s.wall_before = j.at("wall_before");
    s.metrics_bytes = j.at("metrics_bytes");
    s.steps_bytes = j.at("steps_bytes");
    s.loss_rng = rng_state(j.at("loss_rng"));
    s.model_rng = rng_state(j.at("model_rng"));
    s.data_fingerprint = j.at("data_fingerprint");
    s.method = j.at("method");
    s.world = j.value("world", 1);
    if (j.contains("engines"))  // (states written before the key: none)
      for (const Json& e : j.at("engines"))
        s.engines.push_back(EngineEntry{e.at("version"), e.at("build"), e.at("stage"), e.at("epoch"), e.at("global_step")});
    if (j.contains("rank_loss_rngs"))
      for (const Json& r : j.at("rank_loss_rngs")) s.rank_loss_rngs.push_back(rng_state(r));
    return s;
  } catch (const Json::exception& e) {
    throw std::runtime_error(file + ": the training state is incomplete (" + std::string(e.what()) + ")");
  }
}

std::string continue_with_engine(RunState& s, const std::string& version, const std::string& build) {
  const EngineEntry now{version, build, s.stage, s.epoch, s.global_step};
  if (s.engines.empty() && s.global_step == 0 && s.stage == 1 && s.epoch == 0) {  // a fresh run
    s.engines.push_back(now);
    return "";
  }
  if (s.engines.empty()) s.engines.push_back(EngineEntry{"", "", 1, 0, 0});  // a state from before the key
  const EngineEntry last = s.engines.back();  // (a copy: the push below may move the vector)
  if (last.version == version && last.build == build) return "";
  s.engines.push_back(now);
  const std::string was = last.version.empty() ? "a tailor that did not record its version"
                                                : "tailor " + last.version + " (" + last.build + ")";
  return "this run was trained up to global step " + std::to_string(s.global_step) + " by " + was + "; tailor " +
         version + " (" + build + ") continues it from stage " + std::to_string(s.stage) + " epoch " +
         std::to_string(s.epoch + 1) + " (other code may train other steps; summary.json's engine_history keeps both)";
}

Json engine_history_json(const RunState& s) {
  Json h = Json::array();
  for (const EngineEntry& e : s.engines)
    h.push_back(Json{{"version", e.version}, {"build", e.build}, {"from_stage", e.stage}, {"from_epoch", e.epoch},
                     {"from_global_step", e.global_step}});
  return h;
}

std::string steps_revision_change(int revision, const StageConfig& c, int64_t n_train) {
  if (!c.trains) return "";
  std::string changes;
  if (revision < 2 && c.sampler.kind == data::SamplerKind::ClassAware) {  // 1 -> 2: the class-aware epoch
    // (the same steps when B divides N, or when max_steps_per_epoch stops the epoch before its short batch)
    const int64_t B = c.batch_size, was = (n_train + B - 1) / B, now = c.epoch_samples(n_train) / B;
    if (n_train % B != 0 && (c.max_steps_per_epoch < 0 || c.max_steps_per_epoch >= was))
      changes += c.key() + " (class_aware sampler, " + std::to_string(n_train) + " training images, batch " +
                 std::to_string(B) + ") ran " +
                 (was == 1 ? "one batch of " + std::to_string(n_train) + " images an epoch"
                           : std::to_string(was) + " batches an epoch, the last of " +
                                 std::to_string(n_train - (was - 1) * B) + " images") +
                 "; this tailor runs " + std::to_string(now) + (now == 1 ? " full batch" : " full batches");
  }
  return changes;
}

StepsRevisionCheck check_steps_revision(const RunState& s, const std::vector<StageConfig>& stages, int64_t n_train) {
  StepsRevisionCheck out;
  if (s.steps_revision == RunState::kStepsRevision || s.stage > (int)stages.size()) return out;  // (finished run)
  if (s.steps_revision > RunState::kStepsRevision) {  // what it changed is unknown here
    out.refusal = "a state of steps revision " + std::to_string(s.steps_revision) +
                  ", written by a newer tailor (this one's: " + std::to_string(RunState::kStepsRevision) +
                  "), whose steps may differ; finish the run with that tailor";
    return out;
  }
  int revision = s.steps_revision;  // 0: 1 or 2, not recorded
  for (const StageConfig& c : stages) {
    if (c.index < s.stage) continue;  // finished: not trained again
    const bool started = c.index == s.stage && s.stage_started;
    if (started && s.epoch >= c.epochs) continue;  // (its steps are done)
    const std::string change = steps_revision_change(revision == 0 ? 1 : revision, c, n_train);
    if (change.empty()) continue;
    if (revision == 0) {  // the images of the stage's finished epochs tell: N (or more, padded) an epoch under 1
      if (!started) continue;  // (a later stage trains as this tailor does; the state cannot say what it replaces)
      if (s.epoch == 0) {
        out.notes.push_back("this state does not record its steps revision (written before the record); if the "
                            "tailor that started it was older than int(N / B) class-aware epochs, " + change +
                            "; the stage's first epoch goes on with this tailor's steps");
        continue;
      }
      int64_t done = s.train_images;
      for (int64_t x : s.stage_images) done -= x;
      if (done == s.epoch * c.epoch_samples(n_train)) {
        revision = RunState::kStepsRevision;
        continue;
      }
      revision = 1;
    }
    if (started) {
      out.refusal = "written by a tailor that trains the run's stage in progress otherwise: " + change +
                    "; finish the run with the tailor that started it, or start it again";
      return out;
    }
    out.notes.push_back("the tailor that started this run trains " + c.key() + " otherwise: " + change + "; " +
                        c.key() + " has not started and trains as this tailor does");
  }
  return out;
}

void add_run_totals(Json& summary, const RunState& s, double wall_s) {
  auto pct = [](double f) { return f >= 0 ? Json(std::round(f * 1e6) / 1e4) : Json(nullptr); };
  auto rate = [](double images, double seconds) {
    return seconds > 0 ? Json(std::round(images / seconds * 10) / 10) : Json(nullptr);
  };
  summary["stage1_top1"] = s.stage_top1.empty() ? Json(nullptr) : pct(s.stage_top1[0]);
  summary["stage_top1"] = Json::array();
  for (double t : s.stage_top1) summary["stage_top1"].push_back(pct(t));
  summary["wall_s"] = std::round(wall_s * 10) / 10;
  summary["train_img_per_s"] = s.train_seconds > 0 ? rate((double)s.train_images, s.train_seconds) : Json(0.0);
  summary["stage_img_per_s"] = Json::array();  // per stage (a frozen backbone trains much faster)
  for (size_t i = 0; i < s.stage_images.size(); ++i)
    summary["stage_img_per_s"].push_back(rate((double)s.stage_images[i], s.stage_seconds[i]));
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  summary["peak_mem_mb"] = std::round(ru.ru_maxrss / 1024.0 * 10) / 10;
}

}  // namespace tailor
