// CAMC — "Calibrating Class Activation Maps for Long-Tailed Visual Recognition" (Zhang, Lin, Lai, Ding, Wu,
// arXiv 2108.12757, 2021). No official code is public: this is tailor's RECONSTRUCTION from the paper's
// description, not the authors' module, and no number of the paper is claimed for it.
//
// On the last feature map phi (N x h x w x d, NHWC) and the normalised classifier's class weights w_j:
//
//   CAM_j(u) = < w_j / ||w_j||, phi(u) / ||phi(u)|| >         a class activation map per location u (cosine)
//   a(u)     = softmax_u( CAM_c(u) / T )                      spatial attention from the CAM of class c:
//                                                             the true class in training, the predicted one
//                                                             (argmax of the plain GAP logits) in evaluation
//   f        = GAP(phi) + lambda * sum_u a(u) phi(u)          calibrated pooling: the regions the class map
//                                                             marks are reinforced before pooling
//   z_j      = s * < f / ||f||, w_j / ||w_j|| >               normalised classifier with a fixed scale s
//
// Knobs: s (the logit scale: larger = sharper softmax, the paper's "appropriately chosen scalar"), T (the
// attention's temperature: small = the peak of the map only, large = uniform, i.e. GAP again), lambda (how
// much of the attended feature is added: 0 = plain GAP + normalised classifier, exactly). The gradient flows
// through the attention too (into phi and the class weights).
#pragma once
#include "layers/resnet.h"

namespace tailor {

// phi f32 [N, h, w, d]; class_weights f32 [d, C] (unnormalised, a column per class); cls i32 [N] (the class
// whose map drives the attention). Returns f [N, d].
Tensor camc_pool(const Tensor& phi, const Tensor& class_weights, const Tensor& cls, double temperature, double lambda);

// The same class maps for every class, no autograd: [N, h, w, C] (what the report draws).
Tensor class_activation_maps(const Tensor& phi, const Tensor& class_weights);

// The normalised classifier with CAMC's pooling. weight [d, C] as NormedLinear's ("weight"), PyTorch
// uniform(-1, 1) renormalised init; s, T, lambda constants (buffers "scale", "temperature", "lambda": a
// checkpoint carries them).
class CamcHead : public FeatureMapHead {
 public:
  CamcHead(int64_t in, int64_t classes, double s, double temperature, double lambda, Rng& rng);
  // The feature map in; targets i32 [N] in training (the true classes), undefined in evaluation (the
  // predicted class, from GAP + the classifier).
  Tensor forward_map(const Tensor& phi, const Tensor& targets) override;
  // On already pooled features: the plain normalised classifier s * cos(f, w) (what lambda 0 reduces to).
  Tensor forward(const Tensor& features) override;
  double s() const;
  double temperature() const;
  double lambda() const;
  Tensor weight;  // [d, C]
  Tensor scale_, temperature_, lambda_;  // [1] buffers
};

}  // namespace tailor
