// CUDA kernels: the same names, signatures and semantics as engine/cpu/kernels.h (device pointers
// instead of host pointers), so an op calls TAILOR_KERNEL(device, name, args...) once for both
// backends. All work is queued on cuda::stream(); nothing here synchronises. Reductions never use
// atomics, so results are bit-identical from run to run.
#pragma once
#include <cstdint>

#include "engine/cpu/kernels.h"

namespace tailor::cuda {

using cpu::BinaryOp;
using cpu::ConvShape;
using cpu::UnaryOp;

// ---- elementwise (elementwise.cu)
void binary(float* out, const float* a, const float* b, BinaryOp op, const int64_t* shape, const int64_t* sa,
            const int64_t* sb, int nd);
void unary(float* out, const float* x, UnaryOp op, int64_t n);
void scale_add(float* out, const float* x, float s, float t, int64_t n);
void pow_scalar(float* out, const float* x, float p, int64_t n);
void clamp(float* out, const float* x, float lo, float hi, int64_t n);
void clamp_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n);
void add_relu(float* out, const float* a, const float* b, int64_t n);
void relu_backward(float* din, const float* dout, const float* y, int64_t n);
void broadcast_rows(float* out, const float* row, int64_t M, int64_t N);
void transpose2d(float* out, const float* x, int64_t M, int64_t N);
void add_i32(int32_t* p, int32_t v, int64_t n);
void fill_f32(float* p, float v, int64_t n);

// ---- reductions (reduce.cu)
void sum_dim(float* out, const float* x, int64_t outer, int64_t len, int64_t inner);
void sum_all(float* out, const float* x, int64_t n);
void nonfinite_index(int32_t* out, int32_t* flags, const float* const* xs, const int64_t* ns, int count,
                     const int32_t* others);

// ---- GEMM (gemm.cpp, cuBLAS)
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// ---- softmax family (softmax.cu)
void log_softmax(float* out, const float* x, int64_t rows, int64_t cols);
void softmax(float* out, const float* x, int64_t rows, int64_t cols);
void log_softmax_backward(float* dx, const float* dy, const float* logp, int64_t rows, int64_t cols);
void softmax_backward(float* dx, const float* dy, const float* s, int64_t rows, int64_t cols);
void label_weights(float* wrow, const float* w, const int32_t* y, int64_t N, int64_t C);
void nll_rows(float* out, const float* logp, const int32_t* y, const float* wrow, int64_t N, int64_t C);
void ce_reduce(float* out, float* norm, const float* rows, const float* wrow, int64_t N, bool mean);
void cross_entropy_backward(float* dx, const float* logp, const int32_t* y, const float* wrow, const float* g,
                            const float* norm, bool per_row, int64_t N, int64_t C);
void gather_rows(float* out, const float* x, const int32_t* idx, int64_t N, int64_t C);
void scatter_rows(float* dx, const float* g, const int32_t* idx, int64_t N, int64_t C);
void argmax_rows(int32_t* out, const float* x, int64_t N, int64_t C);
void take(float* out, const float* table, const int32_t* idx, int64_t N, int64_t C);
void l2_normalize(float* y, float* norms, const float* x, int64_t outer, int64_t len, int64_t inner, float eps);
void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* norms, int64_t outer,
                           int64_t len, int64_t inner, float eps);

// ---- batch norm (batchnorm.cu)
void batch_norm_stats(float* mean, float* invstd, float* var_unbiased, const float* x, int64_t M, int64_t C,
                      float eps);
void batch_norm_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                      const float* beta, int64_t M, int64_t C, bool relu);
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* invstd, const float* gamma, const float* relu_out, int64_t M, int64_t C,
                         bool training);
void bn_update_running(float* running_mean, float* running_var, const float* mean, const float* var_unbiased,
                       int64_t C, float momentum);
void bn_eval_stats(float* mean, float* invstd, const float* running_mean, const float* running_var, int64_t C,
                   float eps);
