// Convolutions through cuDNN. Every cuDNN call of tailor lives in this file: cuDNN 9 marks the
// legacy convolution API used here deprecated, and a move to the graph API touches only this file.
//
//   layouts: activations NHWC (CUDNN_TENSOR_NHWC); weights are kept KCRS (PyTorch OIHW) and permuted to
//            KRSC for cuDNN's NHWC kernels (1x1 kernels need no permute);
//   groups:  cudnnSetConvolutionGroupCount; the weights are [K, C/groups, R, S], permuted with C/groups
//            as their channel count (cuDNN's grouped NHWC filter is [K, R, S, C/groups]);
//   algorithms: chosen once per (shape, groups, direction, TF32, deterministic) by cudnnFind*Ex, which times
//            the candidates on the real buffers (PyTorch's cudnn.benchmark=True), then cached;
//   workspace: one buffer shared by all convolutions, from the caching allocator, grown on demand up
//            to a cap (TAILOR_CUDNN_WORKSPACE_MB, default 2048); algorithms needing more are skipped,
//            and if even that allocation fails the fastest algorithm needing no workspace is used;
//   deterministic mode: only algorithms cuDNN reports as CUDNN_DETERMINISTIC, ranked by cuDNN's heuristics
//            (cudnnGet*Algorithm_v7) rather than timed, so every process picks the same ones;
//   TF32 off: only CUDNN_FMA_MATH results (true fp32 FMA), for CPU parity checks.
//   bf16 (precision bf16, engine/precision.h): x, w, y descriptors in CUDNN_DATA_BFLOAT16 with float compute
//            (cuDNN's pseudo-bf16 configuration, tensor-core math); the float32 weights are cast (and permuted)
//            into a bf16 copy per call; y and dx stay bf16, dw (written by cuDNN in bf16) is widened to float32.
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/cuda/kernels.h"
#include "engine/cuda/runtime.h"
#include "engine/tensor.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace tailor::cuda {

namespace {

void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) fail(std::string("cuDNN error in ") + what + ": " + cudnnGetErrorString(s));
}
#define CUDNN(call) check_cudnn((call), #call)

cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t hh;
    CUDNN(cudnnCreate(&hh));
    CUDNN(cudnnSetStream(hh, stream()));
    return hh;
  }();
  return h;
}

size_t workspace_cap() {
  static size_t cap = [] {
    const char* e = std::getenv("TAILOR_CUDNN_WORKSPACE_MB");
    long mb = e ? std::atol(e) : 2048;
    return (size_t)std::max(0L, mb) << 20;
  }();
  return cap;
}

// The shared workspace: grows to the largest size any chosen algorithm needs. A captured graph keeps the
// pointer it was captured with, so while any graph lives an outgrown workspace is retired, not freed, and
// freed at the first growth with no graph alive.
struct Workspace {
  void* ptr = nullptr;
  size_t size = 0;
  std::vector<std::pair<void*, size_t>> retired;
};
Workspace& workspace() {
  static Workspace w;
  return w;
}
bool ensure_workspace(size_t n) {
  auto& w = workspace();
  if (n <= w.size) return true;
  void* p = nullptr;
  try {
    p = alloc(n);
  } catch (const std::exception&) {
    return false;
  }
  if (w.ptr) w.retired.emplace_back(w.ptr, w.size);
  if (!graph_pools_live()) {
    for (auto& [q, n] : w.retired) free(q, n);
    w.retired.clear();
  }
  w.ptr = p;
  w.size = n;
  return true;
}
// A planned algorithm's workspace, before running it: cuDNN must never be handed less than it asked for.
void need_workspace(size_t n) {
  if (!ensure_workspace(n))
    fail("cuDNN workspace: " + std::to_string(n) + " bytes for a planned algorithm could not be allocated "
         "(GPU out of memory; a smaller batch, or a lower TAILOR_CUDNN_WORKSPACE_MB, needs less)");
}

enum Direction { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = -1;
  size_t ws = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

// A plan's descriptors, destroyed when its search fails (a cached plan lives as long as the process).
void destroy_descriptors(Plan& p) {
  if (p.x) cudnnDestroyTensorDescriptor(p.x);
  if (p.y) cudnnDestroyTensorDescriptor(p.y);
  if (p.w) cudnnDestroyFilterDescriptor(p.w);
  if (p.conv) cudnnDestroyConvolutionDescriptor(p.conv);
}

using Key = std::array<int64_t, 14>;
std::map<Key, Plan>& plans() {
  static auto* m = new std::map<Key, Plan>();
  return *m;
}

// Candidates arrive best first (timed by cudnnFind*Ex, or ranked by the heuristics in deterministic mode); take
// the first that succeeded and fits the rules.
template <class Perf>
const Perf* pick(const Perf* perf, int n, size_t ws_limit, bool fma_only) {
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < n; ++i) {
      const Perf& p = perf[i];
      if (p.status != CUDNN_STATUS_SUCCESS || p.memory > ws_limit) continue;
      if (deterministic() && p.determinism != CUDNN_DETERMINISTIC) continue;
      // TF32 off: FMA math first; a DEFAULT-math candidate only as a last resort (plan_for runs it with FMA math)
      if (fma_only && p.mathType != CUDNN_FMA_MATH && (pass == 0 || p.mathType != CUDNN_DEFAULT_MATH)) continue;
      return &p;
    }
  return nullptr;
}

