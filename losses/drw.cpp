#include "losses/drw.h"

#include "engine/tensor.h"
#include "losses/class_balanced.h"

namespace tailor {

std::vector<float> drw_class_weights(const std::string& rule, const std::vector<int64_t>& counts, int epoch,
                                     int drw_epoch, double beta) {
  if (rule == "None") return {};
  if (rule == "Reweight") return effective_number_weights(counts, beta);
  TAILOR_CHECK(rule == "DRW", "drw_class_weights: train_rule must be None, Reweight or DRW, got '", rule, "'");
  TAILOR_CHECK(epoch >= 0, "drw_class_weights: epoch must be >= 0, got ", epoch);
  return effective_number_weights(counts, epoch < drw_epoch ? 0.0 : beta);
}

}  // namespace tailor
