#include "losses/loss.h"

#include <cmath>

#include "losses/balanced_sigmoid.h"
#include "losses/balanced_softmax.h"
#include "losses/class_balanced.h"
#include "losses/cross_entropy.h"
#include "losses/drw.h"
#include "losses/equalization.h"
#include "losses/focal.h"
#include "losses/gcl.h"
#include "losses/gcl_ang.h"
#include "losses/label_aware_smoothing.h"
#include "losses/ldam.h"
#include "losses/logit_adjust.h"

namespace tailor {

LossConfig gcl_cifar_stage1() {  // Keke921/GCLLoss cifar_train_backbone.py
  LossConfig c;
  c.s = 30;
  c.m = 0.0;
  c.noise_mul = 0.5;
  return c;
}

LossConfig gcl_cifar_stage2() {  // cifar_train_classifier.py
  LossConfig c;
  c.s = 20;
  c.m = 0.1;
  c.noise_mul = 0.5;
  c.train_cls = true;
  c.gamma = 1.0;
  return c;
}

LossConfig ldam_drw_cifar() {  // kaidic/LDAM-DRW cifar_train.py --loss_type LDAM --train_rule DRW
  LossConfig c;
  c.s = 30;
  c.max_m = 0.5;
  c.train_rule = "DRW";
  c.drw_epoch = 160;
  c.beta = 0.9999;
  return c;
}

// ---- base

// A checked f32 [C] weight tensor (empty vector -> undefined). Non-virtual: used by the constructor.
static Tensor weight_tensor(const std::vector<float>& w, int64_t classes, const std::string& who) {
  if (w.empty()) return Tensor();
  TAILOR_CHECK((int64_t)w.size() == classes, who, ": ", w.size(), " class weights for ", classes, " classes");
  for (size_t j = 0; j < w.size(); ++j)
    TAILOR_CHECK(std::isfinite(w[j]) && w[j] >= 0, who, ": class weight ", j, " must be finite and >= 0, got ", w[j]);
  return Tensor::from_vector(w, {(int64_t)w.size()});
}

Loss::Loss(std::vector<int64_t> class_counts, const LossConfig& cfg)
    : counts_(std::move(class_counts)), train_rule_(cfg.train_rule), drw_epoch_(cfg.drw_epoch), beta_(cfg.beta) {
  TAILOR_CHECK(!counts_.empty(), "loss: no class counts given");
  for (size_t j = 0; j < counts_.size(); ++j)
    TAILOR_CHECK(counts_[j] > 0, "loss: class ", j, " has ", counts_[j], " training images (every count must be > 0)");
  TAILOR_CHECK(cfg.weight.empty() || train_rule_ == "None",
               "loss: give either explicit class weights or a train_rule, not both");
  weight_ = weight_tensor(cfg.weight, num_classes(), "loss");
  // DRW / Reweight: the weights of epoch 0 until set_epoch is called
  if (train_rule_ != "None")
    weight_ = weight_tensor(drw_class_weights(train_rule_, counts_, 0, drw_epoch_, beta_), num_classes(), "loss");
}

void Loss::reject_class_weight(const LossConfig& cfg, const char* loss_name) {
  TAILOR_CHECK(cfg.weight.empty() && cfg.train_rule == "None", loss_name,
               ": this loss takes no class weights (weight must be empty and train_rule None)");
}

void Loss::set_class_weight(const std::vector<float>& w) {
  TAILOR_CHECK(accepts_class_weight() || w.empty(), name(), ": this loss takes no class weights");
  weight_ = weight_tensor(w, num_classes(), name());
  weight_device_ = Tensor();
}

void Loss::set_epoch(int epoch) {
  if (train_rule_ == "None") return;
  set_class_weight(drw_class_weights(train_rule_, counts_, epoch, drw_epoch_, beta_));
}

Tensor Loss::forward(const LossInput& in) {
  if (in.sample_weight.defined()) {
    TAILOR_CHECK(accepts_sample_weight(), name(), ": this loss takes no per-sample weights");
    TAILOR_CHECK(in.sample_weight.dim() == 1 && in.sample_weight.size(0) == in.logits.size(0), name(),
                 ": sample_weight must be [", in.logits.size(0), "], got ", in.sample_weight.shape());
  }
  if (!in.mixed()) return compute(in, in.labels);
  TAILOR_CHECK(in.lambda >= 0 && in.lambda <= 1, name(), ": mixup lambda must be in [0, 1], got ", in.lambda);
  Tensor la = compute(in, in.labels);
  Tensor lb = compute(in, in.labels_b);
  if (in.mix.defined()) {  // the same products, the factors read on the device
    TAILOR_CHECK(in.mix.numel() == 2 && in.mix.dtype() == DType::F32, name(), ": mix must be f32 [2], got ",
                 in.mix.desc());
    return add(mul(la, in.mix.select(0)), mul(lb, in.mix.select(1)));
  }
  return add(scale(la, in.lambda), scale(lb, 1.f - in.lambda));
}

Tensor Loss::forward(const Tensor& logits, const Tensor& labels) {
  LossInput in;
  in.logits = logits;
  in.labels = labels;
  return forward(in);
}

Tensor Loss::softmax_ce(const Tensor& z, const Tensor& labels, const LossInput& in) const {
  const Tensor w = weight_on(z.device());
  if (!in.sample_weight.defined()) return softmax_cross_entropy(z, labels, w, "mean");
  // sum_i s_i w_{y_i} l_i / sum_i w_{y_i}: "none" gives w_{y_i} l_i; the denominator is a constant
  std::vector<int32_t> y = labels.contiguous().cpu().to_vector_i32();
  double denom = (double)y.size();
  if (weight_.defined()) {
    const float* wv = weight_.f32();
    denom = 0;
    for (int32_t c : y) {
      TAILOR_CHECK(c >= 0 && c < num_classes(), name(), ": label ", c, " outside [0, ", num_classes(), ")");
      denom += wv[c];
    }
  }
  TAILOR_CHECK(denom > 0, name(), ": the class weights of the batch's labels sum to 0");
  Tensor rows = softmax_cross_entropy(z, labels, w, "none");
  return scale(sum_all(mul(in.sample_weight, rows)), (float)(1.0 / denom));
}

void Loss::check_inputs(const Tensor& logits, const Tensor& labels) const {
  std::string op = name();
  check_dim(op.c_str(), logits, 2, "logits");
  check_dtype(op.c_str(), logits, DType::F32, "logits");
  check_dtype(op.c_str(), labels, DType::I32, "labels");
  TAILOR_CHECK(logits.size(1) == num_classes(), op, ": logits ", logits.shape(), " but the loss was built for ",
               num_classes(), " classes");
  TAILOR_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0), op, ": labels ", labels.shape(),
               " do not match logits ", logits.shape());
}

