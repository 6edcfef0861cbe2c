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
  require_cpu("log_softmax", x);
  int64_t rows, cols;
  rows_cols("log_softmax", x, rows, cols);
  Tensor out = empty_like(x);
  cpu::log_softmax(out.f32(), x.f32(), rows, cols);
  if (should_record({&x})) {
    auto n = make_node("log_softmax", {x});
    n->saved = {out.detach()};
    n->fn = [rows, cols](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous(), gi = empty_like(g);
      const float* ls = self.saved[0].f32();
      for (int64_t r = 0; r < rows; ++r) {
        const float* gr = gc.f32() + r * cols;
        double s = 0;
        for (int64_t j = 0; j < cols; ++j) s += gr[j];
        for (int64_t j = 0; j < cols; ++j) gi.f32()[r * cols + j] = gr[j] - std::exp(ls[r * cols + j]) * (float)s;
      }
      return std::vector<Tensor>{gi};
    };
    record(out, n);
  }
  return out;
}

Tensor softmax(const Tensor& x) {
  require_f32_contig("softmax", x, "x");
  require_cpu("softmax", x);
  int64_t rows, cols;
  rows_cols("softmax", x, rows, cols);
  Tensor out = empty_like(x);
  cpu::softmax(out.f32(), x.f32(), rows, cols);
  if (should_record({&x})) {
    auto n = make_node("softmax", {x});
    n->saved = {out.detach()};
    n->fn = [rows, cols](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous(), gi = empty_like(g);
      const float* s = self.saved[0].f32();
      for (int64_t r = 0; r < rows; ++r) {
        const float* gr = gc.f32() + r * cols;
        const float* sr = s + r * cols;
        double dot = 0;
        for (int64_t j = 0; j < cols; ++j) dot += (double)gr[j] * sr[j];
        for (int64_t j = 0; j < cols; ++j) gi.f32()[r * cols + j] = sr[j] * (gr[j] - (float)dot);
      }
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
  require_cpu(op, logits);
  int64_t N = logits.shape()[0], C = logits.shape()[1];
  check_labels(op, labels, N, C);
  std::string red = reduction;
  TAILOR_CHECK(red == "mean" || red == "sum" || red == "none", op, ": reduction must be mean, sum or none, got '",
               red, "'");
  if (weight.defined())
    TAILOR_CHECK(weight.dim() == 1 && weight.shape()[0] == C, op, ": weight shape ", weight.shape(),
                 " does not match ", C, " classes");
  Tensor y = labels.contiguous();
  Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  Tensor logp = empty_like(logits);
  cpu::log_softmax(logp.f32(), logits.f32(), N, C);
  std::vector<float> wrow(N, 1.f);
  double wsum = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (wc.defined()) wrow[i] = wc.f32()[y.i32()[i]];
    wsum += wrow[i];
  }
  Tensor out;
  if (red == "none") {
    out = Tensor::empty({N}, DType::F32, logits.device());
    for (int64_t i = 0; i < N; ++i) out.f32()[i] = -wrow[i] * logp.f32()[i * C + y.i32()[i]];
  } else {
    double s = 0;
    for (int64_t i = 0; i < N; ++i) s += -(double)wrow[i] * logp.f32()[i * C + y.i32()[i]];
    out = Tensor::scalar((float)(red == "mean" ? s / wsum : s), logits.device());
  }
  if (should_record({&logits})) {
    auto n = make_node(op, {logits, labels, weight});
    n->saved = {logp, y};
    float norm = red == "mean" ? (float)(1.0 / wsum) : 1.f;
    bool per_row = red == "none";
    n->fn = [N, C, wrow, norm, per_row](LambdaNode& self, const Tensor& g) {
      const Tensor &logp = self.saved[0], &y = self.saved[1];
      Tensor gc = g.contiguous();
      Tensor gi = Tensor::empty({N, C}, DType::F32, g.device());
      for (int64_t i = 0; i < N; ++i) {
        float k = wrow[i] * norm * (per_row ? gc.f32()[i] : gc.f32()[0]);
        const float* lp = logp.f32() + i * C;
        float* o = gi.f32() + i * C;
        for (int64_t j = 0; j < C; ++j) o[j] = k * std::exp(lp[j]);
        o[y.i32()[i]] -= k;
      }
      return std::vector<Tensor>{gi, Tensor(), Tensor()};
    };
    record(out, n);
  }
  return out;
}

Tensor gather(const Tensor& x, const Tensor& index) {
  check_dim("gather", x, 2, "x");
  require_f32_contig("gather", x, "x");
  require_cpu("gather", x);
  int64_t N = x.shape()[0], C = x.shape()[1];
  check_labels("gather", index, N, C);
  Tensor idx = index.contiguous();
  Tensor out = Tensor::empty({N}, DType::F32, x.device());
  for (int64_t i = 0; i < N; ++i) out.f32()[i] = x.f32()[i * C + idx.i32()[i]];
  if (should_record({&x})) {
    auto n = make_node("gather", {x, index});
    n->saved = {idx};
    n->fn = [N, C](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      Tensor gi = Tensor::zeros({N, C}, DType::F32, g.device());
      for (int64_t i = 0; i < N; ++i) gi.f32()[i * C + self.saved[0].i32()[i]] = gc.f32()[i];
      return std::vector<Tensor>{gi, Tensor()};
    };
    record(out, n);
  }
  return out;
}

Tensor argmax(const Tensor& x) { return topk_indices(x, 1).reshape({-1}); }

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
  check_labels("one_hot", labels, N, classes);
  Tensor y = labels.contiguous().cpu();
  Tensor out = Tensor::zeros({N, classes});
  for (int64_t i = 0; i < N; ++i) out.f32()[i * classes + y.i32()[i]] = 1.f;
  return labels.device().is_cpu() ? out : out.to(labels.device());
}

}  // namespace tailor
