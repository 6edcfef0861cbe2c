#include "train/run_files.h"

#include <fstream>
#include <stdexcept>

namespace tailor {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void run_fail(const std::string& msg) { throw std::runtime_error(msg); }

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

void write_text_atomic(const fs::path& p, const std::string& text) {
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) run_fail("cannot write " + tmp.string());
    out << text;
    out.flush();
    if (!out) run_fail("write failed: " + tmp.string());
  }
  fs::rename(tmp, p);
}

void append_line(const fs::path& p, const std::string& line) {
  std::ofstream out(p, std::ios::binary | std::ios::app);
  if (!out) run_fail("cannot append to " + p.string());
  out << line << "\n";
  out.flush();
}

uint64_t file_size_or_zero(const fs::path& p) { return fs::exists(p) ? (uint64_t)fs::file_size(p) : 0; }

Json last_logged_top1(const fs::path& metrics_jsonl, int stage) {
  std::ifstream in(metrics_jsonl);
  std::string line;
  Json top1 = nullptr;
  while (std::getline(in, line))
    if (!line.empty()) {
      Json l = Json::parse(line);
      if (l.contains("top1") && l.at("stage") == stage) top1 = l["top1"];
    }
  return top1;
}

std::string update_data_root(const fs::path& config_json, const std::string& root) {
  Json saved = load_config_file(config_json.string());
  const std::string old = saved.contains("data") ? saved["data"].value("root", std::string()) : std::string();
  if (old == root) return "";
  saved["data"]["root"] = root;
  write_text_atomic(config_json, saved.dump(2) + "\n");
  return old.empty() ? "(empty)" : old;
}

Json state_json(const RunState& s, const std::string& hash) {
  return Json{{"stage", s.stage}, {"epoch", s.epoch}, {"cursor", s.cursor}, {"step_in_epoch", s.step_in_epoch},
              {"global_step", s.global_step}, {"loss_sum", s.loss_sum}, {"epoch_seconds", s.epoch_seconds},
              {"epoch_images", s.epoch_images}, {"skipped", s.skipped}, {"best_top1", s.best_top1},
              {"best_epoch", s.best_epoch}, {"stage1_top1", s.stage1_top1}, {"train_seconds", s.train_seconds},
              {"train_images", s.train_images}, {"wall_before", s.wall_before},
              {"metrics_bytes", s.metrics_bytes}, {"steps_bytes", s.steps_bytes},
              {"loss_rng", rng_json(s.loss_rng)}, {"global_rng", rng_json(s.global_rng)}, {"config_hash", hash},
              {"data_fingerprint", s.data_fingerprint}};
}

RunState state_from_json(const Json& j) {
  RunState s;
  s.stage = j.at("stage");
  s.epoch = j.at("epoch");
  s.cursor = j.at("cursor");
  s.step_in_epoch = j.at("step_in_epoch");
  s.global_step = j.at("global_step");
  s.loss_sum = j.at("loss_sum");
  s.epoch_seconds = j.at("epoch_seconds");
  s.epoch_images = j.at("epoch_images");
  s.skipped = j.at("skipped");
  s.best_top1 = j.at("best_top1");
  s.best_epoch = j.at("best_epoch");
  s.stage1_top1 = j.at("stage1_top1");
  s.train_seconds = j.at("train_seconds");
  s.train_images = j.at("train_images");
  s.wall_before = j.at("wall_before");
  s.metrics_bytes = j.at("metrics_bytes");
  s.steps_bytes = j.at("steps_bytes");
  s.loss_rng = rng_state(j.at("loss_rng"));
  s.global_rng = rng_state(j.at("global_rng"));
  s.data_fingerprint = j.value("data_fingerprint", std::string());
  return s;
}

}  // namespace tailor
