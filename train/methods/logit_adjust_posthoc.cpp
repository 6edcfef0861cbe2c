// Post-hoc logit adjustment (Menon et al., ICLR 2021, §4.1; google-research/logit_adjustment): a model
// trained with plain CE predicts
//
//   argmax_j [ z_j - log(pi_j^tau + 1e-12) ]      pi_j = n_j / N, the training class frequencies
//
// at test time, no training. CE's softmax estimates p(y|x), whose argmax favours the head classes; removing
// the log prior leaves (with tau = 1) argmax p(x|y), the Bayes rule for the balanced error. The loss version
// of the same correction is losses/logit_adjust.h (`loss.name logit_adjust`, trained in).
//
// On a Linear classifier the correction is a change of bias: logits = <x, w_j> + b_j - log(pi_j^tau + 1e-12),
// so the stage leaves a Linear (head "linear") whose bias carries it, and every later evaluation,
// checkpoint and `tailor eval` of the run uses the adjusted classifier. A head without bias (tau_norm's)
// gets one. tau is swept over a grid (0, 0.1, ..., 2 by default; 0 is the unadjusted model) and chosen on
// the validation split; without one, on the test split only when choose_tau_on_test says so, else every
// tau is reported and `tau` (the paper's 1) is kept. The sweep is written to logit_adjust_sweep.json.
#include <cmath>
#include <cstdio>
#include <string>

#include "layers/basic.h"
#include "losses/logit_adjust.h"
#include "train/method.h"
#include "train/methods/tau_norm.h"

namespace tailor {

// The Linear with bias b_j - log(pi_j^tau + 1e-12) (b = 0 for a head without bias), same weights.
static std::shared_ptr<Linear> logit_adjusted_linear(const Linear& trained, const std::vector<int64_t>& counts,
                                                     double tau) {
  const int64_t out = trained.weight.size(0), in = trained.weight.size(1);
  Rng scratch(0);  // the init is overwritten
  auto head = std::make_shared<Linear>(in, out, /*bias=*/true, scratch);
  head->weight.copy_from(trained.weight.contiguous().cpu());
  std::vector<float> b(out, 0.f);
  if (trained.bias.defined()) b = trained.bias.contiguous().cpu().to_vector();
  const std::vector<double> off = log_prior_offsets(counts, tau);
  for (int64_t j = 0; j < out; ++j) b[j] = (float)((double)b[j] - off[j]);
  head->bias.copy_from(Tensor::from_vector(b, {out}));
  head->to(trained.weight.device());
  head->requires_grad_(false);
  return head;
}

namespace {

class LogitAdjustPosthoc : public Method {
 public:
  LogitAdjustPosthoc(std::vector<double> taus, double tau, bool on_test)
      : taus_(std::move(taus)), tau_(tau), on_test_(on_test) {
    if (taus_.empty()) taus_ = default_tau_grid();
  }
  void setup(StageSetup& s) override { key_ = s.cfg.key(); }

  void run_posthoc(PosthocContext& c) override {
    const std::string what = key_ + " (logit_adjust_posthoc)";
    auto lin = std::dynamic_pointer_cast<Linear>(c.model.head());
    if (!lin) fail(what + ": the classifier must be a Linear (head linear or tau_norm)");
    const std::vector<int64_t>& counts = c.data.train_counts;
    if ((int64_t)counts.size() != lin->weight.size(0))
      fail(what + ": " + std::to_string(counts.size()) + " training class counts for a classifier of " +
           std::to_string(lin->weight.size(0)) + " classes");
    for (size_t j = 0; j < counts.size(); ++j)  // log(0 + 1e-12) would make an absent class win everywhere
      if (counts[j] <= 0)
        fail(what + ": class " + std::to_string(j) + " has no training image, so no prior to remove");
    const HeadOfTau head_of = [lin, &counts](double tau) {
      return std::shared_ptr<Module>(logit_adjusted_linear(*lin, counts, tau));
    };
    tau_ = choose_posthoc_tau(c, what, taus_, on_test_, tau_, head_of, "logit_adjust_sweep.json");
    c.model.set_head(head_of(tau_));
  }
  std::map<std::string, std::string> checkpoint_metadata() const override { return {{"tau", std::to_string(tau_)}}; }
  std::string describe() const override {
    char kept[64];
    std::snprintf(kept, sizeof kept, "tau %g kept", tau_);
    return std::string("post-hoc z_j - log(pi_j^tau + 1e-12), tau chosen on val (without one: ") +
           (on_test_ ? "on test" : kept) + ")";
  }

 private:
  std::vector<double> taus_;
  double tau_;
  bool on_test_;
  std::string key_;
};

}  // namespace

MethodSpec logit_adjust_posthoc_method() {
  MethodSpec m;
  m.name = "logit_adjust_posthoc";
  m.summary = "post-hoc logit adjustment z_j - log(pi_j^tau) of a CE model, tau chosen on val (Menon et al. 2021)";
  m.trains = false;
  m.takes_loss = false;
  m.starts_from = {"linear", "tau_norm"};  // the correction goes into a Linear's bias
  m.leaves_head = "linear";
  m.first_stage = false;
  m.keys = {{"taus", "numbers", Json::array(), 0, 100, {},
             "tau_norm / logit_adjust_posthoc: the grid of tau (empty = 0, 0.1, ..., 2)"},
            {"tau", "number", 1.0, 0, 100, {}, "logit_adjust_posthoc: the tau kept without a split to choose on"},
            {"choose_tau_on_test", "bool", false, 0, 0, {},
             "tau_norm / logit_adjust_posthoc without a val split: select tau on test"}};
  m.make = [](const StageConfig& c) {
    return std::make_unique<LogitAdjustPosthoc>(c.doc.at("taus").get<std::vector<double>>(), c.doc.at("tau"),
                                                c.doc.at("choose_tau_on_test"));
  };
  return m;
}

}  // namespace tailor
