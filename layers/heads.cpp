#include "layers/heads.h"

#include <algorithm>
#include <cmath>

namespace tailor {

// A Linear whose values are about to be overwritten: its throwaway init draws from a local stream.
static std::shared_ptr<Linear> linear_to_overwrite(int64_t in, int64_t out, bool bias) {
  Rng scratch(0);
  return std::make_shared<Linear>(in, out, bias, scratch);
}

// ---- LWS

LWSClassifier::LWSClassifier(int64_t in, int64_t out, bool bias, Rng& rng) {
  fc = register_module("fc", std::make_shared<Linear>(in, out, bias, rng));
  fc->requires_grad_(false);
  scales = register_parameter("scales", Tensor::ones({out}));
}

LWSClassifier::LWSClassifier(const Linear& trained) {
  const int64_t out = trained.weight.size(0), in = trained.weight.size(1);
  fc = register_module("fc", linear_to_overwrite(in, out, trained.bias.defined()));
  fc->weight.copy_from(trained.weight);
  if (trained.bias.defined()) fc->bias.copy_from(trained.bias);
  fc->requires_grad_(false);
  scales = register_parameter("scales", Tensor::ones({out}));
}

Tensor LWSClassifier::forward(const Tensor& x) { return mul(fc->forward(x), scales); }

// ---- tau-norm

std::shared_ptr<Linear> tau_normalize(const Linear& trained, double tau) {
  Tensor w = trained.weight.contiguous().cpu();
  const int64_t out = w.size(0), in = w.size(1);
  auto head = linear_to_overwrite(in, out, /*bias=*/false);
  std::vector<float> src = w.to_vector(), dst(src.size());
  for (int64_t j = 0; j < out; ++j) {
    double norm2 = 0;
    for (int64_t k = 0; k < in; ++k) norm2 += (double)src[j * in + k] * src[j * in + k];
    double norm = std::sqrt(norm2);
    double f = norm > 0 ? 1.0 / std::pow(norm, tau) : 1.0;  // w_j / ||w_j||^tau
    for (int64_t k = 0; k < in; ++k) dst[j * in + k] = (float)(src[j * in + k] * f);
  }
  head->weight.copy_from(Tensor::from_vector(dst, {out, in}));
  head->to(trained.weight.device());
  return head;
}

// ---- NCM

NCMClassifier::NCMClassifier(int64_t feat_dim, int64_t classes, const std::string& ft, const std::string& dt)
    : feat_type(ft), dist_type(dt) {
  TAILOR_CHECK(ft == "un" || ft == "l2n" || ft == "cl2n", "NCMClassifier: feat_type must be un, l2n or cl2n, got '", ft,
               "'");
  TAILOR_CHECK(dt == "l2" || dt == "cos" || dt == "cosine", "NCMClassifier: dist_type must be l2, cos or cosine, got '",
               dt, "'");
  centroids = register_buffer("centroids", Tensor::zeros({classes, feat_dim}));
  feat_mean = register_buffer("feat_mean", Tensor::zeros({feat_dim}));
}

// un: x; l2n: x / ||x||; cl2n: (x - mean) / ||x - mean||  (norm clamped to >= 1e-12); `mean` on the host
std::vector<double> NCMClassifier::transform(const float* x, const float* mean, int64_t d) const {
  std::vector<double> v(x, x + d);
  if (feat_type == "cl2n")
    for (int64_t k = 0; k < d; ++k) v[k] -= mean[k];
  if (feat_type != "un") {
    double n2 = 0;
    for (double a : v) n2 += a * a;
    double n = std::max(std::sqrt(n2), 1e-12);
    for (auto& a : v) a /= n;
  }
  return v;
}

void NCMClassifier::fit(const Tensor& features_in, const Tensor& labels_in) {
  Tensor f = features_in.contiguous().cpu(), y = labels_in.contiguous().cpu();
  const int64_t C = centroids.size(0), d = centroids.size(1);
  TAILOR_CHECK(f.dim() == 2 && f.size(1) == d, "NCMClassifier::fit: features must be [N, ", d, "], got ", f.shape());
  TAILOR_CHECK(y.dim() == 1 && y.size(0) == f.size(0), "NCMClassifier::fit: labels ", y.shape(), " for features ",
               f.shape());
  const int64_t N = f.size(0);
  std::vector<double> mean(d, 0.0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < d; ++k) mean[k] += f.f32()[i * d + k];
  std::vector<float> mean_f(d), cent(C * d);
  for (int64_t k = 0; k < d; ++k) mean_f[k] = (float)(mean[k] / (double)std::max<int64_t>(N, 1));
  std::vector<double> sums(C * d, 0.0);
  std::vector<int64_t> n(C, 0);
  for (int64_t i = 0; i < N; ++i) {
    int32_t c = y.i32()[i];
    TAILOR_CHECK(c >= 0 && c < C, "NCMClassifier::fit: label ", c, " out of range [0, ", C, ")");
    std::vector<double> v = transform(f.f32() + i * d, mean_f.data(), d);
    for (int64_t k = 0; k < d; ++k) sums[c * d + k] += v[k];
    n[c]++;
  }
  for (int64_t c = 0; c < C; ++c) {
    TAILOR_CHECK(n[c] > 0, "NCMClassifier::fit: class ", c, " has no training feature");
    for (int64_t k = 0; k < d; ++k) cent[c * d + k] = (float)(sums[c * d + k] / (double)n[c]);
  }
  feat_mean.copy_from(Tensor::from_vector(mean_f, {d}, feat_mean.device()));
  centroids.copy_from(Tensor::from_vector(cent, {C, d}, centroids.device()));
}

Tensor NCMClassifier::forward(const Tensor& x_in) {
  Tensor x = x_in.contiguous().cpu(), cen = centroids.contiguous().cpu(), fm = feat_mean.contiguous().cpu();
  const int64_t C = centroids.size(0), d = centroids.size(1);
  TAILOR_CHECK(x.dim() == 2 && x.size(1) == d, "NCMClassifier: features must be [N, ", d, "], got ", x.shape());
  const int64_t N = x.size(0);
  std::vector<float> scores(N * C);
  std::vector<double> cnorm(C, 0.0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t k = 0; k < d; ++k) cnorm[c] += (double)cen.f32()[c * d + k] * cen.f32()[c * d + k];
    cnorm[c] = std::sqrt(cnorm[c]);
  }
  for (int64_t i = 0; i < N; ++i) {
    std::vector<double> v = transform(x.f32() + i * d, fm.f32(), d);
    double vnorm = 0;
    for (double a : v) vnorm += a * a;
    vnorm = std::sqrt(vnorm);
    for (int64_t c = 0; c < C; ++c) {
      const float* ce = cen.f32() + c * d;
      double s = 0;
      if (dist_type == "l2") {
        for (int64_t k = 0; k < d; ++k) s += (v[k] - ce[k]) * (v[k] - ce[k]);
        s = -s;  // -||x - c||^2
      } else {
        for (int64_t k = 0; k < d; ++k) s += v[k] * ce[k];
        if (dist_type == "cos")
          s /= (double)d;  // the reference's cos_similarity: <x, c> / feat_dim
        else
          s /= std::max(vnorm, 1e-12) * std::max(cnorm[c], 1e-12);  // true cosine
      }
      scores[i * C + c] = (float)s;
    }
  }
  Tensor out = Tensor::from_vector(scores, {N, C});
  return x_in.device().is_cpu() ? out : out.to(x_in.device());
}

}  // namespace tailor
