// Device discovery, the stream, copies through pinned staging, and the global switches.
#include "engine/cuda/runtime.h"

#include <atomic>
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

// The properties of the device this process uses (cuda_use_device: a rank's own GPU).
static cudaDeviceProp current_properties() {
  int d = 0;
  TAILOR_CUDA_CHECK(cudaGetDevice(&d));
  cudaDeviceProp p;
  TAILOR_CUDA_CHECK(cudaGetDeviceProperties(&p, d));
  return p;
}

std::string device_name() {
  if (device_count() == 0) return "no CUDA device";
  return current_properties().name;
}

int compute_major() {
  if (device_count() == 0) return 0;
  return current_properties().major;
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    TAILOR_CHECK(device_count() > 0, "CUDA: no device available (cudaGetDeviceCount reported none or failed)");
    open_cublas();
    cudaStream_t st;
    TAILOR_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    return st;
  }();
  return s;
}

void memset(void* p, int value, size_t nbytes) {
  if (nbytes) TAILOR_CUDA_CHECK(cudaMemsetAsync(p, value, nbytes, stream()));
}

// Host -> device copies never wait for the device (a training step uploads labels, noise and batches
// while earlier steps still run). The caller's bytes are first copied into pinned memory (so the caller may
// free or reuse them at once) and the DMA from there is queued on the stream:
//   * small copies (< kStagingMin) share a ring of pinned chunks; a chunk is written again only after the
//     event recorded when the ring last left it has completed (normally long before);
//   * large copies (input batches) use two pinned buffers in turn, each rewritten after the event of its
//     previous copy has completed: the host runs at most two batches ahead of the device.
namespace {
const size_t kStagingMin = 1 << 16;
const int kRingChunks = 16;
const size_t kRingChunk = 1 << 17;  // >= kStagingMin: a small copy always fits in an empty chunk
struct Staging {
  std::mutex mu;
  void* buf[2] = {nullptr, nullptr};
  size_t cap[2] = {0, 0};
  cudaEvent_t done[2] = {nullptr, nullptr};
  int next = 0;
  char* ring = nullptr;                     // kRingChunks x kRingChunk pinned bytes
  cudaEvent_t left[kRingChunks] = {};       // recorded when the ring moved past the chunk (null: never)
  int chunk = 0;
  size_t used = 0;                          // bytes of the current chunk handed out
};
Staging& staging() {
  static Staging* s = new Staging();
  return *s;
}
std::atomic<int64_t> g_host_waits{0};
// Inside a captured step a host wait or a host copy would happen once, at the capture, and never at a replay.
void refuse_in_capture(const char* what) {
  if (capturing())
    fail(std::string("CUDA graphs: ") + what +
         " inside a captured training step (a replay would not repeat it); run this method with "
         "cuda_graphs false");
}
// Waits for an event, counting a host wait only when the device had not reached it yet.
void wait_event(cudaEvent_t e) {
  refuse_in_capture("a wait for the device");
  cudaError_t q = cudaEventQuery(e);
  if (q == cudaSuccess) return;
  if (q != cudaErrorNotReady) TAILOR_CUDA_CHECK(q);
  (void)cudaGetLastError();  // "not ready" is no error: never left for the next launch check to find
  ++g_host_waits;
  TAILOR_CUDA_CHECK(cudaEventSynchronize(e));
}
void copy_h2d_small(Staging& s, void* dst, const void* src, size_t nbytes) {
  if (!s.ring) TAILOR_CUDA_CHECK(cudaMallocHost((void**)&s.ring, kRingChunks * kRingChunk));
  size_t at = (s.used + 255) / 256 * 256;
  if (at + nbytes > kRingChunk) {  // move to the next chunk, once the device has read its previous contents
    if (!s.left[s.chunk]) TAILOR_CUDA_CHECK(cudaEventCreateWithFlags(&s.left[s.chunk], cudaEventDisableTiming));
    TAILOR_CUDA_CHECK(cudaEventRecord(s.left[s.chunk], stream()));
    s.chunk = (s.chunk + 1) % kRingChunks;
    if (s.left[s.chunk]) wait_event(s.left[s.chunk]);
    at = 0;
  }
  char* p = s.ring + (size_t)s.chunk * kRingChunk + at;
  std::memcpy(p, src, nbytes);
  TAILOR_CUDA_CHECK(cudaMemcpyAsync(dst, p, nbytes, cudaMemcpyHostToDevice, stream()));
  s.used = at + nbytes;
}
}  // namespace

int64_t host_waits() { return g_host_waits.load(); }

void synchronize() {
  refuse_in_capture("a wait for the device (a read of a device value, or a synchronisation)");
  ++g_host_waits;
  TAILOR_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

static void copy_h2d(void* dst, const void* src, size_t nbytes) {
  refuse_in_capture("a copy from the host (host values drawn every step go through step_input, "
                    "engine/step_inputs.h)");
  auto& s = staging();
  std::lock_guard<std::mutex> lock(s.mu);
  if (nbytes < kStagingMin) return copy_h2d_small(s, dst, src, nbytes);
  int i = s.next;
  s.next ^= 1;
  if (s.done[i]) wait_event(s.done[i]);
  else TAILOR_CUDA_CHECK(cudaEventCreateWithFlags(&s.done[i], cudaEventDisableTiming));
  if (s.cap[i] < nbytes) {  // (a failed allocation leaves no buffer, never a freed one)
    void* old_buf = s.buf[i];
    s.buf[i] = nullptr;
    s.cap[i] = 0;
    if (old_buf) TAILOR_CUDA_CHECK(cudaFreeHost(old_buf));
    void* buf = nullptr;
    TAILOR_CUDA_CHECK(cudaMallocHost(&buf, nbytes + nbytes / 4));
    s.buf[i] = buf;
    s.cap[i] = nbytes + nbytes / 4;
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
    refuse_in_capture("a read of a device value on the host");
    TAILOR_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream()));
    synchronize();
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