Tensor Loss::weight_on(const Device& d) const {
  if (!weight_.defined() || weight_.device() == d) return weight_;
  if (!weight_device_.defined() || weight_device_.device() != d) weight_device_ = weight_.to(d);  // once per change
  return weight_device_;
}

// ---- building blocks

Tensor f32_vector(const std::vector<double>& v, const Device& d) {
  std::vector<float> f(v.begin(), v.end());
  Tensor t = Tensor::from_vector(f, {(int64_t)f.size()});
  return d.is_cpu() ? t : t.to(d);
}

Tensor DeviceConstant::on(const Device& d) {
  TAILOR_CHECK(host_.defined(), "DeviceConstant: no value");
  if (d.is_cpu()) return host_;
  for (const Tensor& t : copies_)
    if (t.device() == d) return t;
  copies_.push_back(host_.to(d));  // host -> device: not a read
  return copies_.back();
}

Tensor softplus(const Tensor& x) {
  // constant masks from the values, on x's device: P = [x > 0], S = 2P - 1 (exactly 1 or -1), so
  // max(x, 0) = P x and |x| = S x; the gradient is then sigmoid(x) everywhere, 1/2 at x = 0 included
  Tensor P = greater(x, Tensor::zeros({}, DType::F32, x.device()));
  Tensor S = add_scalar(scale(P, 2.f), -1.f);
  return add(mul(P, x), log(add_scalar(exp(neg(mul(S, x))), 1.f)));
}

Tensor bce_with_logits(const Tensor& z, const Tensor& t) {
  // max(z, 0) - z t + log(1 + e^{-|z|}) = softplus(z) - z t
  return sub(softplus(z), mul(z, t));
}

// ---- factory

std::vector<std::string> loss_names() {
  return {"ce",
          "focal",
          "cb_softmax",
          "cb_sigmoid",
          "cb_focal",
          "ldam",
          "logit_adjust",
          "balanced_softmax",
          "balanced_sigmoid",
          "gcl",
          "gcl_ang",
          "las",
          "eql"};
}

std::vector<std::string> loss_keys(const std::string& name, const LossConfig& c) {
  // the class-weight keys of the losses built on the (weighted) softmax cross-entropy
  std::vector<std::string> w = {"weight", "train_rule"};
  if (c.train_rule != "None") w.push_back("beta");
  if (c.train_rule == "DRW") w.push_back("drw_epoch");
  auto with_w = [&](std::vector<std::string> k) {
    k.insert(k.end(), w.begin(), w.end());
    return k;
  };
  auto focal_if = [&](std::vector<std::string> k) {  // gcl / gcl_ang: gamma only in the stage-2 form
    if (c.train_cls) k.push_back("gamma");
    return with_w(k);
  };
  if (name == "ce" || name == "balanced_softmax") return with_w({});
  if (name == "focal") return with_w({"gamma", "detach_p"});
  if (name == "cb_softmax" || name == "cb_sigmoid") return {"beta"};
  if (name == "cb_focal") return {"beta", "gamma"};
  if (name == "ldam") return with_w({"max_m", "s"});
  if (name == "logit_adjust") return with_w({"tau"});
  if (name == "balanced_sigmoid") return {};
  if (name == "gcl") return focal_if({"s", "m", "noise_mul", "train_cls"});
  if (name == "gcl_ang") return focal_if({"s", "m", "epsilon", "easy_margin", "train_cls"});
  if (name == "las") {
    std::vector<std::string> k = {"smooth_head", "smooth_tail", "shape"};
    if (c.shape == "exp") k.push_back("power");
    return k;
  }
  if (name == "eql") return with_w({"eql_lambda", "eql_gamma"});
  std::string known;
  for (auto& n : loss_names()) known += (known.empty() ? "" : ", ") + n;
  fail("unknown loss '" + name + "' (known: " + known + ")");
}

