// The public op API. Every op checks its inputs (naming the op and the shapes), runs the kernel of
// the input's device, and records an autograd Node when needed. One file per op family under
// engine/ops/, with its CPU kernels under the same name in engine/cpu/ (and CUDA in engine/cuda/).
//
// Conventions: image tensors are NHWC [N, H, W, C]; conv weights OIHW [K, C, R, S]; "channel" ops
// (batch_norm, bias) act on the LAST dim; class dims are last ([N, classes]).
#pragma once
#include "engine/autograd.h"
#include "engine/tensor.h"

namespace tailor {

class Communicator;  // engine/comm.h

// ---- convolution / pooling (NHWC)
// y[n,oh,ow,k] = sum_{c,r,s} x[n, oh*stride-pad+r, ow*stride-pad+s, g*Cg + c] * w[k,c,r,s],
// w [K, Cg, R, S] with Cg = C/groups, g = k / (K/groups) (PyTorch's groups; 1: the plain convolution)
Tensor conv2d(const Tensor& x, const Tensor& w, int stride = 1, int pad = 0, int groups = 1);
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int pad);
Tensor global_avg_pool(const Tensor& x);  // [N,H,W,C] -> [N,C]
// ResNet option-A shortcut (LDAM-DRW/GCL ResNet-32): x[:, ::2, ::2, :] (when stride 2), channels
// zero-padded by pad_before in front and pad_after behind: [N,H,W,C] -> [N,H/s,W/s,C+pb+pa]
Tensor shortcut_pad(const Tensor& x, int stride, int pad_before, int pad_after);

// ---- normalisation
// Batch norm over every dim but the last (channels): training uses batch statistics (biased
// variance for normalising, unbiased for the running update, PyTorch semantics) and updates
// running_mean/var in place with `momentum`; eval uses the running statistics.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);
// relu(batch_norm(...)) in one pass (conv -> BN -> ReLU in every ResNet block)
Tensor batch_norm_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                       Tensor running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);
// Training-mode batch norm whose statistics are those of the whole data-parallel batch: every rank's
// rows (engine/comm.h). Forward: mean and biased variance from channel sums added up across ranks (two
// rounds: the mean, then the squared deviations from it); backward: sum dy and sum dy*(x - mean) added up
// likewise, dx = gamma*invstd*(dy - sum dy/M - xhat*sum dy*xhat/M) with M every rank's row count; dgamma
// and dbeta are this rank's own sums (the gradient average across ranks completes them). relu: fused.
// On one process it equals batch_norm(_relu) up to float rounding. CPU tensors.
Tensor sync_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                       Tensor running_var, float momentum, float eps, bool relu, Communicator& comm);
// x / max(||x||_2, eps) along `dim` (PyTorch F.normalize)
Tensor l2_normalize(const Tensor& x, int64_t dim, float eps = 1e-12f);

// ---- device-resident data (data/resident.h; no autograd)
// Rows of a u8 image set [N, H, W, C] cropped (zero padding), flipped and normalised by plan i32 [B, 4]
// (index, top, left, flip) through lut f32 [C * 256] (data::normalization_table): f32 [B, size, size, C] on the
// images' device. Bit for bit data/augment.cpp's RandomCrop + flip + normalise with the same draws.
Tensor crop_flip_normalize(const Tensor& images, const Tensor& plan, const Tensor& lut, int64_t size);
// mixup of a batch on its device: out[i] = lambda * x[i] + (1 - lambda) * x[perm[i]] for rows i of x f32 [N, ...],
// perm i32 [N]; two roundings, no fused multiply-add: bit for bit data::apply_mixup on the host.
Tensor mix_rows(const Tensor& x, const Tensor& perm, float lambda);

// ---- elementwise (numpy broadcasting between a and b)
Tensor add(const Tensor& a, const Tensor& b);  // also two bf16 tensors of one shape: bf16(a + b), no broadcasting
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);        // s * x
Tensor add_scalar(const Tensor& x, float s);   // x + s
Tensor relu(const Tensor& x);
// float32 <-> bfloat16 (rounded to nearest even / widened exactly); x itself when it has that type already.
// The gradient is cast back to x's type (a gradient always has its tensor's type).
Tensor to_dtype(const Tensor& x, DType dtype);
Tensor add_relu(const Tensor& a, const Tensor& b);  // relu(a + b), fused (residual blocks)
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor pow(const Tensor& x, float p);
Tensor sigmoid(const Tensor& x);
Tensor neg(const Tensor& x);
Tensor clamp(const Tensor& x, float lo, float hi);  // gradient 0 outside [lo, hi]
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator*(const Tensor& a, float s) { return scale(a, s); }
inline Tensor operator*(float s, const Tensor& a) { return scale(a, s); }

