// CPU kernels: raw pointers plus explicit sizes, (outputs, inputs, dims) argument order. Every
// pointer is contiguous float32 unless stated; outputs are overwritten (never accumulated) and may
// not alias inputs unless stated. Parallelised with OpenMP over the outer loop.
#pragma once
#include <cstdint>

namespace tailor::cpu {

// ---- elementwise: out[i] = f(a[i], b[i]) with numpy broadcasting described by strides.
// Greater: out = a > b ? 1 : 0 (a mask, 0 where either is NaN; the op records no gradient)
enum class BinaryOp { Add, Sub, Mul, Div, Greater };
enum class UnaryOp { Relu, Exp, Log, Neg, Sigmoid };
// out has `nd` dims `shape`; sa/sb are a's and b's strides in elements against that shape (0 on
// broadcast dims). Contiguous same-shape inputs take a flat vectorised path.
void binary(float* out, const float* a, const float* b, BinaryOp op, const int64_t* shape, const int64_t* sa,
            const int64_t* sb, int nd);
void unary(float* out, const float* x, UnaryOp op, int64_t n);
void scale_add(float* out, const float* x, float s, float t, int64_t n);  // out = s*x + t
void pow_scalar(float* out, const float* x, float p, int64_t n);
void clamp(float* out, const float* x, float lo, float hi, int64_t n);
void clamp_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n);  // dy where lo<=x<=hi
void add_relu(float* out, const float* a, const float* b, int64_t n);  // out = max(a+b, 0)
// din = dout where y > 0 else 0 (y is the relu OUTPUT; aliasing din == dout allowed)
void relu_backward(float* din, const float* dout, const float* y, int64_t n);
void broadcast_rows(float* out, const float* row, int64_t M, int64_t N);  // out[i, :] = row, out [M, N]
void transpose2d(float* out, const float* x, int64_t M, int64_t N);       // x [M, N] -> out [N, M]
void add_i32(int32_t* p, int32_t v, int64_t n);                           // p[i] += v (counters)

// ---- reductions: x viewed as [outer, len, inner], out [outer, inner] = sum over len
void sum_dim(float* out, const float* x, int64_t outer, int64_t len, int64_t inner);
void sum_all(float* out, const float* x, int64_t n);  // out[0] = sum_i x[i]
// flag[0] = 1 if any x[i] is NaN or +-Inf (flag is left untouched otherwise)
void any_nonfinite(int32_t* flag, const float* x, int64_t n);
// The training step's guard, on the device: out[0] = 1 + the index k of the first of the `count` tensors
// xs[k] (ns[k] elements; null or empty = finite) holding a NaN or Inf, 0 when all are finite. With `others`
// (i32 [1]: how many ranks' tensor 0 is non-finite, summed over the ranks) out[0] = -others[0] when
// others[0] > 0 and this rank's tensor 0 is finite. xs and ns are host arrays of device pointers and
// sizes; flags is scratch of `count` ints on the device (unused on the CPU). Nothing is read on the host.
void nonfinite_index(int32_t* out, int32_t* flags, const float* const* xs, const int64_t* ns, int count,
                     const int32_t* others);

// ---- GEMM (row-major): C[M,N] = alpha * op(A) op(B) + beta * C, op = transpose when trans is set
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// ---- softmax family over rows of [rows, cols]
void log_softmax(float* out, const float* x, int64_t rows, int64_t cols);
void softmax(float* out, const float* x, int64_t rows, int64_t cols);
// dx = dy - exp(logp) * sum_j dy_j
void log_softmax_backward(float* dx, const float* dy, const float* logp, int64_t rows, int64_t cols);
// dx = s * (dy - sum_j dy_j s_j)
void softmax_backward(float* dx, const float* dy, const float* s, int64_t rows, int64_t cols);