static void check_config(const std::string& name, const LossConfig& c) {
  auto need = [&](bool ok, const char* what, double v) {
    TAILOR_CHECK(ok, "make_loss(", name, "): ", what, ", got ", v);
  };
  need(std::isfinite(c.beta) && c.beta >= 0 && c.beta < 1, "beta must be in [0, 1)", c.beta);
  need(std::isfinite(c.gamma) && c.gamma >= 0, "gamma must be >= 0", c.gamma);
  need(std::isfinite(c.max_m) && c.max_m >= 0, "max_m must be >= 0", c.max_m);
  need(std::isfinite(c.s) && c.s > 0, "s must be > 0", c.s);
  need(std::isfinite(c.tau), "tau must be finite", c.tau);
  need(std::isfinite(c.m) && c.m >= 0, "m must be >= 0", c.m);
  need(std::isfinite(c.noise_mul) && c.noise_mul >= 0, "noise_mul must be >= 0", c.noise_mul);
  need(std::isfinite(c.epsilon) && c.epsilon >= 0, "epsilon must be >= 0", c.epsilon);
  need(c.smooth_head >= 0 && c.smooth_head <= 1, "smooth_head must be in [0, 1]", c.smooth_head);
  need(c.smooth_tail >= 0 && c.smooth_tail <= 1, "smooth_tail must be in [0, 1]", c.smooth_tail);
  need(std::isfinite(c.power) && c.power > 0, "power must be > 0", c.power);
  need(c.eql_lambda >= 0 && c.eql_lambda <= 1, "eql_lambda must be in [0, 1]", c.eql_lambda);
  need(c.eql_gamma >= 0 && c.eql_gamma <= 1, "eql_gamma must be in [0, 1]", c.eql_gamma);
  need(c.drw_epoch >= 0, "drw_epoch must be >= 0", c.drw_epoch);
  TAILOR_CHECK(c.train_rule == "None" || c.train_rule == "Reweight" || c.train_rule == "DRW", "make_loss(", name,
               "): train_rule must be None, Reweight or DRW, got '", c.train_rule, "'");
  TAILOR_CHECK(c.weight.empty() || c.train_rule == "None", "make_loss(", name,
               "): give either explicit class weights or a train_rule, not both");
  TAILOR_CHECK(c.shape == "concave" || c.shape == "linear" || c.shape == "convex" || c.shape == "exp", "make_loss(",
               name, "): shape must be concave, linear, convex or exp, got '", c.shape, "'");
}

std::unique_ptr<Loss> make_loss(const std::string& name, const LossConfig& cfg, const std::vector<int64_t>& counts,
                                Rng* rng) {
  check_config(name, cfg);
  Rng& r = rng ? *rng : global_rng();
  using std::make_unique;
  if (name == "ce") return make_unique<CrossEntropyLoss>(counts, cfg);
  if (name == "focal") return make_unique<FocalLoss>(counts, cfg);
  if (name == "cb_softmax") return make_unique<ClassBalancedLoss>(counts, cfg, "softmax");
  if (name == "cb_sigmoid") return make_unique<ClassBalancedLoss>(counts, cfg, "sigmoid");
  if (name == "cb_focal") return make_unique<ClassBalancedLoss>(counts, cfg, "focal");
  if (name == "ldam") return make_unique<LDAMLoss>(counts, cfg);
  if (name == "logit_adjust") return make_unique<LogitAdjustedLoss>(counts, cfg);
  if (name == "balanced_softmax") return make_unique<BalancedSoftmaxLoss>(counts, cfg);
  if (name == "balanced_sigmoid") return make_unique<BalancedSigmoidLoss>(counts, cfg);
  if (name == "gcl") return make_unique<GCLLoss>(counts, cfg, r);
  if (name == "gcl_ang") return make_unique<GCLAngLoss>(counts, cfg, r);
  if (name == "las") return make_unique<LabelAwareSmoothingLoss>(counts, cfg);
  if (name == "eql") return make_unique<SoftmaxEQLLoss>(counts, cfg, r);
  std::string known;
  for (auto& n : loss_names()) known += (known.empty() ? "" : ", ") + n;
  fail("make_loss: unknown loss '" + name + "' (known: " + known + ")");
}

}  // namespace tailor
