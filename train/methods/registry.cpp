// Every training method a stage can name (stageN.method). A new method is one file under train/methods/
// defining its MethodSpec, and two lines here: its declaration and its entry in the list
// (docs/DESIGN.md, "Adding a method").
#include <stdexcept>

#include "train/method.h"

namespace tailor {

MethodSpec joint_method();
MethodSpec crt_method();
MethodSpec gcl_retrain_method();
MethodSpec lws_method();
MethodSpec mislas_method();
MethodSpec tau_norm_method();
MethodSpec logit_adjust_posthoc_method();
MethodSpec ncm_method();
MethodSpec kd_method();
MethodSpec balms_method();
MethodSpec cbd_method();
MethodSpec ssd_contrastive_method();
MethodSpec ssd_distill_method();
MethodSpec camc_method();
MethodSpec breadcrumb_method();

// The spec's flags that contradict each other, said at start-up rather than found in a run's config.json.
static std::vector<MethodSpec> checked(std::vector<MethodSpec> specs) {
  for (const MethodSpec& m : specs)
    if (!m.trains && (m.takes_loss || m.frozen_backbone))
      throw std::logic_error("method " + m.name + ": trains = false (post-hoc) needs takes_loss = false and " +
                             "frozen_backbone = false (a post-hoc method reads no loss and no bn_mode)");
  return specs;
}

const std::vector<MethodSpec>& method_specs() {
  static const std::vector<MethodSpec> specs = checked({joint_method(), crt_method(), gcl_retrain_method(),
                                                        lws_method(), mislas_method(), tau_norm_method(),
                                                        logit_adjust_posthoc_method(),
                                                        ncm_method(), kd_method(), balms_method(), cbd_method(),
                                                        ssd_contrastive_method(), ssd_distill_method(),
                                                        camc_method(), breadcrumb_method()});
  return specs;
}

}  // namespace tailor
