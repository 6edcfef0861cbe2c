// Logit adjustment (Menon et al., ICLR 2021; google-research/logit_adjustment).
//
//   pi_j = n_j / N                                   (training prior)
//   loss:      L = CE(z + log(pi^tau + 1e-12), y)    (every logit shifted by its log prior)
//   post-hoc:  predict argmax_j [ z_j - log(pi_j^tau + 1e-12) ]   (model trained with plain CE)
//
// Why: softmax CE learns p(y|x), which carries the skewed training prior; the balanced error is
// minimised by argmax p(x|y), i.e. by removing log pi — either after training (post-hoc) or by
// training through the shifted logits so that z itself is prior-free (loss). tau = 1 is the Bayes
// choice; tau is also tuned. The 1e-12 is the reference's, inside the log. Test: argmax z.
#pragma once
#include "losses/loss.h"

namespace tailor {

// log(pi_j^tau + 1e-12), pi_j = n_j / sum n.
std::vector<double> log_prior_offsets(const std::vector<int64_t>& counts, double tau);

class LogitAdjustedLoss : public Loss {
 public:
  LogitAdjustedLoss(const std::vector<int64_t>& counts, const LossConfig& cfg);
  std::string name() const override { return "logit_adjust"; }
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  bool accepts_sample_weight() const override { return true; }

 private:
  std::vector<double> offset_;
  DeviceConstant offset_t_;  // offset_ as f32 [C], on each device once
};

// Post-hoc adjusted logits z - log(pi^tau + 1e-12) (no autograd needed; argmax them to predict).
Tensor posthoc_logit_adjust(const Tensor& logits, const std::vector<int64_t>& counts, double tau = 1.0);

}  // namespace tailor
