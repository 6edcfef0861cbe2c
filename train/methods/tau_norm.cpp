// tau-normalisation (Kang et al., ICLR 2020, §4.3; classifier-balancing tau_norm.py): post-hoc, no training.
//
//   w~_j = w_j / ||w_j||^tau,   logits_j = <x, w~_j>   (the bias dropped)
//
// tau = 0 keeps the raw weights, tau = 1 gives unit-norm rows (the head classes' larger norms no longer
// win). tau is swept over a grid (0, 0.1, ..., 2 by default) and chosen on the validation split; without
// one, on the test split only when choose_tau_on_test says so (selection on test: say so when reporting),
// else every tau is reported and tau = 1 is kept. The sweep is written to tau_sweep.json. The sweep and
// the choice (choose_posthoc_tau) serve post-hoc logit adjustment too (logit_adjust_posthoc.cpp).
#include "train/methods/tau_norm.h"

#include <cmath>
#include <cstdio>

#include "engine/version.h"
#include "layers/heads.h"
#include "train/method.h"
#include "train/run_model.h"

namespace tailor {

TauSweep sweep_heads(ResNet& net, const std::vector<double>& taus, const HeadOfTau& head_of,
                     const std::function<EvalMetrics(ResNet&)>& eval) {
  TauSweep out;
  for (double tau : taus) {
    net.set_head(head_of(tau));
    out.emplace_back(tau, eval(net));
  }
  return out;
}

TauSweep sweep_heads_on_features(ResNet& net, const std::vector<double>& taus, const HeadOfTau& head_of,
                                 const data::Dataset& ds, const data::TransformConfig& tf,
                                 const std::vector<int64_t>& train_counts, const ShotRule& rule, int64_t batch,
                                 int workers) {
  std::vector<std::pair<Tensor, Tensor>> batches;  // (features, labels)
  const int64_t skipped = for_each_eval_batch(net, ds, tf, batch, workers, [&](const data::Batch& b) {
    batches.emplace_back(net.features(b.images), b.labels);
  });
  NoGradGuard ng;
  TauSweep out;
  for (double tau : taus) {
    auto head = head_of(tau);
    head->to(net.device());
    MetricsAccumulator acc(ds.num_classes, train_counts, rule);
    for (auto& [f, y] : batches) acc.add(head->forward(f), y);
    out.emplace_back(tau, acc.finish());
    out.back().second.skipped = skipped;
  }
  return out;
}

TauSweep sweep_tau(ResNet& net, const Linear& trained, const std::vector<double>& taus,
                   const std::function<EvalMetrics(ResNet&)>& eval) {
  return sweep_heads(net, taus, [&](double tau) { return tau_normalize(trained, tau); }, eval);
}

TauSweep sweep_tau_on_features(ResNet& net, const Linear& trained, const std::vector<double>& taus,
                               const data::Dataset& ds, const data::TransformConfig& tf,
                               const std::vector<int64_t>& train_counts, const ShotRule& rule, int64_t batch,
                               int workers) {
  return sweep_heads_on_features(net, taus, [&](double tau) { return tau_normalize(trained, tau); }, ds, tf,
                                 train_counts, rule, batch, workers);
}

Json tau_sweep_json(const TauSweep& sweep, const std::string& split, const std::vector<double>& taus) {
  auto pct = [](double f) { return std::round(f * 1e6) / 1e4; };
  auto group = [&](const ShotGroup& g) { return g.empty() ? Json(nullptr) : Json(pct(g.acc)); };
  // the tailor that swept (as summary.json's and eval.json's: tailor --version's commit and build)
  Json j{{"split", split}, {"taus", taus}, {"engine_version", version_commit()}, {"engine_build", version_build()}};
  for (const char* k : {"top1", "balanced", "many", "medium", "few"}) j[k] = Json::array();
  for (auto& [tau, m] : sweep) {
    j["top1"].push_back(pct(m.top1));
    j["balanced"].push_back(pct(m.balanced_acc));
    j["many"].push_back(group(m.many));
    j["medium"].push_back(group(m.medium));
    j["few"].push_back(group(m.few));
  }
  return j;
}

double best_tau(const TauSweep& sweep) {
  double best = -1, tau = 1.0;
  for (auto& [t, m] : sweep)
    if (m.top1 > best) {
      best = m.top1;
      tau = t;
    }
  return tau;
}

std::vector<double> default_tau_grid() {
  std::vector<double> t;
  for (int i = 0; i <= 20; ++i) t.push_back(i / 10.0);
  return t;
}

double choose_posthoc_tau(PosthocContext& c, const std::string& what, const std::vector<double>& taus, bool on_test,
                          double kept, const HeadOfTau& head_of, const std::string& file) {
  const data::Dataset* sel = c.data.val ? c.data.val.get() : (on_test ? c.data.test.get() : nullptr);
  const data::Dataset* rep = sel ? sel : c.data.test.get();
  const std::string split = rep == c.data.val.get() ? "val" : "test";
  double tau = kept;
  Json sweep = tau_sweep_json({}, split, taus);
  if (rep) {
    // One process: the split's features once, every tau's classifier applied to them (a whole forward per
    // tau took 21 passes over the split). Data parallel: a forward per tau, each shared by the ranks and
    // gathered, so every rank has the same metrics and chooses the same tau.
    c.log << what << ": " << taus.size() << " values of tau on the " << split << " split ("
          << data::counted(rep->size(), "image")
          << (c.data_parallel ? ", a forward per tau over the ranks" : ", its features computed once") << ")\n"
          << std::flush;
    TauSweep r = c.data_parallel
                     ? sweep_heads(c.model, taus, head_of, [&](ResNet& n) { return c.evaluate(n, *rep); })
                     : sweep_heads_on_features(c.model, taus, head_of, *rep, c.data.eval_tf, c.data.train_counts,
                                               c.shot_rule, c.eval_batch_size, c.workers);
    sweep = tau_sweep_json(r, split, taus);
    for (auto& [t, m] : r) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "  tau %.2f  %s top-1 %.2f%%\n", t, split.c_str(), 100 * m.top1);
      c.log << buf;
    }
    if (sel) tau = best_tau(r);
  }
  sweep["chosen"] = tau;
  sweep["selected_on"] = sel ? Json(split) : Json(nullptr);
  c.write(file, sweep.dump(2) + "\n");
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", tau);
  c.log << what << ": tau " << buf << (sel ? " chosen on " + split : std::string(" kept (no validation split)"))
        << "\n";
  return tau;
}

