// Long-tailed losses: the common base, the hyper-parameter struct and the factory.
//
// Every loss maps logits f32 [N, C] (raw cosines for ldam / gcl / gcl_ang, whose scale s is applied
// inside the loss) and labels i32 [N] to a scalar, composed from engine ops so autograd comes free.
// One file per method under losses/; each opens with its formula. docs/losses.md has the details.
//
// Names known to make_loss:
//   ce, focal, cb_softmax, cb_sigmoid, cb_focal, ldam, logit_adjust, balanced_softmax,
//   balanced_sigmoid, gcl, gcl_ang, las, eql
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"

namespace tailor {

// Every hyper-parameter of every loss, named as in the reference repositories. Defaults are the
// reference classes' defaults except gamma 1 (the released focal / GCL stage-2 value; the classes' is 0)
// and beta 0.9999 (LDAM-DRW's scripts hard-code it; class-balanced-loss's --beta default is 0); the presets
// below are the published recipes.
struct LossConfig {
  // Class weights inside the softmax cross-entropy (PyTorch weight=, weighted mean
  // sum_i w[y_i] l_i / sum_i w[y_i]). Empty = none. Used by ce, focal, ldam, logit_adjust,
  // balanced_softmax, gcl, gcl_ang, eql.
  std::vector<float> weight;
  // LDAM-DRW's --train_rule for those losses: "None", "Reweight" (effective-number weights from epoch
  // 0) or "DRW" (plain until drw_epoch, effective-number weights from then on; see losses/drw.h).
  std::string train_rule = "None";
  int drw_epoch = 160;
  double beta = 0.9999;  // effective-number beta: cb_* losses and the Reweight / DRW weights

  double gamma = 1.0;     // focal exponent: focal, cb_focal, and gcl / gcl_ang when train_cls
  bool detach_p = false;  // focal: stop the gradient through (1-p)^gamma (LDAM repo: no; GCL: always)

  double max_m = 0.5;  // ldam: margin of the rarest class
  double s = 30.0;     // ldam, gcl, gcl_ang: logit scale applied to the (perturbed) cosines

  double tau = 1.0;  // logit_adjust: prior exponent

  double m = 0.5;            // gcl, gcl_ang: additive margin on the target cosine (GCLLoss default)
  double noise_mul = 1.0;    // gcl: nu, amplitude of the Gaussian cloud
  bool train_cls = false;    // gcl, gcl_ang: stage-2 form, (1 - stopgrad(p))^gamma * l, plain mean
  double epsilon = 0.1;      // gcl_ang: angular noise amplitude
  bool easy_margin = false;  // gcl_ang: ArcFace-style easy margin

  double smooth_head = 0.3, smooth_tail = 0.0;  // las: smoothing of the largest / smallest class
  std::string shape = "concave";                // las: concave | linear | convex | exp
  double power = 1.0;                           // las: exponent of the "exp" shape

  double eql_lambda = 1.77e-3;  // eql: a class is "rare" when n_j / N < eql_lambda
  double eql_gamma = 0.9;       // eql: probability that a sample drops the rare non-target logits
};

// Published recipes (the GCL repository's CIFAR scripts).
LossConfig gcl_cifar_stage1();  // gcl: s 30, m 0, noise_mul 0.5
LossConfig gcl_cifar_stage2();  // gcl: s 20, m 0.1, noise_mul 0.5, train_cls, gamma 1
LossConfig ldam_drw_cifar();    // ldam: s 30, max_m 0.5, train_rule DRW at epoch 160, beta 0.9999

// What a loss may read about one batch. Only logits and labels are always set; each loss documents
// which of the rest it uses, and one it cannot use is an error, never silently ignored.
struct LossInput {
  Tensor logits;  // f32 [N, C] (raw cosines for ldam / gcl / gcl_ang)
  Tensor labels;  // i32 [N]; under mixup the first partner's labels y_a
  // mixup pairs: L = lambda L(logits, labels) + (1 - lambda) L(logits, labels_b), the loss evaluated twice
  // as every reference does (so GCL draws two independent noise matrices, as GCLLoss does)
  Tensor labels_b;
  float lambda = 1.f;
  // f32 [2] = (lambda, 1 - lambda) on the logits' device; when given, the mixup weights are read from it
  // (the training loop's: a captured step reads the new lambda at every replay), else from `lambda`
  Tensor mix;
  // f32 [N] per-sample factors s_i in the reduction: sum_i s_i w_{y_i} l_i / sum_i w_{y_i} (w = class
  // weights, 1 when none); ce, balanced_softmax, logit_adjust and ldam take it
  Tensor sample_weight;
  Tensor features;                                 // f32 [N, d]: the features the logits come from
  Tensor teacher_logits;                           // f32 [N, C]: a frozen teacher's logits of the same images
  const std::vector<int64_t>* indices = nullptr;   // dataset indices of the N samples
  bool mixed() const { return labels_b.defined(); }
};

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;
  // Scalar loss of one batch: compute() once, or twice under mixup.
  Tensor forward(const LossInput& in);
  Tensor forward(const Tensor& logits, const Tensor& labels);  // forward({logits, labels})
  Tensor operator()(const Tensor& logits, const Tensor& labels) { return forward(logits, labels); }
  // Call at the start of every epoch (0-based). Applies the DRW rule; other losses ignore it.
  virtual void set_epoch(int epoch);
  // Per-class weights inside the softmax CE; undefined = none. Throws for losses that take none.
  void set_class_weight(const std::vector<float>& w);
  const Tensor& class_weight() const { return weight_; }
  virtual bool accepts_class_weight() const { return true; }
  virtual bool accepts_sample_weight() const { return false; }
  int64_t num_classes() const { return (int64_t)counts_.size(); }
  const std::vector<int64_t>& class_counts() const { return counts_; }

