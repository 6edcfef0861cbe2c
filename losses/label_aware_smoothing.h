// Label-aware smoothing, LAS (Zhong et al., MiSLAS, CVPR 2021; dvlab-research/MiSLAS methods.py).
//
//   x_y = (n_y - n_min) / (n_max - n_min)                  (0 for the rarest class, 1 for the largest)
//   concave (default): eps_y = eps_tail + (eps_head - eps_tail) sin(pi x_y / 2)
//   linear:            eps_y = eps_tail + (eps_head - eps_tail) x_y
//   convex:            eps_y = eps_head + (eps_head - eps_tail) sin(3 pi / 2 + pi x_y / 2)
//   exp:               eps_y = eps_tail + (eps_head - eps_tail) x_y^power
//   l_i = (1 - eps_{y_i}) (-log p_{i,y_i}) + eps_{y_i} (-(1/C) sum_j log p_ij),    L = mean_i l_i
//
// Why: a network trained on long-tailed data is over-confident, most of all on the head classes;
// smoothing the head labels more than the tail ones calibrates each class and, in the classifier
// re-training stage, moves the decision boundaries towards the head classes.
// Guard added: when all classes have the same count the reference divides 0 by 0 (NaN); here
// x_y = 1 for every class (each class is the largest), i.e. eps_y = eps_head for every shape.
#pragma once
#include "losses/loss.h"

namespace tailor {

// Per-class smoothing eps_j for shape concave | linear | convex | exp.
std::vector<double> las_smoothing(const std::vector<int64_t>& counts, double smooth_head, double smooth_tail,
                                  const std::string& shape = "concave", double power = 1.0);

class LabelAwareSmoothingLoss : public Loss {
 public:
  LabelAwareSmoothingLoss(const std::vector<int64_t>& counts, const LossConfig& cfg);
  std::string name() const override { return "las"; }
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  bool accepts_class_weight() const override { return false; }
  const std::vector<double>& smoothing() const { return eps_; }

 private:
  std::vector<double> eps_;
  DeviceConstant eps_t_, keep_t_;  // f32 [C]: eps_j and 1 - eps_j (rounded from double), on each device once
};

}  // namespace tailor
