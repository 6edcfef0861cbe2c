// Classifier heads for decoupled (two-stage) long-tailed training (Kang et al., ICLR 2020,
// facebookresearch/classifier-balancing; MiSLAS). Stage 1 trains backbone + Linear (or NormedLinear,
// layers/basic.h); stage 2 keeps the features and re-balances only the classifier with one of:
//
//  * LWS (learnable weight scaling): logits_j = f_j (<x, w_j> + b_j), W and b frozen from stage 1,
//    f in R^C initialised to 1 and the only trainable parameters. Names as the reference
//    (models/TauNormClassifier.py): "fc.weight", "fc.bias", "scales".
//    MiSLAS (methods.py LearnableWeightScaling, logits * learned_norm) is the same map with fc still
//    training: LWSClassifier(trained) with fc's requires_grad set back (train/methods/mislas.cpp).
//  * tau-normalisation (post-hoc, tau_norm.py): w~_j = w_j / ||w_j||^tau, logits = <x, w~_j>, the bias
//    dropped. tau = 0 gives the raw weights without bias, tau = 1 unit-norm rows. A plain Linear.
//  * NCM (nearest class mean, KNNClassifier): class means of the training features; predict the
//    nearest mean. feat_type "un" (raw), "l2n" (L2-normalised), "cl2n" (centred by the mean training
//    feature, then L2-normalised; the reference default); dist_type "l2" (scores -||x - c||^2, the
//    reference default), "cos" (the reference's cos_similarity: <x, c> / d with the class mean NOT
//    normalised) or "cosine" (a true cosine <x, c> / (||x|| ||c||)). Buffers "centroids" [C, d] and
//    "feat_mean" [d] (the reference's names).
#pragma once
#include "layers/basic.h"

namespace tailor {

class LWSClassifier : public Module {
 public:
  // A fresh classifier (PyTorch default init from rng), frozen, scales 1.
  LWSClassifier(int64_t in, int64_t out, bool bias, Rng& rng);
  // Copies W and b of a trained stage-1 classifier (frozen), scales 1.
  explicit LWSClassifier(const Linear& trained);
  Tensor forward(const Tensor& x) override;  // scales * (x W^T + b)
  std::shared_ptr<Linear> fc;
  Tensor scales;  // [C], trainable
};

// tau-normalised copy of a trained classifier: weight rows w_j / ||w_j||^tau, no bias. A row of norm 0
// is kept as is (the reference would divide by 0). The result is a fresh Linear (trainable unless
// frozen by the caller) with the parameter "weight". Neither this nor LWSClassifier(trained) draws
// random numbers.
std::shared_ptr<Linear> tau_normalize(const Linear& trained, double tau);

class NCMClassifier : public Module {
 public:
  NCMClassifier(int64_t feat_dim, int64_t classes, const std::string& feat_type = "cl2n",
                const std::string& dist_type = "l2");
  // Class means from training features [N, d] and labels i32 [N] (every class needs >= 1 sample):
  // feat_mean = mean of all features; centroid_c = mean over class c of the transformed features.
  // (Or load "centroids" / "feat_mean" with load_state_dict.)
  void fit(const Tensor& features, const Tensor& labels);
  Tensor forward(const Tensor& x) override;  // scores [N, C], no autograd: argmax = nearest class mean
  Tensor centroids, feat_mean;
  const std::string feat_type, dist_type;

 private:
  std::vector<double> transform(const float* x, const float* mean, int64_t d) const;
};

}  // namespace tailor
