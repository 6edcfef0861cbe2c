// Softmax family over the last dim, the fused softmax cross-entropy, gather and the no-grad queries.
//   log_softmax backward: dx = g - softmax(x) * sum_j g_j
//   softmax backward:     dx = s * (g - sum_j g_j s_j)
//   CE_i = -log_softmax(x_i)[y_i]; weighted mean = sum_i w[y_i] CE_i / sum_i w[y_i] (PyTorch)
//   dCE/dx_i = (softmax(x_i) - onehot(y_i)) * w[y_i] * scale_i
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/ops/common.h"

namespace tailor {

static void rows_cols(const char* op, const Tensor& x, int64_t& rows, int64_t& cols) {
  TAILOR_CHECK(x.dim() >= 1, op, ": needs at least 1 dim, got ", x.shape());
  cols = x.shape().back();
  rows = cols ? x.numel() / cols : 0;
}

Tensor log_softmax(const Tensor& x) {
  require_f32_contig("log_softmax", x, "x");
  int64_t rows, cols;
  rows_cols("log_softmax", x, rows, cols);
  Tensor out = empty_like(x);
  TAILOR_KERNEL(out, log_softmax, out.f32(), x.f32(), rows, cols);
  if (should_record({&x})) {
    auto n = make_node("log_softmax", {x});
    n->saved = {out.detach()};
    n->fn = [rows, cols](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous(), gi = empty_like(g);
      TAILOR_KERNEL(g, log_softmax_backward, gi.f32(), gc.f32(), self.saved[0].f32(), rows, cols);
      return std::vector<Tensor>{gi};
    };
    record(out, n);
  }
  return out;
}

Tensor softmax(const Tensor& x) {
  require_f32_contig("softmax", x, "x");
  int64_t rows, cols;
  rows_cols("softmax", x, rows, cols);
  Tensor out = empty_like(x);
  TAILOR_KERNEL(out, softmax, out.f32(), x.f32(), rows, cols);
  if (should_record({&x})) {
    auto n = make_node("softmax", {x});
    n->saved = {out.detach()};
    n->fn = [rows, cols](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous(), gi = empty_like(g);
      TAILOR_KERNEL(g, softmax_backward, gi.f32(), gc.f32(), self.saved[0].f32(), rows, cols);
      return std::vector<Tensor>{gi};
    };
    record(out, n);
  }
  return out;
}

static void check_labels(const char* op, const Tensor& labels, int64_t N, int64_t C) {
  check_dtype(op, labels, DType::I32, "labels");
  TAILOR_CHECK(labels.dim() == 1 && labels.shape()[0] == N, op, ": labels shape ", labels.shape(),
               " does not match ", N, " rows");
  if (labels.is_cuda()) return;  // no host round trip per step: CUDA kernels give NaN for a bad label
  Tensor lc = labels.contiguous();
  for (int64_t i = 0; i < N; ++i)
    TAILOR_CHECK(lc.i32()[i] >= 0 && lc.i32()[i] < C, op, ": label ", lc.i32()[i], " at row ", i,
                 " out of range [0, ", C, ")");
}

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& weight,
                             const char* reduction) {
  const char* op = "softmax_cross_entropy";
  check_dim(op, logits, 2, "logits");
  require_f32_contig(op, logits, "logits");
  int64_t N = logits.shape()[0], C = logits.shape()[1];
  check_labels(op, labels, N, C);
  std::string red = reduction;
  TAILOR_CHECK(red == "mean" || red == "sum" || red == "none", op, ": reduction must be mean, sum or none, got '",
               red, "'");
  if (weight.defined())
    TAILOR_CHECK(weight.dim() == 1 && weight.shape()[0] == C, op, ": weight shape ", weight.shape(),
                 " does not match ", C, " classes");
  check_same_device(op, logits, labels);
  if (weight.defined()) check_same_device(op, logits, weight);
  Device dev = logits.device();
  Tensor y = labels.contiguous();
  Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  Tensor logp = empty_like(logits);
  TAILOR_KERNEL(logits, log_softmax, logp.f32(), logits.f32(), N, C);
  Tensor wrow = Tensor::empty({N}, DType::F32, dev);
  TAILOR_KERNEL(logits, label_weights, wrow.f32(), wc.defined() ? wc.f32() : nullptr, y.i32(), N, C);
  Tensor rows = Tensor::empty({N}, DType::F32, dev);
  TAILOR_KERNEL(logits, nll_rows, rows.f32(), logp.f32(), y.i32(), wrow.f32(), N, C);
  Tensor out = rows, norm = red == "none" ? Tensor::ones({}, dev) : Tensor::empty({}, DType::F32, dev);
  if (red != "none") {
    out = Tensor::empty({}, DType::F32, dev);
    TAILOR_KERNEL(logits, ce_reduce, out.f32(), norm.f32(), rows.f32(), wrow.f32(), N, red == "mean");
  }
  if (should_record({&logits})) {
    auto n = make_node(op, {logits, labels, weight});
    n->saved = {logp, y, wrow, norm};
    bool per_row = red == "none";
    n->fn = [N, C, per_row](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      Tensor gi = Tensor::empty({N, C}, DType::F32, g.device());
      TAILOR_KERNEL(g, cross_entropy_backward, gi.f32(), self.saved[0].f32(), self.saved[1].i32(),
                    self.saved[2].f32(), gc.f32(), self.saved[3].f32(), per_row, N, C);
      return std::vector<Tensor>{gi, Tensor(), Tensor()};
    };
    record(out, n);
  }
  return out;
}