std::string shape_text(const ConvShape& s) {
  return "x [" + std::to_string(s.N) + "," + std::to_string(s.H) + "," + std::to_string(s.W) + "," +
         std::to_string(s.C) + "] w [" + std::to_string(s.K) + "," + std::to_string(s.Cg()) + "," +
         std::to_string(s.R) + "," + std::to_string(s.S) + "] stride " + std::to_string(s.stride) + " pad " +
         std::to_string(s.pad) + (s.groups > 1 ? " groups " + std::to_string(s.groups) : "");
}

int64_t weight_numel(const ConvShape& s) { return s.K * s.Cg() * s.R * s.S; }

// The workspace algorithm `algo` of direction `dir` needs with p's descriptors (math type included).
cudnnStatus_t workspace_size(cudnnHandle_t h, Direction dir, const Plan& p, int algo, size_t* bytes) {
  if (dir == kForward)
    return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, (cudnnConvolutionFwdAlgo_t)algo, bytes);
  if (dir == kBackwardData)
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x, (cudnnConvolutionBwdDataAlgo_t)algo,
                                                        bytes);
  return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x, p.y, p.conv, p.w,
                                                        (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
}

// Descriptors for one shape and a tuned algorithm for one direction, made on first use.
// x, w (KRSC), y are real buffers (float32, or bf16 when `bf16`): cudnnFind*Ex runs the candidates on them.
Plan& plan_for(Direction dir, const ConvShape& s, const void* x, const void* w, const void* y, void* out,
               bool bf16 = false) {
  bool tf32 = allow_tf32_conv();
  const cudnnDataType_t dt = bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const int64_t big = std::max({s.N * s.H * s.W * s.C, s.N * s.OH() * s.OW() * s.K, weight_numel(s)});
  if (big > INT32_MAX)
    fail("conv2d on CUDA: " + shape_text(s) + " has a tensor of " + std::to_string(big) +
         " elements, over cuDNN's 2^31 limit; use a smaller batch or image size");
  Key key{s.N, s.H, s.W, s.C, s.K, s.R, s.S, s.stride, s.pad, s.groups, dir, tf32, deterministic(), bf16};
  auto it = plans().find(key);
  if (it != plans().end()) return it->second;
  Plan p;
  struct Uncached {  // until the plan is cached, a throw destroys its descriptors
    Plan* plan;
    ~Uncached() {
      if (plan) destroy_descriptors(*plan);
    }
  } uncached{&p};
  CUDNN(cudnnCreateTensorDescriptor(&p.x));
  CUDNN(cudnnCreateTensorDescriptor(&p.y));
  CUDNN(cudnnCreateFilterDescriptor(&p.w));
  CUDNN(cudnnCreateConvolutionDescriptor(&p.conv));
  CUDNN(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NHWC, dt, (int)s.N, (int)s.C, (int)s.H, (int)s.W));
  CUDNN(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NHWC, dt, (int)s.N, (int)s.K, (int)s.OH(), (int)s.OW()));
  CUDNN(cudnnSetFilter4dDescriptor(p.w, dt, CUDNN_TENSOR_NHWC, (int)s.K, (int)s.Cg(), (int)s.R, (int)s.S));
  CUDNN(cudnnSetConvolution2dDescriptor(p.conv, s.pad, s.pad, s.stride, s.stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                        CUDNN_DATA_FLOAT));
  CUDNN(cudnnSetConvolutionGroupCount(p.conv, s.groups));
  CUDNN(cudnnSetConvolutionMathType(p.conv, tf32 || bf16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  cudnnHandle_t h = handle();

  // Workspace for the search: as much as the hungriest candidate wants, within the cap.
  size_t want = 0;
  for (int a = 0; a < 8; ++a) {
    size_t sz = 0;
    if (workspace_size(h, dir, p, a, &sz) == CUDNN_STATUS_SUCCESS && sz <= workspace_cap()) want = std::max(want, sz);
  }
  size_t limit = ensure_workspace(want) ? workspace().size : 0;
  if (limit == 0) ensure_workspace(0);
  void* ws = workspace().ptr;
  int got = 0;
  const char* what = dir == kForward ? "forward" : dir == kBackwardData ? "backward data" : "backward filter";
  bool fma_only = !tf32 && !bf16;  // (the fp32 parity rule; bf16 runs on tensor cores)
  // Deterministic mode ranks the candidates by cuDNN's heuristics instead of timing them: two processes (a run
  // and its resume, a plain run and a data-parallel rank) then pick the same algorithms, hence the same
  // roundings; timings of close candidates can swap from one process to the next.
  const bool heuristic = deterministic();
  if (dir == kForward) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    if (heuristic)
      CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got,
                                                   perf));
    else
      CUDNN(cudnnFindConvolutionForwardAlgorithmEx(h, p.x, x, p.w, w, p.conv, p.y, out,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf, ws, limit));
    auto* best = pick(perf, got, limit, fma_only);
    if (!best) fail(std::string("cuDNN: no usable ") + what + " algorithm for " + shape_text(s));
    p.algo = best->algo, p.ws = best->memory, p.math = best->mathType;
  } else if (dir == kBackwardData) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    if (heuristic)
      CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                        &got, perf));
    else
      CUDNN(cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.w, w, p.y, y, p.conv, p.x, out,
                                                        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf, ws, limit));
    auto* best = pick(perf, got, limit, fma_only);
    if (!best) fail(std::string("cuDNN: no usable ") + what + " algorithm for " + shape_text(s));
    p.algo = best->algo, p.ws = best->memory, p.math = best->mathType;
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    if (heuristic)
      CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w,
                                                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf));
    else
      CUDNN(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p.x, x, p.y, y, p.conv, p.w, out,
                                                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf, ws,
                                                          limit));
    auto* best = pick(perf, got, limit, fma_only);
    if (!best) fail(std::string("cuDNN: no usable ") + what + " algorithm for " + shape_text(s));
    p.algo = best->algo, p.ws = best->memory, p.math = best->mathType;
  }
  if (fma_only && p.math != CUDNN_FMA_MATH) {
    // DEFAULT math permits TF32 on Ampere and later: the fallback candidate runs with FMA math, whose workspace
    // may differ
    p.math = CUDNN_FMA_MATH;
    CUDNN(cudnnSetConvolutionMathType(p.conv, p.math));
    if (workspace_size(h, dir, p, p.algo, &p.ws) != CUDNN_STATUS_SUCCESS || p.ws > limit)
      fail(std::string("cuDNN: no ") + what + " algorithm for " + shape_text(s) + " without TF32 (FMA math); "
           "allow TF32 for convolutions (tailor bench: drop --no-tf32)");
  }
  CUDNN(cudnnSetConvolutionMathType(p.conv, p.math));
  Plan& cached = plans().emplace(key, p).first->second;
  uncached.plan = nullptr;
  return cached;
}