 protected:
  Loss(std::vector<int64_t> class_counts, const LossConfig& cfg);
  // The loss of in.logits against `labels` (in.labels, or in.labels_b for mixup's second term).
  virtual Tensor compute(const LossInput& in, const Tensor& labels) = 0;
  // Checks logits [N, C] f32 and labels i32 [N] (naming this loss in the message).
  void check_inputs(const Tensor& logits, const Tensor& labels) const;
  // The class weight on the logits' device (undefined when none), uploaded once after each change.
  Tensor weight_on(const Device& d) const;
  // softmax_cross_entropy(z, labels) reduced with the class weights and in.sample_weight (when given).
  Tensor softmax_ce(const Tensor& z, const Tensor& labels, const LossInput& in) const;
  // For losses whose method fixes the weighting (cb_*, balanced_sigmoid, las): throws on weight / train_rule.
  static void reject_class_weight(const LossConfig& cfg, const char* loss_name);

  std::vector<int64_t> counts_;
  Tensor weight_;  // f32 [C] on the CPU, or undefined
  mutable Tensor weight_device_;  // its copy on the logits' device (uploaded once after each change)
  std::string train_rule_;
  int drw_epoch_;
  double beta_;
};

// Builds the loss called `name` (list above) for a training set with these per-class counts (all
// > 0). Throws naming an unknown loss or an out-of-range value. `rng` feeds the random losses (gcl,
// gcl_ang, eql); nullptr = the engine's global_rng().
std::unique_ptr<Loss> make_loss(const std::string& name, const LossConfig& cfg,
                                const std::vector<int64_t>& class_counts, Rng* rng = nullptr);
std::vector<std::string> loss_names();
// The LossConfig fields (config key names) the loss called `name` reads with these settings (beta and
// drw_epoch only under a train_rule, gcl's gamma only with train_cls, las's power only for the exp shape): a config that sets any other loss
// key for it is refused (train/config.cpp). Throws naming an unknown loss.
std::vector<std::string> loss_keys(const std::string& name, const LossConfig& cfg);

// ---- small shared building blocks
// None of these reads the device from the host: a training step stays sync-free (train/loop.h).
// f32 [n] constant tensor from doubles (per class or per sample), on device d.
Tensor f32_vector(const std::vector<double>& v, const Device& d = Device::cpu());
// A constant built once on the host (a per-class table: weights, priors, smoothing) and copied once to
// each device it is asked for, so that a step neither builds nor uploads it again.
class DeviceConstant {
 public:
  DeviceConstant() = default;
  explicit DeviceConstant(Tensor host) : host_(std::move(host)) {}
  explicit DeviceConstant(const std::vector<double>& v) : host_(f32_vector(v)) {}
  Tensor on(const Device& d);  // host_ on the CPU, else its copy on d (made on the first call)
  const Tensor& host() const { return host_; }

 private:
  Tensor host_;
  std::vector<Tensor> copies_;  // one per device
};
// log(1 + e^x) computed stably as max(x, 0) + log(1 + e^{-|x|}), with gradient sigmoid(x); the branch
// masks [x > 0] are computed on x's device.
Tensor softplus(const Tensor& x);
// Elementwise binary cross-entropy with logits, -t log sigmoid(z) - (1-t) log(1 - sigmoid(z)),
// written as TensorFlow's sigmoid_cross_entropy_with_logits: max(z,0) - z t + log(1 + e^{-|z|}).
Tensor bce_with_logits(const Tensor& z, const Tensor& t);

}  // namespace tailor