// ---- cross-entropy pieces over logp [N, C] (log-probabilities), labels y i32 [N]
// wrow[i] = w ? w[y_i] : 1 (1 for a label outside [0, C): its loss is NaN from nll_rows, devices cannot throw)
void label_weights(float* wrow, const float* w, const int32_t* y, int64_t N, int64_t C);
// out[i] = -wrow[i] * logp[i, y_i]; a label outside [0, C) gives NaN (devices cannot throw)
void nll_rows(float* out, const float* logp, const int32_t* y, const float* wrow, int64_t N, int64_t C);
// out[0] = sum_i rows[i] / (mean ? sum_i wrow[i] : 1); norm[0] = the divisor's inverse (for backward)
void ce_reduce(float* out, float* norm, const float* rows, const float* wrow, int64_t N, bool mean);
// dx[i, j] = k_i (exp(logp[i, j]) - [j == y_i]), k_i = wrow[i] * norm[0] * (per_row ? g[i] : g[0])
void cross_entropy_backward(float* dx, const float* logp, const int32_t* y, const float* wrow, const float* g,
                            const float* norm, bool per_row, int64_t N, int64_t C);
void gather_rows(float* out, const float* x, const int32_t* idx, int64_t N, int64_t C);   // out[i] = x[i, idx_i]
// dx = 0; dx[i, idx_i] = g[i]; a row whose idx_i is outside [0, C) all NaN
void scatter_rows(float* dx, const float* g, const int32_t* idx, int64_t N, int64_t C);
// out[i] = the first j with x[i, j] = max_k x[i, k] (NaN never wins; a row of NaN gives 0)
void argmax_rows(int32_t* out, const float* x, int64_t N, int64_t C);
// out[i] = table[idx_i] for idx_i in [0, C), NaN otherwise (a per-class constant looked up per sample)
void take(float* out, const float* table, const int32_t* idx, int64_t N, int64_t C);
// x viewed as [outer, len, inner], normalised along len: n = max(||x||, eps), y = x / n; norms [outer*inner]
void l2_normalize(float* y, float* norms, const float* x, int64_t outer, int64_t len, int64_t inner, float eps);
// dx = (dy - y <dy, y>) / n, or dy / eps where the norm was clamped
void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* norms, int64_t outer,
                           int64_t len, int64_t inner, float eps);

// ---- batch norm over x [M, C] (channels last). Training: mean/invstd out [C] from the batch.
void batch_norm_stats(float* mean, float* invstd, float* var_unbiased, const float* x, int64_t M, int64_t C,
                      float eps);
// y = (x - mean) * invstd * gamma + beta, then max(y, 0) when relu
void batch_norm_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                      const float* beta, int64_t M, int64_t C, bool relu);
// dgamma = sum dy*xhat, dbeta = sum dy; dx = gamma*invstd*(dy - dbeta/M - xhat*dgamma/M) when
// training, gamma*invstd*dy in eval (statistics are constants). dx may be null. relu_out: the fused
// op's output (dy is masked by relu_out > 0), or null.
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* invstd, const float* gamma, const float* relu_out, int64_t M, int64_t C,
                         bool training);
// SyncBatchNorm's pieces (engine/ops/sync_batch_norm.cpp): the sums of one rank's N samples of R rows each
// (sample by sample, in double across samples), and dx from sums over every rank's M_total rows.
void batch_norm_sample_sums(double* s1, double* s2, const float* x, const float* shift, int64_t N, int64_t R,
                            int64_t C);
void batch_norm_grad_sample_sums(double* sdy, double* sdyx, const float* dy, const float* x, const float* mean,
                                 const float* relu_out, int64_t N, int64_t R, int64_t C);
void batch_norm_input_grad(float* dx, const float* dgamma, const float* dbeta, const float* dy, const float* x,
                           const float* mean, const float* invstd, const float* gamma, const float* relu_out,
                           int64_t M, int64_t M_total, int64_t C, bool training);
// running = (1 - momentum) * running + momentum * batch (unbiased variance), PyTorch semantics
void bn_update_running(float* running_mean, float* running_var, const float* mean, const float* var_unbiased,
                       int64_t C, float momentum);
// eval: mean = running_mean, invstd = 1 / sqrt(running_var + eps)
void bn_eval_stats(float* mean, float* invstd, const float* running_mean, const float* running_var, int64_t C,
                   float eps);

// ---- pooling (NHWC)
void max_pool2d(float* y, int32_t* argmax, const float* x, int64_t N, int64_t H, int64_t W, int64_t C, int k,
                int stride, int pad, int64_t OH, int64_t OW);
void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax, int64_t N, int64_t HWC, int64_t OHWC,
                         int64_t C);