// A KRSC copy of the weights (or the weights themselves for 1x1 kernels), freed stream-ordered.
// Grouped: [K, C/groups, R, S] -> [K, R, S, C/groups].
struct KrscWeights {
  const float* ptr;
  float* owned = nullptr;
  size_t bytes = 0;
  KrscWeights(const float* kcrs, const ConvShape& s) : ptr(kcrs) {
    if (s.R * s.S == 1) return;
    bytes = sizeof(float) * weight_numel(s);
    owned = (float*)alloc(bytes);
    kcrs_to_krsc(owned, kcrs, s.K, s.Cg(), s.R * s.S);
    ptr = owned;
  }
  ~KrscWeights() {
    if (owned) free(owned, bytes);
  }
};

std::mutex& conv_mutex() {
  static std::mutex m;
  return m;
}

// A device buffer of n values of T for one call, freed stream-ordered (also when a cuDNN call throws).
template <class T>
struct CallBuffer {
  T* ptr;
  size_t bytes;
  explicit CallBuffer(int64_t n) : ptr((T*)alloc(sizeof(T) * (size_t)n)), bytes(sizeof(T) * (size_t)n) {}
  ~CallBuffer() { free(ptr, bytes); }
  CallBuffer(const CallBuffer&) = delete;
  CallBuffer& operator=(const CallBuffer&) = delete;
};
using Bf16Buffer = CallBuffer<uint16_t>;

