// The backward walk (flashlight Variable::backward style): topological order, reverse visit,
// gradients summed per tensor, saved tensors freed as soon as a node has run.
#include "engine/autograd.h"

#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"
#include "engine/profiler.h"

namespace tailor {

static thread_local bool g_grad_enabled = true;
static bool g_anomaly = false;

static thread_local const GradReadyHook* g_grad_ready = nullptr;

GradReadyHook::GradReadyHook(std::function<void(const Tensor&)> ready, std::function<void(const Reaches&)> start)
    : ready_(std::move(ready)), start_(std::move(start)), prev_(g_grad_ready) {
  g_grad_ready = this;
}
GradReadyHook::~GradReadyHook() { g_grad_ready = prev_; }
const GradReadyHook* GradReadyHook::current() { return g_grad_ready; }

bool GradMode::enabled() { return g_grad_enabled; }
void GradMode::set_enabled(bool on) { g_grad_enabled = on; }
void set_anomaly_detection(bool on) { g_anomaly = on; }
bool anomaly_detection() { return g_anomaly; }

bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

static void check_finite_forward(const char* op, const Tensor& t) {
  if (t.dtype() != DType::F32 && t.dtype() != DType::BF16) return;  // (bf16: precision bf16's activations)
  for (float v : t.to_vector())
    if (!std::isfinite(v)) fail(std::string("non-finite value produced by the forward of '") + op + "'");
}

void record(Tensor& out, std::shared_ptr<Node> node) {
  if (g_anomaly) check_finite_forward(node->name, out);
  node->out_shape = out.shape();
  out.impl()->requires_grad = true;
  out.set_grad_fn(std::move(node));
}

// g += delta (same shape and type, fresh buffers owned by backward). A bf16 gradient (precision bf16's
// activations) is summed in float32 and rounded once, as autocast's bf16 gradients are.
static void accumulate_into(Tensor& g, const Tensor& delta) {
  if (!g.defined()) {
    g = delta;
    return;
  }
  NoGradGuard ng;
  g = add(g, delta);
}

static void check_finite(const char* op, const Tensor& g) {
  for (float v : g.to_vector())
    if (!std::isfinite(v)) fail(std::string("non-finite gradient produced by the backward of '") + op + "'");
}

void run_backward(const Tensor& root, const Tensor& grad_output, bool retain_graph) {
  TAILOR_CHECK(root.requires_grad(), "backward: the tensor does not require grad (no op on its path had an input "
               "with requires_grad)");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    TAILOR_CHECK(root.numel() == 1, "backward: grad_output may be omitted only for a scalar, got shape ",
                 root.shape());
    seed = Tensor::full(root.shape(), 1.f, root.device());
    if (root.dtype() == DType::BF16) seed = to_dtype(seed, DType::BF16);
  }
  check_same_shape("backward", root, seed);
  TAILOR_CHECK(seed.dtype() == root.dtype(), "backward: grad_output is ", dtype_name(seed.dtype()),
               " but the tensor is ", dtype_name(root.dtype()), " (a gradient has its tensor's type)");
  NoGradGuard no_grad;  // backward itself is never recorded
  profile::PhaseScope phase("backward");
  const GradReadyHook* hook = GradReadyHook::current();

  if (!root.grad_fn()) {  // a leaf
    if (hook) hook->start([&](const Tensor& leaf) { return leaf.impl() == root.impl(); });
    Tensor g = root.grad();
    accumulate_into(g, seed.clone());
    root.impl()->grad = g;
    if (hook) hook->ready(root);
    return;
  }

  // Topological order by iterative DFS over grad_fn edges.
  // `order` owns the nodes: clearing a node's inputs may drop the last other reference to them.
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> seen;
  std::unordered_map<TensorImpl*, int64_t> leaf_edges;  // with a hook: contributions still to come per leaf
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root.grad_fn(), 0}};
  seen.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      if (hook && in.defined() && in.requires_grad() && !in.grad_fn()) ++leaf_edges[in.impl()];
      if (in.defined() && in.requires_grad() && in.grad_fn() && !seen.count(in.grad_fn().get())) {
        seen.insert(in.grad_fn().get());
        stack.push_back({in.grad_fn(), 0});
      }
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  if (hook) hook->start([&](const Tensor& leaf) { return leaf_edges.count(leaf.impl()) > 0; });

  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = it->get();
    auto git = grads.find(node);
    if (git == grads.end()) continue;  // no gradient reached this node
    Tensor dout = git->second;
    grads.erase(git);
    TAILOR_CHECK(node->saved.size() || node->inputs.size() || retain_graph, "backward through '", node->name,
                 "' a second time: its saved tensors were freed (use retain_graph)");
    std::vector<Tensor> gin = node->backward(dout);
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      if (!node->needs_grad(i)) continue;
      TAILOR_CHECK(i < gin.size() && gin[i].defined(), "backward of '", node->name, "' returned no gradient for input ",
                   i);
      Tensor& in = node->inputs[i];
      TAILOR_CHECK(gin[i].shape() == in.shape(), "backward of '", node->name, "': gradient shape ", gin[i].shape(),
                   " for input ", i, " of shape ", in.shape());
      TAILOR_CHECK(gin[i].dtype() == in.dtype(), "backward of '", node->name, "': gradient type ",
                   dtype_name(gin[i].dtype()), " for input ", i, " of type ", dtype_name(in.dtype()));
      if (g_anomaly) check_finite(node->name, gin[i]);
      if (in.grad_fn()) {
        accumulate_into(grads[in.grad_fn().get()], gin[i]);
      } else {
        Tensor g = in.grad();
        accumulate_into(g, gin[i]);
        in.impl()->grad = g;
        if (hook && --leaf_edges[in.impl()] == 0) hook->ready(in);  // its last contribution: final
      }
    }
    if (!retain_graph) {
      node->release();
      node->inputs.clear();
    }
  }
}

}  // namespace tailor