// SyncBatchNorm's pieces, as engine/cpu/kernels.h (s1, s2, sdy, sdyx: double [C] on the device)
void batch_norm_sample_sums(double* s1, double* s2, const float* x, const float* shift, int64_t N, int64_t R,
                            int64_t C);
void batch_norm_grad_sample_sums(double* sdy, double* sdyx, const float* dy, const float* x, const float* mean,
                                 const float* relu_out, int64_t N, int64_t R, int64_t C);
void batch_norm_input_grad(float* dx, const float* dgamma, const float* dbeta, const float* dy, const float* x,
                           const float* mean, const float* invstd, const float* gamma, const float* relu_out,
                           int64_t M, int64_t M_total, int64_t C, bool training);

// ---- pooling (pool.cu)
void max_pool2d(float* y, int32_t* argmax, const float* x, int64_t N, int64_t H, int64_t W, int64_t C, int k,
                int stride, int pad, int64_t OH, int64_t OW);
void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax, int64_t N, int64_t HWC, int64_t OHWC,
                         int64_t C);
void global_avg_pool(float* y, const float* x, int64_t N, int64_t HW, int64_t C);
void global_avg_pool_backward(float* dx, const float* dy, int64_t N, int64_t HW, int64_t C);
void shortcut_pad(float* y, const float* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb, int pa);
void shortcut_pad_backward(float* dx, const float* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                           int pa);

// ---- conv2d (conv2d.cpp: every cuDNN call of tailor lives in that one file)
void conv2d_forward(float* y, const float* x, const float* w, const ConvShape& s);
void conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s);
void conv2d_backward_weights(float* dw, const float* dy, const float* x, const ConvShape& s);
// bf16 operands (raw bits; the float32 weights are cast, rounded to nearest even), float32 accumulation inside
// cuDNN; y and dx stay bf16 (the activation and its gradient stored between ops, as on the CPU); cuDNN writes dw
// in bf16, widened here to float32 (so, unlike oneDNN's float32 dw on the CPU, it carries one bf16 rounding:
// docs/precision.md).
void conv2d_forward_bf16(uint16_t* y, const uint16_t* x, const float* w, const ConvShape& s);
void conv2d_backward_data_bf16(uint16_t* dx, const uint16_t* dy, const float* w, const ConvShape& s);
void conv2d_backward_weights_bf16(float* dw, const uint16_t* dy, const uint16_t* x, const ConvShape& s);
// weight layout permutes used by conv2d.cpp (layout.cu): [K,C,R*S] <-> [K,R*S,C]
void kcrs_to_krsc(float* out, const float* in, int64_t K, int64_t C, int64_t RS);
void krsc_to_kcrs(float* out, const float* in, int64_t K, int64_t C, int64_t RS);
// bfloat16 casts (raw bits; float_to_bf16's rounding, bit for bit the CPU's) and the weight permutes fused with them
void cast_to_bf16(uint16_t* out, const float* x, int64_t n);
void bf16_to_f32(float* out, const uint16_t* x, int64_t n);
void kcrs_to_krsc_bf16(uint16_t* out, const float* in, int64_t K, int64_t C, int64_t RS);
void krsc_bf16_to_kcrs(float* out, const uint16_t* in, int64_t K, int64_t C, int64_t RS);

// ---- bfloat16 activations (precision bf16; bf16_act.cu): cpu::*_bf16's semantics (engine/cpu/kernels.h), each
// the float32 kernel above on the widened values with a bf16 output rounded to nearest even at the end.
// Summation orders are the CUDA float32 kernels', so CPU and CUDA agree within tolerances, not bit for bit.
void batch_norm_stats_bf16(float* mean, float* invstd, float* var_unbiased, const uint16_t* x, int64_t M, int64_t C,
                           float eps);
void batch_norm_apply_bf16(uint16_t* y, const uint16_t* x, const float* mean, const float* invstd,
                           const float* gamma, const float* beta, int64_t M, int64_t C, bool relu);
void batch_norm_backward_bf16(uint16_t* dx, float* dgamma, float* dbeta, const uint16_t* dy, const uint16_t* x,
                              const float* mean, const float* invstd, const float* gamma, const uint16_t* relu_out,
                              int64_t M, int64_t C, bool training);