// The float32 KCRS weights as a bf16 KRSC copy (a plain cast for 1x1 kernels, whose two layouts coincide).
void weights_to_bf16_krsc(const Bf16Buffer& out, const float* kcrs, const ConvShape& s) {
  kcrs_to_krsc_bf16(out.ptr, kcrs, s.K, s.Cg(), s.R * s.S);
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* w, const ConvShape& s) {
  std::lock_guard<std::mutex> lock(conv_mutex());
  KrscWeights wk(w, s);
  Plan& p = plan_for(kForward, s, x, wk.ptr, nullptr, y);
  need_workspace(p.ws);
  const float one = 1.f, zero = 0.f;
  CUDNN(cudnnConvolutionForward(handle(), &one, p.x, x, p.w, wk.ptr, p.conv, (cudnnConvolutionFwdAlgo_t)p.algo,
                                workspace().ptr, p.ws, &zero, p.y, y));
}

void conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s) {
  std::lock_guard<std::mutex> lock(conv_mutex());
  KrscWeights wk(w, s);
  Plan& p = plan_for(kBackwardData, s, nullptr, wk.ptr, dy, dx);
  need_workspace(p.ws);
  const float one = 1.f, zero = 0.f;
  CUDNN(cudnnConvolutionBackwardData(handle(), &one, p.w, wk.ptr, p.y, dy, p.conv,
                                     (cudnnConvolutionBwdDataAlgo_t)p.algo, workspace().ptr, p.ws, &zero, p.x, dx));
}

void conv2d_backward_weights(float* dw, const float* dy, const float* x, const ConvShape& s) {
  std::lock_guard<std::mutex> lock(conv_mutex());
  const bool permute = s.R * s.S != 1;  // 1x1: KRSC is KCRS, cuDNN writes dw itself
  std::optional<CallBuffer<float>> krsc;
  if (permute) krsc.emplace(weight_numel(s));
  float* dw_krsc = permute ? krsc->ptr : dw;
  Plan& p = plan_for(kBackwardFilter, s, x, nullptr, dy, dw_krsc);
  need_workspace(p.ws);
  const float one = 1.f, zero = 0.f;
  CUDNN(cudnnConvolutionBackwardFilter(handle(), &one, p.x, x, p.y, dy, p.conv,
                                       (cudnnConvolutionBwdFilterAlgo_t)p.algo, workspace().ptr, p.ws, &zero, p.w,
                                       dw_krsc));
  if (permute) krsc_to_kcrs(dw, dw_krsc, s.K, s.Cg(), s.R * s.S);
}

void conv2d_forward_bf16(uint16_t* y, const uint16_t* x, const float* w, const ConvShape& s) {
  std::lock_guard<std::mutex> lock(conv_mutex());
  Bf16Buffer wb(weight_numel(s));
  weights_to_bf16_krsc(wb, w, s);
  Plan& p = plan_for(kForward, s, x, wb.ptr, nullptr, y, true);
  need_workspace(p.ws);
  const float one = 1.f, zero = 0.f;
  CUDNN(cudnnConvolutionForward(handle(), &one, p.x, x, p.w, wb.ptr, p.conv, (cudnnConvolutionFwdAlgo_t)p.algo,
                                workspace().ptr, p.ws, &zero, p.y, y));
}

void conv2d_backward_data_bf16(uint16_t* dx, const uint16_t* dy, const float* w, const ConvShape& s) {
  std::lock_guard<std::mutex> lock(conv_mutex());
  Bf16Buffer wb(weight_numel(s));
  weights_to_bf16_krsc(wb, w, s);
  Plan& p = plan_for(kBackwardData, s, nullptr, wb.ptr, dy, dx, true);
  need_workspace(p.ws);
  const float one = 1.f, zero = 0.f;
  CUDNN(cudnnConvolutionBackwardData(handle(), &one, p.w, wb.ptr, p.y, dy, p.conv,
                                     (cudnnConvolutionBwdDataAlgo_t)p.algo, workspace().ptr, p.ws, &zero, p.x, dx));
}

void conv2d_backward_weights_bf16(float* dw, const uint16_t* dy, const uint16_t* x, const ConvShape& s) {
  std::lock_guard<std::mutex> lock(conv_mutex());
  Bf16Buffer dwb(weight_numel(s));  // KRSC
  Plan& p = plan_for(kBackwardFilter, s, x, nullptr, dy, dwb.ptr, true);
  need_workspace(p.ws);
  const float one = 1.f, zero = 0.f;
  CUDNN(cudnnConvolutionBackwardFilter(handle(), &one, p.x, x, p.y, dy, p.conv,
                                       (cudnnConvolutionBwdFilterAlgo_t)p.algo, workspace().ptr, p.ws, &zero, p.w,
                                       dwb.ptr));
  krsc_bf16_to_kcrs(dw, dwb.ptr, s.K, s.Cg(), s.R * s.S);
}

}  // namespace tailor::cuda
