// Every training method a stage can name (stageN.method). A new method is one file under train/methods/
// defining its MethodSpec, and one line here.
#include "train/method.h"

namespace tailor {

MethodSpec joint_method();
MethodSpec crt_method();
MethodSpec gcl_retrain_method();
MethodSpec lws_method();
MethodSpec mislas_method();
MethodSpec tau_norm_method();
MethodSpec ncm_method();
MethodSpec kd_method();
MethodSpec balms_method();
MethodSpec cbd_method();
MethodSpec ssd_contrastive_method();
MethodSpec ssd_distill_method();
MethodSpec camc_method();
MethodSpec breadcrumb_method();

const std::vector<MethodSpec>& method_specs() {
  static const std::vector<MethodSpec> specs = {joint_method(), crt_method(),      gcl_retrain_method(),
                                                lws_method(),   mislas_method(),   tau_norm_method(),
                                                ncm_method(),   kd_method(),       balms_method(),
                                                cbd_method(),   ssd_contrastive_method(), ssd_distill_method(),
                                                camc_method(),  breadcrumb_method()};
  return specs;
}

}  // namespace tailor
