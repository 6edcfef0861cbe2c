// Weight layout permutes for cuDNN: tailor keeps conv weights as KCRS (PyTorch's OIHW); cuDNN's
// fast NHWC kernels want KRSC filters. Weights are small, so a permute per call is cheap.
#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

__global__ void kcrs_to_krsc_k(float* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  GRID_LOOP(q, K * C * RS) {  // q indexes out [K, RS, C]
    int64_t c = q % C, rs = (q / C) % RS, k = q / (C * RS);
    out[q] = in[(k * C + c) * RS + rs];
  }
}
__global__ void krsc_to_kcrs_k(float* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  GRID_LOOP(q, K * C * RS) {  // q indexes out [K, C, RS]
    int64_t rs = q % RS, c = (q / RS) % C, k = q / (C * RS);
    out[q] = in[(k * RS + rs) * C + c];
  }
}
void kcrs_to_krsc(float* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  LAUNCH(kcrs_to_krsc_k, K * C * RS, out, in, K, C, RS);
}
void krsc_to_kcrs(float* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  LAUNCH(krsc_to_kcrs_k, K * C * RS, out, in, K, C, RS);
}

}  // namespace tailor::cuda