namespace {

class TauNorm : public Method {
 public:
  TauNorm(std::vector<double> taus, bool on_test) : taus_(std::move(taus)), on_test_(on_test) {
    if (taus_.empty()) taus_ = default_tau_grid();
  }
  void setup(StageSetup& s) override { key_ = s.cfg.key(); }

  void run_posthoc(PosthocContext& c) override {
    auto lin = std::dynamic_pointer_cast<Linear>(c.model.head());
    if (!lin) fail(key_ + " (tau_norm): the classifier must be a Linear (the stage-1 or a cRT head)");
    const HeadOfTau head_of = [lin](double tau) { return std::shared_ptr<Module>(tau_normalize(*lin, tau)); };
    tau_ = choose_posthoc_tau(c, key_ + " (tau_norm)", taus_, on_test_, 1.0, head_of, "tau_sweep.json");
    auto h = head_of(tau_);
    h->requires_grad_(false);
    c.model.set_head(h);
  }
  std::map<std::string, std::string> checkpoint_metadata() const override { return {{"tau", std::to_string(tau_)}}; }

 private:
  std::vector<double> taus_;
  bool on_test_;
  double tau_ = 1.0;
  std::string key_;
};

}  // namespace

MethodSpec tau_norm_method() {
  MethodSpec m;
  m.name = "tau_norm";
  m.summary = "post-hoc w_j / ||w_j||^tau of the classifier, tau chosen on val (Kang et al. 2020)";
  m.trains = false;
  m.takes_loss = false;
  m.starts_from = {"linear", "tau_norm"};  // normalises a Linear's rows
  m.leaves_head = "tau_norm";
  m.first_stage = false;
  // (the same keys as logit_adjust_posthoc's: the first declaration's help is the schema's)
  m.keys = {{"taus", "numbers", Json::array(), 0, 100, {},
             "tau_norm / logit_adjust_posthoc: the grid of tau (empty = 0, 0.1, ..., 2)"},
            {"choose_tau_on_test", "bool", false, 0, 0, {},
             "tau_norm / logit_adjust_posthoc without a val split: select tau on test"}};
  m.make = [](const StageConfig& c) {
    return std::make_unique<TauNorm>(c.doc.at("taus").get<std::vector<double>>(), c.doc.at("choose_tau_on_test"));
  };
  return m;
}

}  // namespace tailor
