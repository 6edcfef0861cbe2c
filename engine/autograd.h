// Reverse-mode autograd: a dynamic graph of Nodes recorded by op forwards.
//
// An op records a Node only when grad mode is on and some input requires grad. The Node keeps
// edges to its inputs (for a leaf: the tensor, whose .grad accumulates; for an intermediate: its
// grad_fn) and whatever backward needs in `saved` (save an OUTPUT as output.detach(), never the
// output itself, or the output would own its own grad_fn in a cycle).
// backward(loss): topological order from loss.grad_fn, each node's backward returns one gradient per
// input (undefined where not needed); gradients of a tensor used twice are summed; saved tensors are
// freed as soon as a node has run (unless retain_graph).
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace tailor {

struct Node {
  const char* name = "node";
  std::vector<Tensor> inputs;  // every tensor input, in the op's argument order (may be undefined)
  std::vector<Tensor> saved;   // tensors backward needs; cleared after backward runs
  Shape out_shape;             // shape of the recorded output (for seeding and checks)
  virtual ~Node() = default;
  // dout has out_shape. Returns gradients aligned with `inputs`; return Tensor() where
  // !needs_grad(i). Gradients must be freshly allocated (never alias dout unless documented).
  virtual std::vector<Tensor> backward(const Tensor& dout) = 0;
  bool needs_grad(size_t i) const { return i < inputs.size() && inputs[i].defined() && inputs[i].requires_grad(); }
  virtual void release() { saved.clear(); }
};

// A Node whose backward is a lambda: for simple ops.
struct LambdaNode : Node {
  std::function<std::vector<Tensor>(LambdaNode&, const Tensor&)> fn;
  std::vector<Tensor> backward(const Tensor& dout) override { return fn(*this, dout); }
  void release() override {
    saved.clear();
    fn = nullptr;
  }
};

// Thread-local grad mode (PyTorch GradMode). NoGradGuard disables recording in its scope.
struct GradMode {
  static bool enabled();
  static void set_enabled(bool on);
};
struct NoGradGuard {
  bool prev;
  NoGradGuard() : prev(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev); }
};

// True when an op with these inputs must record a node.
bool should_record(std::initializer_list<const Tensor*> inputs);

// Attach `node` (with inputs filled) as grad_fn of `out`; sets out.requires_grad.
void record(Tensor& out, std::shared_ptr<Node> node);

// Run backward from `root` (seed: ones for a scalar when grad_output is undefined).
void run_backward(const Tensor& root, const Tensor& grad_output, bool retain_graph);

// Gradient-ready listener (data-parallel training starts each bucket's all-reduce while backward still
// runs, train/data_parallel.h). While a GradReadyHook lives, every backward on this thread
//   - calls `start` once, before the walk, with a test telling whether a leaf is in this backward's graph
//     (has an edge from it): the others get no gradient from it, and can be dealt with at once;
//   - calls `ready` with each leaf whose .grad is final for that backward: right after the last of its
//     contributions (one per edge into the leaf, counted over the graph before the walk) was accumulated,
//     in the order backward finishes them.
// Without a hook backward counts nothing. Hooks nest: the innermost one listens.
class GradReadyHook {
 public:
  using Reaches = std::function<bool(const Tensor& leaf)>;
  explicit GradReadyHook(std::function<void(const Tensor& leaf)> ready,
                         std::function<void(const Reaches&)> start = nullptr);
  ~GradReadyHook();
  GradReadyHook(const GradReadyHook&) = delete;
  GradReadyHook& operator=(const GradReadyHook&) = delete;
  static const GradReadyHook* current();  // null: no listener
  void start(const Reaches& reaches) const {
    if (start_) start_(reaches);
  }
  void ready(const Tensor& leaf) const { ready_(leaf); }

 private:
  std::function<void(const Tensor&)> ready_;
  std::function<void(const Reaches&)> start_;
  const GradReadyHook* prev_;
};

// Debug: when set, every recorded op's output (forward) and every gradient (backward) is checked for
// NaN/Inf, and the first op that produced one is named in the error.
void set_anomaly_detection(bool on);
bool anomaly_detection();

}  // namespace tailor