void global_avg_pool(float* y, const float* x, int64_t N, int64_t HW, int64_t C);
void global_avg_pool_backward(float* dx, const float* dy, int64_t N, int64_t HW, int64_t C);
// y = x[:, ::s, ::s, :] with channels padded (pb before, pa after) by zeros; backward is the adjoint.
void shortcut_pad(float* y, const float* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb, int pa);
void shortcut_pad_backward(float* dx, const float* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                           int pa);

// ---- conv2d (oneDNN, NHWC activations, OIHW weights [K, C/groups, R, S])
// Grouped: channels split into `groups` equal slices, output slice g sees only input slice g.
struct ConvShape {
  int64_t N, H, W, C, K, R, S;
  int stride, pad;
  int groups = 1;
  int64_t Cg() const { return C / groups; }  // input channels per group: the weight's dim 1
  int64_t OH() const { return (H + 2 * pad - R) / stride + 1; }
  int64_t OW() const { return (W + 2 * pad - S) / stride + 1; }
};
void conv2d_forward(float* y, const float* x, const float* w, const ConvShape& s);
// Drops every cached convolution setup (oneDNN primitives and their weight-layout buffers, one per shape and
// batch size); the next convolution of a shape builds its setup again. A convolution running meanwhile keeps
// its own setup until it ends.
void conv2d_release_setups();
void conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s);
void conv2d_backward_weights(float* dw, const float* dy, const float* x, const ConvShape& s);
// The same with bfloat16 activation operands (x, dy; raw bf16 bits) and float32 weights, converted to bf16 by
// the primitives' weight reorders; products accumulate in float32; y and dx are rounded to bf16 (the
// activation and its gradient stored between ops), dw is float32. Needs native bf16 (engine/precision.h
// cpu_has_native_bf16).
void conv2d_forward_bf16(uint16_t* y, const uint16_t* x, const float* w, const ConvShape& s);
void conv2d_backward_data_bf16(uint16_t* dx, const uint16_t* dy, const float* w, const ConvShape& s);
void conv2d_backward_weights_bf16(float* dw, const uint16_t* dy, const uint16_t* x, const ConvShape& s);
// out[i] = bf16(x[i]), rounded to nearest even (engine/precision.h float_to_bf16)
void cast_to_bf16(uint16_t* out, const float* x, int64_t n);
void bf16_to_f32(float* out, const uint16_t* x, int64_t n);  // exact (the bits shifted up)

// ---- bfloat16 activations (precision bf16, docs/precision.md): the ops between convolutions read and write
// bf16 activations and bf16 activation gradients (dx, dy); statistics and parameter gradients stay float32.
// Each is its float32 twin above run on the widened values (the same arithmetic in the same order), with a
// bf16 output rounded to nearest even once at the end:
//   twin_bf16(x) == round_bf16(twin(widen(x)))  bit for bit (tests/test_bf16_activations.cpp).
void batch_norm_stats_bf16(float* mean, float* invstd, float* var_unbiased, const uint16_t* x, int64_t M, int64_t C,
                           float eps);
void batch_norm_apply_bf16(uint16_t* y, const uint16_t* x, const float* mean, const float* invstd,
                           const float* gamma, const float* beta, int64_t M, int64_t C, bool relu);
void batch_norm_backward_bf16(uint16_t* dx, float* dgamma, float* dbeta, const uint16_t* dy, const uint16_t* x,
                              const float* mean, const float* invstd, const float* gamma, const uint16_t* relu_out,
                              int64_t M, int64_t C, bool training);
void add_relu_bf16(uint16_t* out, const uint16_t* a, const uint16_t* b, int64_t n);  // bf16(max(a+b, 0))
void relu_backward_bf16(uint16_t* din, const uint16_t* dout, const uint16_t* y, int64_t n);  // dout where y > 0
void add_bf16(uint16_t* out, const uint16_t* a, const uint16_t* b, int64_t n);  // bf16(a + b): gradient sums
void max_pool2d_bf16(uint16_t* y, int32_t* argmax, const uint16_t* x, int64_t N, int64_t H, int64_t W, int64_t C,
                     int k, int stride, int pad, int64_t OH, int64_t OW);
void global_avg_pool_bf16(float* y, const uint16_t* x, int64_t N, int64_t HW, int64_t C);  // y float32
void shortcut_pad_bf16(uint16_t* y, const uint16_t* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                       int pa);
void global_avg_pool_backward_bf16(uint16_t* dx, const float* dy, int64_t N, int64_t HW, int64_t C);  // bf16(dy/HW)
void shortcut_pad_backward_bf16(uint16_t* dx, const uint16_t* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s,
                                int pb, int pa);

