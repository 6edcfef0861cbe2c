// The pieces of Balanced Meta-Softmax's Meta Sampler (train/methods/balms.cpp), exposed for the tests that
// check them against the official code's autograd (tests/make_balms_fixtures.py).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/tensor.h"
#include "layers/basic.h"
#include "losses/loss.h"
#include "train/sgd.h"

namespace tailor {

// One batch drawn by hard Gumbel-softmax over the N dataset indices with logits log s_i (s_i = q_{y_i}):
// row b picks j_b = argmax_i (log s_i + g_bi). Kept for the meta-gradient: the soft probability of the
// chosen index, soft_b(j_b), and per class c the soft mass of its samples, S_bc = sum_{i: y_i = c} soft_b(i),
// where soft_b = softmax(log s + g_b).
struct BalmsDraw {
  std::vector<int64_t> chosen;      // j_b
  std::vector<double> chosen_soft;  // soft_b(j_b)
  std::vector<double> class_soft;   // S [B x C], row-major
};
// gumbel_row(b, g) writes row b's N Gumbel(0, 1) draws into g.
BalmsDraw balms_draw(const std::vector<double>& log_s, const std::vector<int32_t>& labels, int num_classes,
                     int64_t batch, const std::function<void(int64_t, double*)>& gumbel_row);

// Row b's N Gumbel(0, 1) draws for the batch of (epoch, step): a pure function of (seed, epoch, step, b), so a
// resumed run draws the same batches whatever the thread count.
void balms_gumbel_row(uint64_t seed, int epoch, int64_t step, int64_t b, int64_t n, double* g);

// d theta' / d(gradient) of one step of torch.optim.SGD: lr, times (1 - dampening) after the first step,
// times (1 + momentum) with Nesterov.
double sgd_gradient_scale(const SgdOptions& o, float lr, bool first_step);

// c_b = dL_outer / dST_b = -scale * (<G_W, r_b f_b^T> + <G_b, r_b>) = -scale * sum_c r_bc (G_W f_b + G_b)_c for a
// linear classifier: R [B, C] the rows of d L_in / d z (the inner loss's logit gradients), f [B, d] the
// features, G_W [C, d] and G_b [C] the outer loss's gradient at the looked-ahead classifier.
std::vector<double> balms_influence(const Tensor& R, const Tensor& f, const Tensor& GW, const Tensor& Gb, double scale);

// dL_outer / dw_c = (1 - q_c) sum_b c_b soft_b(j_b) ([y_{j_b} = c] - S_bc).
std::vector<double> balms_w_gradient(const BalmsDraw& d, const std::vector<int32_t>& labels,
                                     const std::vector<double>& influence, const std::vector<double>& q);

// The whole meta-gradient dL_out/dw of one step: r_b from the loss's logit gradients at the inner logits z
// (before the step; per-sample weights 1), G from plain CE of the classifier after the step (theta') on the
// meta batch (f_meta, y_meta), then balms_influence and balms_w_gradient. `scale` = sgd_gradient_scale.
std::vector<double> balms_meta_gradient(const BalmsDraw& d, const std::vector<int32_t>& labels,
                                        const std::vector<double>& q, Loss& loss, const Tensor& z, const Tensor& y,
                                        const Tensor& f, const Linear& after, const Tensor& f_meta,
                                        const Tensor& y_meta, double scale);

}  // namespace tailor