void add_relu_bf16(uint16_t* out, const uint16_t* a, const uint16_t* b, int64_t n);
void relu_backward_bf16(uint16_t* din, const uint16_t* dout, const uint16_t* y, int64_t n);
void add_bf16(uint16_t* out, const uint16_t* a, const uint16_t* b, int64_t n);
void max_pool2d_bf16(uint16_t* y, int32_t* argmax, const uint16_t* x, int64_t N, int64_t H, int64_t W, int64_t C,
                     int k, int stride, int pad, int64_t OH, int64_t OW);
void global_avg_pool_bf16(float* y, const uint16_t* x, int64_t N, int64_t HW, int64_t C);
void shortcut_pad_bf16(uint16_t* y, const uint16_t* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                       int pa);
void global_avg_pool_backward_bf16(uint16_t* dx, const float* dy, int64_t N, int64_t HW, int64_t C);
void shortcut_pad_backward_bf16(uint16_t* dx, const uint16_t* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s,
                                int pb, int pa);

// ---- SGD (optim.cu): the same update as cpu::sgd_step; sgd_step_multi updates up to
// kSgdMaxTensors parameters in one launch (one fused kernel for a whole ResNet-32 step).
// skip and started: as cpu::sgd_step (device pointers): skip[0] != 0 leaves every tensor untouched; a
// tensor with `started` takes its first step from started[0] == 0, and an applied step sets it to 1.
struct SgdTensor {
  float* w;
  float* v;  // null without momentum
  const float* g;
  int64_t n;
  int first_step;
  int32_t* started = nullptr;  // device flag deciding the first step instead of first_step (null: first_step)
};
constexpr int kSgdMaxTensors = 128;
// lr_device: when given, the kernel reads the learning rate there instead of `lr` (a captured step's lr).
void sgd_step_multi(const SgdTensor* list, int count, float lr, float momentum, float dampening, float wd,
                    bool nesterov, const int32_t* skip = nullptr, const float* lr_device = nullptr);

// ---- Adam / AdamW (optim.cu): the same update as cpu::adam_step, with the same float roundings (bias
// corrections in double on the host); adam_step_multi updates up to kAdamMaxTensors parameters, each
// at its own step count, in one launch.
struct AdamTensor {
  float* w;
  float* m;
  float* v;
  const float* g;
  int64_t n;
  int64_t step;  // counts this update: 1 on the parameter's first
};
constexpr int kAdamMaxTensors = 128;
void adam_step_multi(const AdamTensor* list, int count, float lr, float beta1, float beta2, float eps, float wd,
                     bool decoupled);

// ---- joining, masks and momentum copies (join.cu): as engine/cpu/kernels.h
void copy_block(float* dst, int64_t dst_ld, const float* src, int64_t src_ld, int64_t rows, int64_t cols);
void not_equal_outer(float* out, const int32_t* a, const int32_t* b, int64_t N, int64_t K);
void ema(float* y, const float* x, float m, float one_minus_m, int64_t n);
void copy_if_flag(int32_t* dst, const int32_t* src, const int32_t* flag, int64_t n);

// ---- device-resident augmentation (augment.cpp / augment.cu): RandomCrop with zero padding + flip +
// normalise of whole batches of a u8 dataset [N, H, W, C]. plan[b] = (index, top, left, flip): output row b is
//   out[b, y, x, c] = lut[c * 256 + v],  v = images[index, top + y, left + x', c] (0 outside), x' = flip ? S-1-x : x
void crop_flip_normalize(float* out, const uint8_t* images, const int32_t* plan, const float* lut, int64_t B,
                         int64_t H, int64_t W, int64_t C, int64_t S);
// mixup on the device: out[i, k] = l * x[i, k] + m * x[perm[i], k] (l = lambda, m = 1 - lambda, each product
// rounded, then the sum: no FMA), for n rows of `row` floats.
void mix_rows(float* out, const float* x, const int32_t* perm, float l, float m, int64_t n, int64_t row);

}  // namespace tailor::cuda