// ---- SGD with momentum, PyTorch semantics (momentum buffer starts as the first d_p):
// d_p = g + wd*w; v = mom*v + (1-dampening)*d_p (v = d_p on the first step);
// step = nesterov ? d_p + mom*v : v; w -= lr * step
// Masked (the training loop's guard): skip[0] != 0 leaves w and v untouched. started (device i32, or
// null): the first step is started[0] == 0 instead of first_step, and an applied step sets started[0] = 1,
// so that a skipped first step does not count as the first.
void sgd_step(float* w, float* v, const float* g, int64_t n, float lr, float momentum, float dampening, float wd,
              bool nesterov, bool first_step, const int32_t* skip = nullptr, int32_t* started = nullptr);

// ---- Adam / AdamW with torch.optim.Adam / AdamW's exact semantics (torch 1.13, single-tensor path):
// Adam: g = g + wd*w;  AdamW: w = w * (1 - lr*wd)
// m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g  (m, v zeros before the first step)
// w = w - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// `step` counts this update (1 on a parameter's first). The scalars are computed in double on the host
// and rounded to float as torch does (AdamHyper, AdamBias); per element the rounding follows torch's
// float32 CPU kernels: fused multiply-adds for g + wd*w, m's and v's updates, the rest rounded per op.
void adam_step(float* w, float* m, float* v, const float* g, int64_t n, float lr, float beta1, float beta2, float eps,
               float wd, bool decoupled, int64_t step);
// Scalars shared by every parameter of one step: wd is Adam's L2 term (0 for AdamW), decay AdamW's factor
// 1 - lr*wd (1 for Adam).
struct AdamHyper {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay;
};
AdamHyper adam_hyper(float lr, float beta1, float beta2, float eps, float wd, bool decoupled);
// Scalars of a parameter's step count: -lr / (1 - beta1^step) and sqrt(1 - beta2^step).
struct AdamBias {
  float neg_step_size, bc2_sqrt;
};
AdamBias adam_bias(float lr, float beta1, float beta2, int64_t step);

// ---- joining, masks and momentum copies (join.cpp)
// dst[r * dst_ld + c] = src[r * src_ld + c] for r < rows, c < cols (a block of rows; concat's pieces)
void copy_block(float* dst, int64_t dst_ld, const float* src, int64_t src_ld, int64_t rows, int64_t cols);
// out[i, j] = a[i] != b[j] ? 1 : 0, out [N, K] (SSD: the queue keys of another class than the query)
void not_equal_outer(float* out, const int32_t* a, const int32_t* b, int64_t N, int64_t K);
// y = m*y + (1-m)*x, two products rounded then added (PyTorch's `y * m + x * (1. - m)`, no fused
// multiply-add); one_minus_m is the float of the double 1 - m, as torch rounds the Python scalar.
void ema(float* y, const float* x, float m, float one_minus_m, int64_t n);
// dst[i] = flag[0] != 0 ? src[i] : dst[i] over n 32-bit words (f32 or i32 bits): a skipped step's
// BatchNorm statistics put back from their copies, decided on the device
void copy_if_flag(int32_t* dst, const int32_t* src, const int32_t* flag, int64_t n);

// ---- device-resident augmentation (augment.cpp / augment.cu): RandomCrop with zero padding + flip +
// normalise of whole batches of a u8 dataset [N, H, W, C]. plan[b] = (index, top, left, flip): output row b is
//   out[b, y, x, c] = lut[c * 256 + v],  v = images[index, top + y, left + x', c] (0 outside), x' = flip ? S-1-x : x
void crop_flip_normalize(float* out, const uint8_t* images, const int32_t* plan, const float* lut, int64_t B,
                         int64_t H, int64_t W, int64_t C, int64_t S);
// mixup on the device: out[i, k] = l * x[i, k] + m * x[perm[i], k] (l = lambda, m = 1 - lambda, each product
// rounded, then the sum: no FMA), for n rows of `row` floats.
void mix_rows(float* out, const float* x, const int32_t* perm, float l, float m, int64_t n, int64_t row);

}  // namespace tailor::cpu