// ---- reductions
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor sum_all(const Tensor& x);   // scalar
Tensor mean_all(const Tensor& x);  // scalar
// Sum a broadcast gradient back down to `shape` (numpy broadcasting rules).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra
Tensor matmul(const Tensor& a, const Tensor& b);  // [M,K] @ [K,N]
// y = x W^T + b, W [out, in] (PyTorch nn.Linear); b may be undefined
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());
Tensor transpose2d(const Tensor& x);  // [M,N] -> [N,M] (a copy)

// ---- softmax family (over the last dim)
Tensor log_softmax(const Tensor& x);
Tensor softmax(const Tensor& x);
// Fused softmax cross-entropy. logits [N,C], labels i32 [N]. With class weights w [C], PyTorch's
// weighted mean: sum_i w[y_i] * nll_i / sum_i w[y_i]. reduction: "mean", "sum" or "none" ([N]).
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& weight = Tensor(),
                             const char* reduction = "mean");
Tensor gather(const Tensor& x, const Tensor& index);  // x [N,C], index i32 [N] -> x[i, index[i]], [N]

// i32 counter += v in place, on the counter's device (BatchNorm's num_batches_tracked)
void increment_(Tensor& counter, int32_t v = 1);

// ---- no-grad queries
// Index of the first tensor holding a NaN or Inf, or -1: nonfinite_index read on the host (one round trip).
int64_t first_nonfinite(const std::vector<Tensor>& ts);
// The same decided on the device, with no host read: out (i32 [1], on the tensors' device) = 1 + the index
// of the first tensor of ts holding a NaN or Inf (an undefined tensor counts as finite), 0 when all are
// finite. With `others` (i32 [1]: the number of ranks whose ts[0] is non-finite, all-reduced) out = -others
// when others > 0 and ts[0] is finite here. The training loop's guard (train/loop.h).
void nonfinite_index(const std::vector<Tensor>& ts, Tensor& out, const Tensor& others = Tensor());
Tensor argmax(const Tensor& x);                    // over last dim -> i32 [N] (the lowest index on ties)
Tensor topk_indices(const Tensor& x, int64_t k);   // over last dim -> i32 [N,k], largest first
Tensor one_hot(const Tensor& labels, int64_t classes);  // i32 [N] -> f32 [N, classes]
// f32 mask [a > b]: 1 or 0 (0 where either is NaN), numpy broadcasting, on the inputs' device. A constant:
// no gradient flows through it (a branch picked by the values, as in softplus's max(x, 0))
Tensor greater(const Tensor& a, const Tensor& b);
// table f32 [C], index i32 [N] -> f32 [N], table[index[i]] (a per-class constant per sample, looked up on the
// device; a CUDA index outside [0, C) gives NaN, the CPU throws). The table must not require grad.
Tensor take(const Tensor& table, const Tensor& index);
// f32 [N, K]: 1 where a[i] != b[j], else 0 (a i32 [N], b i32 [K]; SSD's mask of same-class queue keys)
Tensor not_equal_outer(const Tensor& a, const Tensor& b);

// ---- joining and momentum copies (engine/ops/join.cpp)
// Concatenation along `dim` of contiguous-able tensors equal in every other dim (torch.cat). Backward:
// each input gets its slice of the gradient.
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
// In place, no autograd: y = m*y + (1-m)*x (MoCo's key encoder, a mean-teacher copy), with PyTorch's
// roundings of `y * m + x * (1. - m)`: two float products, then their sum.
void ema_(Tensor& y, const Tensor& x, double m);
// In place, no autograd, no host read: dst = src where flag (i32 [1] on dst's device) != 0, else dst kept.
// dst and src: the same shape and dtype (f32 or i32), contiguous.
void copy_where_(Tensor& dst, const Tensor& src, const Tensor& flag);

}  // namespace tailor
