// Module: named parameters, buffers and child modules with PyTorch-style dotted names
// (e.g. "layer1.0.conv1.weight", "bn1.running_mean"), train/eval mode, state dicts.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"

namespace tailor {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x) { fail("forward() not implemented for this module"); }
  Tensor operator()(const Tensor& x) { return forward(x); }

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Recursive, in PyTorch state_dict order: own params, own buffers, then children.
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  NamedTensors state_dict() const;  // parameters and buffers, interleaved per module like PyTorch
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;
  void zero_grad();
  void requires_grad_(bool on);  // freeze / unfreeze every parameter
  // Moves every parameter and buffer to device d in place (handles held elsewhere follow).
  void to(Device d);
  Device device() const;  // the device of the first parameter or buffer (CPU when there is none)
  std::shared_ptr<Module> child(const std::string& name) const;
  // This module and every descendant, depth first in registration order.
  void for_each_module(const std::function<void(Module&)>& f);

  // Strict load: every name must match with the same shape unless allow_partial; returns a report
  // of missing / unexpected / shape-mismatched names.
  struct LoadReport {
    std::vector<std::string> missing, unexpected, mismatched;
    size_t loaded = 0, total = 0;    // tensors copied, of the model's
    std::vector<std::string> notes;  // what was adapted on the way (train/checkpoint.h read_foreign_weights)
    bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
    std::string str() const;
  };
  LoadReport load_state_dict(const std::map<std::string, Tensor>& sd, bool allow_partial = false);
  // What load_state_dict would find (missing, unexpected, mismatched, total; loaded stays 0), loading nothing.
  LoadReport compare_state_dict(const std::map<std::string, Tensor>& sd) const;

 protected:
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  virtual void on_train_mode(bool) {}
  // Swap (or add) the child called `name`, keeping its position in the state-dict order.
  void replace_child(const std::string& name, std::shared_ptr<Module> m);

 private:
  void collect(const std::string& prefix, NamedTensors* params, NamedTensors* buffers, NamedTensors* both) const;
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Momentum (EMA) copy, no autograd: every parameter p of `target` becomes m*p + (1-m)*q, q the parameter of
// `source` with the same name (MoCo's key encoder; ops.h ema_ for the roundings). Buffers are left alone
// (MoCo's key encoder keeps its own BatchNorm statistics). A name `source` lacks is an error.
void ema_update(Module& target, const Module& source, double m);

// Runs children in registration order; children are named "0", "1", ... like nn.Sequential.
class Sequential : public Module {
 public:
  void add(std::shared_ptr<Module> m) { mods_.push_back(register_module(std::to_string(mods_.size()), m)); }
  Tensor forward(const Tensor& x) override;
  size_t size() const { return mods_.size(); }
  std::shared_ptr<Module> at(size_t i) const { return mods_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> mods_;
};

}  // namespace tailor
