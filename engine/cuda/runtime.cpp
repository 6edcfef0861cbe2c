// Device discovery, the stream, copies through pinned staging, and the global switches.
#include "engine/cuda/runtime.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "engine/tensor.h"

namespace tailor::cuda {

void check(cudaError_t e, const char* what, const char* file, int line) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear the sticky-free error state so the message is not repeated
  fail(std::string("CUDA error in ") + what + " at " + file + ":" + std::to_string(line) + ": " +
       cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

int device_count() {
  static int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

std::string device_name() {
  if (device_count() == 0) return "no CUDA device";
  cudaDeviceProp p;
  TAILOR_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
  return p.name;
}

int compute_major() {
  if (device_count() == 0) return 0;
  cudaDeviceProp p;
  TAILOR_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
  return p.major;
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    TAILOR_CHECK(device_count() > 0, "CUDA: no device available (cudaGetDeviceCount reported none or failed)");
    cudaStream_t st;
    TAILOR_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    return st;
  }();
  return s;
}

void synchronize() { TAILOR_CUDA_CHECK(cudaStreamSynchronize(stream())); }

void memset(void* p, int value, size_t nbytes) {
  if (nbytes) TAILOR_CUDA_CHECK(cudaMemsetAsync(p, value, nbytes, stream()));
}

// Host -> device copies go through two pinned buffers used in turn: the caller's memory is copied
// into pinned memory at once (so it may be freed or reused), the DMA runs asynchronously, and a
// buffer is only rewritten after the event of its previous copy has completed.
namespace {
struct Staging {
  std::mutex mu;
  void* buf[2] = {nullptr, nullptr};
  size_t cap[2] = {0, 0};
  cudaEvent_t done[2] = {nullptr, nullptr};
  int next = 0;
};
Staging& staging() {
  static Staging* s = new Staging();
  return *s;
}
const size_t kStagingMin = 1 << 16;  // below this a plain (synchronous for pageable) copy is cheaper
}  // namespace

static void copy_h2d(void* dst, const void* src, size_t nbytes) {
  if (nbytes < kStagingMin) {
    TAILOR_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream()));
    TAILOR_CUDA_CHECK(cudaStreamSynchronize(stream()));  // src may be a temporary
    return;
  }
  auto& s = staging();
  std::lock_guard<std::mutex> lock(s.mu);
  int i = s.next;
  s.next ^= 1;
  if (s.done[i]) TAILOR_CUDA_CHECK(cudaEventSynchronize(s.done[i]));
  else TAILOR_CUDA_CHECK(cudaEventCreateWithFlags(&s.done[i], cudaEventDisableTiming));
  if (s.cap[i] < nbytes) {
    if (s.buf[i]) TAILOR_CUDA_CHECK(cudaFreeHost(s.buf[i]));
    s.cap[i] = nbytes + nbytes / 4;
    TAILOR_CUDA_CHECK(cudaMallocHost(&s.buf[i], s.cap[i]));
  }
  std::memcpy(s.buf[i], src, nbytes);
  TAILOR_CUDA_CHECK(cudaMemcpyAsync(dst, s.buf[i], nbytes, cudaMemcpyHostToDevice, stream()));
  TAILOR_CUDA_CHECK(cudaEventRecord(s.done[i], stream()));
}

void copy(void* dst, bool dst_cuda, const void* src, bool src_cuda, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_cuda && src_cuda) {
    TAILOR_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream()));
  } else if (dst_cuda) {
    copy_h2d(dst, src, nbytes);
  } else if (src_cuda) {
    TAILOR_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream()));
    TAILOR_CUDA_CHECK(cudaStreamSynchronize(stream()));
  } else {
    std::memcpy(dst, src, nbytes);
  }
}

namespace {
bool g_deterministic = false;
bool g_tf32_conv = true, g_tf32_matmul = false;
}  // namespace
void set_deterministic(bool on) { g_deterministic = on; }
bool deterministic() { return g_deterministic; }
void set_allow_tf32(bool conv, bool matmul) {
  g_tf32_conv = conv;
  g_tf32_matmul = matmul;
}
bool allow_tf32_conv() { return g_tf32_conv; }
bool allow_tf32_matmul() { return g_tf32_matmul; }

}  // namespace tailor::cuda