Tensor gather(const Tensor& x, const Tensor& index) {
  check_dim("gather", x, 2, "x");
  require_f32_contig("gather", x, "x");
  int64_t N = x.shape()[0], C = x.shape()[1];
  check_labels("gather", index, N, C);
  Tensor idx = index.contiguous();
  check_same_device("gather", x, index);
  Tensor out = Tensor::empty({N}, DType::F32, x.device());
  TAILOR_KERNEL(x, gather_rows, out.f32(), x.f32(), idx.i32(), N, C);
  if (should_record({&x})) {
    auto n = make_node("gather", {x, index});
    n->saved = {idx};
    n->fn = [N, C](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      Tensor gi = Tensor::empty({N, C}, DType::F32, g.device());
      TAILOR_KERNEL(g, scatter_rows, gi.f32(), gc.f32(), self.saved[0].i32(), N, C);
      return std::vector<Tensor>{gi, Tensor()};
    };
    record(out, n);
  }
  return out;
}

Tensor take(const Tensor& table, const Tensor& index) {
  check_dim("take", table, 1, "table");
  require_f32_contig("take", table, "table");
  TAILOR_CHECK(!table.requires_grad(), "take: the table is a constant (no gradient flows into it)");
  const int64_t C = table.shape()[0];
  check_dim("take", index, 1, "index");
  const int64_t N = index.shape()[0];
  check_labels("take", index, N, C);
  check_same_device("take", table, index);
  Tensor idx = index.contiguous();
  Tensor out = Tensor::empty({N}, DType::F32, table.device());
  TAILOR_KERNEL(table, take, out.f32(), table.f32(), idx.i32(), N, C);
  return out;
}

// On the device itself (no host read: a CAMC head's predicted-class map stays inside a captured graph).
Tensor argmax(const Tensor& x) {
  TAILOR_CHECK(x.dim() == 2 && x.shape()[1] >= 1, "argmax: x must be [N, C] with C >= 1, got ", x.shape());
  Tensor xc = x.contiguous();
  require_f32_contig("argmax", xc, "x");
  Tensor out = Tensor::empty({x.shape()[0]}, DType::I32, x.device());
  TAILOR_KERNEL(xc, argmax_rows, out.i32(), xc.f32(), x.shape()[0], x.shape()[1]);
  return out;
}

Tensor topk_indices(const Tensor& x, int64_t k) {
  TAILOR_CHECK(x.dim() == 2, "topk_indices: x must be [N, C], got ", x.shape());
  Tensor xc = x.contiguous().cpu();
  int64_t N = x.shape()[0], C = x.shape()[1];
  TAILOR_CHECK(k >= 1 && k <= C, "topk_indices: k=", k, " out of range for ", C, " classes");
  Tensor out = Tensor::empty({N, k}, DType::I32);
  std::vector<int32_t> order(C);
  for (int64_t i = 0; i < N; ++i) {
    const float* row = xc.f32() + i * C;
    std::iota(order.begin(), order.end(), 0);
    // largest first; ties keep the lower index (stable)
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [row](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    std::copy(order.begin(), order.begin() + k, out.i32() + i * k);
  }
  return x.device().is_cpu() ? out : out.to(x.device());
}

Tensor one_hot(const Tensor& labels, int64_t classes) {
  check_dim("one_hot", labels, 1, "labels");
  int64_t N = labels.shape()[0];
  Tensor y = labels.contiguous();
  check_labels("one_hot", y, N, classes);
  if (y.is_cuda()) {  // on the device, no host round trip (a label out of range gives a row of NaN)
    Tensor out = Tensor::empty({N, classes}, DType::F32, y.device()), ones = Tensor::ones({N}, y.device());
    TAILOR_KERNEL(out, scatter_rows, out.f32(), ones.f32(), y.i32(), N, classes);
    return out;
  }
  Tensor out = Tensor::zeros({N, classes});
  for (int64_t i = 0; i < N; ++i) out.f32()[i * classes + y.i32()[i]] = 1.f;
  return out;
}

}  // namespace tailor
