// The embedding lab behind `tailor explore`: a small MLP whose feature layer is 2-D, trained on a
// long-tailed set once per loss, so that what each loss does to the feature space can be seen and measured.
//
//   network   x -> Linear(D, 128) -> ReLU -> Linear(128, 64) -> ReLU -> Linear(64, 2) = f (the feature)
//             -> head: Linear(2, C) with bias, or NormedLinear(2, C) (raw cosines) for ldam / gcl
//   training  Adam (lr 1e-3), instance-balanced shuffled batches, every draw (init, order, GCL cloud)
//             from Rng(seed): a run is reproducible from its seed.
//
// Measurements (the papers' qualitative claims as numbers; groups many / medium / few are thirds of the
// classes by training count, data/shots.h):
//   angular spread of class c = mean_i angle(f_i, mu_c) in degrees over its training features, where
//     mu_c = the direction of sum_i f_i / |f_i| (the class's mean direction); a class squeezed by the head
//     classes has a small spread (GCL Fig. 1 / 2).
//   decision-region width of class c = the degrees of the circle |f| = r (r = the median norm of the
//     training features) that the classifier assigns to c, from 3600 equally spaced directions; the tail
//     classes' regions shrinking next to the head's is GCL Fig. 2's "squeezed" tail.
//   few_to_many = the share of few-shot test images predicted as a many-shot class (boundaries pushed
//     into the tail make it large; Balanced Softmax / logit adjustment should lower it).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "losses/loss.h"

namespace tailor {

struct LabSet {
  std::string name;
  int64_t dim = 0;                       // input dimension D
  std::vector<float> train_x, test_x;    // [N, D] row-major
  std::vector<int32_t> train_y, test_y;  // labels
  std::vector<int64_t> counts;           // training images per class
  std::vector<std::string> class_names;
};

// A Gaussian-mixture LT set: C classes in `dim` dimensions, class means at distance 3 along random unit
// directions, unit-variance noise, n_j = round(n_max * ratio^(-j / (C - 1))) training and
// `test_per_class` test points per class; drawn from Rng(seed).
LabSet gaussian_lab_set(int C, int64_t n_max, double ratio, int64_t dim, int64_t test_per_class, uint64_t seed);

// One loss of the lab: a name for the page, the loss of losses/ and its settings, the head it needs.
struct LabVariant {
  std::string label;  // "ce", "gcl (no cloud)", ...
  std::string loss;
  LossConfig cfg;
  bool cosine_head = false;
  std::string note;  // the settings in words
};
// ce, focal, ldam, logit_adjust, balanced_softmax, gcl, gcl without its cloud (noise_mul 0: the same cosine
// classifier, scale and margin, so the comparison isolates the cloud).
std::vector<LabVariant> lab_variants();

struct LabOptions {
  int epochs = 12;
  int64_t batch = 128;
  float lr = 1e-3f;
  uint64_t seed = 0;
};

struct LabResult {
  LabVariant variant;
  std::vector<float> train_f, test_f;  // 2-D features [N, 2]
  std::vector<int32_t> test_pred;
  std::vector<float> head_w;           // [C, 2]: class weight vectors (directions for the cosine head)
  std::vector<float> head_b;           // [C] (zeros for the cosine head)
  std::vector<double> spread;          // per class, degrees
  double spread_group[3] = {0, 0, 0};  // mean over the many / medium / few classes
  double region_radius = 0;            // r of the region widths
  std::vector<double> region;          // per class, degrees of the circle |f| = r predicted as the class
  double region_group[3] = {0, 0, 0};  // mean over the many / medium / few classes
  double acc = 0, acc_group[3] = {0, 0, 0};  // test accuracy (%), and per group (mean of class accuracies)
  double few_to_many = 0;              // % of few-shot test images predicted as a many-shot class
  double seconds = 0;
};

// Trains the variant on the set and measures it. groups: per class 0 many, 1 medium, 2 few.
LabResult run_lab_variant(const LabSet& set, const LabVariant& v, const LabOptions& opt, const std::vector<int>& groups);

// Angular spread of every class (degrees, see above) of 2-D features [N, 2] with labels; a class without
// a sample gets NaN.
std::vector<double> angular_spread(const std::vector<float>& f, const std::vector<int32_t>& labels, int C);
// Degrees of the circle of radius r assigned to each class (3600 directions, angle k * 0.1 degrees).
std::vector<double> region_widths(const LabResult& r, double radius);
// The head's predictions for 2-D features (argmax of w_c . f + b_c, or of cos(f, w_c) for the cosine head).
std::vector<int32_t> lab_predict(const LabResult& r, const std::vector<float>& f);

}  // namespace tailor
